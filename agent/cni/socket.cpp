#include "agent/cni/socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netpol::cni {
namespace {

// Milliseconds left until the deadline, at least 0, rounded up.
int ms_left(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

// Waits for EVENTS on fd: ok, Timeout, or the errno of poll.
Status wait_for(int fd, short events, Clock::time_point deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, ms_left(deadline));
    if (n > 0) return Status::Ok();
    if (n == 0)
      return Status(Code::Timeout, std::string(what) + ": no progress before the deadline");
    if (errno != EINTR) return Status::FromErrno(errno, std::string(what) + ": poll");
  }
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Fd> connect_unix(const std::string& path, Clock::time_point deadline) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return StatusError{"socket path " + path + " is too long", Code::InvalidArgument};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Status::FromErrno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    // A unix socket whose backlog is full says EAGAIN; wait for room.
    if (e == EAGAIN || e == EINPROGRESS) {
      if (Status s = wait_for(fd.get(), POLLOUT, deadline, ("connect " + path).c_str()); !s.ok()) {
        return s;
      }
      int so = 0;
      socklen_t len = sizeof(so);
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so, &len);
      if (so != 0)
        return StatusError{"connect " + path + ": " + errno_text(so), Code::Unavailable, so};
    } else {
      // ENOENT (no socket), ECONNREFUSED (a stale one): nobody listens.
      return StatusError{"connect " + path + ": " + errno_text(e), Code::Unavailable, e};
    }
  }
  return fd;
}

Status write_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Status s = wait_for(fd, POLLOUT, deadline, "send"); !s.ok()) return s;
      continue;
    }
    return Status::FromErrno(errno, "send");
  }
  return Status::Ok();
}

Result<std::string> read_message(int fd, size_t max, Clock::time_point deadline) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      const std::string_view chunk(buf, static_cast<size_t>(n));
      const size_t nl = chunk.find('\n');
      out.append(chunk.substr(0, nl));
      if (out.size() > max) {
        return StatusError{"message longer than " + std::to_string(max) + " bytes", Code::Resource};
      }
      if (nl != std::string_view::npos) return out;
      continue;
    }
    if (n == 0) return out;  // end of stream ends the message too
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (Status s = wait_for(fd, POLLIN, deadline, "recv"); !s.ok()) return s;
      continue;
    }
    return Status::FromErrno(errno, "recv");
  }
}

}  // namespace netpol::cni
