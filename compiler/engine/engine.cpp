// Pods, local pods and policies: each change updates the records and the
// indexes and marks what flush() has to rebuild.
#include "compiler/engine/engine.h"

#include <algorithm>
#include <unordered_set>

#include "compiler/engine/templates.h"

namespace netpol::compiler::engine {

// ---------------------------------------------------------------------------
// Local pods

void Engine::add_local(PodRec* p) {
  NsRec* ns = p->ns;
  ns->local_pods.insert(p);
  auto& selected = p->loc_mut().selected_by;
  selected.clear();
  for (PolicyRec* pol : ns->policies)
    if (pol->src.pod_selector.matches(p->labels)) selected.push_back(pol);
  std::sort(selected.begin(), selected.end(), by_key);
  reselect_cnps(p);
  pending_.mark_dirty(p, true);
  pending_.mark_ips_dirty(p);
}

void Engine::remove_local(PodRec* p) {
  p->ns->local_pods.erase(p);
  for (SetRec* s : p->loc().chain_refs) release(s);
  p->local_state.reset();
  pending_.mark_dirty(p, true);
  pending_.mark_ips_dirty(p);
}

void Engine::reselect_policies(PodRec* p, const std::vector<std::string>& keys) {
  std::unordered_set<PolicyRec*> cand;
  for (const auto& k : keys) {
    auto it = p->ns->policies_by_key.find(k);
    if (it != p->ns->policies_by_key.end()) cand.insert(it->second.begin(), it->second.end());
  }
  bool changed = false;
  for (PolicyRec* pol : cand) {
    auto& selected = p->loc_mut().selected_by;
    auto it = std::lower_bound(selected.begin(), selected.end(), pol, by_key);
    bool was = it != selected.end() && *it == pol;
    bool now = pol->src.pod_selector.matches(p->labels);
    if (was == now) continue;
    changed = true;
    if (now) {
      selected.insert(it, pol);
    } else {
      selected.erase(it);
    }
  }
  if (changed) pending_.mark_dirty(p, true);
}

// ---------------------------------------------------------------------------
// Pods

namespace {

// The fields of `in` a pod record keeps (ips: deduplicated, on_node: decided).
void take_state(PodRec* p, const k8s::Pod& in, std::vector<IpAddr> ips, bool on_node) {
  p->labels = in.labels;
  p->ports = in.ports;
  p->ips = std::move(ips);
  p->phase = in.phase;
  p->terminating = in.terminating;
  p->host_network = in.host_network;
  p->on_node = on_node;
}

}  // namespace

void Engine::upsert_pod(const k8s::Pod& in) {
  std::vector<IpAddr> ips;
  for (const auto& ip : in.ips)
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  bool on_node = in.node_name == rules_.node;

  PodRec* p = find_pod(in.key());
  if (!p) {
    auto rec = std::make_unique<PodRec>();
    p = rec.get();
    p->key = in.key();
    p->name_at = static_cast<uint32_t>(in.ns.size() + 1);
    p->ns = ensure_ns(in.ns);
    take_state(p, in, std::move(ips), on_node);
    pods_.emplace(std::string_view(p->key), std::move(rec));
    ++p->ns->pod_count;
    if (p->enforceable()) add_enforceable(p);
    if (p->local()) add_local(p);
    return;
  }

  if (p->labels == in.labels && p->ports == in.ports && p->ips == ips && p->phase == in.phase &&
      p->terminating == in.terminating && p->host_network == in.host_network &&
      p->on_node == on_node) {
    return;  // a resync or a change to fields we do not keep
  }
  const bool was_enf = p->enforceable();
  const bool was_local = p->local();
  const bool ips_changed = p->ips != ips;
  const bool ports_changed = p->ports != in.ports;
  // A phase or deletionTimestamp change can move the ownership of a shared IP.
  const bool phase_changed = p->phase != in.phase || p->terminating != in.terminating;
  std::vector<std::string> keys = changed_keys(p->labels, in.labels);

  PodRec probe;  // the new state, to decide what to undo first
  probe.ips = ips;
  probe.phase = in.phase;
  probe.host_network = in.host_network;
  probe.on_node = on_node;
  const bool now_enf = probe.enforceable();
  const bool now_local = probe.local();

  if (was_local && !now_local) remove_local(p);
  // The winner of a shared IP depends on the holders' IPs and phases.
  if (was_local && now_local && (ips_changed || phase_changed)) pending_.mark_ips_dirty(p);
  // IP or port changes re-add the pod to every set: its elements differ.
  const bool rejoin = was_enf && (!now_enf || ips_changed || ports_changed);
  if (rejoin) remove_enforceable(p);

  take_state(p, in, std::move(ips), on_node);

  if (now_enf && (rejoin || !was_enf)) {
    add_enforceable(p);
  } else if (now_enf && !keys.empty()) {
    relabel_sets(p, keys);
  }
  if (now_local && !was_local) {
    add_local(p);
  } else if (now_local) {
    if (!keys.empty()) reselect_policies(p, keys);
    if (!keys.empty()) reselect_cnps(p);
    if (ports_changed) pending_.mark_dirty(p, true);  // ingress named ports resolve on it
    if (ips_changed || phase_changed) {
      pending_.mark_ips_dirty(p);
      pending_.mark_dirty(p, false);
    }
  }
}

void Engine::remove_pod(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  PodRec* p = it->second.get();
  if (p->local()) remove_local(p);
  if (p->enforceable()) remove_enforceable(p);
  --p->ns->pod_count;
  pending_.ns_gc.push_back(p->ns->name);
  pods_.erase(it);
}

// ---------------------------------------------------------------------------
// Policies

void Engine::upsert_policy(const k8s::NetworkPolicy& in) {
  std::string key = in.key();
  auto& slot = policies_[key];
  if (slot && slot->src == in) return;
  NsRec* ns = ensure_ns(in.ns);
  if (!slot) {
    slot = std::make_unique<PolicyRec>();
    slot->key = key;
    slot->ns = ns;
    ns->policies.insert(slot.get());
  }
  PolicyRec* pol = slot.get();
  for (const auto& k : pol->sel_keys) {
    auto it = ns->policies_by_key.find(k);
    if (it == ns->policies_by_key.end()) continue;
    it->second.erase(pol);
    if (it->second.empty()) ns->policies_by_key.erase(it);
  }
  // Intern the new sets before releasing the old ones so shared sets survive.
  std::vector<SetRec*> old_refs = std::move(pol->refs);
  pol->refs.clear();
  pol->src = in;
  pol->sel_keys = sorted_keys(in.pod_selector);
  for (const auto& k : pol->sel_keys) ns->policies_by_key[k].insert(pol);
  pol->ingress.clear();
  pol->egress.clear();
  for (size_t i = 0; i < in.ingress.size(); ++i)
    pol->ingress.push_back(
        make_template(sets_, pol, in.ingress[i], static_cast<uint32_t>(i), true));
  for (size_t i = 0; i < in.egress.size(); ++i)
    pol->egress.push_back(make_template(sets_, pol, in.egress[i], static_cast<uint32_t>(i), false));
  for (SetRec* s : old_refs) {
    --s->policy_refs;
    pending_.touch(s);
  }
  // Only pods of the policy's namespace can be selected, before or after.
  for (PodRec* p : ns->local_pods) {
    auto& selected = p->loc_mut().selected_by;
    auto it = std::lower_bound(selected.begin(), selected.end(), pol, by_key);
    bool was = it != selected.end() && *it == pol;
    bool now = in.pod_selector.matches(p->labels);
    if (now && !was) selected.insert(it, pol);
    if (was && !now) selected.erase(it);
    if (was || now) pending_.mark_dirty(p, true);
  }
}

void Engine::remove_policy(const std::string& key) {
  auto pit = policies_.find(key);
  if (pit == policies_.end()) return;
  PolicyRec* pol = pit->second.get();
  NsRec* ns = pol->ns;
  for (PodRec* p : ns->local_pods) {
    auto& selected = p->loc_mut().selected_by;
    auto it = std::lower_bound(selected.begin(), selected.end(), pol, by_key);
    if (it == selected.end() || *it != pol) continue;
    selected.erase(it);
    pending_.mark_dirty(p, true);
  }
  for (const auto& k : pol->sel_keys) {
    auto it = ns->policies_by_key.find(k);
    if (it == ns->policies_by_key.end()) continue;
    it->second.erase(pol);
    if (it->second.empty()) ns->policies_by_key.erase(it);
  }
  ns->policies.erase(pol);
  for (SetRec* s : pol->refs) {
    --s->policy_refs;
    pending_.touch(s);
  }
  pending_.ns_gc.push_back(ns->name);
  policies_.erase(pit);
}

// ---------------------------------------------------------------------------
// ClusterNetworkPolicies and Nodes

void Engine::reselect_cnps(PodRec* p) {
  // CNPs are cluster-scoped and few (the API's ceiling is in the hundreds):
  // checking each against one pod costs less than an index would.
  std::vector<CnpRec*> now;
  for (auto& [_, cnp] : cnps_)
    if (cnp->selects(p)) now.push_back(cnp.get());
  std::sort(now.begin(), now.end(), cnp_order);
  if (now == p->loc().cnps) return;
  p->loc_mut().cnps = std::move(now);
  pending_.mark_dirty(p, true);
}

void Engine::upsert_cnp(const k8s::ClusterNetworkPolicy& in) {
  auto& slot = cnps_[in.name];
  if (slot && slot->src == in) return;
  if (!slot) slot = std::make_unique<CnpRec>();
  CnpRec* cnp = slot.get();
  // Intern the new sets before releasing the old ones so shared sets survive.
  std::vector<SetRec*> old_refs = std::move(cnp->refs);
  cnp->refs.clear();
  cnp->src = in;
  cnp->ingress.clear();
  cnp->egress.clear();
  for (size_t i = 0; i < in.ingress.size(); ++i)
    cnp->ingress.push_back(
        make_cnp_template(sets_, cnp, in.ingress[i], static_cast<uint32_t>(i), true));
  for (size_t i = 0; i < in.egress.size(); ++i)
    cnp->egress.push_back(
        make_cnp_template(sets_, cnp, in.egress[i], static_cast<uint32_t>(i), false));
  for (SetRec* s : old_refs) {
    --s->policy_refs;
    pending_.touch(s);
  }
  // Subjects may be any local pod; the ones it selected or selects now rebuild.
  for (auto& [_, ns] : namespaces_) {
    for (PodRec* p : ns->local_pods) {
      auto& cnps = p->loc_mut().cnps;
      auto it = std::find(cnps.begin(), cnps.end(), cnp);
      bool was = it != cnps.end();
      bool now = cnp->selects(p);
      if (was) cnps.erase(it);
      if (now) cnps.insert(std::upper_bound(cnps.begin(), cnps.end(), cnp, cnp_order), cnp);
      if (was || now) pending_.mark_dirty(p, true);
    }
  }
}

void Engine::remove_cnp(const std::string& name) {
  auto it = cnps_.find(name);
  if (it == cnps_.end()) return;
  CnpRec* cnp = it->second.get();
  for (auto& [_, ns] : namespaces_) {
    for (PodRec* p : ns->local_pods) {
      auto& cnps = p->loc_mut().cnps;
      auto pos = std::find(cnps.begin(), cnps.end(), cnp);
      if (pos == cnps.end()) continue;
      cnps.erase(pos);
      pending_.mark_dirty(p, true);
    }
  }
  for (SetRec* s : cnp->refs) {
    --s->policy_refs;
    pending_.touch(s);
  }
  cnps_.erase(it);
}

void Engine::upsert_node(const k8s::Node& in) {
  auto it = nodes_.find(in.name);
  if (it != nodes_.end() && it->second == in) return;
  nodes_[in.name] = in;
  refresh_node_sets();
}

void Engine::remove_node(const std::string& name) {
  if (nodes_.erase(name) == 0) return;
  refresh_node_sets();
}

void Engine::refresh_node_sets() {
  // Nodes are few and change rarely: recompute every node set's elements.
  for (SetRec* s : node_sets_) refresh_node_set(s);
}

void Engine::refresh_node_set(SetRec* s) {
  std::set<ir::Element> want;
  for (const auto& [_, node] : nodes_)
    if (s->pod_selector.matches(node.labels))
      for (const IpAddr& ip : node.addresses) want.insert(ir::Element{ip, ip, 0, 0});
  SortedBlocks<ir::Element>& have = s->out->elements;
  for (const ir::Element& e : have)
    if (!want.count(e)) pending_.record(s, e, -1);
  for (const ir::Element& e : want)
    if (!have.count(e)) pending_.record(s, e, +1);
  have = SortedBlocks<ir::Element>(want.begin(), want.end());
}

}  // namespace netpol::compiler::engine
