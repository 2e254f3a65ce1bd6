#include "nft/render.h"

#include <utility>

#include "compiler/hash.h"
#include "compiler/ip_owner.h"
#include "nft/family.h"

namespace netpol::nft {

namespace {

constexpr Direction kDirections[] = {Direction::Ingress, Direction::Egress};

constexpr uint8_t kIpv6Icmp = 58;

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
  // After a connection's entry is deleted (docs/flows.md), loose pickup would
  // let a mid-stream segment from the other end start an entry the other way
  // round, and the denied side's packets would then pass as its replies.
  rs.append(make_rule(
      name, {CtStateMatch{kCtNew}, TcpFlagsMatch{kTcpSyn | kTcpAck, kTcpSyn}, Verdict::drop()},
      "a TCP packet that is not a SYN starts no connection"));
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
      case ir::SetKind::Nodes:
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

// The matches of an IR rule (ir::Rule or ir::TierRule) for family `f`.
template <typename R>
std::vector<Expr> match_exprs(Direction d, Family f, const R& r) {
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
  return exprs;
}

// One rule per family when it matches an address (sets are per family), else
// a single family-less rule.
template <typename R>
bool per_family(const R& r) {
  return r.peer.kind == ir::PeerMatch::Kind::Set || !r.named_port_set.empty();
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
  for (Family f : kFamilies) {
    std::vector<Expr> exprs = match_exprs(d, f, r);
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
    if (!per_family(r)) break;
  }
}

// "cnp/NAME rule RULE: Deny (Admin ingress[0])"; the rule reference is kept
// whole when a long name must be cut.
std::string tier_rule_comment(k8s::CnpTier tier, Direction d, const ir::TierRule& r) {
  std::string tail = std::string(": ") + k8s::to_string(r.action) + " (" + k8s::to_string(tier) +
                     " " + to_string(d) + "[" + std::to_string(r.rule_index) + "])";
  std::string head = "cnp/" + r.cnp + (r.name.empty() ? "" : " rule " + r.name);
  return clean_comment(head).substr(0, kMaxCommentBytes - tail.size()) + tail;
}

// The rules of a tier chain: each TierRule's match with its action's verdict.
// `pass` is where Pass (and, in the Admin tier, the end of the chain) goes:
// the pod's NetworkPolicy chain, else its Baseline chain, else back to the
// base chain (nullopt: `return`).
// A Deny rule logs what it drops and an Accept rule with log_allowed what it
// lets through, as the pod chains do: the match under the rate limit with a
// log statement, then the same match counted for what is over the limit.
void add_tier_rules(Ruleset& rs, k8s::CnpTier tier, Direction d, const std::string& chain,
                    const std::string& pod_key, const ir::TierChain& t,
                    const std::optional<std::string>& pass, const AuditOptions& audit) {
  for (const ir::TierRule& r : t.rules) {
    Verdict v = Verdict::ret();
    if (r.action == k8s::CnpAction::Deny) v = Verdict::drop();
    if (r.action == k8s::CnpAction::Pass && pass) v = Verdict::go_to(*pass);
    const bool allow = r.action == k8s::CnpAction::Accept;
    const bool logs = r.action == k8s::CnpAction::Deny || (allow && r.log_allowed);
    const std::string comment = tier_rule_comment(tier, d, r);
    for (Family f : kFamilies) {
      std::vector<Expr> exprs = match_exprs(d, f, r);
      if (logs) {
        std::vector<Expr> logged = exprs;
        logged.push_back(LimitMatch{audit.rate, audit.burst});
        logged.push_back(
            LogStmt{audit.group, audit_tier_prefix(allow, tier, d, pod_key, r.cnp, r.rule_index)});
        logged.push_back(v);
        rs.append(make_rule(chain, std::move(logged), comment));
        exprs.push_back(CounterStmt{});
      }
      exprs.push_back(v);
      rs.append(make_rule(chain, std::move(exprs), comment));
      if (!per_family(r)) break;
    }
  }
  if (pass) {
    rs.append(make_rule(
        chain, {Verdict::go_to(*pass)},
        std::string("no ") + k8s::to_string(tier) + " rule decided: on to the next tier"));
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

// The chains of one direction of `pod` (Admin tier, NetworkPolicy, Baseline
// tier, each only when it has something to say) and its dispatch map entry,
// which jumps to the first of them.
void add_pod(Ruleset& rs, const ir::RuleSet& rules, const ir::LocalPod& pod, Direction d,
             const AuditOptions& audit, std::vector<std::string>& warnings) {
  const bool in = d == Direction::Ingress;
  const auto& np = pod.chain(in);
  const auto& admin = pod.admin(in);
  // Where a NetworkPolicy isolates the pod, it decides: the Baseline tier is never reached.
  const auto& baseline = np ? std::optional<ir::TierChain>{} : pod.baseline(in);
  if (!np && !admin && !baseline) return;
  const std::string key = pod.key();
  std::optional<std::string> np_name, base_name, entry;
  if (baseline) {
    base_name = tier_chain_name(k8s::CnpTier::Baseline, d, pod.ns, pod.name);
    std::string comment = std::string("Baseline tier, ") + to_string(d) + " of pod " + key + ": " +
                          join(baseline->policies, ", ");
    rs.chains.emplace(*base_name, Chain{*base_name, clean_comment(comment), std::nullopt});
    add_tier_rules(rs, k8s::CnpTier::Baseline, d, *base_name, key, *baseline, std::nullopt, audit);
    entry = base_name;
  }
  if (np) {
    np_name = pod_chain_name(d, pod.ns, pod.name);
    std::string comment =
        std::string(to_string(d)) + " of pod " + key + "; isolated by " + join(np->policies, ", ");
    rs.chains.emplace(*np_name, Chain{*np_name, clean_comment(comment), std::nullopt});
    for (const ir::Rule& r : np->rules) add_allow_rules(rs, d, *np_name, key, r, audit);
    add_deny_rule(rs, d, *np_name, key, audit);
    entry = np_name;
  }
  if (admin) {
    std::string name = tier_chain_name(k8s::CnpTier::Admin, d, pod.ns, pod.name);
    std::string comment = std::string("Admin tier, ") + to_string(d) + " of pod " + key + ": " +
                          join(admin->policies, ", ");
    rs.chains.emplace(name, Chain{name, clean_comment(comment), std::nullopt});
    add_tier_rules(rs, k8s::CnpTier::Admin, d, name, key, *admin, np_name ? np_name : base_name,
                   audit);
    entry = name;
  }

  for (const IpAddr& ip : pod.ips) {
    Set& map = rs.sets.at(dispatch_map_name(d, ip.family));
    Element el{{ip}, {}, Verdict::jump(*entry)};
    auto clash = map.elements.lower_bound(Element{{ip}, {}, std::nullopt});
    if (clash != map.elements.end() && clash->key == el.key) {
      // A second claim on the address (only a hand-built IR has one: the
      // compiler gives a contested address to its owner alone). Pods are
      // visited in key order, so the owner came first and holds the entry.
      const ir::LocalPod* owner = compiler::ip_owner(rules, ip, in);
      warnings.push_back(to_string(d) + std::string(" of ") + key + ": address " + ip.str() +
                         " already dispatches to " + clash->verdict->chain + " of " + owner->key() +
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

namespace {
std::string chain_name(std::string prefix, std::string_view ns, std::string_view pod) {
  std::string key = std::string(ns) + "/" + std::string(pod);
  std::string name = prefix + "-" + short_hash(key) + "-";
  size_t room = kMaxPodChainBytes > name.size() ? kMaxPodChainBytes - name.size() : 0;
  name += key.substr(0, room);
  return name;
}
}  // namespace

std::string tier_chain_name(k8s::CnpTier tier, Direction d, std::string_view ns,
                            std::string_view pod) {
  return chain_name(
      std::string(tier == k8s::CnpTier::Admin ? "admin-" : "baseline-") + to_string(d), ns, pod);
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

const char* audit_tier_word(k8s::CnpTier tier) {
  return tier == k8s::CnpTier::Admin ? "admin" : "baseline";
}

std::string audit_tier_prefix(bool allow, k8s::CnpTier tier, Direction d, std::string_view pod_key,
                              std::string_view cnp, uint32_t rule_index) {
  return std::string(kAuditPrefixTag) + (allow ? " allow " : " deny ") + to_string(d) + " " +
         short_hash(pod_key) + " " + audit_tier_word(tier) + " " +
         short_hash("cnp/" + std::string(cnp)) + " " + std::to_string(rule_index);
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
    add_pod(rs, rules, pod, Direction::Ingress, audit, out.warnings);
    add_pod(rs, rules, pod, Direction::Egress, audit, out.warnings);
  }
  return out;
}

}  // namespace netpol::nft
