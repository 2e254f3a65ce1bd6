// Which pod owns an address that several pods claim: the one rule the
// compiler (which LocalPod keeps the IP), the renderer (which pod chain a
// dispatch map jumps to) and `policyc explain` (which chain a packet is
// judged by) all follow. Pure; knows nothing of nftables.
#pragma once

#include <string_view>

#include "compiler/ir.h"

namespace netpol::compiler {

// One pod's claim on an address. The IR carries no phases: claims made from
// it are all alike (key order decides).
struct IpClaim {
  std::string_view pod;      // "ns/name"
  bool running = false;      // phase Running
  bool pending = false;      // phase Pending (IPs reported early, or bound by netpol-cni)
  bool terminating = false;  // metadata.deletionTimestamp set
};

// True when `a` keeps an address that `b` also claims. By rank, then the
// smaller pod key:
//   1. Running and not terminating: the API says it has the address now,
//      and no binding of another pod overrides that;
//   2. Pending (its IPs from the API or from netpol-cni): starting up;
//   3. neither (Unknown phase, or a claim from the IR);
//   4. terminating (deletionTimestamp set): its IPs are being released, so a
//      new pod that reuses one owns it from its first event on, whether the
//      old pod's DELETED comes before or after.
// (Succeeded and Failed pods claim no address at all: not enforceable.)
// A strict order on distinct pods, so the owner never depends on the order
// in which claims are seen.
bool outranks(const IpClaim& a, const IpClaim& b);

// The local pod of `rules` whose chain for one direction (`ingress` or
// egress) traffic of `ip` is dispatched to, or nullptr when no pod with such
// a chain lists `ip`. The compiler gives a contested address to its owner's
// LocalPod only; an IR built by hand may list it on several pods, and then
// outranks() decides among those with the chain (no phases: key order).
const ir::LocalPod* ip_owner(const ir::RuleSet& rules, const IpAddr& ip, bool ingress);

}  // namespace netpol::compiler
