// Per-pod rule lists: the chain of one local pod for one direction, built
// from the rule templates of the policies selecting it. Pure: reads records,
// changes none.
#pragma once

#include <optional>
#include <vector>

#include "compiler/engine/records.h"

namespace netpol::compiler::engine {

// The `ingress` (else egress) chain of `p`, or nullopt when no policy
// selecting it affects that direction. Appends every set a rule of the chain
// references to `refs` (with repeats).
std::optional<ir::Chain> build_chain(const PodRec* p, bool ingress, std::vector<SetRec*>& refs);

// The rules of ClusterNetworkPolicy tier `tier` for one direction of `p`, or
// nullopt when no CNP of that tier selecting it has rules in that direction.
// Appends referenced sets to `refs` like build_chain.
std::optional<ir::TierChain> build_tier(const PodRec* p, k8s::CnpTier tier, bool ingress,
                                        std::vector<SetRec*>& refs);

}  // namespace netpol::compiler::engine
