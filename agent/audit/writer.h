// LogWriter: the audit log file. Lines are queued by the listener and written
// by the writer's own thread, so a slow disk never blocks the NFLOG reader:
// when the bounded queue is full the line is dropped and counted, and the next
// line written is preceded by a "lost" line saying how many went missing.
//
// Rotation by size: before a line would take the file past max_bytes, PATH is
// renamed PATH.1 (PATH.1 to PATH.2, ..., keeping `keep` old files) and a new
// PATH is started. reopen() (async-signal-safe, for SIGHUP) closes and reopens
// PATH after an external logrotate moved it away.
//
// Never throws; I/O errors are counted and retried on the next line.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/audit/record.h"
#include "k8s/status.h"
#include "k8s/thread_annotations.h"

namespace netpol::audit {

struct WriterConfig {
  std::string path;               // "-" writes to standard output (no rotation)
  uint64_t max_bytes = 64 << 20;  // rotate before a file grows past this; 0: never
  int keep = 5;                   // rotated files kept (PATH.1 .. PATH.keep)
  size_t queue_lines = 4096;      // lines waiting for the disk before new ones are dropped
  std::string node;               // for "lost" lines
  std::function<TimePoint()> now = [] { return Clock::now(); };
};

struct WriterStats {
  uint64_t lines_written = 0;
  uint64_t lines_dropped = 0;  // queue full
  uint64_t bytes_written = 0;
  uint64_t rotations = 0;
  uint64_t reopens = 0;
  uint64_t write_errors = 0;
};

class LogWriter {
 public:
  // Opens (appends to) the file and starts the writer thread.
  static Result<std::unique_ptr<LogWriter>> open(WriterConfig config);
  ~LogWriter();  // writes what is queued, then stops
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Queues one finished line (with its newline). False if the queue was full:
  // the line is dropped and counted.
  bool push(std::string line);
  // Lines lost before they reached the queue (e.g. kernel overflow) are
  // reported the same way, in the next "lost" line with this reason.
  void report_lost(uint64_t count, const char* reason);
  // Close and reopen the file at the next opportunity. Async-signal-safe.
  void reopen() { reopen_.store(true, std::memory_order_relaxed); }
  // Waits until everything queued so far is written (tests, shutdown).
  void flush();

  WriterStats stats() const;

 private:
  explicit LogWriter(WriterConfig config);
  Status open_file();
  void run();
  void write_line(const std::string& line);
  void rotate();
  void write_lost();

  WriterConfig config_;
  int fd_ = -1;
  uint64_t size_ = 0;

  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::condition_variable_any idle_;
  std::deque<std::string> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  bool busy_ GUARDED_BY(mu_) = false;
  uint64_t lost_queue_ GUARDED_BY(mu_) = 0;     // dropped since the last "lost" line
  uint64_t lost_overflow_ GUARDED_BY(mu_) = 0;  // reported lost since the last "lost" line
  std::atomic<bool> reopen_{false};
  WriterStats stats_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace netpol::audit
