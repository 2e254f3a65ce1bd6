#include "compiler/policyc/lint.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "compiler/compiler.h"
#include "compiler/ip_owner.h"
#include "compiler/verdict.h"

namespace netpol::policyc {

namespace {

constexpr const char* kDnsNamespace = "kube-system";
constexpr uint16_t kDnsPort = 53;

std::string selector_text(const k8s::LabelSelector& s) {
  return s.empty() ? "{}" : "{" + s.str() + "}";
}

std::string some(const std::vector<std::string>& names, size_t max = 3) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// What the NetworkPolicy checks look things up in.
class Cluster {
 public:
  explicit Cluster(const LintInput& in) : in_(in) {}

  const k8s::Labels& ns_labels(const std::string& ns) {
    for (const k8s::Namespace& n : in_.objects.namespaces) {
      if (n.name == ns) return n.labels;
    }
    auto [it, fresh] = synthesized_.try_emplace(ns);
    if (fresh) it->second[k8s::kNamespaceNameLabel] = ns;
    return it->second;
  }
  // Pods a selector could apply to: hostNetwork pods never are.
  std::vector<const k8s::Pod*> pods_in(const std::string& ns, const k8s::LabelSelector& sel) const {
    std::vector<const k8s::Pod*> out;
    for (const k8s::Pod& p : in_.objects.pods) {
      if (p.ns == ns && !p.host_network && sel.matches(p.labels)) out.push_back(&p);
    }
    return out;
  }
  std::vector<std::string> namespaces_matching(const k8s::LabelSelector& sel) {
    std::vector<std::string> out;
    for (const k8s::Namespace& n : in_.objects.namespaces) {
      if (sel.matches(n.labels)) out.push_back(n.name);
    }
    return out;
  }
  // Pods a peer admits (ipBlock: the pods whose addresses it holds).
  std::vector<const k8s::Pod*> peer_pods(const k8s::Peer& peer, const std::string& policy_ns) {
    std::vector<const k8s::Pod*> out;
    for (const k8s::Pod& p : in_.objects.pods) {
      if (p.host_network) continue;
      if (peer.ip_block) {
        if (block_holds(*peer.ip_block, p)) out.push_back(&p);
        continue;
      }
      if (peer.namespace_selector ? !peer.namespace_selector->matches(ns_labels(p.ns))
                                  : p.ns != policy_ns)
        continue;
      if (peer.pod_selector && !peer.pod_selector->matches(p.labels)) continue;
      out.push_back(&p);
    }
    return out;
  }
  static std::optional<IpAddr> held_ip(const k8s::IpBlock& b, const k8s::Pod& p) {
    for (const IpAddr& ip : p.ips) {
      if (!b.cidr.contains(ip)) continue;
      if (std::any_of(b.except.begin(), b.except.end(),
                      [&](const Cidr& e) { return e.contains(ip); }))
        continue;
      return ip;
    }
    return std::nullopt;
  }
  static bool block_holds(const k8s::IpBlock& b, const k8s::Pod& p) {
    return held_ip(b, p).has_value();
  }

  const LintInput& in() const { return in_; }

