// The verdict of the kernel's rules for one packet of a new connection, read
// off the IR: the one evaluator behind `policyc explain` (and matrix, diff, lint)
// and the agent's flow cutting (agent/flows.h), so both answer as the rules
// the renderer programs do.
//
// Per direction, as filter-forward dispatches: the address's owner (ip_owner)
// picks the pod's chains, walked in tier order (nft/render.h): the Admin tier
// (first matching ClusterNetworkPolicy rule decides; Pass goes on), then the
// NetworkPolicy chain if the pod is isolated (first matching rule allows, none:
// denied), else the Baseline tier; nothing decided: not isolated, allowed. A
// rule matches by peer set, then protocol, then ports or the named-port set of
// the destination. Pure, no I/O, never throws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir.h"

namespace netpol::compiler {

struct ChainVerdict {
  enum class How : uint8_t {
    NotIsolated,   // no pod chain of `rules` takes this address in this direction
    AllowedBy,     // `rule` of `chain` is the first that matches
    Denied,        // isolated and no rule of `chain` matches
    TierAccepted,  // `tier_rule` (Admin or Baseline) accepted it
    TierDenied,    // `tier_rule` (Admin or Baseline) denied it
  };
  How how = How::NotIsolated;
  const ir::LocalPod* owner = nullptr;  // the pod whose chain the address dispatches to
  const ir::Chain* chain = nullptr;
  const ir::Rule* rule = nullptr;           // AllowedBy only
  const ir::TierRule* tier_rule = nullptr;  // TierAccepted / TierDenied only
  const ir::TierRule* passed = nullptr;     // an Admin Pass rule that sent it on, if any

  bool allowed() const { return how != How::Denied && how != How::TierDenied; }
};

// One direction on the node of `rules`: the egress chain of `local_ip` (the
// source) or the ingress chain of `local_ip` (the destination); `peer` is the
// other end, `dst` the destination (named ports resolve on it), `port` the
// destination port (0 for protocols without ports).
ChainVerdict evaluate(const ir::RuleSet& rules, bool ingress, const IpAddr& local_ip,
                      const IpAddr& peer, const IpAddr& dst, uint8_t proto, uint16_t port);

// Both directions on the node of `rules`, egress of `src` then ingress of
// `dst`, as filter-forward walks them: true when the node lets a new
// connection (src -> dst, proto, port) through. Ends that are no local pod
// are not isolated here (their own node decides).
bool node_allows(const ir::RuleSet& rules, const IpAddr& src, const IpAddr& dst, uint8_t proto,
                 uint16_t port);

// Whether `r` matches (peer set, protocol, ports or named port), as evaluate()
// tests each rule.
bool matches(const ir::RuleSet& rules, const ir::Rule& r, const IpAddr& peer, const IpAddr& dst,
             uint8_t proto, uint16_t port);
// The first rule of `tier` (a tier chain's rules, or any run of them, e.g.
// one ClusterNetworkPolicy's) that matches: the tier walk evaluate() does;
// null when none does. policyc lint compares two CNPs' rules with it.
const ir::TierRule* first_match(const ir::RuleSet& rules, const std::vector<ir::TierRule>& tier,
                                const IpAddr& peer, const IpAddr& dst, uint8_t proto,
                                uint16_t port);

// Why `r` does not match, or "" when it does (explain prints it per rule).
std::string rule_mismatch(const ir::RuleSet& rules, const ir::Rule& r, const IpAddr& peer,
                          const IpAddr& dst, uint8_t proto, uint16_t port);
std::string rule_mismatch(const ir::RuleSet& rules, const ir::TierRule& r, const IpAddr& peer,
                          const IpAddr& dst, uint8_t proto, uint16_t port);

}  // namespace netpol::compiler
