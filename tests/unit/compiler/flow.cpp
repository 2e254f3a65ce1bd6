#include "tests/unit/compiler/flow.h"

#include <algorithm>
#include <optional>
#include <string>

namespace netpol::flow {
namespace {

struct Found {
  const ir::RuleSet* rs = nullptr;
  const ir::LocalPod* pod = nullptr;
};

Found find_local(const std::vector<const ir::RuleSet*>& nodes, const IpAddr& ip) {
  for (const ir::RuleSet* rs : nodes)
    for (const auto& [key, pod] : rs->pods)
      if (std::find(pod.ips.begin(), pod.ips.end(), ip) != pod.ips.end()) return {rs, &pod};
  return {};
}

const ir::Set* find_set(const ir::RuleSet& rs, const std::string& name, Verdict& v) {
  auto it = rs.sets.find(name);
  if (it != rs.sets.end()) return &it->second;
  v.problems.push_back("rule references missing set " + name + " on node " + rs.node);
  return nullptr;
}

bool in_range(const ir::Element& e, const IpAddr& ip) {
  return ip.family == e.first.family && e.first <= ip && ip <= e.last;
}

template <typename R>
bool rule_matches(const ir::RuleSet& rs, const R& r, const IpAddr& peer, const Packet& p,
                  Verdict& v) {
  if (r.peer.kind == ir::PeerMatch::Kind::Set) {
    const ir::Set* s = find_set(rs, r.peer.set, v);
    if (!s) return false;
    bool hit = false;
    for (const ir::Element& e : s->elements) hit = hit || (e.proto == 0 && in_range(e, peer));
    if (!hit) return false;
  }
  if (!r.proto) return true;
  if (*r.proto != p.proto) return false;
  if (!r.named_port_set.empty()) {
    const ir::Set* s = find_set(rs, r.named_port_set, v);
    if (!s) return false;
    return s->elements.count(ir::Element{p.dst, p.dst, p.proto, p.port}) != 0;
  }
  if (r.ports.empty()) return true;
  for (const ir::PortRange& pr : r.ports)
    if (pr.first <= p.port && p.port <= pr.last) return true;
  return false;
}

bool chain_allows(const ir::RuleSet& rs, const ir::Chain& c, const IpAddr& peer, const Packet& p,
                  Verdict& v) {
  for (const ir::Rule& r : c.rules)
    if (rule_matches(rs, r, peer, p, v)) return true;
  return false;
}

// The first rule of a tier that matches, or null.
const ir::TierRule* tier_match(const ir::RuleSet& rs, const std::optional<ir::TierChain>& t,
                               const IpAddr& peer, const Packet& p, Verdict& v) {
  if (!t) return nullptr;
  for (const ir::TierRule& r : t->rules)
    if (rule_matches(rs, r, peer, p, v)) return &r;
  return nullptr;
}

// One direction of `f`'s pod, the tiers in the contract's order; "" when
// allowed, else why not.
std::string direction(const Found& f, bool ingress, const IpAddr& peer, const Packet& p,
                      Verdict& v) {
  if (!f.pod) return "";
  const std::string where =
      std::string(ingress ? "ingress" : "egress") + " of " + f.pod->key() + " on " + f.rs->node;
  if (const ir::TierRule* r = tier_match(*f.rs, f.pod->admin(ingress), peer, p, v)) {
    if (r->action == k8s::CnpAction::Accept) return "";
    if (r->action == k8s::CnpAction::Deny) return "denied by Admin cnp/" + r->cnp + " in " + where;
  }
  if (const auto& c = f.pod->chain(ingress)) {
    return chain_allows(*f.rs, *c, peer, p, v) ? "" : "denied by " + where;
  }
  if (const ir::TierRule* r = tier_match(*f.rs, f.pod->baseline(ingress), peer, p, v)) {
    if (r->action == k8s::CnpAction::Deny)
      return "denied by Baseline cnp/" + r->cnp + " in " + where;
  }
  return "";
}

}  // namespace

Verdict evaluate(const std::vector<const ir::RuleSet*>& nodes, const Packet& p) {
  Verdict v;
  Found src = find_local(nodes, p.src);
  if (std::string why = direction(src, false, p.dst, p, v); !why.empty()) {
    v.why = why;
    return v;
  }
  Found dst = find_local(nodes, p.dst);
  if (std::string why = direction(dst, true, p.src, p, v); !why.empty()) {
    v.why = why;
    return v;
  }
  v.allowed = true;
  v.why = "allowed";
  return v;
}

}  // namespace netpol::flow