 private:
  const LintInput& in_;
  std::map<std::string, k8s::Labels> synthesized_;
};

std::string rule_field(bool ingress, size_t i) {
  return std::string("spec.") + (ingress ? "ingress" : "egress") + "[" + std::to_string(i) + "]";
}
std::string peer_field(bool ingress, size_t i, size_t j) {
  return rule_field(ingress, i) + (ingress ? ".from[" : ".to[") + std::to_string(j) + "]";
}

bool port_covers(const k8s::PolicyPort& outer, const k8s::PolicyPort& inner) {
  if (outer.protocol != inner.protocol) return false;
  if (std::holds_alternative<std::monostate>(outer.port)) return true;
  if (const auto* name = std::get_if<std::string>(&outer.port)) {
    const auto* other = std::get_if<std::string>(&inner.port);
    return other && *other == *name;
  }
  const auto* inner_num = std::get_if<uint16_t>(&inner.port);
  if (!inner_num) return false;
  const uint16_t lo = std::get<uint16_t>(outer.port), hi = outer.end_port.value_or(lo);
  return lo <= *inner_num && inner.end_port.value_or(*inner_num) <= hi;
}

// `outer` admits every peer and port `inner` does (read literally: a peer is
// covered by an equal one).
bool rule_covers(const k8s::PolicyRule& outer, const k8s::PolicyRule& inner) {
  if (!outer.peers.empty()) {
    if (inner.peers.empty()) return false;
    for (const k8s::Peer& p : inner.peers) {
      if (std::find(outer.peers.begin(), outer.peers.end(), p) == outer.peers.end()) return false;
    }
  }
  if (!outer.ports.empty()) {
    if (inner.ports.empty()) return false;
    for (const k8s::PolicyPort& p : inner.ports) {
      if (std::none_of(outer.ports.begin(), outer.ports.end(),
                       [&](const k8s::PolicyPort& q) { return port_covers(q, p); }))
        return false;
    }
  }
  return true;
}

bool allows_port(const k8s::PolicyRule& r, k8s::Protocol proto, uint16_t port) {
  if (r.ports.empty()) return true;
  for (const k8s::PolicyPort& p : r.ports) {
    if (p.protocol != proto) continue;
    if (std::holds_alternative<std::monostate>(p.port)) return true;
    if (std::holds_alternative<std::string>(p.port)) return true;  // may name 53 on the DNS pods
    const uint16_t lo = std::get<uint16_t>(p.port);
    if (lo <= port && port <= p.end_port.value_or(lo)) return true;
  }
  return false;
}

class NetworkPolicyLint {
 public:
  NetworkPolicyLint(const LintInput& in, std::vector<Finding>& out) : c_(in), out_(out) {}

  void run() {
    for (const k8s::NetworkPolicy& p : c_.in().objects.policies) {
      selects_no_pod(p);
      for (bool ingress : {true, false}) {
        const auto& rules = ingress ? p.ingress : p.egress;
        if (ingress ? !p.affects_ingress : !p.affects_egress) continue;
        for (size_t i = 0; i < rules.size(); ++i) {
          peers_match_nothing(p, ingress, i);
          ip_blocks_hold_pods(p, ingress, i);
          named_ports(p, ingress, i);
          shadowed(p, ingress, i);
        }
      }
      blocks_dns(p);
    }
  }

 private:
  void add(Severity sev, const char* code, const char* name, const k8s::NetworkPolicy& p,
           std::string field, std::string reason) {
    out_.push_back(
        Finding{sev, code, name, "NetworkPolicy", p.key(), std::move(field), std::move(reason)});
  }

  std::vector<const k8s::Pod*> selected(const k8s::NetworkPolicy& p) const {
    return c_.pods_in(p.ns, p.pod_selector);
  }

  // NP001: a policy that selects no pod decides nothing (yet).
  void selects_no_pod(const k8s::NetworkPolicy& p) {
    if (!c_.in().has_pods || !selected(p).empty()) return;
    add(Severity::Warning, "NP001", "policy-selects-no-pod", p, "spec.podSelector",
        "selects no pod: no pod in namespace " + p.ns + " matches " +
            selector_text(p.pod_selector));
  }

  // NP002: a namespaceSelector or podSelector of a peer that matches nothing.
  void peers_match_nothing(const k8s::NetworkPolicy& p, bool ingress, size_t i) {
    const auto& rule = (ingress ? p.ingress : p.egress)[i];
    for (size_t j = 0; j < rule.peers.size(); ++j) {
      const k8s::Peer& peer = rule.peers[j];
      std::vector<std::string> scope = {p.ns};
      if (peer.namespace_selector) {
        if (!c_.in().has_namespaces) continue;
        scope = c_.namespaces_matching(*peer.namespace_selector);
        if (scope.empty()) {
          add(Severity::Warning, "NP002", "selector-matches-nothing", p,
              peer_field(ingress, i, j) + ".namespaceSelector",
              "matches no namespace: none is labelled " + selector_text(*peer.namespace_selector));
          continue;
        }
      }
      if (!peer.pod_selector || !c_.in().has_pods) continue;
      bool any = false;
      for (const std::string& ns : scope) any = any || !c_.pods_in(ns, *peer.pod_selector).empty();
      if (!any) {
        add(Severity::Warning, "NP002", "selector-matches-nothing", p,
            peer_field(ingress, i, j) + ".podSelector",
            "matches no pod: none labelled " + selector_text(*peer.pod_selector) +
                (peer.namespace_selector ? " in the namespaces " + some(scope)
                                         : " in namespace " + p.ns));
      }
    }
  }

