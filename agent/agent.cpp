#include "agent/agent.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <type_traits>

#include "k8s/decode.h"

namespace netpol::agent {

namespace {

std::optional<uint64_t> parse_rv(const std::string& rv) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(rv.data(), rv.data() + rv.size(), v);
  if (rv.empty() || ec != std::errc() || p != rv.data() + rv.size()) return std::nullopt;
  return v;
}

double rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

template <typename Inf>
uint64_t progress_sum(const Inf& inf) {
  const auto s = inf.stats();
  return s.lists + s.list_pages + s.watches + s.errors + s.events + s.absent_lists;
}

// A counter that mirrors a total kept elsewhere (informer stats).
void catch_up(Counter& c, uint64_t total) {
  const double d = static_cast<double>(total) - c.value();
  if (d > 0) c.inc(d);
}

AgentConfig with_clock(AgentConfig c) {
  if (!c.sync.clock) c.sync.clock = make_real_clock();
  return c;
}

}  // namespace

Agent::Agent(std::shared_ptr<k8s::api::ApiClient> client, nft::Kernel& kernel, AgentConfig config,
             Logger& log)
    : cfg_(with_clock(std::move(config))),
      log_(log),
      client_(client),
      metrics_(registry_),
      core_(kernel, cfg_.node_name, &metrics_, &log_, cfg_.sync.clock, cfg_.audit),
      loop_(
          core_,
          [this] {
            // Before the sync thread exists (it is the only user of core_ after).
            core_.set_chunking(cfg_.big_set_chunks, 500);
            SyncThreadOptions o = cfg_.sync;
            o.barrier = [this] { return barrier(); };
            return o;
          }(),
          &metrics_, &log_),
      dispatcher_(std::make_shared<k8s::api::Dispatcher>()),
      objects_(
          registry_.gauge("netpol_objects", "Objects in the informer stores, by kind", {"kind"})),
      watch_restarts_(registry_.counter("netpol_watch_restarts_total",
                                        "Watches re-made after the first one, by kind (server "
                                        "timeouts, broken streams, 410 Gone)",
                                        {"kind"})),
      relists_(registry_.counter("netpol_relists_total", "Full lists forced by 410 Gone, by kind",
                                 {"kind"})),
      api_errors_(registry_.counter("netpol_api_errors_total",
                                    "Failed list or watch requests to the API server, by kind",
                                    {"kind"})),
      api_absent_(registry_.counter(
          "netpol_api_absent_total",
          "Lists answered 404 because the API server does not serve the resource (the "
          "ClusterNetworkPolicy CRD is not installed), by kind",
          {"kind"})),
      watch_list_(registry_.gauge(
          "netpol_watch_list",
          "1 while the informer reads its state by watch-list (sendInitialEvents); 0: list "
          "then watch (--watch-list off, or the API server refused it), by kind",
          {"kind"})),
      cnp_available_(registry_
                         .gauge("netpol_cnp_api_available",
                                "1 while ClusterNetworkPolicies are listed and enforced; 0 while "
                                "their API is not served (CRD absent) or not listed yet")
                         .with()),
      rss_(
          registry_.gauge("process_resident_memory_bytes", "Resident memory size in bytes").with()),
      start_time_(registry_
                      .gauge("process_start_time_seconds",
                             "Start time of the process since the unix epoch in seconds")
                      .with()) {
  if (cfg_.watch_stall.count() == 0) {
    cfg_.watch_stall = std::chrono::seconds(2 * cfg_.watch_timeout_seconds + 60);
  }
  core_.set_anti_spoofing(cfg_.anti_spoofing);
  start_time_.set(
      std::chrono::duration<double>(cfg_.sync.clock->wall_now().time_since_epoch()).count());
  k8s::api::InformerOptions io;
  io.page_size = cfg_.page_size;
  io.watch_timeout_seconds = cfg_.watch_timeout_seconds;
  io.relist_spread = cfg_.relist_spread;
  io.watch_list = cfg_.watch_list ? k8s::api::WatchListMode::Auto : k8s::api::WatchListMode::Off;
  io.dispatcher = dispatcher_;
  io.log = [this](const std::string& msg) { log_.warn(msg, {{"component", "informer"}}); };
  namespaces_ = std::make_unique<k8s::api::NamespaceInformer>(
      client, handlers<k8s::Namespace>(ResourceKind::Namespace), io);
  {
    // Finished pods hold no address that may match (k8s::Pod::enforceable()):
    // the server leaves them out, and a pod that finishes arrives as a delete.
    k8s::api::InformerOptions pod_io = io;
    pod_io.field_selector = kPodFieldSelector;
    pods_ = std::make_unique<k8s::api::PodInformer>(client, handlers<k8s::Pod>(ResourceKind::Pod),
                                                    pod_io);
  }
  policies_ = std::make_unique<k8s::api::NetworkPolicyInformer>(
      client, handlers<k8s::NetworkPolicy>(ResourceKind::NetworkPolicy), io);
  nodes_ =
      std::make_unique<k8s::api::NodeInformer>(client, handlers<k8s::Node>(ResourceKind::Node), io);
  io.absent_recheck = cfg_.cnp_recheck;
  cluster_policies_ = std::make_unique<k8s::api::ClusterNetworkPolicyInformer>(
      client, handlers<k8s::ClusterNetworkPolicy>(ResourceKind::ClusterNetworkPolicy), io);
  // The first sync waits for the first answer of these two, not for success.
  core_.wait_for(ResourceKind::ClusterNetworkPolicy);
  core_.wait_for(ResourceKind::Node);
  registry_.add_collector([this] { collect(); });
  if (!cfg_.cni_socket.empty()) {
    BindingsHooks hooks;
    hooks.pods_synced = [this] { return pods_->has_synced(); };
    hooks.cached = [this](const std::string& ns, const std::string& name, const std::string& uid) {
      return cached_pod(ns, name, uid);
    };
    hooks.fetch = [this](const std::string& ns, const std::string& name) {
      return fetch_pod(ns, name);
    };
    hooks.enqueue = [this](Event ev) { loop_.enqueue(std::move(ev)); };
    bindings_ = std::make_unique<Bindings>(
        BindingsConfig{cfg_.node_name, bindings_state_path(cfg_.cni_socket)}, std::move(hooks),
        cfg_.sync.clock, &registry_, &log_);
  }
}

