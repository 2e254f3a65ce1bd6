// The audit listener: NFLOG messages in, JSON lines out (docs/audit-log.md).
//
//   Pipeline  the logic, single-threaded and clock-free: decodes a logged
//             packet, maps the prefix's compact id back to pod, direction and
//             policies (RuleIndex) and both addresses to pods (PodDirectory),
//             drops repeats of one attempt (a TCP SYN retransmitted, a UDP flow),
//             and turns counter readings into "suppressed" lines.
//   Auditor   the running thing: a reader thread (LogSource -> Pipeline ->
//             LogWriter queue) that also polls the counters of chains that
//             logged recently, and the LogWriter's own thread.
//
// The agent constructs one Auditor, feeds it the IR after every apply and
// every pod it learns about, and calls reopen() on SIGHUP. The Auditor never
// changes the kernel's rules and never blocks the caller on disk or kernel I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/audit/index.h"
#include "agent/audit/kernel.h"
#include "agent/audit/record.h"
#include "agent/audit/writer.h"
#include "compiler/ir.h"
#include "k8s/model.h"
#include "k8s/thread_annotations.h"
#include "nft/render.h"

namespace netpol::audit {

struct PipelineStats {
  uint64_t records = 0;        // NFLOG messages seen
  uint64_t foreign = 0;        // prefixes that are not netpol's
  uint64_t decode_errors = 0;  // payloads that are not an IPv4/IPv6 packet
  uint64_t unknown_ids = 0;    // netpol prefixes the current IR cannot place (logged anyway)
  uint64_t repeats = 0;        // the same attempt again within the dedupe window
  uint64_t connections = 0;    // "connection" lines produced
  uint64_t suppressed = 0;     // attempts reported in "suppressed" lines
  uint64_t spoofed = 0;        // packets the anti-spoofing guard logged (before dedupe)
};

struct PipelineConfig {
  std::string node;
  // The same 5-tuple and verdict again within this time of its first sighting
  // is the same attempt (TCP retransmits its SYN after 1 s, 3 s, 7 s).
  std::chrono::milliseconds dedupe_window{10000};
  size_t dedupe_max = 1 << 16;  // remembered attempts (beyond: forget them all)
  // A chain's counters are polled while it logged within this time.
  std::chrono::milliseconds hot_for{5000};
};

class Pipeline {
 public:
  using Sink = std::function<void(std::string line)>;
  Pipeline(PipelineConfig config, Sink sink) : config_(std::move(config)), sink_(std::move(sink)) {}

  void update_rules(const ir::RuleSet& rules) { index_.update(rules); }
  void upsert_pod(const k8s::Pod& pod) { pods_.upsert(pod); }
  void remove_pod(const std::string& ns, const std::string& name) { pods_.remove(ns, name); }

  // One NFLOG message received at `now`.
  void on_record(const LogRecord& record, TimePoint now);
  // Pod chains whose counters are due for a read (logged within hot_for);
  // a chain is listed one last time after it went quiet.
  std::vector<std::string> chains_to_poll(TimePoint now);
  // What CounterSource::take returned for `chain`.
  void on_counters(const std::vector<CounterReading>& readings, TimePoint now);

  const PipelineStats& stats() const { return stats_; }

 private:
  Endpoint endpoint(const IpAddr& ip, std::optional<uint16_t> port) const;

  PipelineConfig config_;
  Sink sink_;
  RuleIndex index_;
  PodDirectory pods_;
  PipelineStats stats_;
  std::map<std::string, TimePoint> hot_;             // chain -> last logged at
  std::unordered_map<std::string, TimePoint> seen_;  // attempt key -> first seen
  TimePoint last_prune_{};
};

struct AuditorConfig {
  uint16_t nflog_group = nft::kDefaultAuditGroup;  // as rendered (nft::AuditOptions::group)
  std::string path = "/var/log/netpol/audit.log";  // "-": standard output
  uint64_t max_bytes = 64 << 20;                   // rotate at this size; 0: never
  int keep = 5;                                    // rotated files kept
  std::string node;
  size_t queue_lines = 4096;  // lines waiting for the disk before new ones are dropped
  std::chrono::milliseconds dedupe_window{10000};
  std::chrono::milliseconds counter_poll{1000};
  std::string table = nft::kTableName;
};

struct AuditorStats {
  PipelineStats pipeline;
  WriterStats writer;
  uint64_t nflog_lost = 0;  // messages the kernel could not deliver to us
  uint64_t errors = 0;      // failed receives and counter reads
  std::string last_error;
};

class Auditor {
 public:
  // Opens NFLOG and the counter reader in the calling thread's network
  // namespace, opens the log file and starts both threads.
  static Result<std::unique_ptr<Auditor>> start(AuditorConfig config);
  // With given sources (tests): the same threads around fakes.
  static Result<std::unique_ptr<Auditor>> start(AuditorConfig config,
                                                std::unique_ptr<LogSource> log,
                                                std::unique_ptr<CounterSource> counters);
  ~Auditor();  // stops the reader, writes what is queued
  Auditor(const Auditor&) = delete;
  Auditor& operator=(const Auditor&) = delete;

  // Thread-safe; cheap (O(local pods) for rules, O(1) for pods).
  void update_rules(const ir::RuleSet& rules);
  void upsert_pod(const k8s::Pod& pod);
  void remove_pod(const std::string& ns, const std::string& name);
  // Reopen the log file (after logrotate moved it). Async-signal-safe.
  void reopen() { writer_->reopen(); }
  // Waits until what was received so far is written (tests).
  void flush();

  AuditorStats stats() const;

 private:
  Auditor(AuditorConfig config, std::unique_ptr<LogWriter> writer, std::unique_ptr<LogSource> log,
          std::unique_ptr<CounterSource> counters);
  void run();

  AuditorConfig config_;
  std::unique_ptr<LogWriter> writer_;
  std::unique_ptr<LogSource> log_;
  std::unique_ptr<CounterSource> counters_;
  mutable Mutex mu_;
  Pipeline pipeline_ GUARDED_BY(mu_);
  uint64_t nflog_lost_ GUARDED_BY(mu_) = 0;
  uint64_t errors_ GUARDED_BY(mu_) = 0;
  std::string last_error_ GUARDED_BY(mu_);
  uint64_t rounds_ GUARDED_BY(mu_) = 0;  // reader loop iterations (flush() waits for two)
  std::condition_variable_any round_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace netpol::audit