  // NP005: whether an ipBlock applies to pod traffic is implementation-defined.
  void ip_blocks_hold_pods(const k8s::NetworkPolicy& p, bool ingress, size_t i) {
    if (!c_.in().has_pods) return;
    const auto& rule = (ingress ? p.ingress : p.egress)[i];
    for (size_t j = 0; j < rule.peers.size(); ++j) {
      if (!rule.peers[j].ip_block) continue;
      std::vector<std::string> held;
      for (const k8s::Pod& pod : c_.in().objects.pods) {
        if (!pod.enforceable()) continue;
        if (auto ip = Cluster::held_ip(*rule.peers[j].ip_block, pod))
          held.push_back(pod.key() + " (" + ip->str() + ")");
      }
      if (held.empty()) continue;
      add(Severity::Warning, "NP005", "ipblock-contains-pod-ips", p,
          peer_field(ingress, i, j) + ".ipBlock",
          "holds pod addresses " + some(held) +
              ": the spec leaves ipBlock for pod traffic implementation-defined; select pods by "
              "label instead");
    }
  }

  // NP006: a named port no pod the rule could reach declares allows nothing.
  void named_ports(const k8s::NetworkPolicy& p, bool ingress, size_t i) {
    if (!c_.in().has_pods) return;
    const auto& rule = (ingress ? p.ingress : p.egress)[i];
    std::vector<const k8s::Pod*> dst;  // where the name resolves: the destinations
    if (ingress) {
      dst = selected(p);
      if (dst.empty()) return;  // NP001 says it
    } else if (rule.peers.empty()) {
      for (const k8s::Pod& pod : c_.in().objects.pods) {
        if (!pod.host_network) dst.push_back(&pod);
      }
    } else {
      for (const k8s::Peer& peer : rule.peers) {
        for (const k8s::Pod* pod : c_.peer_pods(peer, p.ns)) dst.push_back(pod);
      }
    }
    for (size_t k = 0; k < rule.ports.size(); ++k) {
      const auto* name = std::get_if<std::string>(&rule.ports[k].port);
      if (!name) continue;
      const k8s::Protocol proto = rule.ports[k].protocol;
      bool declared = std::any_of(dst.begin(), dst.end(), [&](const k8s::Pod* pod) {
        return std::any_of(pod->ports.begin(), pod->ports.end(), [&](const k8s::ContainerPort& cp) {
          return cp.name == *name && cp.protocol == proto;
        });
      });
      if (declared) continue;
      add(Severity::Error, "NP006", "named-port-undeclared", p,
          rule_field(ingress, i) + ".ports[" + std::to_string(k) + "].port",
          "no " + std::string(ingress ? "selected pod" : "destination pod") + " declares a " +
              k8s::to_string(proto) + " port named \"" + *name + "\": the rule allows nothing");
    }
  }

  // Every pod `p` selects is selected by `q` (for one direction).
  // Without pods only a policy's own rules are compared: files of bare
  // policies are often alternatives kept side by side (like policies/).
  bool selects_all_of(const k8s::NetworkPolicy& q, const k8s::NetworkPolicy& p) const {
    if (&q == &p) return true;
    if (q.ns != p.ns || !c_.in().has_pods) return false;
    auto mine = selected(p);
    if (mine.empty()) return false;
    return std::all_of(mine.begin(), mine.end(),
                       [&](const k8s::Pod* pod) { return q.pod_selector.matches(pod->labels); });
  }

