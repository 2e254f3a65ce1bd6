#include "agent/cni/server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace netpol::cni {
namespace {

// The server answers a little before the plugin gives up, so that a slow
// Binder yields "timeout" from the agent instead of silence.
constexpr auto kAnswerMargin = std::chrono::milliseconds(100);
constexpr auto kWriteTimeout = std::chrono::seconds(1);

Status make_dirs(const std::string& dir) {
  if (dir.empty() || dir == "/") return Status::Ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return StatusError{dir + " exists and is not a directory", Code::InvalidArgument, ENOTDIR};
  }
  const size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (Status s = make_dirs(dir.substr(0, slash)); !s.ok()) return s;
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + dir);
  }
  return Status::Ok();
}

// A socket left by an agent that died is removed; a live one is not ours to take.
Status clear_stale(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno(errno, "stat " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return StatusError{path + " exists and is not a socket; not removing it", Code::Conflict};
  }
  auto probe = connect_unix(path, Clock::now() + std::chrono::milliseconds(200));
  if (probe.ok()) {
    return StatusError{"another process listens on " + path, Code::Conflict, EADDRINUSE};
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove stale socket " + path);
  }
  return Status::Ok();
}

}  // namespace

Answer answer_for(Op op, const Status& status) {
  if (status.ok()) return Answer{};
  Refusal r = Refusal::Failed;
  switch (status.code()) {
    case Code::NotFound:
      if (op == Op::Release) return Answer{};  // nothing bound: released
      r = op == Op::Check ? Refusal::NotBound : Refusal::PodUnknown;
      break;
    case Code::Forbidden:
      r = Refusal::OtherNode;
      break;
    case Code::Conflict:
      r = op == Op::Check ? Refusal::Mismatch : Refusal::Failed;
      break;
    case Code::Timeout:
      r = Refusal::Timeout;
      break;
    case Code::Unavailable:
    case Code::Cancelled:
      r = Refusal::Unavailable;
      break;
    case Code::InvalidArgument:
    case Code::Malformed:
      r = Refusal::BadRequest;
      break;
    default:
      break;
  }
  return Answer{r, status.message()};
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, Binder& binder) {
  const std::string& path = options.path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path[0] != '/' || path.size() >= sizeof(addr.sun_path)) {
    return StatusError{"--cni-socket " + path + ": want an absolute path shorter than " +
                           std::to_string(sizeof(addr.sun_path)) + " bytes",
                       Code::InvalidArgument};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (Status s = make_dirs(path.substr(0, path.find_last_of('/'))); !s.ok()) {
    return s.context("cni socket");
  }
  if (Status s = clear_stale(path); !s.ok()) return s.context("cni socket");

  Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener) return Status::FromErrno(errno, "cni socket: socket");
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno(errno, "cni socket: bind " + path);
  }
  // Before listen(): until then nobody can connect, whatever the umask made of it.
  if (::chmod(path.c_str(), options.mode) != 0) {
    const int e = errno;
    ::unlink(path.c_str());
    return Status::FromErrno(e, "cni socket: chmod " + path);
  }
  if (::listen(listener.get(), 128) != 0) {
    const int e = errno;
    ::unlink(path.c_str());
    return Status::FromErrno(e, "cni socket: listen " + path);
  }
  Fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) {
    const int e = errno;
    ::unlink(path.c_str());
    return Status::FromErrno(e, "cni socket: eventfd");
  }
  std::unique_ptr<Server> server(
      new Server(std::move(options), binder, std::move(listener), std::move(wake)));
  server->thread_ = std::thread([s = server.get()] { s->run(); });
  return server;
}

Server::Server(ServerOptions options, Binder& binder, Fd listener, Fd wake)
    : options_(std::move(options)),
      binder_(binder),
      listener_(std::move(listener)),
      wake_(std::move(wake)) {}

Server::~Server() {
  stop();
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  const uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof(one)) < 0) {
    // An eventfd write fails only on counter overflow; the thread is waking anyway.
  }
  if (thread_.joinable()) thread_.join();
  ::unlink(options_.path.c_str());
}

Server::Stats Server::stats() const {
  return Stats{requests_.load(), refused_.load(), dropped_.load()};
}

void Server::run() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // poll on our own descriptors cannot fail otherwise
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    Fd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) continue;  // EAGAIN, ECONNABORTED, EMFILE: the next poll retries
    serve(std::move(conn));
  }
}

void Server::serve(Fd conn) {
  const auto received = Clock::now();
  auto text =
      read_message(conn.get(), options_.max_request_bytes, received + options_.read_timeout);
  if (!text.ok() && text.status().code() != Code::Resource) {
    ++dropped_;  // nothing (complete) arrived in time: nobody to answer
    return;
  }
  Answer answer;
  if (!text.ok()) {
    answer = Answer{Refusal::BadRequest,
                    "request longer than " + std::to_string(options_.max_request_bytes) + " bytes"};
  } else if (auto request = decode_request(text.value()); !request.ok()) {
    answer = Answer{Refusal::BadRequest, request.message()};
  } else {
    const Request& r = request.value();
    Clock::duration budget = options_.max_request_time;
    if (r.timeout_ms > 0) {
      Clock::duration asked = std::chrono::milliseconds(r.timeout_ms);
      if (asked > 2 * kAnswerMargin) asked -= kAnswerMargin;
      budget = std::min(budget, asked);
    }
    const auto deadline = received + budget;
    Status s;
    try {
      switch (r.op) {
        case Op::Bind:
          s = binder_.bind(r, deadline);
          break;
        case Op::Release:
          s = binder_.release(r, deadline);
          break;
        case Op::Check:
          s = binder_.check(r, deadline);
          break;
      }
    } catch (const std::exception& e) {
      s = StatusError{std::string("binder: ") + e.what()};
    }
    answer = answer_for(r.op, s);
  }
  ++requests_;
  if (!answer.ok()) ++refused_;
  if (Status s = write_all(conn.get(), encode(answer), Clock::now() + kWriteTimeout); !s.ok()) {
    ++dropped_;  // the plugin gave up (its timeout) before the answer
  }
}

}  // namespace netpol::cni
