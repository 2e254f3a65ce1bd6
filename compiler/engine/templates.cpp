#include "compiler/engine/templates.h"

#include <algorithm>
#include <map>
#include <variant>

namespace netpol::compiler::engine {

namespace {

// Sorts, merges and deduplicates what make_*_template collected, and interns
// the egress named-port sets through `intern`.
template <typename Intern>
void finish_protos(std::map<uint8_t, RuleTemplate::Proto>& protos, RuleTemplate& t, bool ingress,
                   Intern&& intern) {
  for (auto& [num, pr] : protos) {
    if (pr.all) {
      // Every port of the protocol already covers all ranges and names.
      pr.ranges.clear();
      pr.names.clear();
    }
    merge_ranges(pr.ranges);
    std::sort(pr.names.begin(), pr.names.end());
    pr.names.erase(std::unique(pr.names.begin(), pr.names.end()), pr.names.end());
    if (!ingress)
      for (const auto& name : pr.names)
        pr.nport.push_back(intern(name, static_cast<k8s::Protocol>(num)));
    t.protos.push_back(std::move(pr));
  }
}

}  // namespace

CnpRuleTemplate make_cnp_template(SetRegistry& sets, CnpRec* cnp, const k8s::CnpRule& rule,
                                  uint32_t index, bool ingress) {
  CnpRuleTemplate c;
  c.name = rule.name;
  c.action = rule.action;
  RuleTemplate& t = c.forms;
  t.index = index;
  for (const auto& peer : rule.peers) {
    if (peer.unknown()) {
      if (rule.action != k8s::CnpAction::Accept) c.match_all = true;
      continue;
    }
    SetRec* s = sets.cnp_peer(cnp->refs, peer);
    if (s && std::find(t.peers.begin(), t.peers.end(), s) == t.peers.end()) t.peers.push_back(s);
  }
  if (c.match_all) {
    t.any_peer = true;
    t.all_ports = true;
    return c;
  }
  t.all_ports = rule.ports.empty();
  std::map<uint8_t, RuleTemplate::Proto> protos;
  for (const auto& pp : rule.ports) {
    if (pp.named()) {
      for (k8s::Protocol p : {k8s::Protocol::TCP, k8s::Protocol::UDP, k8s::Protocol::SCTP}) {
        auto& pr = protos[static_cast<uint8_t>(p)];
        pr.proto = static_cast<uint8_t>(p);
        pr.names.push_back(pp.named_port);
      }
      continue;
    }
    auto& pr = protos[static_cast<uint8_t>(*pp.protocol)];
    pr.proto = static_cast<uint8_t>(*pp.protocol);
    pr.ranges.push_back({pp.port, std::max(pp.port, pp.end_port)});
  }
  finish_protos(protos, t, ingress, [&](const std::string& name, k8s::Protocol proto) {
    return sets.named_port(cnp->refs, name, proto);
  });
  return c;
}

RuleTemplate make_template(SetRegistry& sets, PolicyRec* pol, const k8s::PolicyRule& rule,
                           uint32_t index, bool ingress) {
  RuleTemplate t;
  t.index = index;
  t.any_peer = rule.peers.empty();
  for (const auto& peer : rule.peers) {
    SetRec* s = sets.peer(pol, peer);
    if (s && std::find(t.peers.begin(), t.peers.end(), s) == t.peers.end()) t.peers.push_back(s);
  }
  t.all_ports = rule.ports.empty();
  std::map<uint8_t, RuleTemplate::Proto> protos;
  for (const auto& pp : rule.ports) {
    auto& pr = protos[static_cast<uint8_t>(pp.protocol)];
    pr.proto = static_cast<uint8_t>(pp.protocol);
    if (std::holds_alternative<std::monostate>(pp.port)) {
      pr.all = true;
    } else if (const auto* n = std::get_if<uint16_t>(&pp.port)) {
      uint16_t last = pp.end_port ? std::max(*n, *pp.end_port) : *n;
      pr.ranges.push_back({*n, last});
    } else {
      pr.names.push_back(std::get<std::string>(pp.port));
    }
  }
  finish_protos(protos, t, ingress, [&](const std::string& name, k8s::Protocol proto) {
    return sets.named_port(pol, name, proto);
  });
  return t;
}

}  // namespace netpol::compiler::engine