  // NP004: a rule another rule always admits first (allow rules are OR'ed, so
  // it never decides anything). Of two equal rules the later is reported.
  void shadowed(const k8s::NetworkPolicy& p, bool ingress, size_t i) {
    const k8s::PolicyRule& r = (ingress ? p.ingress : p.egress)[i];
    for (const k8s::NetworkPolicy& q : c_.in().objects.policies) {
      if (ingress ? !q.affects_ingress : !q.affects_egress) continue;
      if (!selects_all_of(q, p)) continue;
      const auto& rules = ingress ? q.ingress : q.egress;
      for (size_t k = 0; k < rules.size(); ++k) {
        if (&q == &p && k == i) continue;
        if (!rule_covers(rules[k], r)) continue;
        const bool mutual = rule_covers(r, rules[k]) && selects_all_of(p, q);
        if (mutual && std::tie(p.ns, p.name, i) < std::tie(q.ns, q.name, k)) continue;
        add(Severity::Warning, "NP004", "rule-shadowed", p, rule_field(ingress, i),
            "never decides anything: " + q.key() + " " + (ingress ? "ingress" : "egress") + "[" +
                std::to_string(k) + "] allows all it allows for every pod it selects");
        return;
      }
    }
  }

  // NP003: egress isolation without a way to DNS (UDP/TCP 53 in kube-system).
  void blocks_dns(const k8s::NetworkPolicy& p) {
    if (!p.affects_egress || !c_.in().has_pods) return;
    const k8s::Labels& dns_ns = c_.ns_labels(kDnsNamespace);
    auto dns_pods_exist = !c_.pods_in(kDnsNamespace, k8s::LabelSelector{}).empty();
    auto rule_allows = [&](const k8s::NetworkPolicy& q, const k8s::PolicyRule& r,
                           k8s::Protocol proto) {
      if (!allows_port(r, proto, kDnsPort)) return false;
      if (r.peers.empty()) return true;
      for (const k8s::Peer& peer : r.peers) {
        if (peer.ip_block) return true;  // may hold the DNS service's address: cannot tell
        if (peer.namespace_selector ? !peer.namespace_selector->matches(dns_ns)
                                    : q.ns != kDnsNamespace)
          continue;
        if (!peer.pod_selector || !dns_pods_exist ||
            !c_.pods_in(kDnsNamespace, *peer.pod_selector).empty())
          return true;
      }
      return false;
    };
    std::vector<std::string> blocked;
    std::set<std::string> protos;
    for (const k8s::Pod* pod : selected(p)) {
      for (k8s::Protocol proto : {k8s::Protocol::UDP, k8s::Protocol::TCP}) {
        bool ok = false;
        for (const k8s::NetworkPolicy& q : c_.in().objects.policies) {
          if (!q.affects_egress || q.ns != pod->ns || !q.pod_selector.matches(pod->labels))
            continue;
          for (const k8s::PolicyRule& r : q.egress) ok = ok || rule_allows(q, r, proto);
        }
        if (!ok) {
          protos.insert(k8s::to_string(proto));
          if (blocked.empty() || blocked.back() != pod->key()) blocked.push_back(pod->key());
        }
      }
    }
    if (blocked.empty()) return;
    std::string which;
    for (auto it = protos.rbegin(); it != protos.rend(); ++it)
      which += (which.empty() ? "" : "/") + *it;
    add(Severity::Error, "NP003", "egress-blocks-dns", p, "spec.egress",
        "pods it selects cannot resolve names: no egress rule allows " + which + " 53 to " +
            kDnsNamespace + " for " + some(blocked));
  }

