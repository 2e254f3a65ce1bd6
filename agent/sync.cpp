#include "agent/sync.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <random>

#include "nft/family.h"
#include "nft/render.h"

namespace netpol::agent {

const char* to_string(ResourceKind k) {
  switch (k) {
    case ResourceKind::Namespace:
      return "namespace";
    case ResourceKind::Pod:
      return "pod";
    case ResourceKind::NetworkPolicy:
      return "networkpolicy";
    case ResourceKind::ClusterNetworkPolicy:
      return "clusternetworkpolicy";
    case ResourceKind::Node:
      return "node";
  }
  return "pod";
}

SyncMetrics::SyncMetrics(Registry& r)
    : event_latency(r.histogram("netpol_event_to_kernel_seconds",
                                "Time from an informer event received to the netlink ACK of "
                                "the transaction that enforces it (events that changed the rules)",
                                latency_buckets())
                        .with()),
      sync_duration(r.histogram("netpol_sync_duration_seconds",
                                "Duration of one apply to the kernel (plan + netlink), by mode",
                                latency_buckets(), {"mode"})),
      sync_full(sync_duration.with({"full"})),
      sync_incremental(sync_duration.with({"incremental"})),
      compile(r.histogram("netpol_compile_duration_seconds",
                          "Compiler time for one batch of events", latency_buckets())
                  .with()),
      events(r.counter("netpol_events_total", "Informer events received, by kind and operation",
                       {"kind", "op"})),
      batches(r.counter("netpol_sync_transactions_total",
                        "Incremental transactions applied (one per coalesced batch)")
                  .with()),
      set_chunks(r.counter("netpol_set_chunks_total",
                           "Chunks of big new sets sent, each its own transaction, before "
                           "the rules that use them")
                     .with()),
      full_syncs(r.counter("netpol_full_syncs_total",
                           "Full reconciles (first sync, after a failure, drift checks)")
                     .with()),
      apply_errors(r.counter("netpol_apply_errors_total",
                             "Applies the kernel or the planner refused (each forces a full "
                             "resync with backoff)")
                       .with()),
      drift_repairs(r.counter("netpol_drift_repairs_total",
                              "Drift checks that found the table changed behind our back and "
                              "repaired it")
                        .with()),
      drift_checks(r.counter("netpol_drift_checks_total",
                             "Drift checks by result: unchanged (ruleset generation unchanged "
                             "since our last apply, nothing read), clean (read back, equal), "
                             "repaired, failed",
                             {"result"})),
      local_pods(r.gauge("netpol_local_pods",
                         "Enforceable pods on this node (spec.nodeName) in the rule set")
                     .with()),
      chains(r.gauge("netpol_chains", "Chains in the kernel table inet netpol").with()),
      sets(r.gauge("netpol_sets", "Sets and maps in the kernel table inet netpol").with()),
      set_elements(r.gauge("netpol_set_elements",
                           "Elements of every set and map in the kernel table inet netpol")
                       .with()),
      last_success(r.gauge("netpol_last_successful_sync_timestamp_seconds",
                           "Unix time of the last successful apply to the kernel")
                       .with()),
      queue(r.gauge("netpol_sync_queue_events", "Events waiting for the sync thread").with()),
      ready(r.gauge("netpol_ready", "1 once the first sync has been applied").with()),
      synced_resource_version(
          r.gauge("netpol_synced_resource_version",
                  "Every API change up to this resourceVersion is enforced in the kernel "
                  "(numeric resourceVersions only; 0 until known)")
              .with()),
      spoof_bindings(r.gauge("netpol_spoof_guard_bindings",
                             "Anti-spoofing (interface, address) pairs enforced, by table "
                             "(inet: routed pod interfaces, bridge: bridge ports)",
                             {"table"})) {
  for (const char* result : {"unchanged", "clean", "repaired", "failed"})
    drift_checks.with({result});
}

Enforcer::Enforcer(nft::Kernel& kernel, std::string node, SyncMetrics* metrics, Logger* log,
                   std::shared_ptr<Clock> clock, nft::AuditOptions audit)
    : compiler_(std::move(node)),
      audit_(audit),
      table_(kernel, audit),
      m_(metrics),
      log_(log),
      clock_(clock ? std::move(clock) : make_real_clock()),
      bridge_(kernel, audit) {}

void Enforcer::add_applied_listener(std::function<void(const ir::RuleSet&)> fn) {
  listeners_.push_back(std::move(fn));
}

void Enforcer::feed(Event&& ev) {
  if (ev.on_applied) {
    // A binding of a pod whose change is held is in the kernel only once the
    // held change is, even when the binding itself changes nothing.
    auto* to = &on_applied_;
    for (Held& h : held_) {
      if (ev.binding && h.pods.contains(ev.binding->key())) to = &h.on_applied;
    }
    to->push_back(std::move(ev.on_applied));
  }
  const bool remove = ev.op == Event::Op::Remove;
  if (ev.op == Event::Op::Bind || ev.op == Event::Op::Unbind) {
    ir::Delta d = feed_binding(ev);
    if (d.empty() || !ready_) return;
    batch_.add(std::move(d));
    stamps_.push_back(ev.received);
    return;
  }
  if (ev.op == Event::Op::Links) {
    if (ev.links) links_ = std::move(*ev.links);
    return;
  }
  if (ev.op == Event::Op::Synced || ev.op == Event::Op::Unavailable) {
    answered_mask_ |= bit(ev.kind);
    if (ev.op == Event::Op::Unavailable) {
      if (ev.kind == ResourceKind::Node && !nodes_known_ && log_) {
        log_->warn(
            "cannot list nodes: nodes peers of ClusterNetworkPolicies fail closed (Accept rules "
            "do not match them, Deny and Pass rules match every destination) until they can be "
            "listed",
            {{"kind", to_string(ev.kind)}});
      }
      return;
    }
    if (log_) log_->info("informer synced", {{"kind", to_string(ev.kind)}});
    if (ev.kind == ResourceKind::Node && !nodes_known_) nodes_listed(ev.received);
    return;
  }
  if (m_) m_->events.with({to_string(ev.kind), remove ? "delete" : "upsert"}).inc();
  ir::Delta d;
  if (auto* ns = std::get_if<k8s::Namespace>(&ev.object)) {
    d = remove ? compiler_.remove_namespace(ns->name) : compiler_.upsert_namespace(*ns);
  } else if (auto* pod = std::get_if<k8s::Pod>(&ev.object)) {
    // Keyed by namespace/name like the compiler. A pod recreated under the
    // same name is deleted before it is created again (the API server's
    // order, kept by watches and by relists, which post deletes first).
    if (auto b = bound_.find(pod->key()); b != bound_.end()) {
      if (remove) {
        b->second.api.reset();
      } else {
        b->second.api = *pod;
      }
    }
    d = remove ? compiler_.remove_pod(pod->ns, pod->name) : upsert_pod(*pod);
  } else if (auto* np = std::get_if<k8s::NetworkPolicy>(&ev.object)) {
    d = remove ? compiler_.remove_policy(np->ns, np->name) : compiler_.upsert_policy(*np);
  } else if (auto* cnp = std::get_if<k8s::ClusterNetworkPolicy>(&ev.object)) {
    if (remove) {
      node_cnps_.erase(cnp->name);
      d = compiler_.remove_cluster_policy(cnp->name);
    } else {
      d = upsert_cnp(*cnp);
    }
  } else if (auto* node = std::get_if<k8s::Node>(&ev.object)) {
    d = remove ? compiler_.remove_node(node->name) : compiler_.upsert_node(*node);
  }
  if (d.empty()) return;
  // Before the first sync everything goes out in one full reconcile anyway.
  if (!ready_) return;
  batch_.add(std::move(d));
  stamps_.push_back(ev.received);
}

bool Enforcer::update_guards() {
  nft::PortBindings routed, bridged;
  if (anti_spoofing_) {
    std::set<IpAddr> claimed;
    auto put = [&](const std::string& ifc, const IpAddr& ip) {
      (links_.bridge_ports.count(ifc) ? bridged : routed).insert(nft::PortBinding{ifc, ip});
      claimed.insert(ip);
    };
    // netpol-cni's bindings first: they are authoritative (the runtime said
    // which interface the pod got), and arrive before the API has the IPs.
    for (const auto& [_, b] : bound_) {
      if (b.binding.interface.empty()) continue;
      for (const IpAddr& ip : b.binding.ips) put(b.binding.interface, ip);
      const bool same = b.api && (b.binding.uid.empty() || b.api->uid == b.binding.uid);
      if (same) {
        for (const IpAddr& ip : b.api->ips) put(b.binding.interface, ip);
      }
    }
    // Then what the links place behind an interface, for local pod addresses
    // nobody bound (pods started before the agent, or without netpol-cni).
    std::set<IpAddr> local;
    for (const auto& [_, pod] : rules().pods) local.insert(pod.ips.begin(), pod.ips.end());
    for (const nft::LinkBinding& lb : links_.bindings) {
      if (local.count(lb.ip) && !claimed.count(lb.ip)) put(lb.interface, lb.ip);
    }
  }
  const bool changed = routed != routed_ || bridged != bridged_;
  if (bridged != bridged_) bridge_dirty_ = true;
  routed_ = std::move(routed);
  bridged_ = std::move(bridged);
  table_.set_guard(anti_spoofing_ ? std::optional<nft::PortBindings>(routed_) : std::nullopt);
  return changed;
}

nft::Status Enforcer::sync_bridge(bool force) {
  // Off: a guard left by an earlier run goes once; nothing to keep in step.
  if (!anti_spoofing_ && bridge_removed_) return {};
  if (!force && !bridge_dirty_ && !bridge_.needs_full()) return {};
  // A full reconcile (first sync, retry, drift check) reads the table back.
  if (force) bridge_.forget();
  nft::Status s = anti_spoofing_ ? bridge_.sync(bridged_) : bridge_.remove();
  if (s.ok() && !anti_spoofing_) bridge_removed_ = true;
  if (!s.ok()) {
    if (m_) m_->apply_errors.inc();
    // Retried on the next flush; logged once per distinct error. The inet
    // table (policy and routed guard) does not wait for it.
    if (log_ && s.message() != bridge_error_) {
      log_->error(anti_spoofing_ ? "cannot program table bridge netpol (anti-spoofing of bridged "
                                   "pods); retrying"
                                 : "cannot delete table bridge netpol",
                  {{"error", s.message()}});
    }
    bridge_error_ = s.message();
    return s;
  }
  bridge_error_.clear();
  bridge_dirty_ = false;
  if (m_) m_->spoof_bindings.with({"bridge"}).set(static_cast<double>(bridged_.size()));
  return {};
}

nft::Status Enforcer::flush(const std::function<bool()>& yield) {
  if (!synced()) return {};
  const bool guards_changed = update_guards();
  if (needs_full() || batch_.broken()) return full(false);
  ir::Delta delta = batch_.take();
  if (!held_.empty() && !delta.empty()) {
    // Members joining or leaving a set a held change creates (no rule uses
    // it yet) go with that set; the rest of the change need not wait.
    std::map<size_t, ir::Delta> to_sets;
    auto& sets = delta.sets;
    for (auto it = sets.begin(); it != sets.end();) {
      const std::optional<size_t> unit =
          it->created || it->removed ? std::nullopt : creator_of(it->name);
      if (unit) {
        to_sets[*unit].sets.push_back(std::move(*it));
        it = sets.erase(it);
      } else {
        ++it;
      }
    }
    // Member changes go to the held change that creates their set, never to
    // an earlier one (its commit would meet a set not in the kernel yet). The
    // rest of a dependent change joins the latest held change it touches,
    // which commits after every other one it needs; the event is done then.
    const std::optional<size_t> dep = last_dependency(delta);
    std::optional<size_t> last = dep;
    if (!to_sets.empty()) last = std::max(last.value_or(0), to_sets.rbegin()->first);
    const bool joins = dep.has_value() || delta.empty();
    for (auto& [unit, d] : to_sets) {
      if (joins && unit == *last) {
        for (ir::SetDelta& sd : d.sets) delta.sets.push_back(std::move(sd));
      } else {
        held_[unit].batch.add(std::move(d));
      }
    }
    if (joins && last) {
      std::sort(delta.sets.begin(), delta.sets.end(),
                [](const ir::SetDelta& a, const ir::SetDelta& b) { return a.name < b.name; });
      hold(held_[*last], std::move(delta));
      delta = {};
    }
  }
  if (!delta.empty() && has_big_new_set(delta)) {
    // Only what needs the new sets waits: the pods' chains and dispatch, the
    // new and removed sets, and element changes of sets that the pods' current
    // chains use (their current rules must not meet half of the change). Other
    // sets' element changes are the final state of sets whose users are all
    // settled: they go now.
    std::set<std::string> used_now;
    for (const ir::PodDelta& pd : delta.pods) {
      if (pd.before) add_used_sets(*pd.before, used_now);
    }
    ir::Delta now;
    auto& sets = delta.sets;
    for (auto it = sets.begin(); it != sets.end();) {
      if (!it->created && !it->removed && !used_now.contains(it->name)) {
        now.sets.push_back(std::move(*it));
        it = sets.erase(it);
      } else {
        ++it;
      }
    }
    hold(held_.emplace_back(), std::move(delta));
    delta = std::move(now);
  }
  if (!delta.empty() || guards_changed) {
    if (nft::Status s = apply_delta(delta); !s.ok()) return s;
  } else {
    stamps_.clear();  // the batch's changes cancelled out: nothing to enforce
    (void)sync_bridge(false);
    notify_applied();
  }
  return held_.empty() ? nft::Status{} : advance_held(yield);
}

nft::Status Enforcer::apply_delta(const ir::Delta& delta) {
  const SteadyTime t0 = clock_->now();
  const size_t fulls = table_.stats().full_syncs;
  nft::Status s = table_.update(rules(), delta);
  // A change the mirror did not fit was sent as a full reconcile, which
  // covers every held change too: none is held any more (a chunk sent now
  // would be refused, and the change sent twice).
  if (table_.stats().full_syncs != fulls) release_held();
  const double secs = std::chrono::duration<double>(clock_->now() - t0).count();
  if (!s.ok()) {
    if (m_) m_->apply_errors.inc();
    if (log_ && s.message() != last_error_) {
      log_->error("incremental apply failed; next sync is a full resync", {{"error", s.message()}});
    }
    last_error_ = s.message();
    return s;
  }
  // The bridge table is a separate transaction: bound bridge ports are
  // guarded right after the pod's chains are (before netpol-cni's answer).
  (void)sync_bridge(false);
  const SteadyTime oldest = oldest_stamp();
  applied(false, secs);
  if (commit_hook_) commit_hook_(rules(), &delta, oldest);
  return {};
}

namespace {

template <class Rules>
void add_used(const Rules& rules, std::set<std::string>& out) {
  for (const auto& r : rules) {
    if (r.peer.kind == ir::PeerMatch::Kind::Set) out.insert(r.peer.set);
    if (!r.named_port_set.empty()) out.insert(r.named_port_set);
  }
}

bool uses_any(const ir::LocalPod& pod, const std::set<std::string>& sets) {
  auto hit = [&](const auto& rules) {
    return std::any_of(rules.begin(), rules.end(), [&](const auto& r) {
      return (r.peer.kind == ir::PeerMatch::Kind::Set && sets.contains(r.peer.set)) ||
             (!r.named_port_set.empty() && sets.contains(r.named_port_set));
    });
  };
  for (bool in : {true, false}) {
    if (const auto& c = pod.chain(in); c && hit(c->rules)) return true;
    if (const auto& c = pod.admin(in); c && hit(c->rules)) return true;
    if (const auto& c = pod.baseline(in); c && hit(c->rules)) return true;
  }
  return false;
}

}  // namespace

void Enforcer::add_used_sets(const ir::LocalPod& pod, std::set<std::string>& out) {
  for (bool in : {true, false}) {
    if (const auto& c = pod.chain(in)) add_used(c->rules, out);
    if (const auto& c = pod.admin(in)) add_used(c->rules, out);
    if (const auto& c = pod.baseline(in)) add_used(c->rules, out);
  }
}

std::optional<size_t> Enforcer::creator_of(const std::string& set) const {
  for (size_t i = 0; i < held_.size(); ++i) {
    if (held_[i].created.contains(set)) return i;
  }
  return std::nullopt;
}

std::optional<size_t> Enforcer::last_dependency(const ir::Delta& d) const {
  for (size_t i = held_.size(); i-- > 0;) {
    if (depends(d, held_[i])) return i;
  }
  return std::nullopt;
}

bool Enforcer::depends(const ir::Delta& d, const Held& h) {
  for (const ir::SetDelta& sd : d.sets) {
    if (h.sets.contains(sd.name)) return true;
    // The held pods' chains in the kernel still use it: it goes with them.
    if (sd.removed && h.used_before.contains(sd.name)) return true;
  }
  for (const ir::PodDelta& pd : d.pods) {
    if (h.pods.contains(pd.key)) return true;
    for (const auto* p : {&pd.before, &pd.after}) {
      if (!*p) continue;
      for (const IpAddr& ip : (*p)->ips) {
        if (h.ips.contains(ip)) return true;
      }
    }
    // Rules over a set the held change moves would meet it half-way there.
    if (pd.after && uses_any(*pd.after, h.sets)) return true;
  }
  return false;
}

bool Enforcer::has_big_new_set(const ir::Delta& d) const {
  if (chunk_threshold_ == 0) return false;
  return std::any_of(d.sets.begin(), d.sets.end(), [&](const ir::SetDelta& sd) {
    return sd.created && sd.created->elements.size() >= chunk_threshold_;
  });
}

void Enforcer::hold(Held& h, ir::Delta&& d) {
  for (const ir::SetDelta& sd : d.sets) {
    h.sets.insert(sd.name);
    if (sd.created) h.created.insert(sd.name);
    // Created again or removed: what its chunks sent no longer counts.
    if (sd.created || sd.removed) h.prefilled.erase(sd.name);
    if (chunk_threshold_ == 0 || !sd.created || sd.created->elements.size() < chunk_threshold_) {
      continue;
    }
    h.prefilled[sd.name] = sd.created->elements;
    ir::RuleSet one;
    one.sets[sd.name] = *sd.created;
    nft::Ruleset r = nft::render(one, audit_).ruleset;
    const size_t first = h.chunks.size();
    std::vector<nft::Set> empty;
    for (netpol::Family f : nft::kFamilies) {
      nft::Set& whole = r.sets.at(nft::family_set_name(sd.name, f));
      nft::Set decl = whole;
      decl.elements.clear();
      if (whole.elements.empty()) empty.push_back(decl);
      for (auto it = whole.elements.begin(); it != whole.elements.end();) {
        Chunk c{sd.name, decl, {}};
        for (size_t n = 0; n < chunk_elements_ && it != whole.elements.end(); ++n) {
          c.decl.elements.insert(c.decl.elements.end(), *it++);
        }
        h.chunks.push_back(std::move(c));
      }
    }
    // An empty family is created with the first chunk: the commit sends no
    // set whole (a big set has elements in at least one family).
    h.chunks[first].declare = std::move(empty);
  }
  for (const ir::PodDelta& pd : d.pods) {
    h.pods.insert(pd.key);
    if (pd.before) add_used_sets(*pd.before, h.used_before);
    if (pd.before) h.ips.insert(pd.before->ips.begin(), pd.before->ips.end());
    if (pd.after) h.ips.insert(pd.after->ips.begin(), pd.after->ips.end());
  }
  h.batch.add(std::move(d));
  h.stamps.insert(h.stamps.end(), stamps_.begin(), stamps_.end());
  stamps_.clear();
  for (auto& fn : on_applied_) h.on_applied.push_back(std::move(fn));
  on_applied_.clear();
}

nft::Status Enforcer::advance_held(const std::function<bool()>& yield) {
  // Held changes commit in the order they were held (a later one may
  // depend on an earlier one, never the other way round).
  while (!held_.empty()) {
    Held& h = held_.front();
    if (h.chunks.empty()) {
      if (nft::Status s = commit_held(); !s.ok()) return s;
      continue;
    }
    Chunk c = std::move(h.chunks.front());
    h.chunks.pop_front();
    // A set the IR dropped meanwhile: the held change removes what was sent.
    if (!rules().sets.contains(c.ir_set)) {
      h.prefilled.erase(c.ir_set);
      continue;
    }
    std::set<nft::Element> elements(c.decl.elements.begin(), c.decl.elements.end());
    c.decl.elements.clear();
    nft::Status s = table_.prefill(c.decl, std::move(elements), c.declare);
    if (!s.ok()) {
      if (m_) m_->apply_errors.inc();
      if (log_ && s.message() != last_error_) {
        log_->error("sending a chunk of a big new set failed; next sync is a full resync",
                    {{"set", c.decl.name}, {"error", s.message()}});
      }
      last_error_ = s.message();
      release_held();
      return s;
    }
    if (m_) m_->set_chunks.inc();
    // One chunk per call unless the caller says nothing is waiting.
    if (!yield || yield()) break;
  }
  while (!held_.empty() && held_.front().chunks.empty()) {
    if (nft::Status s = commit_held(); !s.ok()) return s;
  }
  return {};
}

nft::Status Enforcer::commit_held() {
  Held h = std::move(held_.front());
  held_.pop_front();
  // Whatever this batch had is already applied; the held change's own
  // stamps and callbacks are the ones this commit completes.
  stamps_ = std::move(h.stamps);
  on_applied_ = std::move(h.on_applied);
  if (h.batch.broken()) return full(false);
  ir::Delta d = h.batch.take();
  for (ir::SetDelta& sd : d.sets) {
    const auto sent = h.prefilled.find(sd.name);
    if (!sd.created || sent == h.prefilled.end()) continue;
    // Its chunks are in the kernel: only the members that joined or left
    // since go now (rendering and diffing ~37k elements again took 25-45 ms
    // at 100k pods, on the sync thread).
    const SortedBlocks<ir::Element>& want = sd.created->elements;
    std::set_difference(want.begin(), want.end(), sent->second.begin(), sent->second.end(),
                        std::back_inserter(sd.add));
    std::set_difference(sent->second.begin(), sent->second.end(), want.begin(), want.end(),
                        std::back_inserter(sd.del));
    sd.created.reset();
  }
  return apply_delta(d);
}

void Enforcer::release_held() {
  for (Held& h : held_) {
    stamps_.insert(stamps_.end(), h.stamps.begin(), h.stamps.end());
    for (auto& fn : h.on_applied) on_applied_.push_back(std::move(fn));
  }
  held_.clear();
}

SteadyTime Enforcer::oldest_stamp() const {
  return stamps_.empty() ? clock_->now() : *std::min_element(stamps_.begin(), stamps_.end());
}

nft::Result<bool> Enforcer::check_drift(bool read_back) {
  if (!ready_) return false;
  if (!read_back && table_.unchanged_since_sync()) {
    if (m_) m_->drift_checks.with({"unchanged"}).inc();
    return false;
  }
  nft::Status s = full(true);
  if (!s.ok()) {
    if (m_) m_->drift_checks.with({"failed"}).inc();
    return nft::Error{s.message()};
  }
  const bool repaired = table_.stats().last_ops > 0;
  if (m_) m_->drift_checks.with({repaired ? "repaired" : "clean"}).inc();
  if (repaired) {
    if (m_) m_->drift_repairs.inc();
    if (log_) {
      log_->warn("table inet netpol differed from the desired state; repaired",
                 {{"ops", static_cast<uint64_t>(table_.stats().last_ops)}});
    }
  }
  return repaired;
}

nft::Status Enforcer::full(bool drift) {
  batch_.clear();  // the reconcile covers everything fed so far
  release_held();  // ... the held change too
  update_guards();
  const SteadyTime t0 = clock_->now();
  nft::Status s = table_.full(rules());
  if (s.ok()) (void)sync_bridge(true);
  const double secs = std::chrono::duration<double>(clock_->now() - t0).count();
  if (m_) m_->full_syncs.inc();
  if (!s.ok()) {
    if (m_) m_->apply_errors.inc();
    if (log_ && s.message() != last_error_) {
      log_->error(drift ? "drift check failed" : "full sync failed; retrying with backoff",
                  {{"error", s.message()}});
    }
    last_error_ = s.message();
    return s;
  }
  const bool first = !ready_;
  const SteadyTime oldest = oldest_stamp();
  applied(true, secs);
  // A reconcile that sent something (a retry after a failure, a repaired
  // drift) may have denied anything: the hook looks at every local pod.
  if (!first && commit_hook_ && (!drift || table_.stats().last_ops > 0)) {
    commit_hook_(rules(), nullptr, oldest);
  }
  if (first && log_) {
    log_->info("first sync applied; enforcing",
               {{"local_pods", static_cast<uint64_t>(rules().pods.size())},
                {"sets", static_cast<uint64_t>(rules().sets.size())},
                {"ops", static_cast<uint64_t>(table_.stats().last_ops)},
                {"ms", secs * 1e3}});
  }
  return {};
}

void Enforcer::applied(bool full, double seconds) {
  const SteadyTime ack = clock_->now();
  if (m_) {
    (full ? m_->sync_full : m_->sync_incremental).observe(seconds);
    if (!full) m_->batches.inc();
    for (const SteadyTime& t : stamps_) {
      m_->event_latency.observe(std::chrono::duration<double>(ack - t).count());
    }
    m_->local_pods.set(static_cast<double>(rules().pods.size()));
    m_->spoof_bindings.with({"inet"}).set(static_cast<double>(routed_.size()));
    if (const auto& mirror = table_.mirror()) {
      size_t elements = 0;
      for (const auto& [_, set] : mirror->sets) elements += set.elements.size();
      m_->chains.set(static_cast<double>(mirror->chains.size()));
      m_->sets.set(static_cast<double>(mirror->sets.size()));
      m_->set_elements.set(static_cast<double>(elements));
    }
    m_->last_success.set(
        std::chrono::duration<double>(clock_->wall_now().time_since_epoch()).count());
    m_->ready.set(1);
  }
  stamps_.clear();
  if (!last_error_.empty() && log_) log_->info("apply succeeded again");
  last_error_.clear();
  ready_ = true;
  for (const auto& fn : listeners_) fn(rules());
  notify_applied();
}

void Enforcer::notify_applied() {
  std::vector<std::function<void()>> fns;
  fns.swap(on_applied_);
  for (const auto& fn : fns) fn();
}

ir::Delta Enforcer::upsert_pod(const k8s::Pod& pod) {
  auto b = bound_.find(pod.key());
  if (b == bound_.end()) return compiler_.upsert_pod(pod);
  const PodBinding& bd = b->second.binding;
  // The binding stands in for status.podIPs until the API reports them; the
  // API wins from then on, and a binding never speaks for another UID.
  const bool same_pod = bd.uid.empty() || bd.uid == pod.uid;
  const bool finished = pod.phase == k8s::PodPhase::Succeeded || pod.phase == k8s::PodPhase::Failed;
  if (!same_pod || !pod.ips.empty() || finished) return compiler_.upsert_pod(pod);
  k8s::Pod bound = pod;
  bound.ips = bd.ips;
  return compiler_.upsert_pod(bound);
}

namespace {

bool has_node_peer(const std::vector<k8s::CnpRule>& rules) {
  for (const auto& r : rules) {
    for (const auto& p : r.peers) {
      if (p.kind == k8s::CnpPeer::Kind::Nodes) return true;
    }
  }
  return false;
}

}  // namespace

ir::Delta Enforcer::upsert_cnp(const k8s::ClusterNetworkPolicy& cnp) {
  if (nodes_known_ || !has_node_peer(cnp.egress)) {
    node_cnps_.erase(cnp.name);
    return compiler_.upsert_cluster_policy(cnp);
  }
  node_cnps_.insert_or_assign(cnp.name, cnp);
  // Without the Node objects a `nodes` peer cannot be evaluated: compile it
  // as a peer of a field this version does not know, which the compiler
  // fails closed (docs/semantics.md, "Unknown peers").
  k8s::ClusterNetworkPolicy blind = cnp;
  for (auto& rule : blind.egress) {
    for (auto& peer : rule.peers) {
      if (peer.kind != k8s::CnpPeer::Kind::Nodes) continue;
      peer = k8s::CnpPeer{};
      peer.kind = k8s::CnpPeer::Kind::Unknown;
      peer.unknown_field = "nodes";
    }
  }
  return compiler_.upsert_cluster_policy(blind);
}

void Enforcer::nodes_listed(SteadyTime received) {
  nodes_known_ = true;
  std::vector<std::string> names;
  for (const auto& [name, _] : node_cnps_) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    ir::Delta d = compiler_.upsert_cluster_policy(node_cnps_.at(name));
    if (d.empty() || !ready_) continue;
    batch_.add(std::move(d));
    stamps_.push_back(received);
  }
  node_cnps_.clear();
}

