// The agent: informers for Namespaces, Pods, NetworkPolicies,
// ClusterNetworkPolicies and Nodes feeding a SyncThread that programs one
// table through a Kernel, plus what /healthz, /readyz and /metrics answer.
//
// ClusterNetworkPolicies and Nodes are optional: while the CNP CRD is not
// installed (404) the agent enforces NetworkPolicies only and lists CNPs
// again every `cnp_recheck`; while Nodes cannot be listed (403) `nodes` peers
// fail closed. Neither holds up readiness (docs/agent.md).
//
// The API client and the kernel come in through interfaces (ApiClient,
// nft::Kernel), so unit tests run the whole agent against the in-process fake
// API server and a fake kernel; main.cpp gives it the HTTP client and the
// netlink backend. Informer handlers only enqueue; every compile and every
// kernel call happens on the sync thread.
//
// Stopping the agent never deletes the table: policies stay enforced while
// the agent restarts. Never throws.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/bindings.h"
#include "agent/cni/server.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/sync.h"
#include "k8s/api/client.h"
#include "k8s/api/informer.h"
#include "k8s/thread_annotations.h"
#include "nft/kernel.h"

namespace netpol::agent {

// The Pod informer's field selector: pods that finished are never enforced
// (k8s::Pod::enforceable()), so they need not be sent at all.
inline constexpr const char* kPodFieldSelector = "status.phase!=Succeeded,status.phase!=Failed";

// How one agent runs: its node, the sync loop's timing, and when /healthz
// gives up on a stalled watch or sync thread. Plain values; no I/O.
struct AgentConfig {
  std::string node_name;
  SyncThreadOptions sync;           // its clock (default: real time) is the agent's
  int page_size = 500;              // informer list page size
  int watch_timeout_seconds = 300;  // watches end after [t, 2t) and are re-made
  // Random wait before a relist after 410 Gone (InformerOptions::relist_spread).
  std::chrono::milliseconds relist_spread{5'000};
  // Initial states through watch-lists where the server offers them
  // (InformerOptions::watch_list Auto); false: always list (--watch-list off).
  bool watch_list = true;
  // /healthz fails when an informer made no progress at all (no event, no
  // bookmark, no new watch, not even a failed attempt) for this long, or the
  // sync thread did not go round its loop for `sync_stall`.
  std::chrono::seconds watch_stall{0};  // 0: 2 * watch_timeout_seconds + 60 s
  std::chrono::seconds sync_stall{120};
  nft::AuditOptions audit;  // how logging rules are rendered (NFLOG group, rate, burst)
  // New sets of at least this many elements go in chunks of 500 before the
  // rules that use them (Enforcer::set_chunking); 0: off.
  size_t big_set_chunks = 2000;
  // netpol-cni's socket (docs/cni.md); "": none. Its bindings are kept in
  // bindings_state_path(cni_socket) across restarts.
  std::string cni_socket;
  // Anti-spoofing guards (docs/spoofing.md; the flag --anti-spoofing, on by
  // default, sets it in main.cpp). The links arrive through enqueue().
  bool anti_spoofing = false;
  // While the ClusterNetworkPolicy API answers 404 (CRD not installed), list
  // it again this often (--cnp-recheck-interval).
  std::chrono::milliseconds cnp_recheck{30'000};
};

// A probe's answer: ok, or why not (the text the probe's body carries).
struct Health {
  bool ok = true;
  std::string reason;  // why not, for the probe's body and the log
};

// The daemon minus the process around it (main.cpp): owns the informers, the
// sync loop and the metrics registry; never owns the API client or the kernel
// it is given, and never deletes the table.
class Agent {
 public:
  Agent(std::shared_ptr<k8s::api::ApiClient> client, nft::Kernel& kernel, AgentConfig config,
        Logger& log);
  ~Agent();  // stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Add before start(): called on the sync thread after every successful
  // apply with the IR the kernel now enforces (the audit listener's hook).
  void add_applied_listener(std::function<void(const ir::RuleSet&)> fn);
  // Set before start(): Enforcer::set_commit_hook (flow cutting).
  void set_commit_hook(Enforcer::CommitHook fn);
  // Add before start(): called on the informer dispatcher thread for every pod
  // of the cluster the agent learns about (removed: it was deleted). The audit
  // log uses it to name remote pods.
  void add_pod_listener(std::function<void(const k8s::Pod&, bool removed)> fn);

  // Any thread: hands an event to the sync thread (LinkWatcher's views).
  void enqueue(Event ev);

  // Restores the netpol-cni bindings (before the first sync), starts the
  // sync thread, the informers and the CNI socket server.
  void start();
  // Stops the CNI server, watching and syncing; the table stays as it is.
  void stop();
  // Whether --cni-socket is served (false when off or when it could not start).
  bool cni_serving() const { return cni_ != nullptr; }
  // The binder behind the socket (null when off).
  Bindings* bindings() { return bindings_.get(); }

  Health healthz();
  Health readyz() const;
  bool ready() const { return loop_.ready(); }
  uint64_t synced_resource_version() const { return loop_.synced_resource_version(); }
  Registry& metrics() { return registry_; }
  // /healthz, /readyz, /metrics.
  HttpResponse serve(const std::string& method, const std::string& path);

 private:
  template <typename T>
  k8s::api::Handlers<T> handlers(ResourceKind kind);
  std::optional<uint64_t> barrier();
  void collect();

  std::optional<k8s::Pod> cached_pod(const std::string& ns, const std::string& name,
                                     const std::string& uid) const;
  Result<std::optional<k8s::Pod>> fetch_pod(const std::string& ns, const std::string& name);

  AgentConfig cfg_;
  Logger& log_;
  std::shared_ptr<k8s::api::ApiClient> client_;
  Registry registry_;
  SyncMetrics metrics_;
  Enforcer core_;
  SyncThread loop_;
  std::shared_ptr<k8s::api::Dispatcher> dispatcher_;
  std::vector<std::function<void(const k8s::Pod&, bool)>> pod_listeners_;
  std::unique_ptr<k8s::api::NamespaceInformer> namespaces_;
  std::unique_ptr<k8s::api::PodInformer> pods_;
  std::unique_ptr<k8s::api::NetworkPolicyInformer> policies_;
  std::unique_ptr<k8s::api::ClusterNetworkPolicyInformer> cluster_policies_;
  std::unique_ptr<k8s::api::NodeInformer> nodes_;
  // The optional kinds' first list answered (synced or failed), by kind.
  std::atomic<bool> cnp_answered_{false};
  std::atomic<bool> nodes_answered_{false};
  SteadyTime started_{};
  std::unique_ptr<Bindings> bindings_;
  std::unique_ptr<cni::Server> cni_;

  // Informer progress seen by /healthz: sum of its counters and when it last moved.
  struct Progress {
    uint64_t sum = 0;
    SteadyTime since{};
  };
  Mutex health_mu_;
  Progress progress_[5] GUARDED_BY(health_mu_);

  Family<Gauge>& objects_;
  Family<Counter>& watch_restarts_;
  Family<Counter>& relists_;
  Family<Counter>& api_errors_;
  Family<Counter>& api_absent_;
  Family<Gauge>& watch_list_;
  Gauge& cnp_available_;
  Gauge& rss_;
  Gauge& start_time_;
};

}  // namespace netpol::agent
