// The compact object model: exactly the parts of Namespace, Pod and
// NetworkPolicy (networking.k8s.io/v1) that policy enforcement needs, already
// validated and defaulted. Everything else in a manifest is dropped at decode
// time so the store stays small (target: well under 1 KiB per pod).
//
// These types never hold raw JSON/YAML and never depend on a parser, an HTTP
// client or netlink: every layer above may include this header.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "k8s/ip.h"
#include "k8s/labels.h"
#include "k8s/shared_vector.h"

namespace netpol::k8s {

// Labels (k8s/labels.h): a key-sorted flat map, so iteration order (and
// everything derived from it) is deterministic.

inline constexpr const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";

enum class Protocol : uint8_t { TCP = 6, UDP = 17, SCTP = 132 };
const char* to_string(Protocol p);                                 // "TCP", "UDP", "SCTP"
std::optional<Protocol> protocol_from_string(std::string_view s);  // exact API names

struct Requirement {
  enum class Op : uint8_t { In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;  // sorted, deduplicated; empty for Exists/DoesNotExist

  friend auto operator<=>(const Requirement&, const Requirement&) = default;
  friend bool operator==(const Requirement&, const Requirement&) = default;
};
const char* to_string(Requirement::Op op);  // "In", "NotIn", "Exists", "DoesNotExist"

// metav1.LabelSelector. The empty selector matches everything.
struct LabelSelector {
  Labels match_labels;
  std::vector<Requirement> match_expressions;  // sorted

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool matches(const Labels& labels) const;
  // Every label key the selector looks at (for the compiler's label-key index).
  std::vector<std::string> keys() const;
  // Stable human-readable form, e.g. "app=web,tier in (a,b),!legacy" ("" for empty).
  std::string str() const;

  friend auto operator<=>(const LabelSelector&, const LabelSelector&) = default;
  friend bool operator==(const LabelSelector&, const LabelSelector&) = default;
};

struct Namespace {
  std::string name;
  std::string uid;
  std::string resource_version;
  Labels labels;       // always contains kubernetes.io/metadata.name=<name>
  Labels annotations;  // only netpol.io/* annotations are kept (e.g. netpol.io/audit)

  friend bool operator==(const Namespace&, const Namespace&) = default;
};

struct ContainerPort {
  std::string name;  // may be empty
  uint16_t port = 0;
  Protocol protocol = Protocol::TCP;

  friend auto operator<=>(const ContainerPort&, const ContainerPort&) = default;
  friend bool operator==(const ContainerPort&, const ContainerPort&) = default;
};
struct ContainerPortHash {
  size_t operator()(const ContainerPort& p) const noexcept {
    return std::hash<std::string>{}(p.name) ^ (size_t{p.port} << 8) ^
           static_cast<size_t>(p.protocol);
  }
};
// A pod's container ports, shared by copies and interned by the decoder.
using ContainerPorts = SharedVector<ContainerPort, ContainerPortHash>;

enum class PodPhase : uint8_t { Pending, Running, Succeeded, Failed, Unknown };
const char* to_string(PodPhase p);

struct Pod {
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string node_name;
  Labels labels;
  ContainerPorts ports;     // every container's ports, in manifest order
  std::vector<IpAddr> ips;  // status.podIPs (or status.podIP), deduplicated, in order
  // The small fields together (no padding between them: an informer holds
  // 100k pods).
  PodPhase phase = PodPhase::Pending;
  bool host_network = false;
  // metadata.deletionTimestamp is set: the pod is going away, and a Running
  // pod that reuses one of its IPs owns it (compiler/ip_owner.h).
  bool terminating = false;

  std::string key() const { return ns + "/" + name; }
  // In peer sets / gets chains at all: has an IP, not hostNetwork, not finished.
  bool enforceable() const {
    return !host_network && !ips.empty() && phase != PodPhase::Succeeded &&
           phase != PodPhase::Failed;
  }

  friend bool operator==(const Pod&, const Pod&) = default;
};

// A port of a NetworkPolicyPort: absent (all ports), a number, or a name
// (resolved on the destination pod's container ports).
using PortRef = std::variant<std::monostate, uint16_t, std::string>;

struct PolicyPort {
  Protocol protocol = Protocol::TCP;  // defaulted as the API server does
  PortRef port;
  std::optional<uint16_t> end_port;  // only with a numeric port; >= port

  friend bool operator==(const PolicyPort&, const PolicyPort&) = default;
};

struct IpBlock {
  Cidr cidr;
  std::vector<Cidr> except;  // each strictly inside cidr, same family

  friend auto operator<=>(const IpBlock&, const IpBlock&) = default;
  friend bool operator==(const IpBlock&, const IpBlock&) = default;
};

// NetworkPolicyPeer. Exactly one of: ip_block, or at least one selector.
// pod_selector alone: pods of the policy's namespace; namespace_selector alone:
// every pod of the matching namespaces; both: matching pods in matching namespaces.
struct Peer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IpBlock> ip_block;

  friend bool operator==(const Peer&, const Peer&) = default;
};

// One ingress or egress rule. Empty `peers` means every source/destination;
// empty `ports` means every port and protocol.
struct PolicyRule {
  std::vector<PolicyPort> ports;
  std::vector<Peer> peers;

  friend bool operator==(const PolicyRule&, const PolicyRule&) = default;
};

// netpol.io/audit on a Namespace or a NetworkPolicy: which connections the
// pod chains log to the audit log. Denied connections are always logged;
// "all" adds the connections a policy's rules allow. A policy's own value
// wins over its namespace's. docs/audit-log.md is the contract.
inline constexpr const char* kAuditAnnotation = "netpol.io/audit";
enum class AuditLevel : uint8_t { Deny, All };
// "deny" or "all"; nullopt for anything else (the caller warns and uses the default).
std::optional<AuditLevel> audit_level_from_string(std::string_view s);

struct NetworkPolicy {
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  Labels annotations;  // only netpol.io/* annotations are kept
  LabelSelector pod_selector;
  // After policyTypes defaulting: Ingress always unless policyTypes says
  // otherwise; Egress when policyTypes says so or egress rules exist.
  bool affects_ingress = true;
  bool affects_egress = false;
  std::vector<PolicyRule> ingress;
  std::vector<PolicyRule> egress;

  std::string key() const { return ns + "/" + name; }
  friend bool operator==(const NetworkPolicy&, const NetworkPolicy&) = default;
};

}  // namespace netpol::k8s

#include "k8s/cnp.h"  // ClusterNetworkPolicy and Node, built on the types above

namespace netpol::k8s {

// A set of decoded objects, in input order.
struct Objects {
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<NetworkPolicy> policies;
  std::vector<ClusterNetworkPolicy> cluster_policies;
  std::vector<Node> nodes;
};

}  // namespace netpol::k8s
