// IR -> nftables objects: the one place that decides what netpol's table looks
// like (documented in docs/nftables.md).
//
//   table inet netpol
//     maps ingress-v4/-v6, egress-v4/-v6   local pod IP -> jump to its pod chain
//     sets <irset>-v4 / <irset>-v6          one pair per IR set, always both families
//     chain filter-forward                  base chain, hook forward, priority filter
//     chains ingress-<H>-<ns>/<pod>, egress-<H>-<ns>/<pod>   per isolated pod
//     chains admin-ingress-<H>-<ns>/<pod>, ...     ClusterNetworkPolicy Admin tier
//     chains baseline-ingress-<H>-<ns>/<pod>, ...  Baseline tier (pods not isolated)
//
// Rules are static for a given set of pods and policies; set and map elements
// carry the churn, so the incremental planner can turn most IR deltas into
// element ops. Pure: no I/O, never fails; a Ruleset that is inconsistent
// because the IR was (a rule naming an unknown set) is caught by Transaction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir.h"
#include "nft/objects.h"

namespace netpol::nft {

inline constexpr const char* kTableName = "netpol";
inline constexpr const char* kTableComment = "managed by netpol; do not edit";
inline constexpr const char* kForwardChain = "filter-forward";
// Pod chain names stay at most this long (the kernel allows 255).
inline constexpr size_t kMaxPodChainBytes = 200;

enum class Direction : uint8_t { Ingress, Egress };
const char* to_string(Direction d);  // "ingress", "egress"

// "ingress-<H>-<ns>/<pod>", H = short_hash("ns/pod"); the readable part is cut
// so the name stays within kMaxPodChainBytes (H keeps it unique).
std::string pod_chain_name(Direction d, std::string_view ns, std::string_view pod);
// "admin-ingress-<H>-<ns>/<pod>", "baseline-egress-<H>-...": the chain of a
// ClusterNetworkPolicy tier for one direction of a pod (H as above).
std::string tier_chain_name(k8s::CnpTier tier, Direction d, std::string_view ns,
                            std::string_view pod);
// listing_rank() (objects.h) lists these chains in tier order.
// "ingress-v4", "egress-v6", ...: the dispatch map of a direction and family.
std::string dispatch_map_name(Direction d, Family f);
// The nft set holding the `f` members of IR set `ir_set`: "<ir_set>-v4" / "-v6".
std::string family_set_name(std::string_view ir_set, Family f);

// How pod chains feed the audit log (docs/audit-log.md). The last rule of
// every pod chain logs the connection it drops; rules of policies that opt in
// (netpol.io/audit: "all") log what they allow. Each logging rule has its own
// in-kernel token bucket, so a flood at one pod costs at most `rate` log
// messages a second (plus `burst`); the packets over the limit hit a counter
// that the audit listener reads back as a "suppressed" count.
inline constexpr uint16_t kDefaultAuditGroup = 100;
struct AuditOptions {
  uint16_t group = kDefaultAuditGroup;  // NFLOG group the agent's audit listener binds
  uint32_t rate = 10;                   // logged connections per second and logging rule
  uint32_t burst = 20;                  // at most this many at once after a quiet spell
};

// The NFLOG prefix of a logging rule: the compact id the audit listener maps
// back to pod, direction and policy with the RuleSet it was rendered from.
//   "netpol deny <direction> <POD>"               (last rule of a pod chain)
//   "netpol allow <direction> <POD> <POLICY> <N>" (rule N of POLICY's ingress/egress list)
// POD = short_hash("ns/pod") (the hash in the pod chain's name), POLICY =
// short_hash("ns/policy"). At most 49 bytes. ClusterNetworkPolicy rules: below.
inline constexpr const char* kAuditPrefixTag = "netpol";
std::string audit_deny_prefix(Direction d, std::string_view pod_key);
std::string audit_allow_prefix(Direction d, std::string_view pod_key, std::string_view policy_key,
                               uint32_t rule_index);
// The prefix of a ClusterNetworkPolicy rule that logs (every Deny rule; an
// Accept rule where allow-logging is on), the same shape with the tier first:
//   "netpol deny <direction> <POD> <TIER> <CNP> <N>"
//   "netpol allow <direction> <POD> <TIER> <CNP> <N>"
// TIER = "admin" | "baseline", CNP = short_hash("cnp/NAME"), N = the rule's
// index in the CNP's ingress/egress list. At most 58 bytes (nft allows 127).
std::string audit_tier_prefix(bool allow, k8s::CnpTier tier, Direction d, std::string_view pod_key,
                              std::string_view cnp, uint32_t rule_index);
// The word of `tier` in a prefix: "admin", "baseline".
const char* audit_tier_word(k8s::CnpTier tier);

struct Rendered {
  Ruleset ruleset;
  // Conflicts the renderer resolved, e.g. two local pods claiming one IP.
  std::vector<std::string> warnings;
};

Rendered render(const ir::RuleSet& rules);  // with the default AuditOptions
Rendered render(const ir::RuleSet& rules, const AuditOptions& audit);

}  // namespace netpol::nft