std::optional<k8s::Pod> Agent::cached_pod(const std::string& ns, const std::string& name,
                                          const std::string& uid) const {
  if (!uid.empty()) {
    auto pod = pods_->get(uid);
    if (pod && pod->ns == ns && pod->name == name) return pod;
    return std::nullopt;
  }
  // No UID from the runtime: the store is keyed by UID, so look through it
  // (without copying it: at 100k pods a snapshot took ~270 ms an ADD).
  return pods_->find_if([&](const k8s::Pod& pod) { return pod.ns == ns && pod.name == name; });
}

Result<std::optional<k8s::Pod>> Agent::fetch_pod(const std::string& ns, const std::string& name) {
  auto got = client_->get("/api/v1/namespaces/" + ns + "/pods/" + name);
  if (!got.ok()) {
    if (got.status().code() == Code::NotFound) return std::optional<k8s::Pod>();
    return got.status();
  }
  k8s::DecodeResult r = k8s::decode_json_object(got.value(), "GET pod " + ns + "/" + name);
  if (!r.ok() || r.objects.pods.size() != 1) {
    return StatusError{"GET pod " + ns + "/" + name + ": not a pod the agent can read",
                       Code::Malformed};
  }
  return std::optional<k8s::Pod>(std::move(r.objects.pods.front()));
}

Agent::~Agent() {
  stop();
}

