#include "agent/bindings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

namespace netpol::agent {

namespace {

using json = nlohmann::json;

constexpr int kStateVersion = 1;

// Set by on_applied on the sync thread, waited for by the CNI server thread.
struct Committed {
  Mutex mu;
  CondVar cv;
  bool done GUARDED_BY(mu) = false;
};

std::function<void()> signal(const std::shared_ptr<Committed>& c) {
  return [c] {
    {
      MutexLock lock(c->mu);
      c->done = true;
    }
    c->cv.notify_all();
  };
}

// Writes `text` to `path` atomically: a temporary file in the same
// directory, fsync, rename over the old one.
Status write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + tmp);
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return Status::FromErrno(e, "write " + tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::FromErrno(e, "fsync " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  return {};
}

}  // namespace

std::string bindings_state_path(const std::string& socket_path) {
  const size_t slash = socket_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : socket_path.substr(0, slash);
  std::string base = slash == std::string::npos ? socket_path : socket_path.substr(slash + 1);
  if (const size_t dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  return dir + "/" + base + "-bindings.json";
}

Bindings::Bindings(BindingsConfig config, BindingsHooks hooks, std::shared_ptr<Clock> clock,
                   Registry* metrics, Logger* log)
    : cfg_(std::move(config)),
      hooks_(std::move(hooks)),
      clock_(clock ? std::move(clock) : make_real_clock()),
      log_(log) {
  if (!metrics) return;
  held_ = &metrics
               ->gauge("netpol_cni_bindings",
                       "Pods bound by netpol-cni (enforced with their CNI IPs until the API "
                       "reports them)")
               .with();
  bind_latency_ = &metrics
                       ->histogram("netpol_cni_bind_duration_seconds",
                                   "Time from a netpol-cni bind request to the commit of the "
                                   "pod's chains in the kernel (successful binds)",
                                   latency_buckets())
                       .with();
  refusals_ =
      &metrics->counter("netpol_cni_refusals_total",
                        "netpol-cni requests refused, by operation and reason", {"op", "reason"});
  state_errors_ = &metrics
                       ->counter("netpol_cni_state_errors_total",
                                 "Failures to write or read the bindings state file")
                       .with();
  held_->set(0);
}

PodBinding Bindings::pod_binding(const Entry& e) {
  return PodBinding{e.ns, e.name, e.uid, e.ips, e.host_interface};
}

size_t Bindings::size() const {
  MutexLock lock(mu_);
  return by_container_.size();
}

Status Bindings::refuse(const char* op, Status s) {
  if (refusals_) {
    const cni::Op o = std::string_view(op) == "bind"      ? cni::Op::Bind
                      : std::string_view(op) == "release" ? cni::Op::Release
                                                          : cni::Op::Check;
    refusals_->with({op, cni::to_string(cni::answer_for(o, s).refusal)}).inc();
  }
  return s;
}

Status Bindings::bind(const cni::Request& r, Clock::time_point deadline) {
  const auto t0 = clock_->now();
  const std::string pod = r.pod_namespace + "/" + r.pod_name;
  Entry e{r.container_id, r.pod_namespace, r.pod_name, r.pod_uid, r.ifname, r.host_interface, {}};
  for (const std::string& text : r.ips) {
    auto ip = IpAddr::parse(text);
    if (!ip) return refuse("bind", StatusError{"not an IP address: " + text, Code::Malformed});
    e.ips.push_back(*ip);
  }
  if (!hooks_.pods_synced()) {
    return refuse("bind", StatusError{"the agent has not listed pods yet", Code::Unavailable});
  }
  std::optional<k8s::Pod> found = hooks_.cached(r.pod_namespace, r.pod_name, r.pod_uid);
  if (!found) {
    // Created after our last watch event: ask the API server.
    auto got = hooks_.fetch(r.pod_namespace, r.pod_name);
    if (!got.ok()) {
      return refuse("bind", StatusError{"cannot GET pod " + pod + ": " + got.status().message(),
                                        Code::Unavailable});
    }
    found = std::move(got).value();
  }
  if (!found) {
    return refuse("bind", StatusError{"pod " + pod + " not found in the API", Code::NotFound});
  }
  if (!r.pod_uid.empty() && found->uid != r.pod_uid) {
    return refuse("bind",
                  StatusError{"pod " + pod + " has UID " + found->uid + ", not " + r.pod_uid,
                              Code::NotFound});
  }
  if (found->node_name != cfg_.node) {
    return refuse("bind", StatusError{"pod " + pod + " is scheduled on node " +
                                          (found->node_name.empty() ? "(none)" : found->node_name) +
                                          ", this agent serves " + cfg_.node,
                                      Code::Forbidden});
  }
  if (e.uid.empty()) e.uid = found->uid;

  auto committed = std::make_shared<Committed>();
  {
    MutexLock lock(mu_);
    by_container_[e.container_id] = e;
    persist_locked();
    set_gauge_locked();
    Event ev{Event::Op::Bind, ResourceKind::Pod, *found, {}, pod_binding(e), signal(committed)};
    hooks_.enqueue(std::move(ev));
  }
  bool done = false;
  {
    MutexLock lock(committed->mu);
    done = clock_->wait_until(lock, committed->cv, deadline,
                              [&]() REQUIRES(committed->mu) { return committed->done; });
  }
  if (!done) {
    // The binding stays: the rules land when the sync thread gets there, and
    // the runtime's DEL after the failed ADD releases it.
    return refuse(
        "bind",
        StatusError{"pod " + pod + ": rules not in the kernel within the deadline", Code::Timeout});
  }
  if (bind_latency_) {
    bind_latency_->observe(std::chrono::duration<double>(clock_->now() - t0).count());
  }
  if (log_) {
    std::string ips;
    for (const auto& ip : e.ips) ips += (ips.empty() ? "" : ",") + ip.str();
    log_->info("pod bound by netpol-cni",
               {{"pod", pod}, {"uid", e.uid}, {"ips", ips}, {"interface", e.host_interface}});
  }
  return {};
}

Status Bindings::release(const cni::Request& r, Clock::time_point deadline) {
  auto committed = std::make_shared<Committed>();
  {
    MutexLock lock(mu_);
    if (!by_container_.count(r.container_id)) return {};  // idempotent
    drop_locked(r.container_id, signal(committed));
    persist_locked();
    set_gauge_locked();
  }
  // The pod only loses rules it no longer needs; wait so that DEL returns
  // with the kernel in step, but a slow kernel never fails a DEL.
  MutexLock lock(committed->mu);
  clock_->wait_until(lock, committed->cv, deadline,
                     [&]() REQUIRES(committed->mu) { return committed->done; });
  return {};
}

Status Bindings::check(const cni::Request& r, Clock::time_point) {
  MutexLock lock(mu_);
  auto it = by_container_.find(r.container_id);
  if (it == by_container_.end()) {
    return refuse("check",
                  StatusError{"no binding for container " + r.container_id, Code::NotFound});
  }
  const Entry& e = it->second;
  std::vector<IpAddr> ips;
  for (const std::string& text : r.ips) {
    if (auto ip = IpAddr::parse(text)) ips.push_back(*ip);
  }
  if (e.ns != r.pod_namespace || e.name != r.pod_name || ips != e.ips ||
      e.host_interface != r.host_interface || (!r.pod_uid.empty() && r.pod_uid != e.uid)) {
    return refuse("check", StatusError{"the binding of container " + r.container_id +
                                           " differs from the request (pod, IPs or interface)",
                                       Code::Conflict});
  }
  return {};
}

void Bindings::pod_deleted(const k8s::Pod& pod) {
  MutexLock lock(mu_);
  std::vector<std::string> gone;
  for (const auto& [id, e] : by_container_) {
    if (e.ns == pod.ns && e.name == pod.name && (e.uid.empty() || e.uid == pod.uid)) {
      gone.push_back(id);
    }
  }
  if (gone.empty()) return;
  for (const auto& id : gone) drop_locked(id, {});
  persist_locked();
  set_gauge_locked();
}

void Bindings::drop_locked(const std::string& container_id, std::function<void()> on_applied) {
  auto it = by_container_.find(container_id);
  if (it == by_container_.end()) return;
  const Entry gone = it->second;
  by_container_.erase(it);
  // A newer sandbox of the same pod keeps its binding.
  for (const auto& [_, e] : by_container_) {
    if (e.key() == gone.key()) {
      hooks_.enqueue(
          Event{Event::Op::Bind, ResourceKind::Pod, {}, {}, pod_binding(e), std::move(on_applied)});
      return;
    }
  }
  hooks_.enqueue(Event{
      Event::Op::Unbind, ResourceKind::Pod, {}, {}, pod_binding(gone), std::move(on_applied)});
}

void Bindings::set_gauge_locked() {
  if (held_) held_->set(static_cast<double>(by_container_.size()));
}

void Bindings::persist_locked() {
  if (cfg_.state_path.empty()) return;
  json list = json::array();
  for (const auto& [_, e] : by_container_) {
    json ips = json::array();
    for (const auto& ip : e.ips) ips.push_back(ip.str());
    list.push_back({{"containerId", e.container_id},
                    {"namespace", e.ns},
                    {"name", e.name},
                    {"uid", e.uid},
                    {"ifname", e.ifname},
                    {"hostInterface", e.host_interface},
                    {"ips", std::move(ips)}});
  }
  const json doc = {{"version", kStateVersion}, {"node", cfg_.node}, {"bindings", std::move(list)}};
  if (Status s = write_atomically(cfg_.state_path, doc.dump() + "\n"); !s.ok()) {
    if (state_errors_) state_errors_->inc();
    // Enforcement goes on; only a restart would forget the binding.
    if (log_) log_->error("cannot write the netpol-cni bindings", {{"error", s.message()}});
  }
}

Status Bindings::restore() {
  if (cfg_.state_path.empty()) return {};
  std::ifstream in(cfg_.state_path);
  if (!in) {
    if (errno == ENOENT) return {};
    return Status::FromErrno(errno, "open " + cfg_.state_path);
  }
  std::stringstream text;
  text << in.rdbuf();
  std::map<std::string, Entry> loaded;
  std::string why;
  const json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("bindings") ||
      !doc["bindings"].is_array()) {
    why = "not a bindings file";
  } else if (doc.value("version", 0) != kStateVersion) {
    why = "version " + doc.value("version", json(0)).dump() + " unknown";
  } else if (doc.value("node", std::string()) != cfg_.node) {
    why = "written for node " + doc.value("node", std::string());
  } else {
    for (const json& b : doc["bindings"]) {
      auto str = [&](const char* k) {
        return b.is_object() && b.contains(k) && b[k].is_string() ? b[k].get<std::string>() : "";
      };
      Entry e{str("containerId"), str("namespace"),     str("name"), str("uid"),
              str("ifname"),      str("hostInterface"), {}};
      if (b.is_object() && b.contains("ips") && b["ips"].is_array()) {
        for (const json& ip : b["ips"]) {
          if (auto p = ip.is_string() ? IpAddr::parse(ip.get<std::string>()) : std::nullopt) {
            e.ips.push_back(*p);
          }
        }
      }
      if (e.container_id.empty() || e.ns.empty() || e.name.empty() || e.ips.empty()) {
        why = "a binding without container, pod or IPs";
        break;
      }
      loaded[e.container_id] = std::move(e);
    }
  }
  if (!why.empty()) {
    if (state_errors_) state_errors_->inc();
    const std::string bad = cfg_.state_path + ".bad";
    std::rename(cfg_.state_path.c_str(), bad.c_str());
    if (log_) {
      log_->error("netpol-cni bindings file ignored (set aside)",
                  {{"path", cfg_.state_path}, {"moved_to", bad}, {"error", why}});
    }
    return StatusError{cfg_.state_path + ": " + why, Code::Malformed};
  }
  MutexLock lock(mu_);
  by_container_ = std::move(loaded);
  // One event per pod (the last container listed for it wins, as a later
  // bind would).
  std::map<std::string, const Entry*> by_pod;
  for (const auto& [_, e] : by_container_) by_pod[e.key()] = &e;
  for (const auto& [_, e] : by_pod) {
    hooks_.enqueue(Event{Event::Op::Bind, ResourceKind::Pod, {}, {}, pod_binding(*e), {}});
  }
  set_gauge_locked();
  if (log_) {
    log_->info(
        "netpol-cni bindings restored",
        {{"path", cfg_.state_path}, {"bindings", static_cast<uint64_t>(by_container_.size())}});
  }
  return {};
}

}  // namespace netpol::agent
