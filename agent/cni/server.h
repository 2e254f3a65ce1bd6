// The agent's end of netpol-cni (docs/cni.md): a unix socket server at
// --cni-socket that reads one request per connection, hands it to a Binder and
// writes its answer.
//
// One thread of its own, which only does socket I/O and calls the Binder; it
// never touches the sync loop's state, and the Binder must not either: it
// hands the request to whoever owns that state and waits (bounded by the
// deadline it is given). Requests are served one at a time, in order of
// arrival; a client that connects and sends nothing holds the server for at
// most read_timeout. The socket file is created at start and removed at stop.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "agent/cni/protocol.h"
#include "agent/cni/socket.h"
#include "k8s/status.h"

namespace netpol::cni {

// What the agent does for the plugin. The integrator implements it over the
// pod bindings and the kernel; tests use a fake. Each call returns by the
// deadline (Code::Timeout otherwise) and reports through the Status code:
//   bind:    ok only once the pod's chains and binding are in the kernel;
//            NotFound: no such pod (informer cache nor API, or another UID);
//            Forbidden: the pod is scheduled on another node;
//            Unavailable: not now (not synced yet); Timeout; anything else: Failed.
//   release: ok also when nothing was bound (DEL is idempotent).
//   check:   ok when the binding exists as requested; NotFound: no binding;
//            Conflict: it differs (IPs, interface); Forbidden as for bind.
class Binder {
 public:
  virtual ~Binder() = default;
  virtual Status bind(const Request& request, Clock::time_point deadline) = 0;
  virtual Status release(const Request& request, Clock::time_point deadline) = 0;
  virtual Status check(const Request& request, Clock::time_point deadline) = 0;
};

struct ServerOptions {
  std::string path = "/run/netpol/cni.sock";
  // Socket file mode: root only (the runtime runs plugins as root).
  mode_t mode = 0600;
  // How long a connection may take to deliver its request.
  Clock::duration read_timeout = std::chrono::seconds(2);
  // The longest the Binder is given; a request's own timeoutMs shortens it.
  Clock::duration max_request_time = std::chrono::seconds(30);
  size_t max_request_bytes = kMaxMessageBytes;
};

// The answer the server sends for a Binder's Status (the table above).
Answer answer_for(Op op, const Status& status);

class Server {
 public:
  // Creates the socket's directory (0755) if missing, replaces a stale socket
  // (one nobody listens on; a live one is Code::Conflict, anything but a
  // socket at PATH is refused), listens and starts the thread.
  static Result<std::unique_ptr<Server>> start(ServerOptions options, Binder& binder);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Stops the thread (after the request being served) and removes the socket.
  void stop();
  const std::string& path() const { return options_.path; }

  // Counters for the agent's metrics.
  struct Stats {
    uint64_t requests = 0;  // answered, whatever the answer
    uint64_t refused = 0;   // answered with a refusal
    uint64_t dropped = 0;   // connections closed without an answer (no request, peer gone)
  };
  Stats stats() const;

 private:
  Server(ServerOptions options, Binder& binder, Fd listener, Fd wake);
  void run();
  void serve(Fd conn);

  const ServerOptions options_;
  Binder& binder_;
  Fd listener_;
  Fd wake_;  // eventfd: stop() wakes the poll
  std::atomic<uint64_t> requests_{0}, refused_{0}, dropped_{0};
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace netpol::cni