template <typename T>
k8s::api::Handlers<T> Agent::handlers(ResourceKind kind) {
  // Handlers run on the dispatcher thread and only queue: a slow kernel or a
  // big recompile never holds up the watch readers.
  k8s::api::Handlers<T> h;
  auto tell = [this](const T& obj, bool removed) {
    if constexpr (std::is_same_v<T, k8s::Pod>) {
      for (auto& fn : pod_listeners_) fn(obj, removed);
    } else {
      // Only pods have listeners; `this` is "used" so clang does not flag
      // the capture in the other instantiations.
      (void)this;
      (void)obj;
      (void)removed;
    }
  };
  h.on_add = [this, kind, tell](const T& obj) {
    tell(obj, false);
    loop_.enqueue(Event{Event::Op::Upsert, kind, obj, {}});
  };
  h.on_update = [this, kind, tell](const T&, const T& obj) {
    tell(obj, false);
    loop_.enqueue(Event{Event::Op::Upsert, kind, obj, {}});
  };
  h.on_delete = [this, kind, tell](const T& obj) {
    tell(obj, true);
    if constexpr (std::is_same_v<T, k8s::Pod>) {
      if (bindings_) bindings_->pod_deleted(obj);
    }
    loop_.enqueue(Event{Event::Op::Remove, kind, obj, {}});
  };
  // The optional kinds: the first sync waits for their first answer only.
  std::atomic<bool>* answered = kind == ResourceKind::ClusterNetworkPolicy ? &cnp_answered_
                                : kind == ResourceKind::Node               ? &nodes_answered_
                                                                           : nullptr;
  h.on_synced = [this, kind, answered] {
    if (answered) answered->store(true);
    loop_.enqueue(Event{Event::Op::Synced, kind, {}, {}});
  };
  if (answered) {
    h.on_list_error = [this, kind, answered](const Status&) {
      if (!answered->exchange(true)) loop_.enqueue(Event{Event::Op::Unavailable, kind, {}, {}});
    };
  }
  return h;
}

void Agent::add_pod_listener(std::function<void(const k8s::Pod&, bool)> fn) {
  pod_listeners_.push_back(std::move(fn));
}

void Agent::add_applied_listener(std::function<void(const ir::RuleSet&)> fn) {
  core_.add_applied_listener(std::move(fn));
}

void Agent::set_commit_hook(Enforcer::CommitHook fn) {
  core_.set_commit_hook(std::move(fn));
}

void Agent::enqueue(Event ev) {
  loop_.enqueue(std::move(ev));
}

void Agent::start() {
  started_ = cfg_.sync.clock->now();
  {
    MutexLock lock(health_mu_);
    for (auto& p : progress_) p.since = started_;
  }
  log_.info("starting", {{"node", cfg_.node_name}});
  // Restored bindings are queued before any informer event, so the first
  // full sync (after every informer listed) already has the bound pods.
  if (bindings_) (void)bindings_->restore();
  loop_.start();
  namespaces_->start();
  pods_->start();
  policies_->start();
  nodes_->start();
  cluster_policies_->start();
  if (bindings_ && !cni_) {
    cni::ServerOptions so;
    so.path = cfg_.cni_socket;
    auto started = cni::Server::start(so, *bindings_);
    if (started.ok()) {
      cni_ = std::move(started).value();
      log_.info("serving netpol-cni", {{"socket", so.path}});
    } else {
      log_.error("cannot serve netpol-cni",
                 {{"socket", so.path}, {"error", started.status().str()}});
    }
  }
}

void Agent::stop() {
  // The CNI server first (binds wait on the sync thread), informers (no new
  // events), then the sync thread; the table stays.
  cni_.reset();
  namespaces_->stop();
  pods_->stop();
  policies_->stop();
  cluster_policies_->stop();
  nodes_->stop();
  dispatcher_->flush();
  loop_.stop();
}

std::optional<uint64_t> Agent::barrier() {
  // Read every informer's position first, then wait until the dispatcher has
  // handed over everything posted so far: each event up to that position is
  // then in the sync queue (an informer updates its position and posts the
  // event under one lock).
  uint64_t lo = std::numeric_limits<uint64_t>::max();
  for (const std::string& rv :
       {namespaces_->stats().resource_version, pods_->stats().resource_version,
        policies_->stats().resource_version}) {
    auto v = parse_rv(rv);
    if (!v) return std::nullopt;
    lo = std::min(lo, *v);
  }
  // An optional kind counts once it has a position: not served (CRD absent)
  // or never listed (RBAC), it has no events to wait for.
  for (const k8s::api::InformerStats& s : {cluster_policies_->stats(), nodes_->stats()}) {
    if (s.absent) continue;
    if (auto v = parse_rv(s.resource_version)) lo = std::min(lo, *v);
  }
  dispatcher_->flush();
  return lo;
}

