// policyc explain: would this connection be allowed, and why.
//
// Answers from the IR the compiler builds for the nodes involved (the same IR
// the renderer turns into the kernel's rules), evaluated the way those rules
// evaluate it: the source pod's egress chain on its node, then the destination
// pod's ingress chain on its node; a chain is found by address like the
// dispatch maps find it; within a chain the first matching rule allows. So its
// answer is the kernel's answer (the lab checks this with real probes).
//
// Pure: no I/O, never throws; bad queries are error values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir.h"
#include "compiler/verdict.h"
#include "k8s/model.h"
#include "k8s/status.h"

namespace netpol::policyc {

struct Query {
  std::string from;  // "ns/pod" or an IP address
  std::string to;    // "ns/pod" or an IP address
  uint16_t port = 0;
  k8s::Protocol protocol = k8s::Protocol::TCP;
  std::optional<Family> family;  // default: the addresses' family, IPv4 when both are possible
};

// "80/TCP", "53/udp", "80" (TCP); nullopt for anything else.
std::optional<std::pair<uint16_t, k8s::Protocol>> parse_port(std::string_view text);

// One direction of a connection as the chain the kernel walks decides it:
// the source's egress chain on its node, or the destination's ingress chain
// on its node. The compiler's verdict (compiler/verdict.h: how, owner,
// chain, rule, tier_rule, passed), plus whether netpol enforces that end at
// all and the rules it was read off. Points into the Explainer's compiled
// rules (valid as long as the Explainer lives).
struct DirectionVerdict : compiler::ChainVerdict {
  // False: the end is no pod netpol enforces (an address, hostNetwork, no
  // node): nothing decides, allowed (`how` stays NotIsolated).
  bool enforced = false;
  const ir::RuleSet* rules = nullptr;  // the node's rules (null when not enforced)
};

// "x/p ingress[2]"
std::string rule_name(const ir::Rule& r, bool ingress);
// "Admin cnp/guardrails rule deny-db: Deny" (the tier is the rule's chain's).
std::string tier_text(const ir::TierRule& r);

struct Explanation {
  bool allowed = false;
  // Human-readable reasons, first the connection as resolved, then one line
  // per direction (and indented details); no trailing newlines.
  std::vector<std::string> lines;
};

class Explainer {
 public:
  explicit Explainer(k8s::Objects objects);
  Result<Explanation> explain(const Query& q);

  // The evaluation explain() rests on, for one direction: `local` is the pod
  // whose chain is walked (the source for egress, the destination for
  // ingress; null for a bare address) at `local_ip`; `peer` the other end's
  // address; `dst` the destination's (named ports resolve on it). matrix and
  // diff call this too, so their answers are explain's.
  DirectionVerdict evaluate(bool ingress, const k8s::Pod* local, const IpAddr& local_ip,
                            const IpAddr& peer, const IpAddr& dst, uint8_t proto, uint16_t port);

  // The local pod whose ingress (or egress) chain `ip` dispatches to on
  // `node`, as evaluate() finds it; null when none (not isolated).
  const ir::LocalPod* chain_owner_of(const std::string& node, const IpAddr& ip, bool ingress);

  // The rules compiled for `node` (cached; references stay valid).
  const ir::RuleSet& rules_for(const std::string& node);
  const k8s::Objects& objects() const { return objects_; }

 private:
  k8s::Objects objects_;
  std::map<std::string, ir::RuleSet> by_node_;
};

}  // namespace netpol::policyc
