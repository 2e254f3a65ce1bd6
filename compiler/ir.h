// The intermediate rule set (IR): what one node must enforce, independent of
// nftables syntax. Produced by the compiler (pure, no I/O), consumed by nft/.
//
// Shape:
//  - sets: shared, named, keyed by what selects their members (one per distinct
//    peer, not per policy). Elements are uniform (see Element) so one diff
//    function serves every kind.
//  - pods: per local pod, the ingress and/or egress chain (present only when
//    some policy isolates the pod in that direction).
// All containers are ordered, so equal IRs compare equal and render to equal bytes.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "compiler/sorted_blocks.h"
#include "k8s/ip.h"
#include "k8s/model.h"

namespace netpol::ir {

using k8s::Protocol;

enum class SetKind : uint8_t {
  Pods,       // pod IPs selected by (namespace scope, pod selector)
  Cidr,       // ipBlock: cidr minus excepts, as ranges
  NamedPort,  // (pod IP, protocol, port) for every pod with a container port of a given name
  Nodes,      // Node addresses (status.addresses) selected by a node selector (CNP `nodes` peers)
};

// One set element. Pods: first == last, proto/port zero. Cidr: a range
// [first, last]. NamedPort: first == last, proto and port set.
struct Element {
  IpAddr first;
  IpAddr last;
  uint8_t proto = 0;  // IPPROTO_* for NamedPort, else 0
  uint16_t port = 0;

  Family family() const { return first.family; }
  // Always inlined: it is the comparison of every set insert and lookup, and
  // GCC's per-file inlining budget otherwise decides differently per file.
  [[gnu::always_inline]] friend auto operator<=>(const Element&, const Element&) = default;
  friend bool operator==(const Element&, const Element&) = default;
};

struct Set {
  std::string name;  // stable: "<kind>-<HASH>", HASH from what defines the set
  SetKind kind = SetKind::Pods;
  std::string comment;             // what selects the members, e.g. "ns in {team=a} pods {app=web}"
  SortedBlocks<Element> elements;  // both families; the renderer splits v4/v6

  friend bool operator==(const Set&, const Set&) = default;
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  friend auto operator<=>(const PortRange&, const PortRange&) = default;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// Which peers a rule admits.
struct PeerMatch {
  enum class Kind : uint8_t { Any, Set } kind = Kind::Any;
  std::string set;  // name of a Pods or Cidr set when kind == Set
  friend auto operator<=>(const PeerMatch&, const PeerMatch&) = default;
  friend bool operator==(const PeerMatch&, const PeerMatch&) = default;
};

// One allow rule of a per-pod chain: the connection is allowed if the peer
// (source for ingress, destination for egress) matches `peer` and the
// destination port matches. Protocol/port forms, exactly one of:
//  - proto == nullopt: every protocol and port;
//  - proto set, ports empty, named_port_set empty: every port of proto;
//  - proto set, ports non-empty: those destination ports of proto;
//  - proto set, named_port_set non-empty (egress only): destination
//    (IP, proto, port) must be in that NamedPort set.
struct Rule {
  std::string policy;       // "namespace/name" of the NetworkPolicy
  uint32_t rule_index = 0;  // index in the policy's ingress or egress list
  PeerMatch peer;
  std::optional<uint8_t> proto;  // IPPROTO_TCP/UDP/SCTP
  std::vector<PortRange> ports;  // sorted, merged
  std::string named_port_set;
  // The policy (or its namespace) asks for allowed connections to be logged
  // too (annotation netpol.io/audit: "all"; docs/audit-log.md). Denied ones
  // always are.
  bool log_allowed = false;

