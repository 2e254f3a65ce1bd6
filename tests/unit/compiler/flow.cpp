#include "tests/unit/compiler/flow.h"

#include <algorithm>

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

bool rule_matches(const ir::RuleSet& rs, const ir::Rule& r, const IpAddr& peer, const Packet& p,
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

}  // namespace

Verdict evaluate(const std::vector<const ir::RuleSet*>& nodes, const Packet& p) {
  Verdict v;
  Found src = find_local(nodes, p.src);
  if (src.pod && src.pod->egress && !chain_allows(*src.rs, *src.pod->egress, p.dst, p, v)) {
    v.why = "denied by egress of " + src.pod->key() + " on " + src.rs->node;
    return v;
  }
  Found dst = find_local(nodes, p.dst);
  if (dst.pod && dst.pod->ingress && !chain_allows(*dst.rs, *dst.pod->ingress, p.src, p, v)) {
    v.why = "denied by ingress of " + dst.pod->key() + " on " + dst.rs->node;
    return v;
  }
  v.allowed = true;
  v.why = "allowed";
  return v;
}

}  // namespace netpol::flow
