// The end of an operation: the LocalPods of dirty pods, set lifetimes by
// reference count, namespace garbage collection, and the Delta.
#include <algorithm>

#include "compiler/engine/chains.h"
#include "compiler/engine/engine.h"

namespace netpol::compiler::engine {

// ---------------------------------------------------------------------------
// Local pods

ir::LocalPod Engine::build_local_pod(PodRec* p, const ir::LocalPod* old, bool chains) {
  ir::LocalPod lp;
  lp.ns = p->ns->name;
  lp.name = std::string(p->name());
  for (const auto& ip : p->ips)
    if (!ips_.contested(ip) || ips_.owner(ip) == p) lp.ips.push_back(ip);
  if (!chains && old) {
    lp.ingress = old->ingress;
    lp.egress = old->egress;
    lp.admin_ingress = old->admin_ingress;
    lp.admin_egress = old->admin_egress;
    lp.baseline_ingress = old->baseline_ingress;
    lp.baseline_egress = old->baseline_egress;
    return lp;
  }
  std::vector<SetRec*> refs;
  lp.ingress = build_chain(p, true, refs);
  lp.egress = build_chain(p, false, refs);
  lp.admin_ingress = build_tier(p, k8s::CnpTier::Admin, true, refs);
  lp.admin_egress = build_tier(p, k8s::CnpTier::Admin, false, refs);
  lp.baseline_ingress = build_tier(p, k8s::CnpTier::Baseline, true, refs);
  lp.baseline_egress = build_tier(p, k8s::CnpTier::Baseline, false, refs);
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  for (SetRec* s : refs) acquire(s);  // before release: a kept set is never dropped
  for (SetRec* s : p->loc().chain_refs) release(s);
  if (!refs.empty()) {
    p->loc_mut().chain_refs = std::move(refs);
  } else if (p->local_state) {
    p->local_state->chain_refs.clear();
  }
  return lp;
}

// ---------------------------------------------------------------------------
// End of an operation

ir::Delta Engine::flush(bool want_delta) {
  ir::Delta delta;

  if (!pending_.ips.empty()) {
    ips_.update(pending_.ips, [&](const PodRec* q) { pending_.mark_dirty(q, false); });
    rules_.warnings = ips_.warnings();
  }

  // Pending::dirty is ordered by key, so pod deltas come out sorted.
  for (const auto& [key, chains] : pending_.dirty) {
    auto it = rules_.pods.find(key);
    PodRec* p = find_pod(key);
    if (!p || !p->local()) {
      if (it == rules_.pods.end()) continue;
      if (want_delta) delta.pods.push_back({key, std::move(it->second), std::nullopt});
      rules_.pods.erase(it);
      continue;
    }
    const ir::LocalPod* old = it == rules_.pods.end() ? nullptr : &it->second;
    ir::LocalPod lp = build_local_pod(p, old, chains);
    if (old && *old == lp) continue;
    if (want_delta) delta.pods.push_back({key, old ? std::optional(*old) : std::nullopt, lp});
    if (old) {
      it->second = std::move(lp);
    } else {
      rules_.pods.emplace(key, std::move(lp));
    }
  }

  for (SetRec* s : pending_.touched) {
    s->touched = false;
    if (s->out && s->pod_refs == 0) {
      bool born = s->born;
      dematerialize(s);
      if (!born && want_delta) {
        ir::SetDelta sd;
        sd.name = s->name;
        sd.removed = true;
        delta.sets.push_back(std::move(sd));
      }
    } else if (s->out && want_delta) {
      ir::SetDelta sd;
      sd.name = s->name;
      if (s->born) {
        sd.created = *s->out;
      } else {
        for (const auto& [e, d] : s->net) (d > 0 ? sd.add : sd.del).push_back(e);
      }
      if (sd.created || !sd.add.empty() || !sd.del.empty()) delta.sets.push_back(std::move(sd));
    }
    s->born = false;
    s->net.clear();
    if (s->pod_refs == 0 && s->policy_refs == 0) {
      if (s->scope_ns) --s->scope_ns->set_count;
      sets_.erase(s);
    }
  }

  // Forget namespaces nothing refers to any more, so namespace churn does not
  // grow the state. Recreated on demand with the same default label.
  for (const auto& name : pending_.ns_gc) {
    auto it = namespaces_.find(name);
    if (it == namespaces_.end()) continue;
    NsRec* ns = it->second.get();
    if (ns->declared || ns->pod_count || !ns->policies.empty() || ns->set_count) continue;
    for (SetRec* s : ns->nssel_sets) s->matching_ns.erase(ns);
    namespaces_.erase(it);
  }
  std::sort(delta.sets.begin(), delta.sets.end(),
            [](const ir::SetDelta& a, const ir::SetDelta& b) { return a.name < b.name; });

  pending_.clear();
  return delta;
}
}  // namespace netpol::compiler::engine