ir::Delta Enforcer::feed_binding(Event& ev) {
  const PodBinding& in = *ev.binding;
  const std::string key = in.key();
  if (ev.op == Event::Op::Unbind) {
    auto b = bound_.find(key);
    if (b == bound_.end() || (!in.uid.empty() && b->second.binding.uid != in.uid)) return {};
    std::optional<k8s::Pod> api = std::move(b->second.api);
    bound_.erase(b);
    // Back to what the API says (nothing, if it has no such pod).
    return api ? compiler_.upsert_pod(*api) : ir::Delta{};
  }
  Bound& b = bound_[key];
  b.binding = in;
  if (auto* pod = std::get_if<k8s::Pod>(&ev.object); pod && !b.api) b.api = *pod;
  return b.api ? upsert_pod(*b.api) : ir::Delta{};
}

// --- SyncThread ----------------------------------------------------------------------

SyncThread::SyncThread(Enforcer& core, SyncThreadOptions options, SyncMetrics* metrics, Logger* log)
    : core_(core),
      opts_(std::move(options)),
      m_(metrics),
      log_(log),
      clock_(opts_.clock ? opts_.clock : make_real_clock()) {}

SyncThread::~SyncThread() {
  stop();
}

void SyncThread::enqueue(Event ev) {
  ev.received = clock_->now();
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(ev));
  }
  cv_.notify_one();
}

