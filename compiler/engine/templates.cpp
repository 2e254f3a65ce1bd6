#include "compiler/engine/templates.h"

#include <algorithm>
#include <map>
#include <variant>

namespace netpol::compiler::engine {

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
        pr.nport.push_back(sets.named_port(pol, name, static_cast<k8s::Protocol>(num)));
    t.protos.push_back(std::move(pr));
  }
  return t;
}

}  // namespace netpol::compiler::engine
