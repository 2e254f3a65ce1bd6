// NetworkPolicy semantics and the incremental engine behind Compiler.
//
// State (owned by Compiler::State):
//  - NsRec / PodRec / PolicyRec: the snapshot, reduced to what enforcement
//    needs, plus the reverse indexes a change needs to find what it can touch.
//  - SetRec: one per distinct peer definition (Pods, Cidr) or named port
//    (NamedPort) used by any policy. A SetRec is *materialized* (membership
//    and elements kept current, present in rules().sets) only while some rule
//    of a local pod's chain references it (pod_refs > 0). Membership is stored
//    once, on the pod (PodRec::member_of), not on the set.
// Every change first updates records and indexes, marks the local pods whose
// LocalPod may change as dirty and records element changes of materialized
// sets; flush() then rebuilds the dirty pods, materializes or drops sets by
// reference count and emits the Delta. compile() runs the same code with a
// single flush at the end, so the incremental and the full path cannot drift
// apart in what they compute, only in which work they skip.
#include "compiler/compiler.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "compiler/hash.h"

namespace netpol::compiler {
namespace {

using k8s::Labels;
using k8s::LabelSelector;

struct NsRec;
struct PodRec;
struct PolicyRec;
struct SetRec;

// Hash for the IP index. Only ever keys internal lookups: nothing that reaches
// the output may iterate an unordered container in hash order.
struct IpHash {
  size_t operator()(const IpAddr& ip) const noexcept {
    std::string_view bytes(reinterpret_cast<const char*>(ip.bytes.data()), ip.is_v4() ? 4 : 16);
    return static_cast<size_t>(fnv1a64(bytes)) ^ static_cast<size_t>(ip.family);
  }
};

// Keys whose presence or value differs between two label maps (both sorted).
std::vector<std::string> changed_keys(const Labels& a, const Labels& b) {
  std::vector<std::string> out;
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() || j != b.end()) {
    if (j == b.end() || (i != a.end() && i->first < j->first)) {
      out.push_back(i->first);
      ++i;
    } else if (i == a.end() || j->first < i->first) {
      out.push_back(j->first);
      ++j;
    } else {
      if (i->second != j->second) out.push_back(i->first);
      ++i;
      ++j;
    }
  }
  return out;
}

bool intersects(const std::vector<std::string>& sorted_a, const std::vector<std::string>& b) {
  for (const auto& k : b)
    if (std::binary_search(sorted_a.begin(), sorted_a.end(), k)) return true;
  return false;
}

// Sorted, deduplicated keys of a selector (LabelSelector::keys() makes no
// promise about order).
std::vector<std::string> sorted_keys(const LabelSelector& s) {
  std::vector<std::string> keys = s.keys();
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// The empty selector is written "*" so that "absent" and "{}" (which select
// the same pods) share one canonical definition and so one set.
std::string sel_text(const LabelSelector& s) {
  return s.empty() ? "*" : s.str();
}

void merge_ranges(std::vector<ir::PortRange>& r) {
  std::sort(r.begin(), r.end());
  std::vector<ir::PortRange> out;
  for (const auto& x : r) {
    // Adjacent ranges merge too: 80-80 and 81-90 is 80-90.
    if (!out.empty() && uint32_t{x.first} <= uint32_t{out.back().last} + 1) {
      out.back().last = std::max(out.back().last, x.last);
    } else {
      out.push_back(x);
    }
  }
  r = std::move(out);
}

template <typename T>
void erase_one(std::vector<T*>& v, T* x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

// ---------------------------------------------------------------------------
// Records

// A shared peer set. Its definition fields never change after creation (the
// definition is its identity); only references, membership and elements do.
// Never holds a pod pointer: membership lives on PodRec::member_of.
struct SetRec {
  std::string reg_key;  // kind tag + canonical definition: the registry key
  std::string name;
  ir::SetKind kind = ir::SetKind::Pods;
  std::string comment;
  // Pods: exactly one of scope_ns (pods of one namespace) or ns_selector.
  NsRec* scope_ns = nullptr;
  std::optional<LabelSelector> ns_selector;
  LabelSelector pod_selector;         // empty: every pod
  std::vector<std::string> pod_keys;  // sorted keys of pod_selector
  std::vector<std::string> ns_keys;   // sorted keys of ns_selector
  std::vector<IpRange> ranges;        // Cidr
  std::string port_name;              // NamedPort
  k8s::Protocol port_proto = k8s::Protocol::TCP;

  uint32_t policy_refs = 0;  // peer/port uses by policies: keeps the record alive
  uint32_t pod_refs = 0;     // local pods whose chains use it: keeps it materialized
  ir::Set* out = nullptr;    // the set in rules().sets; non-null iff materialized
  bool born = false;         // materialized during the current operation
  bool touched = false;      // queued for the end-of-operation bookkeeping

  std::unordered_set<NsRec*> matching_ns;  // ns_selector sets: namespaces it matches
  std::map<ir::Element, int> net;          // element changes in the current operation
};

// A namespace as selectors see it, plus the per-namespace indexes. Exists
// while anything refers to it (declared, pods, policies, scoped sets); its
// labels always include kubernetes.io/metadata.name.
struct NsRec {
  std::string name;
  Labels labels;  // declared labels, or only the name label when not declared
  bool declared = false;
  // netpol.io/audit of the declared namespace (nullopt: absent or not a known value).
  std::optional<k8s::AuditLevel> audit;
  std::vector<PodRec*> pods;               // enforceable pods (PodRec::ns_pos is the index)
  std::unordered_set<PodRec*> local_pods;  // enforceable pods on our node
  std::unordered_set<PolicyRec*> policies;
  std::unordered_map<std::string, std::unordered_set<PolicyRec*>> policies_by_key;
  std::unordered_set<SetRec*> scoped_sets;  // materialized sets scoped to this namespace
  std::unordered_map<std::string, std::unordered_set<SetRec*>> scoped_by_key;
  std::unordered_set<SetRec*> nssel_sets;  // materialized ns-selector sets matching it
  size_t pod_count = 0;                    // every PodRec in it, enforceable or not
  size_t set_count = 0;                    // SetRecs scoped to it (alive, materialized or not)
};

// A pod reduced to what enforcement reads (no uid, resourceVersion or node
// name: 'on_node' is all the node name is needed for). Its membership and
// selection lists must always match its current labels, IPs and ports; every
// change to those goes through Engine::upsert_pod.
struct PodRec {
  std::string key;  // "ns/name"
  size_t name_at = 0;
  NsRec* ns = nullptr;
  size_t ns_pos = 0;  // index in ns->pods while enforceable
  Labels labels;
  std::vector<k8s::ContainerPort> ports;
  std::vector<IpAddr> ips;
  k8s::PodPhase phase = k8s::PodPhase::Pending;
  bool host_network = false;
  bool on_node = false;

  std::vector<SetRec*> member_of;       // materialized sets it is a member of, sorted
  std::vector<PolicyRec*> selected_by;  // policies selecting it (local pods only), by key
  std::vector<SetRec*> chain_refs;      // sets its current chains reference (distinct)

  std::string_view name() const { return std::string_view(key).substr(name_at); }
  bool enforceable() const {
    return !host_network && !ips.empty() && phase != k8s::PodPhase::Succeeded &&
           phase != k8s::PodPhase::Failed;
  }
  bool local() const { return on_node && enforceable(); }
};

// One rule of a policy, pre-digested so that building a pod's chain is a copy
// plus (for ingress named ports) a lookup in the pod's own ports.
struct RuleTemplate {
  struct Proto {
    uint8_t proto = 0;
    bool all = false;  // absorbs every range and name of this protocol
    std::vector<ir::PortRange> ranges;
    std::vector<std::string> names;  // sorted, distinct named ports
    std::vector<SetRec*> nport;      // egress: the NamedPort set of each name
  };
  uint32_t index = 0;
  bool any_peer = false;       // `from`/`to` absent or empty
  std::vector<SetRec*> peers;  // distinct, in peer order
  bool all_ports = false;      // `ports` absent or empty
  std::vector<Proto> protos;   // by protocol number
};

// A policy with its rules pre-digested and its sets interned. Holds one
// policy reference on every set it names, released when it changes or goes.
struct PolicyRec {
  k8s::NetworkPolicy src;  // as given, to recognise a no-op resync
  std::string key;
  NsRec* ns = nullptr;
  std::vector<std::string> sel_keys;
  std::vector<RuleTemplate> ingress, egress;
  std::vector<SetRec*> refs;  // one entry per policy_refs increment it holds
};

// The value of netpol.io/audit when it is one netpol knows; an unknown value
// counts as absent (policyc warns about it), never as a reason to skip a policy.
std::optional<k8s::AuditLevel> audit_annotation(const Labels& annotations) {
  auto it = annotations.find(k8s::kAuditAnnotation);
  if (it == annotations.end()) return std::nullopt;
  return k8s::audit_level_from_string(it->second);
}

bool by_key(const PolicyRec* a, const PolicyRec* b) {
  return a->key < b->key;
}

bool is_member(const PodRec* p, const SetRec* s) {
  return std::binary_search(p->member_of.begin(), p->member_of.end(), s);
}

// The enforceable pods holding one IP: almost always exactly one, kept inline
// so the index costs no allocation per address.
struct Holders {
  PodRec* first = nullptr;
  std::vector<PodRec*> more;

  bool empty() const { return first == nullptr; }
  void add(PodRec* p) {
    if (!first) {
      first = p;
    } else {
      more.push_back(p);
    }
  }
  void remove(PodRec* p) {
    if (first != p) {
      erase_one(more, p);
    } else if (more.empty()) {
      first = nullptr;
    } else {
      first = more.back();
      more.pop_back();
    }
  }
  template <typename F>
  void each(F&& f) const {
    if (first) f(first);
    for (PodRec* p : more) f(p);
  }
};

}  // namespace

// ---------------------------------------------------------------------------

// The whole incremental engine. Compiler::State is just this class; compile()
// drives it directly with a single flush. Never does I/O or throws on its own.
class Engine {
 public:
  explicit Engine(std::string node) { rules_.node = std::move(node); }

  void upsert_namespace(const k8s::Namespace& in);
  void remove_namespace(const std::string& name);
  void upsert_pod(const k8s::Pod& in);
  void remove_pod(const std::string& key);
  void upsert_policy(const k8s::NetworkPolicy& in);
  void remove_policy(const std::string& key);
  ir::Delta flush(bool want_delta);
  // Sizes the big indexes for a bulk load (no rehashing while feeding).
  void reserve(size_t pods, size_t namespaces) {
    pods_.reserve(pods);
    ip_index_.reserve(pods);
    namespaces_.reserve(namespaces);
  }

  ir::RuleSet rules_;

 private:
  NsRec* ensure_ns(const std::string& name);
  void set_ns_labels(NsRec* ns, Labels labels);
  void set_ns_audit(NsRec* ns, std::optional<k8s::AuditLevel> audit);

  void add_enforceable(PodRec* p);
  void remove_enforceable(PodRec* p);
  void relabel_sets(PodRec* p, const std::vector<std::string>& keys);
  void add_local(PodRec* p);
  void remove_local(PodRec* p);
  void reselect_policies(PodRec* p, const std::vector<std::string>& keys);
  void mark_dirty(const PodRec* p, bool chains);
  void mark_ips_dirty(const PodRec* p);

  void join(PodRec* p, SetRec* s);
  void leave(PodRec* p, SetRec* s);
  template <typename F>
  void for_each_element(const PodRec* p, const SetRec* s, F&& f) const;
  bool other_member_has(const SetRec* s, const PodRec* p, const ir::Element& e) const;
  void record(SetRec* s, const ir::Element& e, int d);
  void touch(SetRec* s);

  SetRec* intern(PolicyRec* pol, std::string reg_key, const std::string& prefix,
                 const std::string& def, const std::function<void(SetRec&)>& init);
  SetRec* intern_peer(PolicyRec* pol, const k8s::Peer& peer);
  SetRec* intern_nport(PolicyRec* pol, const std::string& name, k8s::Protocol proto);
  RuleTemplate make_template(PolicyRec* pol, const k8s::PolicyRule& rule, uint32_t index,
                             bool ingress);
  void acquire(SetRec* s);
  void release(SetRec* s);
  void materialize(SetRec* s);
  void dematerialize(SetRec* s);

  std::optional<ir::Chain> build_chain(const PodRec* p, bool ingress,
                                       std::vector<SetRec*>& refs) const;
  const PodRec* ip_winner(const IpAddr& ip) const;
  ir::LocalPod build_local_pod(PodRec* p, const ir::LocalPod* old, bool chains);
  void rebuild_warnings();

  PodRec* find_pod(std::string_view key) const {
    auto it = pods_.find(key);
    return it == pods_.end() ? nullptr : it->second.get();
  }

  std::unordered_map<std::string, std::unique_ptr<NsRec>> namespaces_;
  std::unordered_map<std::string_view, std::unique_ptr<PodRec>> pods_;  // view into PodRec::key
  std::unordered_map<std::string, std::unique_ptr<PolicyRec>> policies_;
  std::unordered_map<std::string, std::unique_ptr<SetRec>> sets_;  // by reg_key
  std::unordered_map<std::string, SetRec*> set_names_;             // by name

  // Enforceable pods by IP: element reference counts and local IP conflicts.
  std::unordered_map<IpAddr, Holders, IpHash> ip_index_;
  size_t nport_live_ = 0;  // materialized NamedPort sets
  // Materialized namespace-selector sets, and indexes on their selectors' keys.
  std::unordered_set<SetRec*> nssel_all_;
  std::unordered_map<std::string, std::unordered_set<SetRec*>> nssel_by_nskey_;
  std::unordered_map<std::string, std::unordered_set<SetRec*>> nssel_by_podkey_;

  std::set<IpAddr> conflicts_;  // IPs held by two or more local pods

  // Work of the current operation, consumed by flush().
  std::map<std::string, bool> dirty_;  // pod key -> chains must be rebuilt
  std::set<IpAddr> ip_dirty_;          // local holders of these IPs may change
  std::vector<SetRec*> touched_;
  std::vector<std::string> ns_gc_;  // namespaces that may have become unused
};

namespace {
std::string port_key(const std::string& name, k8s::Protocol proto) {
  return name + "/" + k8s::to_string(proto);
}
}  // namespace

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
  for (PodRec* p : ns->local_pods) mark_dirty(p, true);
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
  ns_gc_.push_back(name);
}

// ---------------------------------------------------------------------------
// Set membership

template <typename F>
void Engine::for_each_element(const PodRec* p, const SetRec* s, F&& f) const {
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

bool Engine::other_member_has(const SetRec* s, const PodRec* p, const ir::Element& e) const {
  auto it = ip_index_.find(e.first);
  if (it == ip_index_.end()) return false;
  bool found = false;
  it->second.each([&](const PodRec* q) {
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

void Engine::touch(SetRec* s) {
  if (s->touched) return;
  s->touched = true;
  touched_.push_back(s);
}

void Engine::record(SetRec* s, const ir::Element& e, int d) {
  if (s->born) return;  // a new set is reported whole
  touch(s);
  int& v = s->net[e];
  v += d;
  if (v == 0) s->net.erase(e);
}

void Engine::join(PodRec* p, SetRec* s) {
  auto it = std::lower_bound(p->member_of.begin(), p->member_of.end(), s);
  if (it != p->member_of.end() && *it == s) return;
  p->member_of.insert(it, s);
  for_each_element(p, s, [&](const ir::Element& e) {
    if (s->out->elements.insert(e).second) record(s, e, +1);
  });
}

void Engine::leave(PodRec* p, SetRec* s) {
  auto it = std::lower_bound(p->member_of.begin(), p->member_of.end(), s);
  if (it == p->member_of.end() || *it != s) return;
  p->member_of.erase(it);
  // Sets are unions: an element stays while another member still holds it.
  for_each_element(p, s, [&](const ir::Element& e) {
    if (other_member_has(s, p, e)) return;
    if (s->out->elements.erase(e) != 0) record(s, e, -1);
  });
}

void Engine::add_enforceable(PodRec* p) {
  NsRec* ns = p->ns;
  p->ns_pos = ns->pods.size();
  ns->pods.push_back(p);
  for (const auto& ip : p->ips) ip_index_[ip].add(p);
  for (SetRec* s : ns->scoped_sets)
    if (s->pod_selector.matches(p->labels)) join(p, s);
  for (SetRec* s : ns->nssel_sets)
    if (s->pod_selector.matches(p->labels)) join(p, s);
  if (nport_live_ == 0) return;
  for (const auto& cp : p->ports) {
    if (cp.name.empty()) continue;
    auto it = sets_.find("N" + port_key(cp.name, cp.protocol));
    if (it != sets_.end() && it->second->out) join(p, it->second.get());
  }
}

void Engine::remove_enforceable(PodRec* p) {
  while (!p->member_of.empty()) leave(p, p->member_of.back());
  auto& pods = p->ns->pods;
  pods[p->ns_pos] = pods.back();
  pods[p->ns_pos]->ns_pos = p->ns_pos;
  pods.pop_back();
  for (const auto& ip : p->ips) {
    auto it = ip_index_.find(ip);
    if (it == ip_index_.end()) continue;
    it->second.remove(p);
    if (it->second.empty()) ip_index_.erase(it);
  }
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
// Local pods

void Engine::mark_dirty(const PodRec* p, bool chains) {
  auto [it, inserted] = dirty_.emplace(p->key, chains);
  if (!inserted) it->second = it->second || chains;
}

void Engine::mark_ips_dirty(const PodRec* p) {
  ip_dirty_.insert(p->ips.begin(), p->ips.end());
}

void Engine::add_local(PodRec* p) {
  NsRec* ns = p->ns;
  ns->local_pods.insert(p);
  p->selected_by.clear();
  for (PolicyRec* pol : ns->policies)
    if (pol->src.pod_selector.matches(p->labels)) p->selected_by.push_back(pol);
  std::sort(p->selected_by.begin(), p->selected_by.end(), by_key);
  mark_dirty(p, true);
  mark_ips_dirty(p);
}

void Engine::remove_local(PodRec* p) {
  p->ns->local_pods.erase(p);
  p->selected_by.clear();
  for (SetRec* s : p->chain_refs) release(s);
  p->chain_refs.clear();
  mark_dirty(p, true);
  mark_ips_dirty(p);
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
  if (changed) mark_dirty(p, true);
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
    p->host_network = in.host_network;
    p->on_node = on_node;
    pods_.emplace(std::string_view(p->key), std::move(rec));
    ++p->ns->pod_count;
    if (p->enforceable()) add_enforceable(p);
    if (p->local()) add_local(p);
    return;
  }

  if (p->labels == in.labels && p->ports == in.ports && p->ips == ips && p->phase == in.phase &&
      p->host_network == in.host_network && p->on_node == on_node) {
    return;  // a resync or a change to fields we do not keep
  }
  const bool was_enf = p->enforceable();
  const bool was_local = p->local();
  const bool ips_changed = p->ips != ips;
  const bool ports_changed = p->ports != in.ports;
  const bool phase_changed = p->phase != in.phase;
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
  if (was_local && now_local && (ips_changed || phase_changed)) mark_ips_dirty(p);
  // IP or port changes re-add the pod to every set: its elements differ.
  const bool rejoin = was_enf && (!now_enf || ips_changed || ports_changed);
  if (rejoin) remove_enforceable(p);

  p->labels = in.labels;
  p->ports = in.ports;
  p->ips = std::move(ips);
  p->phase = in.phase;
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
    if (ports_changed) mark_dirty(p, true);  // ingress named ports resolve on it
    if (ips_changed || phase_changed) {
      mark_ips_dirty(p);
      mark_dirty(p, false);
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
  ns_gc_.push_back(p->ns->name);
  pods_.erase(it);
}

// ---------------------------------------------------------------------------
// Policies and their sets

SetRec* Engine::intern(PolicyRec* pol, std::string reg_key, const std::string& prefix,
                       const std::string& def, const std::function<void(SetRec&)>& init) {
  auto& slot = sets_[reg_key];
  if (!slot) {
    slot = std::make_unique<SetRec>();
    SetRec& s = *slot;
    s.reg_key = std::move(reg_key);
    init(s);
    // 40-bit names collide about once in 10^12 pairs; stay correct if they do.
    s.name = prefix + short_hash(def);
    for (int i = 1; set_names_.count(s.name); ++i)
      s.name = prefix + short_hash(def + "#" + std::to_string(i));
    set_names_.emplace(s.name, &s);
  }
  SetRec* s = slot.get();
  ++s->policy_refs;
  pol->refs.push_back(s);
  return s;
}

SetRec* Engine::intern_peer(PolicyRec* pol, const k8s::Peer& peer) {
  if (peer.ip_block) {
    const k8s::IpBlock& b = *peer.ip_block;
    std::vector<Cidr> except = b.except;
    std::sort(except.begin(), except.end());
    except.erase(std::unique(except.begin(), except.end()), except.end());
    std::string def = b.cidr.str();
    for (size_t i = 0; i < except.size(); ++i) def += (i == 0 ? " except " : ",") + except[i].str();
    return intern(pol, "C" + def, "cidr-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Cidr;
      s.comment = def;
      s.ranges = carve(b.cidr, except);
    });
  }
  if (peer.namespace_selector) {
    const LabelSelector& nssel = *peer.namespace_selector;
    LabelSelector podsel = peer.pod_selector.value_or(LabelSelector{});
    std::string def = "nssel=" + sel_text(nssel) + "|pods=" + sel_text(podsel);
    return intern(pol, "P" + def, "pods-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Pods;
      s.comment = "pods " + sel_text(podsel) +
                  (nssel.empty() ? " in all namespaces" : " in ns {" + nssel.str() + "}");
      s.ns_selector = nssel;
      s.ns_keys = sorted_keys(nssel);
      s.pod_keys = sorted_keys(podsel);
      s.pod_selector = std::move(podsel);
    });
  }
  if (peer.pod_selector) {
    const LabelSelector& podsel = *peer.pod_selector;
    std::string def = "ns=" + pol->ns->name + "|pods=" + sel_text(podsel);
    return intern(pol, "P" + def, "pods-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Pods;
      s.comment = "pods " + sel_text(podsel) + " in ns " + pol->ns->name;
      s.scope_ns = pol->ns;
      ++pol->ns->set_count;
      s.pod_keys = sorted_keys(podsel);
      s.pod_selector = podsel;
    });
  }
  return nullptr;  // a peer without selector or ipBlock admits nobody
}

SetRec* Engine::intern_nport(PolicyRec* pol, const std::string& name, k8s::Protocol proto) {
  std::string def = port_key(name, proto);
  return intern(pol, "N" + def, "nport-", def, [&](SetRec& s) {
    s.kind = ir::SetKind::NamedPort;
    s.comment = "named port " + def;
    s.port_name = name;
    s.port_proto = proto;
  });
}

RuleTemplate Engine::make_template(PolicyRec* pol, const k8s::PolicyRule& rule, uint32_t index,
                                   bool ingress) {
  RuleTemplate t;
  t.index = index;
  t.any_peer = rule.peers.empty();
  for (const auto& peer : rule.peers) {
    SetRec* s = intern_peer(pol, peer);
    if (s && std::find(t.peers.begin(), t.peers.end(), s) == t.peers.end()) t.peers.push_back(s);
  }
  t.all_ports = rule.ports.empty();
  std::map<uint8_t, RuleTemplate::Proto> protos;
  for (const auto& pp : rule.ports) {
    auto& pr = protos[static_cast<uint8_t>(pp.protocol)];
    pr.proto = static_cast<uint8_t>(pp.protocol);
    if (std::holds_alternative<std::monostate>(pp.port)) {
      pr.all = true;
    } else if (const auto* n = std::get_if<uint16_t>(&pp.port)) {
      uint16_t last = pp.end_port ? std::max(*n, *pp.end_port) : *n;
      pr.ranges.push_back({*n, last});
    } else {
      pr.names.push_back(std::get<std::string>(pp.port));
    }
  }
  for (auto& [num, pr] : protos) {
    if (pr.all) {
      // Every port of the protocol already covers all ranges and names.
      pr.ranges.clear();
      pr.names.clear();
    }
    merge_ranges(pr.ranges);
    std::sort(pr.names.begin(), pr.names.end());
    pr.names.erase(std::unique(pr.names.begin(), pr.names.end()), pr.names.end());
    if (!ingress)
      for (const auto& name : pr.names)
        pr.nport.push_back(intern_nport(pol, name, static_cast<k8s::Protocol>(num)));
    t.protos.push_back(std::move(pr));
  }
  return t;
}

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
    pol->ingress.push_back(make_template(pol, in.ingress[i], static_cast<uint32_t>(i), true));
  for (size_t i = 0; i < in.egress.size(); ++i)
    pol->egress.push_back(make_template(pol, in.egress[i], static_cast<uint32_t>(i), false));
  for (SetRec* s : old_refs) {
    --s->policy_refs;
    touch(s);
  }
  // Only pods of the policy's namespace can be selected, before or after.
  for (PodRec* p : ns->local_pods) {
    auto it = std::lower_bound(p->selected_by.begin(), p->selected_by.end(), pol, by_key);
    bool was = it != p->selected_by.end() && *it == pol;
    bool now = in.pod_selector.matches(p->labels);
    if (now && !was) p->selected_by.insert(it, pol);
    if (was && !now) p->selected_by.erase(it);
    if (was || now) mark_dirty(p, true);
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
    mark_dirty(p, true);
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
    touch(s);
  }
  ns_gc_.push_back(ns->name);
  policies_.erase(pit);
}

// ---------------------------------------------------------------------------
// Materialization

void Engine::acquire(SetRec* s) {
  if (s->pod_refs++ == 0 && !s->out) materialize(s);
  touch(s);
}

void Engine::release(SetRec* s) {
  assert(s->pod_refs > 0);
  --s->pod_refs;
  touch(s);  // dropped at the end of the operation if nobody took it back
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

// ---------------------------------------------------------------------------
// Chains and local pods

std::optional<ir::Chain> Engine::build_chain(const PodRec* p, bool ingress,
                                             std::vector<SetRec*>& refs) const {
  std::optional<ir::Chain> chain;
  for (const PolicyRec* pol : p->selected_by) {
    if (!(ingress ? pol->src.affects_ingress : pol->src.affects_egress)) continue;
    if (!chain) chain.emplace();
    chain->policies.push_back(pol->key);
    // The policy's own netpol.io/audit wins over its namespace's.
    std::optional<k8s::AuditLevel> audit = audit_annotation(pol->src.annotations);
    if (!audit) audit = pol->ns->audit;
    const bool log_allowed = audit == k8s::AuditLevel::All;
    for (const RuleTemplate& t : ingress ? pol->ingress : pol->egress) {
      auto emit = [&](SetRec* peer, std::optional<uint8_t> proto, std::vector<ir::PortRange> ports,
                      SetRec* nport) {
        ir::Rule r;
        r.policy = pol->key;
        r.rule_index = t.index;
        r.log_allowed = log_allowed;
        if (peer) {
          r.peer.kind = ir::PeerMatch::Kind::Set;
          r.peer.set = peer->name;
          refs.push_back(peer);
        }
        r.proto = proto;
        r.ports = std::move(ports);
        if (nport) {
          r.named_port_set = nport->name;
          refs.push_back(nport);
        }
        chain->rules.push_back(std::move(r));
      };
      auto for_peer = [&](SetRec* peer) {
        if (t.all_ports) {
          emit(peer, std::nullopt, {}, nullptr);
          return;
        }
        for (const auto& pr : t.protos) {
          if (pr.all) {
            emit(peer, pr.proto, {}, nullptr);
            continue;
          }
          std::vector<ir::PortRange> ranges = pr.ranges;
          if (ingress && !pr.names.empty()) {
            // The destination is this pod: resolve names on its own ports.
            for (const auto& cp : p->ports)
              if (static_cast<uint8_t>(cp.protocol) == pr.proto &&
                  std::binary_search(pr.names.begin(), pr.names.end(), cp.name))
                ranges.push_back({cp.port, cp.port});
            merge_ranges(ranges);
          }
          if (!ranges.empty()) emit(peer, pr.proto, std::move(ranges), nullptr);
          if (!ingress)
            for (SetRec* np : pr.nport) emit(peer, pr.proto, {}, np);
        }
      };
      if (t.any_peer) {
        for_peer(nullptr);
      } else {
        for (SetRec* peer : t.peers) for_peer(peer);
      }
    }
  }
  return chain;
}

const PodRec* Engine::ip_winner(const IpAddr& ip) const {
  const PodRec* best = nullptr;
  auto it = ip_index_.find(ip);
  if (it == ip_index_.end()) return nullptr;
  auto rank = [](const PodRec* x) {
    return std::make_pair(x->phase == k8s::PodPhase::Running ? 0 : 1, std::string_view(x->key));
  };
  it->second.each([&](const PodRec* q) {
    if (q->local() && (!best || rank(q) < rank(best))) best = q;
  });
  return best;
}

ir::LocalPod Engine::build_local_pod(PodRec* p, const ir::LocalPod* old, bool chains) {
  ir::LocalPod lp;
  lp.ns = p->ns->name;
  lp.name = std::string(p->name());
  for (const auto& ip : p->ips)
    if (!conflicts_.count(ip) || ip_winner(ip) == p) lp.ips.push_back(ip);
  if (!chains && old) {
    lp.ingress = old->ingress;
    lp.egress = old->egress;
    return lp;
  }
  std::vector<SetRec*> refs;
  lp.ingress = build_chain(p, true, refs);
  lp.egress = build_chain(p, false, refs);
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  for (SetRec* s : refs) acquire(s);  // before release: a kept set is never dropped
  for (SetRec* s : p->chain_refs) release(s);
  p->chain_refs = std::move(refs);
  return lp;
}

void Engine::rebuild_warnings() {
  rules_.warnings.clear();
  for (const auto& ip : conflicts_) {
    std::vector<std::string> holders;
    auto it = ip_index_.find(ip);
    if (it == ip_index_.end()) continue;
    it->second.each([&](const PodRec* q) {
      if (q->local()) holders.push_back(q->key);
    });
    std::sort(holders.begin(), holders.end());
    std::string w = "IP " + ip.str() + " held by ";
    for (size_t i = 0; i < holders.size(); ++i) {
      if (i > 0) w += i + 1 == holders.size() ? " and " : ", ";
      w += holders[i];
    }
    w += "; enforcing for " + ip_winner(ip)->key;
    rules_.warnings.push_back(std::move(w));
  }
}

// ---------------------------------------------------------------------------
// End of an operation

ir::Delta Engine::flush(bool want_delta) {
  ir::Delta delta;

  if (!ip_dirty_.empty()) {
    for (const auto& ip : ip_dirty_) {
      size_t local = 0;
      auto it = ip_index_.find(ip);
      if (it != ip_index_.end()) {
        it->second.each([&](const PodRec* q) {
          if (!q->local()) return;
          ++local;
          mark_dirty(q, false);
        });
      }
      if (local >= 2) {
        conflicts_.insert(ip);
      } else {
        conflicts_.erase(ip);
      }
    }
    rebuild_warnings();
  }

  // dirty_ is ordered by key, so pod deltas come out sorted.
  for (const auto& [key, chains] : dirty_) {
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

  for (SetRec* s : touched_) {
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
      set_names_.erase(s->name);
      sets_.erase(s->reg_key);  // frees s
    }
  }

  // Forget namespaces nothing refers to any more, so namespace churn does not
  // grow the state. Recreated on demand with the same default label.
  for (const auto& name : ns_gc_) {
    auto it = namespaces_.find(name);
    if (it == namespaces_.end()) continue;
    NsRec* ns = it->second.get();
    if (ns->declared || ns->pod_count || !ns->policies.empty() || ns->set_count) continue;
    for (SetRec* s : ns->nssel_sets) s->matching_ns.erase(ns);
    namespaces_.erase(it);
  }
  std::sort(delta.sets.begin(), delta.sets.end(),
            [](const ir::SetDelta& a, const ir::SetDelta& b) { return a.name < b.name; });

  dirty_.clear();
  ip_dirty_.clear();
  touched_.clear();
  ns_gc_.clear();
  return delta;
}

// ---------------------------------------------------------------------------
// Public API

struct Compiler::State : Engine {
  using Engine::Engine;
};

Compiler::Compiler(std::string node) : state_(std::make_unique<State>(std::move(node))) {}
Compiler::~Compiler() = default;

ir::Delta Compiler::upsert_namespace(const k8s::Namespace& ns) {
  state_->upsert_namespace(ns);
  return state_->flush(true);
}
ir::Delta Compiler::remove_namespace(const std::string& name) {
  state_->remove_namespace(name);
  return state_->flush(true);
}
ir::Delta Compiler::upsert_pod(const k8s::Pod& pod) {
  state_->upsert_pod(pod);
  return state_->flush(true);
}
ir::Delta Compiler::remove_pod(const std::string& ns, const std::string& name) {
  state_->remove_pod(ns + "/" + name);
  return state_->flush(true);
}
ir::Delta Compiler::upsert_policy(const k8s::NetworkPolicy& policy) {
  state_->upsert_policy(policy);
  return state_->flush(true);
}
ir::Delta Compiler::remove_policy(const std::string& ns, const std::string& name) {
  state_->remove_policy(ns + "/" + name);
  return state_->flush(true);
}
const ir::RuleSet& Compiler::rules() const {
  return state_->rules_;
}

ir::RuleSet compile(const k8s::Objects& objects, const std::string& node) {
  Engine s(node);
  s.reserve(objects.pods.size(), objects.namespaces.size());
  // One flush at the end: every set is materialized once, from the final state.
  for (const auto& ns : objects.namespaces) s.upsert_namespace(ns);
  for (const auto& pol : objects.policies) s.upsert_policy(pol);
  for (const auto& pod : objects.pods) s.upsert_pod(pod);
  s.flush(false);
  return std::move(s.rules_);
}

}  // namespace netpol::compiler
