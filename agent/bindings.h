// The agent's cni::Binder (docs/cni.md): the pods netpol-cni bound, by
// container. A bind looks the pod up (informer cache, else a GET), checks it
// is this node's, hands the binding to the sync thread as an event and
// answers once the apply that contains the pod's chains is committed in the
// kernel, bounded by the request's deadline.
//
// Every change is written to a state file (replaced atomically: write, fsync,
// rename), and restore() hands the file's bindings to the sync thread before
// its first sync, so a restarted agent (SIGKILL included) still enforces the
// bound pods in the first table it commits and no gap opens.
//
// Thread-safe: the CNI server thread calls bind/release/check, the informer
// dispatcher pod_deleted(). Never touches the sync thread's state itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/cni/server.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/sync.h"
#include "k8s/clock.h"
#include "k8s/model.h"
#include "k8s/status.h"
#include "k8s/thread_annotations.h"

namespace netpol::agent {

// What Bindings needs of the agent, as functions so that unit tests drive a
// Enforcer by hand.
struct BindingsHooks {
  // Whether the pod informer has listed once (before: Unavailable).
  std::function<bool()> pods_synced;
  // The pod ns/name from the informer cache (`uid`, when not empty, helps
  // find it); nullopt when the cache has no such pod.
  std::function<std::optional<k8s::Pod>(const std::string& ns, const std::string& name,
                                        const std::string& uid)>
      cached;
  // GET from the API server: the pod, nullopt on 404, a Status otherwise.
  std::function<Result<std::optional<k8s::Pod>>(const std::string& ns, const std::string& name)>
      fetch;
  // Queue an event for the sync thread (SyncThread::enqueue).
  std::function<void(Event)> enqueue;
};

struct BindingsConfig {
  std::string node;
  std::string state_path;  // "" : bindings are not persisted
};

// The state file next to a CNI socket: "/run/netpol/cni.sock" keeps its
// bindings in "/run/netpol/cni-bindings.json".
std::string bindings_state_path(const std::string& socket_path);

class Bindings final : public cni::Binder {
 public:
  // `metrics` may be null.
  Bindings(BindingsConfig config, BindingsHooks hooks, std::shared_ptr<Clock> clock,
           Registry* metrics, Logger* log);

  // Reads the state file (a missing file: no bindings) and queues one Bind
  // event per pod. Call before the sync loop's first sync. A corrupt file is
  // logged and set aside (renamed *.bad); the agent then starts without it.
  Status restore() EXCLUDES(mu_);

  Status bind(const cni::Request& request, Clock::time_point deadline) override EXCLUDES(mu_);
  Status release(const cni::Request& request, Clock::time_point deadline) override EXCLUDES(mu_);
  Status check(const cni::Request& request, Clock::time_point deadline) override EXCLUDES(mu_);

  // The API deleted the pod: its bindings go (a DEL may have come while the
  // agent was down and been answered by nobody).
  void pod_deleted(const k8s::Pod& pod) EXCLUDES(mu_);

  size_t size() const EXCLUDES(mu_);

 private:
  struct Entry {
    std::string container_id, ns, name, uid, ifname, host_interface;
    std::vector<IpAddr> ips;
    std::string key() const { return ns + "/" + name; }
  };
  static PodBinding pod_binding(const Entry& e);
  Status refuse(const char* op, Status s);
  // Drops `container_id` and tells the sync thread what the pod falls back
  // to (another container's binding of the same pod, else the API's view).
  void drop_locked(const std::string& container_id, std::function<void()> on_applied) REQUIRES(mu_);
  void persist_locked() REQUIRES(mu_);
  void set_gauge_locked() REQUIRES(mu_);

  const BindingsConfig cfg_;
  const BindingsHooks hooks_;
  const std::shared_ptr<Clock> clock_;
  Logger* log_;
  Gauge* held_ = nullptr;
  Histogram* bind_latency_ = nullptr;
  Family<Counter>* refusals_ = nullptr;
  Counter* state_errors_ = nullptr;

  mutable Mutex mu_;
  std::map<std::string, Entry> by_container_ GUARDED_BY(mu_);
};

}  // namespace netpol::agent