void SyncThread::start() {
  MutexLock lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void SyncThread::stop() {
  std::thread thread;
  {
    MutexLock lock(mu_);
    stop_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

SteadyTime SyncThread::heartbeat() const {
  return SteadyTime(std::chrono::nanoseconds(heartbeat_ns_.load()));
}

void SyncThread::run() {
  auto elapsed = [](SteadyTime from, SteadyTime to) {
    return std::chrono::duration<double>(to - from).count();
  };
  std::mt19937_64 rng(std::random_device{}());
  SyncSchedule schedule(opts_.schedule(), clock_->now(),
                        [&rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); });
  BatchWindow window(opts_.window());
  std::vector<Event> batch;

  MutexLock lock(mu_);
  while (!stop_) {
    // While a held change waits for chunks of its sets, go round at once.
    clock_->wait_until(lock, cv_, schedule.next_wake(),
                       [&]() REQUIRES(mu_) { return stop_ || !queue_.empty() || core_.busy(); });
    if (stop_) break;
    SteadyTime now = clock_->now();
    heartbeat_ns_.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());

    // Idle and due: learn up to where the informers have delivered, so the
    // watermark can move once everything before it is applied.
    std::optional<uint64_t> mark;
    if (schedule.tick(now)) {
      if (queue_.empty() && core_.ready() && !schedule.retrying() && opts_.barrier) {
        lock.unlock();
        mark = opts_.barrier();
        lock.lock();
        if (stop_) break;
      }
    }

    // Coalesce a burst (only once enforcing: before the first sync the
    // initial lists are drained as fast as they come).
    if (!queue_.empty() && core_.ready()) {
      window.open(clock_->now());
      while (!stop_ && !window.full(queue_.size())) {
        const size_t seen = queue_.size();
        clock_->wait_until(lock, cv_, window.deadline(clock_->now()),
                           [&]() REQUIRES(mu_) { return stop_ || queue_.size() > seen; });
        if (window.closes(queue_.size() > seen, clock_->now())) break;
      }
      if (stop_) break;
    }
    const size_t take = core_.ready() ? std::min(queue_.size(), opts_.max_batch) : queue_.size();
    batch.reserve(take);  // empty: cleared after it was fed
    for (size_t i = 0; i < take; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (m_) m_->queue.set(static_cast<double>(queue_.size()));
    if (take > 0) window.close(clock_->now());
    lock.unlock();

    if (!batch.empty()) {
      const SteadyTime t0 = clock_->now();
      for (Event& ev : batch) core_.feed(std::move(ev));
      if (m_ && core_.ready()) m_->compile.observe(elapsed(t0, clock_->now()));
      // Before ready the whole initial list is one batch (100k pods: 100k
      // events of 576 B); the room it took is not kept for the small batches
      // that follow (it was 30 MiB of the agent's RSS at ready).
      batch.clear();
      if (batch.capacity() > opts_.max_batch) batch = std::vector<Event>();
    }
    now = clock_->now();
    bool ok = true;
    if (schedule.apply_due(now)) {
      // Chunks of a big new set go out back to back until events wait.
      nft::Status s = core_.flush([this]() EXCLUDES(mu_) {
        MutexLock l(mu_);
        return stop_ || !queue_.empty();
      });
      ok = s.ok();
      // No drift check while a change is held: it would send it whole.
      if (ok && core_.ready() && !core_.busy()) {
        if (const auto drift = schedule.drift(now); drift.due) {
          ok = core_.check_drift(drift.read_back).ok();
        }
      }
      if (ok) {
        schedule.succeeded();
      } else {
        const auto delay = schedule.failed(clock_->now());
        if (log_) {
          log_->warn("retrying full sync", {{"in_ms", static_cast<int64_t>(delay.count())},
                                            {"attempt", schedule.attempts()}});
        }
      }
    } else {
      ok = false;  // still waiting for the retry
    }
    if (core_.ready()) ready_.store(true);

    lock.lock();
    if (mark && ok && queue_.empty() && !core_.busy() && *mark > synced_rv_.load()) {
      synced_rv_.store(*mark);
      if (m_) m_->synced_resource_version.set(static_cast<double>(*mark));
    }
  }
}

}  // namespace netpol::agent
