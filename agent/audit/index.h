// What the audit listener needs to enrich a logged packet: RuleIndex maps the
// compact id of an NFLOG prefix back to pod, direction, isolating policies
// and the allowing rule (built from the IR the rules were rendered from);
// PodDirectory maps any pod IP of the cluster, remote pods included, to its
// namespace and name.
//
// Plain values, not thread-safe on their own (the Pipeline guards them). They
// never talk to the kernel or the API server: the agent feeds them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/audit/record.h"
#include "compiler/ir.h"
#include "k8s/ip.h"
#include "k8s/model.h"

namespace netpol::audit {

// What a log id stands for.
struct Attribution {
  std::string pod;                       // "ns/name" of the chain's pod
  std::string chain;                     // the nft chain of the logging rule
  std::vector<std::string> isolated_by;  // NetworkPolicies isolating the pod this way
  std::string policy;                    // NetworkPolicy allow: the policy of the logging rule
  std::optional<uint32_t> rule_index;    // NetworkPolicy allow: its rule index
  std::optional<k8s::CnpTier> tier;      // a ClusterNetworkPolicy rule logged: its tier
  std::optional<CnpRuleRef> cnp;         // ... and the rule
};

class RuleIndex {
 public:
  // Replaces the index with what `rules` holds. The index of the previous
  // RuleSet is kept as a fallback, so a packet logged just before an update
  // is still attributed.
  void update(const ir::RuleSet& rules);

  std::optional<Attribution> lookup(const LogId& id) const;
  // A local pod holding `ip` ("ns/name"), from the RuleSet's pods.
  std::optional<std::string> local_pod(const IpAddr& ip) const;
  size_t pods() const { return current_.pods.size(); }

 private:
  struct ChainInfo {
    std::vector<std::string> policies;
  };
  struct PodInfo {
    std::string key;
    std::optional<ChainInfo> ingress, egress;
    // The pod's logging ClusterNetworkPolicy rules, by tier_rule_key().
    std::unordered_map<std::string, CnpRuleRef> cnp_rules;
  };
  static std::string tier_rule_key(k8s::CnpTier tier, nft::Direction d, const std::string& cnp_hash,
                                   uint32_t index);
  struct Generation {
    std::unordered_map<std::string, PodInfo> pods;          // by short_hash(key)
    std::unordered_map<std::string, std::string> policies;  // short_hash(key) -> key
    std::map<IpAddr, std::string> ips;                      // local pod IPs
  };
  static std::optional<Attribution> find(const Generation& g, const LogId& id);

  Generation current_, previous_;
};

// Pod IPs of the whole cluster. Only pods that hold their IP themselves count
// (hostNetwork pods share the node's address, finished pods gave theirs back).
class PodDirectory {
 public:
  void upsert(const k8s::Pod& pod);
  void remove(const std::string& ns, const std::string& name);
  // "ns/name" of the pod holding `ip`; with two claimants, the smallest key.
  std::optional<std::string> lookup(const IpAddr& ip) const;
  size_t size() const { return by_key_.size(); }

 private:
  std::unordered_map<std::string, std::vector<IpAddr>> by_key_;
  std::map<IpAddr, std::map<std::string, int>> by_ip_;  // ip -> holders (a set)
};

}  // namespace netpol::audit
