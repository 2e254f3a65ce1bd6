#include "compiler/policyc/lint.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

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

const char* severity_text(Severity s) {
  return s == Severity::Error ? "error" : "warning";
}

}  // namespace

std::vector<Finding> lint(const LintInput& in) {
  std::vector<Finding> out;
  NetworkPolicyLint(in, out).run();
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