  Cluster c_;
  std::vector<Finding>& out_;
};

// --- ClusterNetworkPolicy tiers (NP007, NP008) -------------------------------------
//
// Both checks ask the one evaluator (compiler/verdict.h) about the rules the
// kernel gets: the IR compiled for each node that runs pods of the files.
// Traffic is probed per distinct identity, never per address or port: on the
// local end, one pod per distinct set of the rules involved; on the peer end,
// one address per distinct membership in the sets those rules reference
// (every address where some set's range starts or ends is a candidate, so no
// class of addresses is missed, pods' own addresses first, to name them);
// and per protocol one port per stretch where no rule's port range or named
// port starts or ends. Every verdict is constant inside each class, so the
// answer is exact for the pods in the files. Protocols probed: TCP, UDP, SCTP.

constexpr uint8_t kProtos[] = {6, 17, 132};  // IPPROTO_TCP, _UDP, _SCTP

std::string tier_rule_text(const ir::TierRule& r, bool ingress) {
  return "cnp/" + r.cnp + " " +
         (r.name.empty()
              ? std::string(ingress ? "ingress[" : "egress[") + std::to_string(r.rule_index) + "]"
              : "rule " + r.name);
}

// The probes for one local end: peer address classes and ports, over the
// sets and port ranges of `tier` and `np` (the rules whose verdicts are compared).
class Probes {
 public:
  Probes(const ir::RuleSet& rs, const std::vector<const ir::TierRule*>& tier,
         const std::vector<const ir::Rule*>& np, const std::map<IpAddr, std::string>& pod_ips,
         Family family) {
    std::set<std::string> peer_sets, named_sets;
    auto note = [&](const auto& r) {
      if (r.peer.kind == ir::PeerMatch::Kind::Set) peer_sets.insert(r.peer.set);
      if (!r.named_port_set.empty()) named_sets.insert(r.named_port_set);
      if (!r.proto) return;
      ports_[*r.proto].insert(1);
      for (const ir::PortRange& p : r.ports) {
        ports_[*r.proto].insert(p.first);
        if (p.last < 65535) ports_[*r.proto].insert(static_cast<uint16_t>(p.last + 1));
      }
    };
    for (const ir::TierRule* r : tier) note(*r);
    for (const ir::Rule* r : np) note(*r);
    for (uint8_t proto : kProtos) ports_[proto].insert(1);
    std::vector<IpAddr> bounds;
    IpAddr zero;
    zero.family = family;
    bounds.push_back(zero);
    for (const std::string& name : peer_sets) {
      auto it = rs.sets.find(name);
      if (it == rs.sets.end()) continue;
      sets_.push_back(&it->second);
      for (const ir::Element& e : it->second.elements) {
        if (e.family() != family || e.proto != 0) continue;
        bounds.push_back(e.first);
        if (auto n = e.last.next()) bounds.push_back(*n);
      }
    }
    for (const std::string& name : named_sets) {
      auto it = rs.sets.find(name);
      if (it == rs.sets.end()) continue;
      named_.push_back(&it->second);
      for (const ir::Element& e : it->second.elements) {
        if (e.family() != family) continue;
        bounds.push_back(e.first);
        if (auto n = e.first.next()) bounds.push_back(*n);
        ports_[e.proto].insert(e.port);
        if (e.port < 65535) ports_[e.proto].insert(static_cast<uint16_t>(e.port + 1));
      }
    }
    // Pods' addresses first (a class is named by a pod when one is in it).
    std::vector<IpAddr> order;
    for (const auto& [ip, pod] : pod_ips) {
      if (ip.family == family) order.push_back(ip);
    }
    std::sort(bounds.begin(), bounds.end());
    order.insert(order.end(), bounds.begin(), bounds.end());
    std::set<std::vector<uint32_t>> seen;
    for (const IpAddr& ip : order) {
      if (seen.insert(identity(ip)).second) peers_.push_back(ip);
    }
  }

  // One address per peer class.
  const std::vector<IpAddr>& peers() const { return peers_; }
  // One port per stretch of `proto`'s ports that no rule tells apart.
  const std::set<uint16_t>& ports(uint8_t proto) { return ports_[proto]; }

  // The local end's part of an identity: its named-port memberships (ingress
  // named ports resolve on it).
  std::vector<uint32_t> named_identity(const IpAddr& ip) const {
    std::vector<uint32_t> out;
    for (size_t s = 0; s < named_.size(); ++s) {
      for (auto it = named_[s]->elements.lower_bound(ir::Element{ip, ip, 0, 0});
           it != named_[s]->elements.end() && it->first == ip; ++it) {
        out.push_back(static_cast<uint32_t>(s));
        out.push_back(it->proto);
        out.push_back(it->port);
      }
    }
    return out;
  }

