#include "agent/audit/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace netpol::audit {

namespace {

constexpr const char* kQueueFull = "queue_full";
constexpr const char* kOverflow = "nflog_overflow";

// All of `data` to fd; false on an error other than EINTR.
bool write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

LogWriter::LogWriter(WriterConfig config) : config_(std::move(config)) {}

Result<std::unique_ptr<LogWriter>> LogWriter::open(WriterConfig config) {
  if (config.path.empty()) return StatusError{"audit log: no path"};
  if (config.queue_lines == 0) config.queue_lines = 1;
  if (config.keep < 0) config.keep = 0;
  std::unique_ptr<LogWriter> w(new LogWriter(std::move(config)));
  if (Status s = w->open_file(); !s.ok()) return s;
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

LogWriter::~LogWriter() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0 && config_.path != "-") ::close(fd_);
}

Status LogWriter::open_file() {
  if (config_.path == "-") {
    fd_ = STDOUT_FILENO;
    size_ = 0;
    return {};
  }
  int fd = ::open(config_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return StatusError{"audit log: cannot open " + config_.path + ": " + std::strerror(errno)};
  }
  struct stat st {};
  size_ = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return {};
}

bool LogWriter::push(std::string line) {
  {
    MutexLock lock(mu_);
    if (queue_.size() >= config_.queue_lines) {
      ++lost_queue_;
      ++stats_.lines_dropped;
      return false;
    }
    queue_.push_back(std::move(line));
  }
  cv_.notify_one();
  return true;
}

void LogWriter::report_lost(uint64_t count, const char* reason) {
  if (count == 0) return;
  {
    MutexLock lock(mu_);
    if (std::strcmp(reason, kQueueFull) == 0) {
      lost_queue_ += count;
    } else {
      lost_overflow_ += count;
    }
  }
  cv_.notify_one();
}

void LogWriter::flush() {
  MutexLock lock(mu_);
  idle_.wait(lock, [&]() REQUIRES(mu_) {
    return stop_ || (queue_.empty() && !busy_ && lost_queue_ == 0 && lost_overflow_ == 0);
  });
}

WriterStats LogWriter::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void LogWriter::run() {
  MutexLock lock(mu_);
  for (;;) {
    // Wake up now and then even when idle, so a SIGHUP reopen happens promptly.
    cv_.wait_for(lock, std::chrono::milliseconds(200), [&]() REQUIRES(mu_) {
      return stop_ || !queue_.empty() || lost_queue_ || lost_overflow_ ||
             reopen_.load(std::memory_order_relaxed);
    });
    if (reopen_.exchange(false)) {
      lock.unlock();
      Status s = open_file();
      lock.lock();
      if (s.ok()) {
        ++stats_.reopens;
      } else {
        ++stats_.write_errors;
      }
    }
    std::deque<std::string> batch;
    batch.swap(queue_);
    uint64_t lost_q = std::exchange(lost_queue_, 0);
    uint64_t lost_o = std::exchange(lost_overflow_, 0);
    if (batch.empty() && !lost_q && !lost_o) {
      idle_.notify_all();
      if (stop_) return;
      continue;
    }
    busy_ = true;
    lock.unlock();
    // The "lost" lines go first: they tell what is missing before what follows.
    TimePoint now = config_.now();
    if (lost_o) write_line(format(Lost{now, config_.node, lost_o, kOverflow}));
    if (lost_q) write_line(format(Lost{now, config_.node, lost_q, kQueueFull}));
    for (const std::string& line : batch) write_line(line);
    lock.lock();
    busy_ = false;
  }
}

void LogWriter::write_line(const std::string& line) {
  if (config_.path != "-" && config_.max_bytes > 0 && size_ > 0 &&
      size_ + line.size() > config_.max_bytes) {
    rotate();
  }
  bool ok = fd_ >= 0 && write_all(fd_, line.data(), line.size());
  MutexLock lock(mu_);
  if (!ok) {
    ++stats_.write_errors;
    return;
  }
  size_ += line.size();
  ++stats_.lines_written;
  stats_.bytes_written += line.size();
}

void LogWriter::rotate() {
  const std::string& p = config_.path;
  if (config_.keep == 0) {
    ::unlink(p.c_str());
  } else {
    // PATH.keep falls off; PATH.(i) -> PATH.(i+1); PATH -> PATH.1.
    for (int i = config_.keep - 1; i >= 1; --i) {
      std::string from = p + "." + std::to_string(i);
      std::string to = p + "." + std::to_string(i + 1);
      ::rename(from.c_str(), to.c_str());
    }
    ::rename(p.c_str(), (p + ".1").c_str());
  }
  Status s = open_file();
  MutexLock lock(mu_);
  if (s.ok()) {
    ++stats_.rotations;
  } else {
    ++stats_.write_errors;
  }
}

}  // namespace netpol::audit
