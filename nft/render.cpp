#include "nft/render.h"

#include <utility>

#include "compiler/hash.h"
#include "compiler/ip_owner.h"

namespace netpol::nft {

namespace {

constexpr Family kFamilies[] = {Family::V4, Family::V6};
constexpr Direction kDirections[] = {Direction::Ingress, Direction::Egress};

constexpr uint8_t kIpv6Icmp = 58;

const char* family_suffix(Family f) {
  return f == Family::V4 ? "v4" : "v6";
}
const char* family_text(Family f) {
  return f == Family::V4 ? "IPv4" : "IPv6";
}

KeyType addr_type(Family f) {
  return f == Family::V4 ? KeyType::Ipv4Addr : KeyType::Ipv6Addr;
}

Field saddr(Family f) {
  return f == Family::V4 ? Field::IpSaddr : Field::Ip6Saddr;
}
Field daddr(Family f) {
  return f == Family::V4 ? Field::IpDaddr : Field::Ip6Daddr;
}

// The peer of an ingress rule is the source; of an egress rule, the destination.
Field peer_field(Direction d, Family f) {
  return d == Direction::Ingress ? saddr(f) : daddr(f);
}

Rule make_rule(std::string chain, std::vector<Expr> exprs, std::string_view comment) {
  return Rule{std::move(chain), std::move(exprs), clean_comment(comment)};
}

// The fixed dispatch chain. Egress before ingress: a connection between two
// pods needs the source's egress AND the destination's ingress, and `return`
// from the first pod chain brings the packet back here for the second.
void add_forward_chain(Ruleset& rs) {
  const std::string name = kForwardChain;
  rs.chains.emplace(
      name,
      Chain{name,
            clean_comment("netpol dispatch: conntrack, node-local sources, then the pod "
                          "chains of the source (egress) and destination (ingress)"),
            BaseHook{ChainType::Filter, Hook::Forward, kPriorityFilter, ChainPolicy::Accept}});
  rs.append(make_rule(name, {CtStateMatch{kCtEstablished | kCtRelated}, Verdict::accept()},
                      "replies and related packets of allowed connections"));
  rs.append(make_rule(name, {CtStateMatch{kCtInvalid}, Verdict::drop()},
                      "packets conntrack cannot place"));
  rs.append(make_rule(name, {FibSaddrLocal{}, Verdict::accept()},
                      "from this node to its pods (kubelet probes)"));
  // Conntrack leaves IPv6 neighbour discovery (and MLD) untracked, so neither
  // rule above lets it through; on bridged pod networks pods resolve each
  // other's addresses across this hook, and an isolated pod must stay reachable.
  rs.append(make_rule(name,
                      {L4ProtoMatch{kIpv6Icmp}, CtStateMatch{kCtUntracked}, Verdict::accept()},
                      "IPv6 neighbour discovery (untracked ICMPv6) is not pod traffic"));
  for (Direction d : {Direction::Egress, Direction::Ingress}) {
    for (Family f : kFamilies) {
      Field key = d == Direction::Egress ? saddr(f) : daddr(f);
      std::string comment = std::string(d == Direction::Egress ? "egress policy of the source pod"
                                                               : "ingress policy of the "
                                                                 "destination pod") +
                            " (" + family_text(f) + ")";
      rs.append(make_rule(name, {VmapLookup{key, dispatch_map_name(d, f)}}, comment));
    }
  }
}

void add_dispatch_maps(Ruleset& rs) {
  for (Direction d : kDirections) {
    for (Family f : kFamilies) {
      std::string name = dispatch_map_name(d, f);
      std::string comment = std::string("local pod ") + family_text(f) + " -> its " + to_string(d) +
                            " chain (only pods isolated for " + to_string(d) + ")";
      rs.sets.emplace(
          name, Set{name, {addr_type(f)}, false, DataType::Verdict, clean_comment(comment), {}});
    }
  }
}

void add_ir_set(Ruleset& rs, const ir::Set& s) {
  for (Family f : kFamilies) {
    Set out;
    out.name = family_set_name(s.name, f);
    out.comment = clean_comment(s.comment);
    switch (s.kind) {
      case ir::SetKind::Pods:
        out.key = {addr_type(f)};
        break;
      case ir::SetKind::Cidr:
        out.key = {addr_type(f)};
        out.interval = true;
        break;
      case ir::SetKind::NamedPort:
        out.key = {addr_type(f), KeyType::InetProto, KeyType::InetService};
        break;
    }
    for (const ir::Element& e : s.elements) {
      if (e.family() != f) continue;
      Element el;
      el.key.push_back(e.first);
      if (s.kind == ir::SetKind::Cidr && e.last != e.first) el.key_end.push_back(e.last);
      if (s.kind == ir::SetKind::NamedPort) {
        el.key.push_back(Proto{e.proto});
        el.key.push_back(Port{e.port});
      }
      out.elements.insert(std::move(el));
    }
    rs.sets.emplace(out.name, std::move(out));
  }
}

// The `return` rules one IR rule becomes: one per family when it matches an
// address (sets are per family), else a single family-less rule. A rule that
// logs what it allows becomes two: the logging one under the rate limit, and
// the same match without the limit (counted) for connections over it.
void add_allow_rules(Ruleset& rs, Direction d, const std::string& chain, const std::string& pod_key,
                     const ir::Rule& r, const AuditOptions& audit) {
  // Cut a long policy name rather than the rule reference after it.
  std::string where = std::string(" ") + to_string(d) + "[" + std::to_string(r.rule_index) + "]";
  std::string comment = clean_comment(r.policy).substr(0, kMaxCommentBytes - where.size()) + where;
  bool per_family = r.peer.kind == ir::PeerMatch::Kind::Set || !r.named_port_set.empty();
  for (Family f : kFamilies) {
    std::vector<Expr> exprs;
    if (r.peer.kind == ir::PeerMatch::Kind::Set) {
      exprs.push_back(SetMatch{{peer_field(d, f)}, family_set_name(r.peer.set, f)});
    }
    // Kept even with a named port: the set may hold the same port name for
    // another protocol, and the policy only admits its own.
    if (r.proto) exprs.push_back(L4ProtoMatch{*r.proto});
    if (!r.ports.empty()) {
      DportMatch m;
      for (const ir::PortRange& p : r.ports) m.ports.push_back(PortRange{p.first, p.last});
      exprs.push_back(std::move(m));
    }
    if (!r.named_port_set.empty()) {
      // A named port resolves on the destination pod, whichever side is local.
      exprs.push_back(SetMatch{{daddr(f), Field::MetaL4Proto, Field::ThDport},
                               family_set_name(r.named_port_set, f)});
    }
    // `return`, not accept: the base chain must still evaluate the other direction.
    if (r.log_allowed) {
      std::vector<Expr> logged = exprs;
      logged.push_back(LimitMatch{audit.rate, audit.burst});
      logged.push_back(
          LogStmt{audit.group, audit_allow_prefix(d, pod_key, r.policy, r.rule_index)});
      logged.push_back(Verdict::ret());
      rs.append(make_rule(chain, std::move(logged), comment));
      exprs.push_back(CounterStmt{});
    }
    exprs.push_back(Verdict::ret());
    rs.append(make_rule(chain, std::move(exprs), comment));
    if (!per_family) break;
  }
}

// The last rules of every pod chain: what no policy allows is logged (under
// the chain's rate limit) and dropped; what is over the limit is counted and
// dropped, so the audit listener can report how many attempts went unlogged.
void add_deny_rule(Ruleset& rs, Direction d, const std::string& chain, const std::string& pod_key,
                   const AuditOptions& audit) {
  rs.append(make_rule(chain,
                      {LimitMatch{audit.rate, audit.burst},
                       LogStmt{audit.group, audit_deny_prefix(d, pod_key)}, Verdict::drop()},
                      "no policy allows this"));
  rs.append(make_rule(chain, {CounterStmt{}, Verdict::drop()},
                      "no policy allows this (over the audit log rate)"));
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

void add_pod(Ruleset& rs, const ir::RuleSet& rules, const ir::LocalPod& pod, Direction d,
             const ir::Chain& ir_chain, const AuditOptions& audit,
             std::vector<std::string>& warnings) {
  std::string name = pod_chain_name(d, pod.ns, pod.name);
  std::string comment = std::string(to_string(d)) + " of pod " + pod.key() + "; isolated by " +
                        join(ir_chain.policies, ", ");
  rs.chains.emplace(name, Chain{name, clean_comment(comment), std::nullopt});
  const std::string key = pod.key();
  for (const ir::Rule& r : ir_chain.rules) add_allow_rules(rs, d, name, key, r, audit);
  add_deny_rule(rs, d, name, key, audit);

  for (const IpAddr& ip : pod.ips) {
    Set& map = rs.sets.at(dispatch_map_name(d, ip.family));
    Element el{{ip}, {}, Verdict::jump(name)};
    auto clash = map.elements.lower_bound(Element{{ip}, {}, std::nullopt});
    if (clash != map.elements.end() && clash->key == el.key) {
      // A second claim on the address (only a hand-built IR has one: the
      // compiler gives a contested address to its owner alone). Pods are
      // visited in key order, so the owner came first and holds the entry.
      const ir::LocalPod* owner = compiler::ip_owner(rules, ip, d == Direction::Ingress);
      warnings.push_back(to_string(d) + std::string(" of ") + pod.key() + ": address " + ip.str() +
                         " already dispatches to " + pod_chain_name(d, owner->ns, owner->name) +
                         "; not enforced for this pod");
      continue;
    }
    map.elements.insert(std::move(el));
  }
}

}  // namespace

const char* to_string(Direction d) {
  return d == Direction::Ingress ? "ingress" : "egress";
}

std::string pod_chain_name(Direction d, std::string_view ns, std::string_view pod) {
  std::string key = std::string(ns) + "/" + std::string(pod);
  std::string name = std::string(to_string(d)) + "-" + short_hash(key) + "-";
  size_t room = kMaxPodChainBytes > name.size() ? kMaxPodChainBytes - name.size() : 0;
  name += key.substr(0, room);
  return name;
}

std::string dispatch_map_name(Direction d, Family f) {
  return std::string(to_string(d)) + "-" + family_suffix(f);
}

std::string family_set_name(std::string_view ir_set, Family f) {
  return std::string(ir_set) + "-" + family_suffix(f);
}

std::string audit_deny_prefix(Direction d, std::string_view pod_key) {
  return std::string(kAuditPrefixTag) + " deny " + to_string(d) + " " + short_hash(pod_key);
}

std::string audit_allow_prefix(Direction d, std::string_view pod_key, std::string_view policy_key,
                               uint32_t rule_index) {
  return std::string(kAuditPrefixTag) + " allow " + to_string(d) + " " + short_hash(pod_key) + " " +
         short_hash(policy_key) + " " + std::to_string(rule_index);
}

Rendered render(const ir::RuleSet& rules) {
  return render(rules, AuditOptions{});
}

Rendered render(const ir::RuleSet& rules, const AuditOptions& audit) {
  Rendered out;
  Ruleset& rs = out.ruleset;
  rs.table = Table{TableFamily::Inet, kTableName, kTableComment};
  add_forward_chain(rs);
  add_dispatch_maps(rs);
  for (const auto& [_, s] : rules.sets) add_ir_set(rs, s);
  for (const auto& [_, pod] : rules.pods) {
    if (pod.ingress) add_pod(rs, rules, pod, Direction::Ingress, *pod.ingress, audit, out.warnings);
    if (pod.egress) add_pod(rs, rules, pod, Direction::Egress, *pod.egress, audit, out.warnings);
  }
  return out;
}

}  // namespace netpol::nft