 private:
  // What the rules can read of a peer address: the peer sets holding it and
  // its named ports (the destination of egress).
  std::vector<uint32_t> identity(const IpAddr& ip) const {
    std::vector<uint32_t> out;
    for (size_t s = 0; s < sets_.size(); ++s) {
      const auto& el = sets_[s]->elements;
      bool in = el.count(ir::Element{ip, ip, 0, 0}) != 0 ||
                std::any_of(el.begin(), el.end(), [&](const ir::Element& e) {
                  return e.proto == 0 && e.family() == ip.family && e.first <= ip && ip <= e.last;
                });
      if (in) out.push_back(static_cast<uint32_t>(s));
    }
    out.push_back(UINT32_MAX);
    auto named = named_identity(ip);
    out.insert(out.end(), named.begin(), named.end());
    return out;
  }

  std::vector<const ir::Set*> sets_, named_;
  std::map<uint8_t, std::set<uint16_t>> ports_;
  std::vector<IpAddr> peers_;
};

class TierLint {
 public:
  TierLint(const LintInput& in, std::vector<Finding>& out) : in_(in), c_(in), out_(out) {
    for (const k8s::Pod& p : in.objects.pods) {
      if (!p.enforceable() && !p.host_network) continue;
      for (const IpAddr& ip : p.ips) pod_ips_.try_emplace(ip, p.key());
    }
  }

  void run() {
    if (!in_.has_pods || in_.objects.cluster_policies.empty()) return;
    for (const k8s::NetworkPolicy& p : in_.objects.policies) {
      for (bool ingress : {true, false}) {
        if (ingress ? !p.affects_ingress : !p.affects_egress) continue;
        const size_t n = (ingress ? p.ingress : p.egress).size();
        for (size_t i = 0; i < n; ++i) admin_deny_shadows_allow(p, ingress, i);
      }
    }
    priority_overlap();
  }

 private:
  const ir::RuleSet& rules_for(const std::string& node) {
    auto it = by_node_.find(node);
    if (it == by_node_.end())
      it = by_node_.emplace(node, compiler::compile(in_.objects, node)).first;
    return it->second;
  }

  std::string peer_label(const IpAddr& ip) const {
    auto it = pod_ips_.find(ip);
    return it == pod_ips_.end() ? ip.str() : it->second;
  }

  // NP007: every connection the rule allows (over the pods it selects and
  // every peer) is denied by the Admin tier before NetworkPolicy is consulted.
  void admin_deny_shadows_allow(const k8s::NetworkPolicy& p, bool ingress, size_t i) {
    using How = compiler::ChainVerdict::How;
    std::set<std::string> responsible;  // ordered by text: stable messages
    size_t allowed = 0;
    std::set<std::tuple<std::string, std::vector<ir::TierRule>, std::vector<ir::Rule>,
                        std::vector<uint32_t>>>
        done;
    for (const k8s::Pod* pod : c_.pods_in(p.ns, p.pod_selector)) {
      if (!pod->enforceable() || pod->node_name.empty()) continue;  // no node enforces it
      const ir::RuleSet& rs = rules_for(pod->node_name);
      for (const IpAddr& ip : pod->ips) {
        const ir::LocalPod* owner = compiler::ip_owner(rs, ip, ingress);
        // An address another pod owns is judged by that pod's chain, not this policy's.
        if (!owner || owner->key() != pod->key() || !owner->chain(ingress)) continue;
        std::vector<const ir::Rule*> mine;
        std::vector<ir::Rule> mine_values;
        for (const ir::Rule& r : owner->chain(ingress)->rules) {
          if (r.policy == p.key() && r.rule_index == i) {
            mine.push_back(&r);
            mine_values.push_back(r);
          }
        }
        if (mine.empty()) continue;  // compiled to nothing: allows nothing here
        const auto& admin = owner->admin(ingress);
        const std::vector<ir::TierRule> none;
        const std::vector<ir::TierRule>& admin_rules = admin ? admin->rules : none;
        std::vector<const ir::TierRule*> tier;
        for (const ir::TierRule& r : admin_rules) tier.push_back(&r);
        Probes probes(rs, tier, mine, pod_ips_, ip.family);
        auto key = std::make_tuple(pod->node_name, admin_rules, mine_values,
                                   ingress ? probes.named_identity(ip) : std::vector<uint32_t>{});
        if (!done.insert(std::move(key)).second) continue;  // an identity already probed
        for (const IpAddr& peer : probes.peers()) {
          const IpAddr& dst = ingress ? ip : peer;
          for (uint8_t proto : kProtos) {
            for (uint16_t port : probes.ports(proto)) {
              if (std::none_of(mine.begin(), mine.end(), [&](const ir::Rule* r) {
                    return compiler::matches(rs, *r, peer, dst, proto, port);
                  }))
                continue;
              ++allowed;
              const compiler::ChainVerdict v =
                  compiler::evaluate(rs, ingress, ip, peer, dst, proto, port);
              if (v.how != How::TierDenied) return;  // NetworkPolicy (or an Accept) decides it
              responsible.insert(tier_rule_text(*v.tier_rule, ingress));
            }
          }
        }
      }
    }
    if (allowed == 0) return;
    std::vector<std::string> names(responsible.begin(), responsible.end());
    out_.push_back(Finding{Severity::Warning, "NP007", "admin-deny-shadows-allow", "NetworkPolicy",
                           p.key(), rule_field(ingress, i),
                           "allows nothing: the Admin tier denies all it allows before "
                           "NetworkPolicy is consulted (" +
                               some(names) + ")"});
  }