  friend auto operator<=>(const Rule&, const Rule&) = default;
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Chain {
  std::vector<std::string>
      policies;             // "ns/name" of every policy isolating the pod this way (sorted)
  std::vector<Rule> rules;  // in policy order, then rule order; deterministic
  friend bool operator==(const Chain&, const Chain&) = default;
};

// One rule of a ClusterNetworkPolicy tier, for one direction of one pod: if
// the peer and the port match, `action` decides (Accept, Deny, or Pass). The
// peer/port forms are Rule's. A CNP rule with several peers or protocols
// becomes consecutive TierRules with the same action, so "first match decides"
// holds on the list as it holds on the CNP.
struct TierRule {
  std::string cnp;          // the ClusterNetworkPolicy's name
  std::string name;         // the rule's name (may be empty)
  uint32_t rule_index = 0;  // index in the CNP's ingress or egress list
  k8s::CnpAction action = k8s::CnpAction::Deny;
  PeerMatch peer;
  std::optional<uint8_t> proto;
  std::vector<PortRange> ports;
  std::string named_port_set;
  // An Accept rule logs what it allows: the subject pod's namespace has
  // netpol.io/audit: "all" (docs/audit-log.md). Deny rules always log; Pass never.
  bool log_allowed = false;

  friend auto operator<=>(const TierRule&, const TierRule&) = default;
  friend bool operator==(const TierRule&, const TierRule&) = default;
};

// The rules of one tier for one direction of a pod: every CNP of the tier
// selecting the pod with rules in that direction, by priority then name.
struct TierChain {
  std::vector<std::string> policies;  // CNP names, in evaluation order
  std::vector<TierRule> rules;        // in evaluation order: the first match decides
  friend bool operator==(const TierChain&, const TierChain&) = default;
};

struct LocalPod {
  std::string ns;
  std::string name;
  std::vector<IpAddr> ips;
  std::optional<Chain> ingress;  // set iff the pod is isolated for ingress
  std::optional<Chain> egress;   // set iff the pod is isolated for egress
  // ClusterNetworkPolicy tiers (design.md): Admin before the chains above,
  // Baseline after them (only consulted where the pod is not isolated).
  std::optional<TierChain> admin_ingress, admin_egress;
  std::optional<TierChain> baseline_ingress, baseline_egress;

  std::string key() const { return ns + "/" + name; }
  const std::optional<Chain>& chain(bool in) const { return in ? ingress : egress; }
  const std::optional<TierChain>& admin(bool in) const { return in ? admin_ingress : admin_egress; }
  const std::optional<TierChain>& baseline(bool in) const {
    return in ? baseline_ingress : baseline_egress;
  }
  // Whether traffic of this direction meets any rule of this pod (a dispatch
  // map entry exists for it).
  bool dispatches(bool in) const { return chain(in) || admin(in) || baseline(in); }
  friend bool operator==(const LocalPod&, const LocalPod&) = default;
};

struct RuleSet {
  std::string node;
  std::map<std::string, LocalPod> pods;  // key "ns/name"; only enforceable pods on `node`
  std::map<std::string, Set> sets;       // key Set::name; only sets some rule references
  std::vector<std::string> warnings;     // e.g. two local pods sharing an IP

  friend bool operator==(const RuleSet& a, const RuleSet& b) {
    return a.node == b.node && a.pods == b.pods && a.sets == b.sets;
  }
};

// How to move from one RuleSet to another.
struct SetDelta {
  std::string name;
  std::optional<Set> created;     // new set (with all its elements); add/del empty
  bool removed = false;           // set is gone; add/del empty
  std::vector<Element> add, del;  // element changes of a set that stays
  friend bool operator==(const SetDelta&, const SetDelta&) = default;
};

struct PodDelta {
  std::string key;                 // "ns/name"
  std::optional<LocalPod> before;  // nullopt: pod is new
  std::optional<LocalPod> after;   // nullopt: pod is gone
  friend bool operator==(const PodDelta&, const PodDelta&) = default;
};

struct Delta {
  std::vector<SetDelta> sets;  // sorted by name, one entry per changed set
  std::vector<PodDelta> pods;  // sorted by key, one entry per changed pod
  bool empty() const { return sets.empty() && pods.empty(); }
  friend bool operator==(const Delta&, const Delta&) = default;
};

// The delta that turns `from` into `to` (canonical: sorted, minimal).
Delta diff(const RuleSet& from, const RuleSet& to);
// Patches a delta in place: patch(a, diff(a, b)) == b.
void patch(RuleSet& rs, const Delta& d);

// A protocol as a NetworkPolicy spells it: "TCP", "UDP", "SCTP"; else the number.
std::string proto_name(uint8_t proto);

// The IR as JSON text (policyc -o json): stable key order, one trailing newline.
std::string to_json(const RuleSet& rs);

}  // namespace netpol::ir
