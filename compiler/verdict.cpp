#include "compiler/verdict.h"

#include "compiler/ip_owner.h"

namespace netpol::compiler {

namespace {

bool in_set(const ir::RuleSet& rs, const std::string& name, const ir::Element& probe, bool range) {
  auto it = rs.sets.find(name);
  if (it == rs.sets.end()) return false;
  if (!range) return it->second.elements.count(probe) != 0;
  for (const ir::Element& e : it->second.elements) {
    if (e.proto == 0 && e.family() == probe.first.family && e.first <= probe.first &&
        probe.first <= e.last) {
      return true;
    }
  }
  return false;
}

}  // namespace

namespace {

enum class Miss : uint8_t { None, Peer, Proto, NamedPort, Port };

// The renderer's rule, in its order: peer set, protocol, ports or named port.
// R: ir::Rule (NetworkPolicy) or ir::TierRule (ClusterNetworkPolicy).
template <typename R>
Miss miss(const ir::RuleSet& rs, const R& r, const IpAddr& peer, const IpAddr& dst, uint8_t proto,
          uint16_t port) {
  if (r.peer.kind == ir::PeerMatch::Kind::Set &&
      !in_set(rs, r.peer.set, ir::Element{peer, peer, 0, 0}, true)) {
    return Miss::Peer;
  }
  if (!r.proto) return Miss::None;
  if (*r.proto != proto) return Miss::Proto;
  if (!r.named_port_set.empty()) {
    return in_set(rs, r.named_port_set, ir::Element{dst, dst, proto, port}, false)
               ? Miss::None
               : Miss::NamedPort;
  }
  if (r.ports.empty()) return Miss::None;
  for (const ir::PortRange& p : r.ports) {
    if (p.first <= port && port <= p.last) return Miss::None;
  }
  return Miss::Port;
}

}  // namespace

namespace {

template <typename R>
std::string mismatch_text(const ir::RuleSet& rs, const R& r, const IpAddr& peer, const IpAddr& dst,
                          uint8_t proto, uint16_t port) {
  switch (miss(rs, r, peer, dst, proto, port)) {
    case Miss::None:
      return "";
    case Miss::Peer:
      return "the peer " + peer.str() + " is not in it";
    case Miss::Proto:
      return "another protocol";
    case Miss::NamedPort:
      return "the destination has no such named port " + std::to_string(port);
    case Miss::Port:
      return "another port";
  }
  return "";
}

}  // namespace

std::string rule_mismatch(const ir::RuleSet& rs, const ir::Rule& r, const IpAddr& peer,
                          const IpAddr& dst, uint8_t proto, uint16_t port) {
  return mismatch_text(rs, r, peer, dst, proto, port);
}

std::string rule_mismatch(const ir::RuleSet& rs, const ir::TierRule& r, const IpAddr& peer,
                          const IpAddr& dst, uint8_t proto, uint16_t port) {
  return mismatch_text(rs, r, peer, dst, proto, port);
}

bool matches(const ir::RuleSet& rs, const ir::Rule& r, const IpAddr& peer, const IpAddr& dst,
             uint8_t proto, uint16_t port) {
  return miss(rs, r, peer, dst, proto, port) == Miss::None;
}

const ir::TierRule* first_match(const ir::RuleSet& rs, const std::vector<ir::TierRule>& tier,
                                const IpAddr& peer, const IpAddr& dst, uint8_t proto,
                                uint16_t port) {
  for (const ir::TierRule& r : tier) {
    if (miss(rs, r, peer, dst, proto, port) == Miss::None) return &r;
  }
  return nullptr;
}

ChainVerdict evaluate(const ir::RuleSet& rules, bool ingress, const IpAddr& local_ip,
                      const IpAddr& peer, const IpAddr& dst, uint8_t proto, uint16_t port) {
  using How = ChainVerdict::How;
  ChainVerdict v;
  const ir::LocalPod* owner = ip_owner(rules, local_ip, ingress);
  if (!owner) return v;
  v.owner = owner;
  auto tier_match = [&](const std::optional<ir::TierChain>& t) -> const ir::TierRule* {
    return t ? first_match(rules, t->rules, peer, dst, proto, port) : nullptr;
  };
  if (const ir::TierRule* r = tier_match(owner->admin(ingress))) {
    if (r->action == k8s::CnpAction::Pass) {
      v.passed = r;
    } else {
      v.how = r->action == k8s::CnpAction::Accept ? How::TierAccepted : How::TierDenied;
      v.tier_rule = r;
      return v;
    }
  }
  if (!owner->chain(ingress)) {
    // Not isolated by NetworkPolicy: the Baseline tier (Pass there skips the
    // rest of the tier: allowed).
    if (const ir::TierRule* r = tier_match(owner->baseline(ingress))) {
      v.how = r->action == k8s::CnpAction::Deny ? How::TierDenied : How::TierAccepted;
      v.tier_rule = r;
      return v;
    }
    v.how = How::NotIsolated;
    return v;
  }
  v.chain = &*owner->chain(ingress);
  for (const ir::Rule& r : v.chain->rules) {
    if (matches(rules, r, peer, dst, proto, port)) {
      v.how = How::AllowedBy;
      v.rule = &r;
      return v;
    }
  }
  v.how = How::Denied;
  return v;
}

bool node_allows(const ir::RuleSet& rules, const IpAddr& src, const IpAddr& dst, uint8_t proto,
                 uint16_t port) {
  return evaluate(rules, false, src, dst, dst, proto, port).allowed() &&
         evaluate(rules, true, dst, src, dst, proto, port).allowed();
}

}  // namespace netpol::compiler