  // NP008: two CNPs of one tier with one priority, both selecting some pod,
  // whose rules decide some connection differently: the API leaves their
  // order undefined (netpol orders them by name). Reported on the later one.
  void priority_overlap() {
    std::map<std::string, const k8s::ClusterNetworkPolicy*> cnps;
    for (const auto& c : in_.objects.cluster_policies) cnps[c.name] = &c;
    std::set<std::string> nodes;
    for (const k8s::Pod& p : in_.objects.pods) {
      if (p.enforceable() && !p.node_name.empty()) nodes.insert(p.node_name);
    }
    std::set<std::pair<std::string, std::string>> reported;
    std::set<std::tuple<std::string, std::string, std::string, bool, std::vector<ir::TierRule>,
                        std::vector<uint32_t>>>
        done;
    for (const std::string& node : nodes) {
      const ir::RuleSet& rs = rules_for(node);
      for (const auto& [key, lp] : rs.pods) {
        for (bool ingress : {true, false}) {
          for (const auto* tc : {&lp.admin(ingress), &lp.baseline(ingress)}) {
            // The Baseline tier never decides for a pod NetworkPolicy isolates.
            if (!*tc || (tc == &lp.baseline(ingress) && lp.chain(ingress))) continue;
            const auto& names = (*tc)->policies;
            for (size_t x = 0; x < names.size(); ++x) {
              for (size_t y = x + 1; y < names.size(); ++y) {
                auto a = cnps.find(names[x]), b = cnps.find(names[y]);
                if (a == cnps.end() || b == cnps.end()) continue;
                if (a->second->priority != b->second->priority) continue;
                if (reported.count({a->first, b->first})) continue;
                compare(rs, lp, ingress, (*tc)->rules, *a->second, *b->second, done, reported);
              }
            }
          }
        }
      }
    }
  }

