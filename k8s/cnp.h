// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, kubernetes-sigs/
// network-policy-api v0.2.0) and the compact Node (v1) its node peers select:
// decoded, validated as the CRD's OpenAPI schema and CEL rules do, defaulted.
// docs/decoding.md ("ClusterNetworkPolicy") lists every rule.
//
// Part of the object model: k8s/model.h includes this file after its base
// types (LabelSelector, Protocol, Cidr), and this file includes model.h, so
// either may be included first. Like model.h, these types never hold raw
// JSON/YAML and never depend on a parser.
#include "k8s/model.h"

#ifndef NETPOL_K8S_CNP_H
#define NETPOL_K8S_CNP_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netpol::k8s {

inline constexpr size_t kCnpMaxRules = 25;      // per direction
inline constexpr size_t kCnpMaxPeers = 25;      // per rule
inline constexpr size_t kCnpMaxProtocols = 25;  // per rule
inline constexpr size_t kCnpMaxNetworks = 25;   // per networks peer
inline constexpr size_t kCnpMaxRuleName = 100;  // bytes
inline constexpr int32_t kCnpMaxPriority = 1000;

// Evaluated Admin, then NetworkPolicy, then Baseline (design.md).
enum class CnpTier : uint8_t { Admin, Baseline };
enum class CnpAction : uint8_t { Accept, Deny, Pass };
const char* to_string(CnpTier t);    // "Admin", "Baseline"
const char* to_string(CnpAction a);  // "Accept", "Deny", "Pass"

// spec.subject: exactly one of `namespaces` (every pod of the matching
// namespaces) or `pods` (matching pods in matching namespaces). Host-network
// pods are never subjects (the compiler's job).
struct CnpSubject {
  enum class Kind : uint8_t { Namespaces, Pods };
  Kind kind = Kind::Namespaces;
  LabelSelector namespaces;  // both kinds: which namespaces
  LabelSelector pods;        // Pods only: which pods in them (empty for Namespaces)

  friend bool operator==(const CnpSubject&, const CnpSubject&) = default;
};

// One element of `from` / `to`: exactly one field set. Ingress peers are only
// Namespaces or Pods; Nodes and Networks are egress-only.
//
// Unknown: the peer named only a field this version does not know (a newer
// CRD). It is kept, not rejected, so the compiler can fail closed as the API
// requires: in an Accept rule it matches nothing, in a Deny or Pass rule it
// matches everything.
struct CnpPeer {
  enum class Kind : uint8_t { Namespaces, Pods, Nodes, Networks, Unknown };
  Kind kind = Kind::Namespaces;
  LabelSelector namespaces;    // Namespaces; Pods: its namespaceSelector
  LabelSelector pods;          // Pods: its podSelector
  LabelSelector nodes;         // Nodes: selects Node objects by label
  std::vector<Cidr> networks;  // Networks: sorted, deduplicated
  std::string unknown_field;   // Unknown: the field's name, for messages

  bool unknown() const { return kind == Kind::Unknown; }
  friend bool operator==(const CnpPeer&, const CnpPeer&) = default;
};

// One element of `protocols`: a protocol with a destination port or range,
// or a named port (resolved on the destination pod's container ports, whose
// protocol it then takes).
struct CnpPort {
  std::optional<Protocol> protocol;  // nullopt exactly when named_port is set
  uint16_t port = 0;                 // number, or the range's start
  uint16_t end_port = 0;             // == port for a single number; > port for a range
  std::string named_port;            // destinationNamedPort

  bool named() const { return !named_port.empty(); }
  friend bool operator==(const CnpPort&, const CnpPort&) = default;
};

// An ingress or egress rule. `peers` is never empty; empty `ports` means
// every port and protocol.
struct CnpRule {
  std::string name;  // may be empty; at most kCnpMaxRuleName bytes
  CnpAction action = CnpAction::Deny;
  std::vector<CnpPeer> peers;
  std::vector<CnpPort> ports;

  friend bool operator==(const CnpRule&, const CnpRule&) = default;
};

struct ClusterNetworkPolicy {
  std::string name;  // cluster-scoped: no namespace
  std::string uid;
  std::string resource_version;
  Labels labels;
  CnpTier tier = CnpTier::Admin;
  int32_t priority = 0;  // 0..kCnpMaxPriority, lower first
  CnpSubject subject;
  std::vector<CnpRule> ingress;  // in order: the first match decides
  std::vector<CnpRule> egress;

  const std::string& key() const { return name; }
  friend bool operator==(const ClusterNetworkPolicy&, const ClusterNetworkPolicy&) = default;
};

// A Node, as node peers need it: labels to select it, and the InternalIP
// and ExternalIP entries of status.addresses (deduplicated, in order; other
// address types such as Hostname are dropped).
struct Node {
  std::string name;
  std::string uid;
  std::string resource_version;
  Labels labels;
  std::vector<IpAddr> addresses;

  const std::string& key() const { return name; }
  friend bool operator==(const Node&, const Node&) = default;
};

}  // namespace netpol::k8s

#endif  // NETPOL_K8S_CNP_H