void Agent::collect() {
  objects_.with({"namespace"}).set(static_cast<double>(namespaces_->size()));
  objects_.with({"pod"}).set(static_cast<double>(pods_->size()));
  objects_.with({"networkpolicy"}).set(static_cast<double>(policies_->size()));
  objects_.with({"clusternetworkpolicy"}).set(static_cast<double>(cluster_policies_->size()));
  objects_.with({"node"}).set(static_cast<double>(nodes_->size()));
  auto mirror = [&](const char* kind, const k8s::api::InformerStats& s) {
    catch_up(watch_restarts_.with({kind}), s.watches > 0 ? s.watches - 1 : 0);
    catch_up(relists_.with({kind}), s.relists);
    catch_up(api_errors_.with({kind}), s.errors);
    watch_list_.with({kind}).set(cfg_.watch_list && !s.watch_list_refused ? 1 : 0);
  };
  mirror("namespace", namespaces_->stats());
  mirror("pod", pods_->stats());
  mirror("networkpolicy", policies_->stats());
  const auto cnp = cluster_policies_->stats();
  mirror("clusternetworkpolicy", cnp);
  mirror("node", nodes_->stats());
  catch_up(api_absent_.with({"clusternetworkpolicy"}), cnp.absent_lists);
  cnp_available_.set(cnp.lists > 0 && !cnp.absent ? 1 : 0);
  rss_.set(rss_bytes());
}

Health Agent::healthz() {
  const auto now = cfg_.sync.clock->now();
  const SteadyTime beat = loop_.heartbeat();
  const SteadyTime since = std::max(beat, started_);
  if (now - since > cfg_.sync_stall) {
    return {false, "sync thread stalled for " +
                       std::to_string(
                           std::chrono::duration_cast<std::chrono::seconds>(now - since).count()) +
                       "s"};
  }
  const uint64_t sums[5] = {progress_sum(*namespaces_), progress_sum(*pods_),
                            progress_sum(*policies_), progress_sum(*cluster_policies_),
                            progress_sum(*nodes_)};
  const char* names[5] = {"namespaces", "pods", "networkpolicies", "clusternetworkpolicies",
                          "nodes"};
  MutexLock lock(health_mu_);
  for (int i = 0; i < 5; ++i) {
    if (sums[i] != progress_[i].sum) {
      progress_[i] = {sums[i], now};
    } else if (now - progress_[i].since > cfg_.watch_stall) {
      return {false, std::string("watch of ") + names[i] + " made no progress for " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                            now - progress_[i].since)
                                            .count()) +
                         "s"};
    }
  }
  return {};
}

Health Agent::readyz() const {
  if (loop_.ready()) return {};
  std::string waiting;
  if (!namespaces_->has_synced()) waiting += " namespaces";
  if (!pods_->has_synced()) waiting += " pods";
  if (!policies_->has_synced()) waiting += " networkpolicies";
  if (!cnp_answered_.load()) waiting += " clusternetworkpolicies";
  if (!nodes_answered_.load()) waiting += " nodes";
  if (!waiting.empty()) return {false, "waiting for the first list of" + waiting};
  return {false, "first sync not applied yet"};
}

HttpResponse Agent::serve(const std::string& method, const std::string& path) {
  if (method != "GET" && method != "HEAD") return {405, "text/plain; charset=utf-8", "GET only\n"};
  if (path == "/healthz" || path == "/livez") {
    Health h = healthz();
    if (!h.ok) log_.warn("health check failing", {{"reason", h.reason}});
    return h.ok ? HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}
                : HttpResponse{503, "text/plain; charset=utf-8", h.reason + "\n"};
  }
  if (path == "/readyz") {
    Health h = readyz();
    return h.ok ? HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}
                : HttpResponse{503, "text/plain; charset=utf-8", h.reason + "\n"};
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", registry_.render()};
  }
  return {404, "text/plain; charset=utf-8", "not found (try /healthz, /readyz, /metrics)\n"};
}

template k8s::api::Handlers<k8s::Namespace> Agent::handlers(ResourceKind);
template k8s::api::Handlers<k8s::Pod> Agent::handlers(ResourceKind);
template k8s::api::Handlers<k8s::NetworkPolicy> Agent::handlers(ResourceKind);
template k8s::api::Handlers<k8s::ClusterNetworkPolicy> Agent::handlers(ResourceKind);
template k8s::api::Handlers<k8s::Node> Agent::handlers(ResourceKind);

}  // namespace netpol::agent