  template <typename Done>
  void compare(const ir::RuleSet& rs, const ir::LocalPod& lp, bool ingress,
               const std::vector<ir::TierRule>& chain, const k8s::ClusterNetworkPolicy& a,
               const k8s::ClusterNetworkPolicy& b, Done& done,
               std::set<std::pair<std::string, std::string>>& reported) {
    std::vector<ir::TierRule> ra, rb;
    std::vector<const ir::TierRule*> both;
    for (const ir::TierRule& r : chain) {
      if (r.cnp == a.name) ra.push_back(r);
      if (r.cnp == b.name) rb.push_back(r);
      if (r.cnp == a.name || r.cnp == b.name) both.push_back(&r);
    }
    const bool admin = a.tier == k8s::CnpTier::Admin;
    // What a match does: in the Baseline tier a Pass ends the tier, allowed
    // like an Accept.
    auto effect = [&](const ir::TierRule& r) {
      return admin || r.action == k8s::CnpAction::Deny ? r.action : k8s::CnpAction::Accept;
    };
    for (const IpAddr& ip : lp.ips) {
      Probes probes(rs, both, {}, pod_ips_, ip.family);
      std::vector<ir::TierRule> rules(ra);
      rules.insert(rules.end(), rb.begin(), rb.end());
      if (!done.insert({rs.node, a.name, b.name, ingress, rules,
                        ingress ? probes.named_identity(ip) : std::vector<uint32_t>{}})
               .second)
        continue;
      for (const IpAddr& peer : probes.peers()) {
        const IpAddr& dst = ingress ? ip : peer;
        for (uint8_t proto : kProtos) {
          for (uint16_t port : probes.ports(proto)) {
            const ir::TierRule* x = compiler::first_match(rs, ra, peer, dst, proto, port);
            if (!x) continue;
            const ir::TierRule* y = compiler::first_match(rs, rb, peer, dst, proto, port);
            if (!y || effect(*x) == effect(*y)) continue;
            reported.insert({a.name, b.name});
            // A port only where a rule names ports: else the class is every port.
            auto any_port = [](const ir::TierRule& r) {
              return r.ports.empty() && r.named_port_set.empty();
            };
            const std::string traffic =
                ir::proto_name(proto) +
                (any_port(*x) && any_port(*y) ? std::string(" (any port)")
                                              : "/" + std::to_string(port)) +
                (ingress ? " from " : " to ") + peer_label(peer) + (ingress ? " into " : " from ") +
                lp.key();
            out_.push_back(Finding{
                Severity::Warning, "NP008", "cnp-priority-overlap", "ClusterNetworkPolicy", b.name,
                "spec.priority",
                "same " + std::string(k8s::to_string(b.tier)) + " priority " +
                    std::to_string(b.priority) + " as cnp/" + a.name +
                    ", and they decide the same traffic differently (" + traffic + ": " +
                    tier_rule_text(*x, ingress) + " " + k8s::to_string(x->action) + ", " +
                    tier_rule_text(*y, ingress) + " " + k8s::to_string(y->action) +
                    "): the API leaves their order undefined; netpol orders them by name, " +
                    "cnp/" + a.name + " first"});
            return;
          }
        }
      }
    }
  }

  const LintInput& in_;
  Cluster c_;
  std::vector<Finding>& out_;
  std::map<IpAddr, std::string> pod_ips_;  // every address a pod of the files holds
  std::map<std::string, ir::RuleSet> by_node_;
};

const char* severity_text(Severity s) {
  return s == Severity::Error ? "error" : "warning";
}

}  // namespace

std::vector<Finding> lint(const LintInput& in) {
  std::vector<Finding> out;
  NetworkPolicyLint(in, out).run();
  TierLint(in, out).run();
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.kind, a.object, a.field, a.code) <
           std::tie(b.kind, b.object, b.field, b.code);
  });
  return out;
}

std::string render_findings(const std::vector<Finding>& findings) {
  std::string out;
  size_t errors = 0;
  for (const Finding& f : findings) {
    errors += f.severity == Severity::Error;
    out += std::string(severity_text(f.severity)) + " " + f.code + " " + f.kind + " " + f.object +
           " " + f.field + ": " + f.reason + "\n";
  }
  out += findings.empty() ? "no findings\n"
                          : std::to_string(errors) + " error" + (errors == 1 ? "" : "s") + ", " +
                                std::to_string(findings.size() - errors) + " warning" +
                                (findings.size() - errors == 1 ? "" : "s") + "\n";
  return out;
}

std::string render_findings_json(const std::vector<Finding>& findings) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  size_t errors = 0;
  for (const Finding& f : findings) {
    errors += f.severity == Severity::Error;
    list.push_back({{"severity", severity_text(f.severity)},
                    {"code", f.code},
                    {"name", f.name},
                    {"kind", f.kind},
                    {"object", f.object},
                    {"field", f.field},
                    {"reason", f.reason}});
  }
  nlohmann::ordered_json out = {
      {"findings", list}, {"errors", errors}, {"warnings", findings.size() - errors}};
  return out.dump(2) + "\n";
}

}  // namespace netpol::policyc
