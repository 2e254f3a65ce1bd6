// Namespaces, set membership and materialization: which enforceable pods
// are members of which materialized sets, kept current as labels, IPs and
// ports change, with the element changes recorded for the Delta.
#include <cassert>
#include <unordered_set>

#include "compiler/engine/engine.h"

namespace netpol::compiler::engine {

// ---------------------------------------------------------------------------
// Namespaces

NsRec* Engine::ensure_ns(const std::string& name) {
  auto& slot = namespaces_[name];
  if (slot) return slot.get();
  slot = std::make_unique<NsRec>();
  NsRec* ns = slot.get();
  ns->name = name;
  ns->labels = {{k8s::kNamespaceNameLabel, name}};
  // A new namespace has no pods yet, so only the selector matches are due.
  for (SetRec* s : nssel_all_) {
    if (s->ns_selector->matches(ns->labels)) {
      s->matching_ns.insert(ns);
      ns->nssel_sets.insert(s);
    }
  }
  return ns;
}

void Engine::set_ns_labels(NsRec* ns, Labels labels) {
  std::vector<std::string> keys = changed_keys(ns->labels, labels);
  ns->labels = std::move(labels);
  if (keys.empty()) return;
  // ClusterNetworkPolicy subjects select namespaces by label too.
  if (!cnps_.empty())
    for (PodRec* p : ns->local_pods) reselect_cnps(p);
  // Only namespace-selector sets that look at a changed key can flip.
  std::unordered_set<SetRec*> cand;
  for (const auto& k : keys) {
    auto it = nssel_by_nskey_.find(k);
    if (it != nssel_by_nskey_.end()) cand.insert(it->second.begin(), it->second.end());
  }
  for (SetRec* s : cand) {
    bool was = s->matching_ns.count(ns) != 0;
    bool now = s->ns_selector->matches(ns->labels);
    if (was == now) continue;
    if (now) {
      s->matching_ns.insert(ns);
      ns->nssel_sets.insert(s);
      for (PodRec* p : ns->pods)
        if (s->pod_selector.matches(p->labels)) join(p, s);
    } else {
      s->matching_ns.erase(ns);
      ns->nssel_sets.erase(s);
      for (PodRec* p : ns->pods) leave(p, s);
    }
  }
}

void Engine::set_ns_audit(NsRec* ns, std::optional<k8s::AuditLevel> audit) {
  if (ns->audit == audit) return;
  ns->audit = audit;
  // Chains log what their policies allow according to this value.
  for (PodRec* p : ns->local_pods) pending_.mark_dirty(p, true);
}

void Engine::upsert_namespace(const k8s::Namespace& in) {
  NsRec* ns = ensure_ns(in.name);
  ns->declared = true;
  set_ns_audit(ns, audit_annotation(in.annotations));
  Labels labels = in.labels;
  // The API server always sets this label to the name; enforce it so a
  // hand-written object cannot make namespaceSelector disagree with kubectl.
  labels[k8s::kNamespaceNameLabel] = in.name;
  set_ns_labels(ns, std::move(labels));
}

void Engine::remove_namespace(const std::string& name) {
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return;
  NsRec* ns = it->second.get();
  ns->declared = false;
  set_ns_audit(ns, std::nullopt);
  // Pods and policies left behind still live in a namespace with its name label.
  set_ns_labels(ns, {{k8s::kNamespaceNameLabel, name}});
  pending_.ns_gc.push_back(name);
}

// ---------------------------------------------------------------------------
// Set membership
namespace {

// Calls f(element) for every element `p` contributes to `s`.
template <typename F>
void for_each_element(const PodRec* p, const SetRec* s, F&& f) {
  if (s->kind == ir::SetKind::Pods) {
    for (const auto& ip : p->ips) f(ir::Element{ip, ip, 0, 0});
    return;
  }
  for (const auto& cp : p->ports) {
    if (cp.name != s->port_name || cp.protocol != s->port_proto) continue;
    for (const auto& ip : p->ips)
      f(ir::Element{ip, ip, static_cast<uint8_t>(cp.protocol), cp.port});
  }
}

}  // namespace

bool Engine::other_member_has(const SetRec* s, const PodRec* p, const ir::Element& e) const {
  bool found = false;
  ips_.each(e.first, [&](const PodRec* q) {
    if (found || q == p || !is_member(q, s)) return;
    if (s->kind == ir::SetKind::Pods) {
      found = true;
      return;
    }
    for (const auto& cp : q->ports)
      if (cp.name == s->port_name && cp.protocol == s->port_proto && cp.port == e.port)
        found = true;
  });
  return found;
}

void Engine::join(PodRec* p, SetRec* s) {
  auto it = std::lower_bound(p->member_of.begin(), p->member_of.end(), s);
  if (it != p->member_of.end() && *it == s) return;
  p->member_of.insert(it, s);
  for_each_element(p, s, [&](const ir::Element& e) {
    if (s->out->elements.insert(e).second) pending_.record(s, e, +1);
  });
}

void Engine::leave(PodRec* p, SetRec* s) {
  auto it = std::lower_bound(p->member_of.begin(), p->member_of.end(), s);
  if (it == p->member_of.end() || *it != s) return;
  p->member_of.erase(it);
  // Sets are unions: an element stays while another member still holds it.
  for_each_element(p, s, [&](const ir::Element& e) {
    if (other_member_has(s, p, e)) return;
    if (s->out->elements.erase(e) != 0) pending_.record(s, e, -1);
  });
}

void Engine::add_enforceable(PodRec* p) {
  NsRec* ns = p->ns;
  p->ns_pos = static_cast<uint32_t>(ns->pods.size());
  ns->pods.push_back(p);
  ips_.add(p);
  for (SetRec* s : ns->scoped_sets)
    if (s->pod_selector.matches(p->labels)) join(p, s);
  for (SetRec* s : ns->nssel_sets)
    if (s->pod_selector.matches(p->labels)) join(p, s);
  if (nport_live_ == 0) return;
  for (const auto& cp : p->ports) {
    if (cp.name.empty()) continue;
    SetRec* s = sets_.find_named_port(cp.name, cp.protocol);
    if (s && s->out) join(p, s);
  }
}

void Engine::remove_enforceable(PodRec* p) {
  while (!p->member_of.empty()) leave(p, p->member_of.back());
  auto& pods = p->ns->pods;
  pods[p->ns_pos] = pods.back();
  pods[p->ns_pos]->ns_pos = p->ns_pos;
  pods.pop_back();
  ips_.remove(p);
}

void Engine::relabel_sets(PodRec* p, const std::vector<std::string>& keys) {
  NsRec* ns = p->ns;
  std::unordered_set<SetRec*> cand;
  for (const auto& k : keys) {
    auto it = ns->scoped_by_key.find(k);
    if (it != ns->scoped_by_key.end()) cand.insert(it->second.begin(), it->second.end());
  }
  // Namespace-selector sets: walk whichever candidate list is shorter.
  size_t by_key = 0;
  for (const auto& k : keys) {
    auto it = nssel_by_podkey_.find(k);
    if (it != nssel_by_podkey_.end()) by_key += it->second.size();
  }
  if (by_key <= ns->nssel_sets.size()) {
    for (const auto& k : keys) {
      auto it = nssel_by_podkey_.find(k);
      if (it == nssel_by_podkey_.end()) continue;
      for (SetRec* s : it->second)
        if (s->matching_ns.count(ns)) cand.insert(s);
    }
  } else {
    for (SetRec* s : ns->nssel_sets)
      if (intersects(s->pod_keys, keys)) cand.insert(s);
  }
  for (SetRec* s : cand) {
    bool was = is_member(p, s);
    bool now = s->pod_selector.matches(p->labels);
    if (was == now) continue;
    if (now) {
      join(p, s);
    } else {
      leave(p, s);
    }
  }
}

// ---------------------------------------------------------------------------
// Materialization

void Engine::acquire(SetRec* s) {
  if (s->pod_refs++ == 0 && !s->out) materialize(s);
  pending_.touch(s);
}

void Engine::release(SetRec* s) {
  assert(s->pod_refs > 0);
  --s->pod_refs;
  pending_.touch(s);  // dropped at the end of the operation if nobody took it back
}

void Engine::materialize(SetRec* s) {
  ir::Set& out = rules_.sets[s->name];
  out.name = s->name;
  out.kind = s->kind;
  out.comment = s->comment;
  out.elements.clear();
  s->out = &out;
  s->born = true;
  switch (s->kind) {
    case ir::SetKind::Cidr:
      for (const auto& r : s->ranges) out.elements.insert(ir::Element{r.first, r.last, 0, 0});
      break;
    case ir::SetKind::Nodes:
      node_sets_.insert(s);
      refresh_node_set(s);  // born: reported whole
      break;
    case ir::SetKind::NamedPort: {
      ++nport_live_;
      // Rare (one set per port name in egress rules): a scan beats an index
      // that every pod would pay for.
      for (auto& [name, ns] : namespaces_)
        for (PodRec* p : ns->pods)
          for (const auto& cp : p->ports)
            if (cp.name == s->port_name && cp.protocol == s->port_proto) join(p, s);
      break;
    }
    case ir::SetKind::Pods:
      if (s->scope_ns) {
        NsRec* ns = s->scope_ns;
        ns->scoped_sets.insert(s);
        for (const auto& k : s->pod_keys) ns->scoped_by_key[k].insert(s);
        for (PodRec* p : ns->pods)
          if (s->pod_selector.matches(p->labels)) join(p, s);
      } else {
        nssel_all_.insert(s);
        for (const auto& k : s->ns_keys) nssel_by_nskey_[k].insert(s);
        for (const auto& k : s->pod_keys) nssel_by_podkey_[k].insert(s);
        for (auto& [name, nsp] : namespaces_) {
          NsRec* ns = nsp.get();
          if (!s->ns_selector->matches(ns->labels)) continue;
          s->matching_ns.insert(ns);
          ns->nssel_sets.insert(s);
          for (PodRec* p : ns->pods)
            if (s->pod_selector.matches(p->labels)) join(p, s);
        }
      }
      break;
  }
}

namespace {
void unindex(std::unordered_map<std::string, std::unordered_set<SetRec*>>& index,
             const std::vector<std::string>& keys, SetRec* s) {
  for (const auto& k : keys) {
    auto it = index.find(k);
    if (it == index.end()) continue;
    it->second.erase(s);
    if (it->second.empty()) index.erase(it);
  }
}
}  // namespace

void Engine::dematerialize(SetRec* s) {
  // Every member is an enforceable pod the set could select: walk those.
  auto drop = [s](PodRec* p) {
    auto it = std::lower_bound(p->member_of.begin(), p->member_of.end(), s);
    if (it != p->member_of.end() && *it == s) p->member_of.erase(it);
  };
  if (s->kind == ir::SetKind::Nodes) node_sets_.erase(s);
  if (s->kind == ir::SetKind::NamedPort) {
    --nport_live_;
    for (auto& [name, ns] : namespaces_)
      for (PodRec* p : ns->pods) drop(p);
  } else if (s->kind == ir::SetKind::Pods && s->scope_ns) {
    for (PodRec* p : s->scope_ns->pods) drop(p);
  } else if (s->kind == ir::SetKind::Pods) {
    for (NsRec* ns : s->matching_ns)
      for (PodRec* p : ns->pods) drop(p);
  }
  if (s->kind == ir::SetKind::Pods) {
    if (s->scope_ns) {
      s->scope_ns->scoped_sets.erase(s);
      unindex(s->scope_ns->scoped_by_key, s->pod_keys, s);
    } else {
      nssel_all_.erase(s);
      unindex(nssel_by_nskey_, s->ns_keys, s);
      unindex(nssel_by_podkey_, s->pod_keys, s);
      for (NsRec* ns : s->matching_ns) ns->nssel_sets.erase(s);
      s->matching_ns.clear();
    }
  }
  rules_.sets.erase(s->name);
  s->out = nullptr;
}
}  // namespace netpol::compiler::engine
