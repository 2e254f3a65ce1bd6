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
  p->selected_by.clear();
  for (PolicyRec* pol : ns->policies)
    if (pol->src.pod_selector.matches(p->labels)) p->selected_by.push_back(pol);
  std::sort(p->selected_by.begin(), p->selected_by.end(), by_key);
  pending_.mark_dirty(p, true);
  pending_.mark_ips_dirty(p);
}

void Engine::remove_local(PodRec* p) {
  p->ns->local_pods.erase(p);
  p->selected_by.clear();
  for (SetRec* s : p->chain_refs) release(s);
  p->chain_refs.clear();
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
    auto it = std::lower_bound(p->selected_by.begin(), p->selected_by.end(), pol, by_key);
    bool was = it != p->selected_by.end() && *it == pol;
    bool now = pol->src.pod_selector.matches(p->labels);
    if (was == now) continue;
    changed = true;
    if (now) {
      p->selected_by.insert(it, pol);
    } else {
      p->selected_by.erase(it);
    }
  }
  if (changed) pending_.mark_dirty(p, true);
}

// ---------------------------------------------------------------------------
// Pods

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
    p->name_at = in.ns.size() + 1;
    p->ns = ensure_ns(in.ns);
    p->labels = in.labels;
    p->ports = in.ports;
    p->ips = std::move(ips);
    p->phase = in.phase;
    p->terminating = in.terminating;
    p->host_network = in.host_network;
    p->on_node = on_node;
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

  p->labels = in.labels;
  p->ports = in.ports;
  p->ips = std::move(ips);
  p->phase = in.phase;
  p->terminating = in.terminating;
  p->host_network = in.host_network;
  p->on_node = on_node;

  if (now_enf && (rejoin || !was_enf)) {
    add_enforceable(p);
  } else if (now_enf && !keys.empty()) {
    relabel_sets(p, keys);
  }
  if (now_local && !was_local) {
    add_local(p);
  } else if (now_local) {
    if (!keys.empty()) reselect_policies(p, keys);
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
    auto it = std::lower_bound(p->selected_by.begin(), p->selected_by.end(), pol, by_key);
    bool was = it != p->selected_by.end() && *it == pol;
    bool now = in.pod_selector.matches(p->labels);
    if (now && !was) p->selected_by.insert(it, pol);
    if (was && !now) p->selected_by.erase(it);
    if (was || now) pending_.mark_dirty(p, true);
  }
}

void Engine::remove_policy(const std::string& key) {
  auto pit = policies_.find(key);
  if (pit == policies_.end()) return;
  PolicyRec* pol = pit->second.get();
  NsRec* ns = pol->ns;
  for (PodRec* p : ns->local_pods) {
    auto it = std::lower_bound(p->selected_by.begin(), p->selected_by.end(), pol, by_key);
    if (it == p->selected_by.end() || *it != pol) continue;
    p->selected_by.erase(it);
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
}  // namespace netpol::compiler::engine
