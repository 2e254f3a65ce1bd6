// A packet-flow evaluator over the IR: decides whether a new connection is
// allowed, from the RuleSets of every node, the way the nftables rules built
// from that IR must decide it. The oracle of the compiler's semantic tests.
//
// It reads only the IR (never the Kubernetes objects), so a test that passes
// here passes because the IR says so. It never guesses: a rule naming a set
// the RuleSet does not hold is reported as a problem, not treated as a miss.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir.h"

namespace netpol::flow {

struct Packet {
  IpAddr src;
  IpAddr dst;
  uint8_t proto = 6;
  uint16_t port = 0;
};

struct Verdict {
  bool allowed = false;
  std::string why;                    // e.g. "denied by ingress of x/a on node-1"
  std::vector<std::string> problems;  // IR inconsistencies found on the way
};

// Egress is checked on the node where the source is a local pod (if it is
// isolated for egress there), ingress on the node where the destination is.
// Addresses that are no local pod anywhere (other hosts, hostNetwork pods) are
// not restricted on their side.
Verdict evaluate(const std::vector<const ir::RuleSet*>& nodes, const Packet& packet);

}  // namespace netpol::flow
