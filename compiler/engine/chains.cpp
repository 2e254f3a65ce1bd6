#include "compiler/engine/chains.h"

#include <algorithm>
#include <utility>

namespace netpol::compiler::engine {

namespace {

// Calls emit(peer, proto, ports, nport) for every (peer, protocol/port form)
// of `t`, in order, as the chain of local pod `p` needs it (ingress named
// ports resolve on p's own ports, egress ones stay NamedPort sets).
template <typename Emit>
void for_each_form(const PodRec* p, const RuleTemplate& t, bool ingress, Emit&& emit) {
  auto for_peer = [&](SetRec* peer) {
    if (t.all_ports) {
      emit(peer, std::nullopt, std::vector<ir::PortRange>{}, nullptr);
      return;
    }
    for (const auto& pr : t.protos) {
      if (pr.all) {
        emit(peer, pr.proto, std::vector<ir::PortRange>{}, nullptr);
        continue;
      }
      std::vector<ir::PortRange> ranges = pr.ranges;
      if (ingress && !pr.names.empty()) {
        // The destination is this pod: resolve names on its own ports.
        for (const auto& cp : p->ports)
          if (static_cast<uint8_t>(cp.protocol) == pr.proto &&
              std::binary_search(pr.names.begin(), pr.names.end(), cp.name))
            ranges.push_back({cp.port, cp.port});
        merge_ranges(ranges);
      }
      if (!ranges.empty()) emit(peer, pr.proto, std::move(ranges), nullptr);
      if (!ingress)
        for (SetRec* np : pr.nport) emit(peer, pr.proto, std::vector<ir::PortRange>{}, np);
    }
  };
  if (t.any_peer) {
    for_peer(nullptr);
  } else {
    for (SetRec* peer : t.peers) for_peer(peer);
  }
}

// Fills the match fields shared by ir::Rule and ir::TierRule.
template <typename R>
void set_match(R& r, SetRec* peer, std::optional<uint8_t> proto, std::vector<ir::PortRange> ports,
               SetRec* nport, std::vector<SetRec*>& refs) {
  if (peer) {
    r.peer.kind = ir::PeerMatch::Kind::Set;
    r.peer.set = peer->name;
    refs.push_back(peer);
  }
  r.proto = proto;
  r.ports = std::move(ports);
  if (nport) {
    r.named_port_set = nport->name;
    refs.push_back(nport);
  }
}

}  // namespace

std::optional<ir::Chain> build_chain(const PodRec* p, bool ingress, std::vector<SetRec*>& refs) {
  std::optional<ir::Chain> chain;
  for (const PolicyRec* pol : p->loc().selected_by) {
    if (!(ingress ? pol->src.affects_ingress : pol->src.affects_egress)) continue;
    if (!chain) chain.emplace();
    chain->policies.push_back(pol->key);
    // The policy's own netpol.io/audit wins over its namespace's.
    std::optional<k8s::AuditLevel> audit = audit_annotation(pol->src.annotations);
    if (!audit) audit = pol->ns->audit;
    const bool log_allowed = audit == k8s::AuditLevel::All;
    for (const RuleTemplate& t : ingress ? pol->ingress : pol->egress) {
      for_each_form(p, t, ingress,
                    [&](SetRec* peer, std::optional<uint8_t> proto,
                        std::vector<ir::PortRange> ports, SetRec* nport) {
                      ir::Rule r;
                      r.policy = pol->key;
                      r.rule_index = t.index;
                      r.log_allowed = log_allowed;
                      set_match(r, peer, proto, std::move(ports), nport, refs);
                      chain->rules.push_back(std::move(r));
                    });
    }
  }
  return chain;
}

std::optional<ir::TierChain> build_tier(const PodRec* p, k8s::CnpTier tier, bool ingress,
                                        std::vector<SetRec*>& refs) {
  std::optional<ir::TierChain> chain;
  // CNPs carry no annotations of their own: the subject pod's namespace opts
  // its pods in to logging what Accept rules allow (docs/audit-log.md).
  const bool log_accepts = p->ns->audit == k8s::AuditLevel::All;
  for (const CnpRec* cnp : p->loc().cnps) {
    if (cnp->src.tier != tier) continue;
    const auto& rules = ingress ? cnp->ingress : cnp->egress;
    if (rules.empty()) continue;
    if (!chain) chain.emplace();
    chain->policies.push_back(cnp->src.name);
    for (const CnpRuleTemplate& t : rules) {
      for_each_form(p, t.forms, ingress,
                    [&](SetRec* peer, std::optional<uint8_t> proto,
                        std::vector<ir::PortRange> ports, SetRec* nport) {
                      ir::TierRule r;
                      r.cnp = cnp->src.name;
                      r.name = t.name;
                      r.rule_index = t.forms.index;
                      r.action = t.action;
                      r.log_allowed = log_accepts && t.action == k8s::CnpAction::Accept;
                      set_match(r, peer, proto, std::move(ports), nport, refs);
                      chain->rules.push_back(std::move(r));
                    });
    }
  }
  return chain;
}

}  // namespace netpol::compiler::engine
