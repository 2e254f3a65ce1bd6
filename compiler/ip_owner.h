// Which pod owns an address that several pods claim: the one rule the
// compiler (which LocalPod keeps the IP), the renderer (which pod chain a
// dispatch map jumps to) and `policyc explain` (which chain a packet is
// judged by) all follow. Pure; knows nothing of nftables.
#pragma once

#include <string_view>

#include "compiler/ir.h"

namespace netpol::compiler {

// One pod's claim on an address.
struct IpClaim {
  std::string_view pod;  // "ns/name"
  bool running = false;  // phase Running (the IR carries no phase: false there)
};

// True when `a` keeps an address that `b` also claims: a Running pod before
// one that is not, then the smaller pod key. A strict order on distinct pods,
// so the owner never depends on the order in which claims are seen.
bool outranks(const IpClaim& a, const IpClaim& b);

// The local pod of `rules` whose chain for one direction (`ingress` or
// egress) traffic of `ip` is dispatched to, or nullptr when no pod with such
// a chain lists `ip`. The compiler gives a contested address to its owner's
// LocalPod only; an IR built by hand may list it on several pods, and then
// outranks() decides among those with the chain (no phases: key order).
const ir::LocalPod* ip_owner(const ir::RuleSet& rules, const IpAddr& ip, bool ingress);

}  // namespace netpol::compiler
