// Unix stream socket helpers shared by netpol-cni and the agent's server:
// every call is bounded by a deadline (poll), never by a blocking read, and
// never raises SIGPIPE. Descriptors are owned by Fd.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "k8s/status.h"

namespace netpol::cni {

using Clock = std::chrono::steady_clock;

// An owned file descriptor (-1: none).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Connects to PATH (Code::Unavailable when nobody listens there, with the errno).
Result<Fd> connect_unix(const std::string& path, Clock::time_point deadline);
// Writes all of DATA (Code::Timeout past the deadline).
Status write_all(int fd, std::string_view data, Clock::time_point deadline);
// Reads up to the first '\n' (not included) or the peer's end of stream.
// Code::Resource past MAX bytes, Code::Timeout past the deadline.
Result<std::string> read_message(int fd, size_t max, Clock::time_point deadline);

}  // namespace netpol::cni
