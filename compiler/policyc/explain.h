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

 private:
  const ir::RuleSet& rules_for(const std::string& node);

  k8s::Objects objects_;
  std::map<std::string, ir::RuleSet> by_node_;
};

}  // namespace netpol::policyc
