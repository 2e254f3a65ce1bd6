// The compiler engine's records: the cluster snapshot reduced to what
// enforcement needs, with the reverse indexes a change needs to find what it
// can touch. Internal to compiler/ (never included by other layers).
//
//  - NsRec / PodRec / PolicyRec: namespaces, pods and policies.
//  - SetRec: one per distinct peer definition (Pods, Cidr) or named port
//    (NamedPort) used by any policy. A SetRec is *materialized* (membership
//    and elements kept current, present in rules().sets) only while some rule
//    of a local pod's chain references it (pod_refs > 0). Membership is stored
//    once, on the pod (PodRec::member_of), not on the set.
//  - RuleTemplate: one policy rule pre-digested for building pod chains.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compiler/hash.h"
#include "compiler/ir.h"
#include "k8s/model.h"

namespace netpol::compiler::engine {

using k8s::Labels;
using k8s::LabelSelector;

struct NsRec;
struct PodRec;
struct PolicyRec;
struct CnpRec;
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
std::vector<std::string> changed_keys(const Labels& a, const Labels& b);

// Whether any key of `b` is in `sorted_a`.
bool intersects(const std::vector<std::string>& sorted_a, const std::vector<std::string>& b);

// Sorted, deduplicated keys of a selector (LabelSelector::keys() makes no
// promise about order).
std::vector<std::string> sorted_keys(const LabelSelector& s);

// The empty selector is written "*" so that "absent" and "{}" (which select
// the same pods) share one canonical definition and so one set.
inline std::string sel_text(const LabelSelector& s) {
  return s.empty() ? "*" : s.str();
}

// Sorts `r` and merges overlapping and adjacent ranges.
void merge_ranges(std::vector<ir::PortRange>& r);

template <typename T>
void erase_one(std::vector<T*>& v, T* x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

// The registry key of a named port: "name/PROTO".
inline std::string port_key(const std::string& name, k8s::Protocol proto) {
  return name + "/" + k8s::to_string(proto);
}

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
  // Nodes: pod_selector holds the node selector (Node labels).
  std::string port_name;  // NamedPort
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
  uint32_t name_at = 0;
  uint32_t ns_pos = 0;  // index in ns->pods while enforceable
  NsRec* ns = nullptr;
  Labels labels;
  k8s::ContainerPorts ports;
  std::vector<IpAddr> ips;
  k8s::PodPhase phase = k8s::PodPhase::Pending;
  bool terminating = false;  // deletionTimestamp set (ranks its IP claims last)
  bool host_network = false;
  bool on_node = false;

  std::vector<SetRec*> member_of;  // materialized sets it is a member of, sorted

  // What only local pods have (110 of 100k pods at the benchmark's scale),
  // held apart so that a remote pod's record carries no three empty vectors.
  struct LocalState {
    std::vector<PolicyRec*> selected_by;  // policies selecting it, by key
    std::vector<SetRec*> chain_refs;      // sets its current chains reference (distinct)
    std::vector<CnpRec*> cnps;            // ClusterNetworkPolicies it is a subject of, cnp_order
  };
  std::unique_ptr<LocalState> local_state;  // null: all three empty
  const LocalState& loc() const {
    static const LocalState none;
    return local_state ? *local_state : none;
  }
  LocalState& loc_mut() {
    if (!local_state) local_state = std::make_unique<LocalState>();
    return *local_state;
  }

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

// One ClusterNetworkPolicy rule: the peer and port forms of a RuleTemplate
// (never any_peer: a CNP rule always names peers) plus what decides.
struct CnpRuleTemplate {
  RuleTemplate forms;
  std::string name;
  k8s::CnpAction action = k8s::CnpAction::Deny;
  // A Deny or Pass rule with a peer this version does not know: it matches
  // every peer and port (the API's fail-closed rule). An Accept rule just
  // drops such a peer, so with no other peer it matches nothing.
  bool match_all = false;
};

// A ClusterNetworkPolicy with its rules pre-digested and its sets interned
// (one policy reference per use, in refs, like PolicyRec).
struct CnpRec {
  k8s::ClusterNetworkPolicy src;
  std::vector<CnpRuleTemplate> ingress, egress;
  std::vector<SetRec*> refs;

  bool selects(const PodRec* p) const;  // subject match (p must be local)
};

// Evaluation order within a pod: tier, then priority, then name.
inline bool cnp_order(const CnpRec* a, const CnpRec* b) {
  return std::tie(a->src.tier, a->src.priority, a->src.name) <
         std::tie(b->src.tier, b->src.priority, b->src.name);
}

// The value of netpol.io/audit when it is one netpol knows; an unknown value
// counts as absent (policyc warns about it), never as a reason to skip a policy.
std::optional<k8s::AuditLevel> audit_annotation(const Labels& annotations);

inline bool by_key(const PolicyRec* a, const PolicyRec* b) {
  return a->key < b->key;
}

inline bool is_member(const PodRec* p, const SetRec* s) {
  return std::binary_search(p->member_of.begin(), p->member_of.end(), s);
}

}  // namespace netpol::compiler::engine
