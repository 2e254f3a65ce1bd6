#include "compiler/policyc/explain.h"

#include <algorithm>
#include <charconv>

#include "compiler/compiler.h"
#include "compiler/ip_owner.h"
#include "compiler/verdict.h"

namespace netpol::policyc {

namespace {

// One end of the connection as resolved.
struct End {
  std::string label;  // "x/a" or "external"
  IpAddr ip;
  const k8s::Pod* pod = nullptr;  // holds the address (enforceable, or hostNetwork by name)
};

std::string family_text(Family f) {
  return f == Family::V4 ? "IPv4" : "IPv6";
}

template <typename R>
std::string ports_text(const R& r) {
  if (!r.proto) return "every port and protocol";
  std::string out = ir::proto_name(*r.proto);
  if (!r.named_port_set.empty())
    return out + " named port (destination pods in " + r.named_port_set + ")";
  if (r.ports.empty()) return out + " every port";
  out += " port ";
  for (size_t i = 0; i < r.ports.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(r.ports[i].first);
    if (r.ports[i].last != r.ports[i].first) out += "-" + std::to_string(r.ports[i].last);
  }
  return out;
}

template <typename R>
std::string peer_text(const ir::RuleSet& rs, const R& r, bool ingress) {
  std::string dir = ingress ? "from " : "to ";
  if (r.peer.kind == ir::PeerMatch::Kind::Any) return dir + "any peer";
  auto it = rs.sets.find(r.peer.set);
  return dir + (it == rs.sets.end() ? r.peer.set : it->second.comment);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

}  // namespace

std::string rule_name(const ir::Rule& r, bool ingress) {
  return r.policy + " " + (ingress ? "ingress" : "egress") + "[" + std::to_string(r.rule_index) +
         "]";
}

std::string tier_text(const ir::TierRule& r) {
  return "cnp/" + r.cnp + (r.name.empty() ? "" : " rule " + r.name) + ": " +
         k8s::to_string(r.action);
}

std::optional<std::pair<uint16_t, k8s::Protocol>> parse_port(std::string_view text) {
  std::string_view num = text, proto = "TCP";
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    num = text.substr(0, slash);
    proto = text.substr(slash + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
  if (ec != std::errc() || end != num.data() + num.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  std::string upper(proto);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto p = k8s::protocol_from_string(upper);
  if (!p) return std::nullopt;
  return std::make_pair(static_cast<uint16_t>(value), *p);
}

Explainer::Explainer(k8s::Objects objects) : objects_(std::move(objects)) {}

const ir::RuleSet& Explainer::rules_for(const std::string& node) {
  auto it = by_node_.find(node);
  if (it == by_node_.end()) it = by_node_.emplace(node, compiler::compile(objects_, node)).first;
  return it->second;
}

const ir::LocalPod* Explainer::chain_owner_of(const std::string& node, const IpAddr& ip,
                                              bool ingress) {
  return compiler::ip_owner(rules_for(node), ip, ingress);
}

DirectionVerdict Explainer::evaluate(bool ingress, const k8s::Pod* local, const IpAddr& local_ip,
                                     const IpAddr& peer, const IpAddr& dst, uint8_t proto,
                                     uint16_t port) {
  DirectionVerdict v;
  if (!local || local->host_network || local->node_name.empty()) return v;
  const ir::RuleSet& rs = rules_for(local->node_name);
  // The one evaluator (compiler/verdict.h); the agent's flow cutting uses it too.
  static_cast<compiler::ChainVerdict&>(v) =
      compiler::evaluate(rs, ingress, local_ip, peer, dst, proto, port);
  v.enforced = true;
  v.rules = &rs;
  return v;
}

Result<Explanation> Explainer::explain(const Query& q) {
  // Resolve both ends to a pod (and its address of the chosen family) or an address.
  struct Spec {
    const k8s::Pod* pod = nullptr;
    std::optional<IpAddr> ip;
  };
  auto resolve = [&](const std::string& text, const char* which) -> Result<Spec> {
    Spec s;
    if (auto ip = IpAddr::parse(text)) {
      s.ip = *ip;
      // An address a pod holds is that pod (the first by name, like the dispatch maps).
      const k8s::Pod* best = nullptr;
      for (const k8s::Pod& p : objects_.pods) {
        if (!p.enforceable()) continue;
        if (std::find(p.ips.begin(), p.ips.end(), *ip) == p.ips.end()) continue;
        if (!best || p.key() < best->key()) best = &p;
      }
      s.pod = best;
      return s;
    }
    for (const k8s::Pod& p : objects_.pods) {
      if (p.key() == text) s.pod = &p;
    }
    if (!s.pod) {
      return StatusError{std::string(which) + " " + text +
                         ": no such pod in the manifests and not an IP address"};
    }
    if (s.pod->ips.empty())
      return StatusError{std::string(which) + " " + text + ": the pod has no IP"};
    if (!s.pod->host_network && !s.pod->enforceable()) {
      return StatusError{std::string(which) + " " + text + ": the pod is " +
                         k8s::to_string(s.pod->phase) + ", it holds no address"};
    }
    return s;
  };
  auto from = resolve(q.from, "--from");
  if (!from.ok()) return StatusError{from.message()};
  auto to = resolve(q.to, "--to");
  if (!to.ok()) return StatusError{to.message()};

  // The family: fixed by a literal address, else by --family, else IPv4 when both have one.
  auto has = [](const Spec& s, Family f) {
    if (s.ip) return s.ip->family == f;
    return std::any_of(s.pod->ips.begin(), s.pod->ips.end(),
                       [&](const IpAddr& a) { return a.family == f; });
  };
  std::optional<Family> fam = q.family;
  if (from.value().ip && !fam) fam = from.value().ip->family;
  if (to.value().ip && !fam) fam = to.value().ip->family;
  if (!fam)
    fam = has(from.value(), Family::V4) && has(to.value(), Family::V4) ? Family::V4 : Family::V6;
  if (!has(from.value(), *fam) || !has(to.value(), *fam)) {
    return StatusError{"no " + family_text(*fam) + " address on both ends"};
  }
  auto end_of = [&](const Spec& s) {
    End e;
    e.pod = s.pod;
    if (s.ip) {
      e.ip = *s.ip;
    } else {
      for (const IpAddr& a : s.pod->ips) {
        if (a.family == *fam) {
          e.ip = a;
          break;
        }
      }
    }
    e.label = e.pod ? e.pod->key() : "external";
    return e;
  };
  End src = end_of(from.value()), dst = end_of(to.value());
  const uint8_t proto = static_cast<uint8_t>(q.protocol);

  Explanation out;
  auto describe = [](const End& e) {
    std::string s = e.label + " (" + e.ip.str();
    if (e.pod && !e.pod->node_name.empty()) s += ", node " + e.pod->node_name;
    if (e.pod && e.pod->host_network) s += ", hostNetwork";
    return s + ")";
  };
  out.lines.push_back("connection: " + describe(src) + " -> " + describe(dst) + " " +
                      k8s::to_string(q.protocol) + "/" + std::to_string(q.port) + " over " +
                      family_text(*fam));

  // Traffic from a node to its own pods never meets a pod chain (filter-forward
  // accepts it: fib saddr type local). hostNetwork pods send from the node.
  if (src.pod && src.pod->host_network && dst.pod && !dst.pod->node_name.empty() &&
      src.pod->node_name == dst.pod->node_name) {
    out.allowed = true;
    out.lines.push_back("source is the node " + src.pod->node_name +
                        " itself (hostNetwork): traffic from a node to its own pods is always "
                        "allowed");
    return out;
  }

  // One direction: the chain `ip` dispatches to on `node`, evaluated in order.
  auto check = [&](bool ingress, const End& local, const IpAddr& peer) -> bool {
    using How = DirectionVerdict::How;
    const std::string dir = ingress ? "ingress" : "egress";
    const DirectionVerdict v = evaluate(ingress, local.pod, local.ip, peer, dst.ip, proto, q.port);
    if (!v.enforced) {
      out.lines.push_back(dir + " of " + local.label + ": not a pod netpol enforces: allowed");
      return true;
    }
    const ir::RuleSet& rs = *v.rules;
    const std::string where = dir + " of " + local.label + " (node " + local.pod->node_name + ")";
    auto tier_of = [&](const ir::TierRule* r) {
      const auto& a = v.owner->admin(ingress);
      return a && r >= a->rules.data() && r < a->rules.data() + a->rules.size() ? "Admin "
                                                                                : "Baseline ";
    };
    if (v.how == How::TierAccepted || v.how == How::TierDenied) {
      const ir::TierRule& r = *v.tier_rule;
      std::string pass = v.passed ? "Admin " + tier_text(*v.passed) + " -> " : "";
      out.lines.push_back(where + ": " + pass + tier_of(&r) + tier_text(r) + " (" +
                          peer_text(rs, r, ingress) + ", " + ports_text(r) +
                          "): " + (v.allowed() ? "allowed" : "denied"));
      return v.allowed();
    }
    const std::string pass = v.passed ? "Admin " + tier_text(*v.passed) + " -> " : "";
    if (v.how == How::NotIsolated) {
      const bool base = v.owner && v.owner->baseline(ingress);
      out.lines.push_back(where + ": " + pass + "not isolated (no policy selects it for " + dir +
                          ")" + (base ? ", no Baseline rule matches" : "") + ": allowed");
      return true;
    }
    const ir::Chain& chain = *v.chain;
    std::string head = where + ": " + (v.passed ? pass + "NetworkPolicy " : "") + "isolated by " +
                       join(chain.policies);
    if (v.owner->key() != local.label) head += " (address dispatched to " + v.owner->key() + ")";
    if (v.how == How::AllowedBy) {
      out.lines.push_back(head + "; allowed by " + rule_name(*v.rule, ingress) + ": " +
                          peer_text(rs, *v.rule, ingress) + ", " + ports_text(*v.rule));
      return true;
    }
    out.lines.push_back(head + "; no rule allows it: denied");
    for (const std::string& policy : chain.policies) {
      bool any = false;
      for (const ir::Rule& r : chain.rules) {
        if (r.policy != policy) continue;
        any = true;
        out.lines.push_back("  " + rule_name(r, ingress) + " " + peer_text(rs, r, ingress) + ", " +
                            ports_text(r) + ": " +
                            compiler::rule_mismatch(rs, r, peer, dst.ip, proto, q.port));
      }
      if (!any) out.lines.push_back("  " + policy + " allows no " + dir + " traffic");
    }
    return false;
  };
  // Egress first, as filter-forward does: both must allow.
  bool egress_ok = check(false, src, dst.ip);
  bool ingress_ok = egress_ok ? check(true, dst, src.ip) : false;
  if (!egress_ok) out.lines.push_back("ingress of " + dst.label + ": not reached (egress denied)");
  out.allowed = egress_ok && ingress_ok;
  if (!out.allowed) {
    out.lines.push_back(
        "lifecycle: a connection like this one already established when a change denied it is "
        "cut (netpol-agent --cut-flows deletes its conntrack entry; docs/flows.md)");
  }
  return out;
}

}  // namespace netpol::policyc
