#include "tests/unit/compiler/builders.h"

#include <algorithm>
#include <set>

namespace netpol::ctest {

IpAddr ip(std::string_view text) {
  auto a = IpAddr::parse(text);
  EXPECT_TRUE(a.has_value()) << "bad IP in test: " << text;
  return a.value_or(IpAddr{});
}

Cidr cidr(std::string_view text) {
  auto c = Cidr::parse(text);
  EXPECT_TRUE(c.has_value()) << "bad CIDR in test: " << text;
  return c.value_or(Cidr{});
}

LabelSelector sel(Labels match_labels, std::vector<Requirement> expressions) {
  std::sort(expressions.begin(), expressions.end());
  return LabelSelector{std::move(match_labels), std::move(expressions)};
}

Requirement req(std::string key, Requirement::Op op, std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return Requirement{std::move(key), op, std::move(values)};
}

Peer pods(LabelSelector pod_selector) {
  return Peer{std::move(pod_selector), {}, {}};
}
Peer nss(LabelSelector namespace_selector) {
  return Peer{{}, std::move(namespace_selector), {}};
}
Peer nss_pods(LabelSelector namespace_selector, LabelSelector pod_selector) {
  return Peer{std::move(pod_selector), std::move(namespace_selector), {}};
}
Peer block(std::string_view c, std::vector<std::string_view> except) {
  k8s::IpBlock b{cidr(c), {}};
  for (auto e : except) b.except.push_back(cidr(e));
  return Peer{{}, {}, std::move(b)};
}

PolicyPort port(uint16_t number, Protocol proto) {
  return PolicyPort{proto, number, {}};
}
PolicyPort port_range(uint16_t first, uint16_t end, Protocol proto) {
  return PolicyPort{proto, first, end};
}
PolicyPort named(std::string name, Protocol proto) {
  return PolicyPort{proto, std::move(name), {}};
}
PolicyPort every_port(Protocol proto) {
  return PolicyPort{proto, std::monostate{}, {}};
}

NetworkPolicy policy(std::string ns, std::string name, LabelSelector selector,
                     std::vector<PolicyRule> ingress, bool ingress_isolates,
                     std::vector<PolicyRule> egress, bool egress_isolates) {
  NetworkPolicy p;
  p.ns = std::move(ns);
  p.name = std::move(name);
  p.uid = "uid-" + p.ns + "-" + p.name;
  p.pod_selector = std::move(selector);
  p.affects_ingress = ingress_isolates;
  p.affects_egress = egress_isolates;
  p.ingress = std::move(ingress);
  p.egress = std::move(egress);
  return p;
}

NetworkPolicy ingress_policy(std::string ns, std::string name, LabelSelector selector,
                             std::vector<PolicyRule> ingress) {
  return policy(std::move(ns), std::move(name), std::move(selector), std::move(ingress));
}

NetworkPolicy egress_policy(std::string ns, std::string name, LabelSelector selector,
                            std::vector<PolicyRule> egress) {
  return policy(std::move(ns), std::move(name), std::move(selector), {}, false, std::move(egress),
                true);
}

k8s::Namespace ns(std::string name, Labels labels) {
  labels[k8s::kNamespaceNameLabel] = name;
  return k8s::Namespace{name, "uid-" + name, "1", std::move(labels)};
}

k8s::Pod pod(std::string ns, std::string name, std::string node, std::vector<std::string> ips,
             Labels labels, std::vector<k8s::ContainerPort> ports, k8s::PodPhase phase) {
  k8s::Pod p;
  p.ns = std::move(ns);
  p.name = std::move(name);
  p.uid = "uid-" + p.ns + "-" + p.name;
  p.resource_version = "1";
  p.node_name = std::move(node);
  p.labels = std::move(labels);
  p.ports = std::move(ports);
  p.phase = phase;
  for (const auto& text : ips) p.ips.push_back(ip(text));
  return p;
}

k8s::Objects e2e_model() {
  k8s::Objects o;
  const std::vector<std::string> spaces = {"x", "y", "z"};
  const std::vector<std::string> names = {"a", "b", "c"};
  for (size_t n = 0; n < spaces.size(); ++n) {
    o.namespaces.push_back(ns(spaces[n], {{"ns", spaces[n]}}));
    for (size_t i = 0; i < names.size(); ++i) {
      std::vector<k8s::ContainerPort> ports;
      for (uint16_t number : {80, 81})
        for (Protocol proto : {Protocol::TCP, Protocol::UDP, Protocol::SCTP}) {
          std::string pname = k8s::to_string(proto);
          std::transform(pname.begin(), pname.end(), pname.begin(), ::tolower);
          ports.push_back({"serve-" + std::to_string(number) + "-" + pname, number, proto});
        }
      if (names[i] == "a") ports.push_back({"web", 8080, Protocol::TCP});
      if (names[i] == "b") ports.push_back({"web", 9090, Protocol::TCP});
      std::string n1 = std::to_string(n + 1), i1 = std::to_string(i + 1);
      o.pods.push_back(pod(spaces[n], names[i], names[i] == "c" ? "node-2" : "node-1",
                           {"10.0." + n1 + "." + i1, "fd00::" + n1 + ":" + i1}, {{"pod", names[i]}},
                           ports));
    }
  }
  return o;
}

std::vector<std::string> nodes_of(const k8s::Objects& objects) {
  std::set<std::string> nodes;
  for (const auto& p : objects.pods)
    if (!p.node_name.empty()) nodes.insert(p.node_name);
  return {nodes.begin(), nodes.end()};
}

namespace {

IpAddr resolve(const k8s::Objects& o, const std::string& who) {
  if (auto a = IpAddr::parse(who)) return *a;
  bool v6 = who.size() > 2 && who.substr(who.size() - 2) == "@6";
  std::string key = v6 ? who.substr(0, who.size() - 2) : who;
  for (const auto& p : o.pods) {
    if (p.key() != key) continue;
    for (const auto& a : p.ips)
      if (a.is_v4() != v6) return a;
  }
  ADD_FAILURE() << "test names unknown endpoint " << who;
  return IpAddr{};
}

}  // namespace

void expect_flows(const k8s::Objects& objects, const std::vector<Case>& cases) {
  std::vector<ir::RuleSet> irs;
  for (const auto& node : nodes_of(objects)) irs.push_back(compiler::compile(objects, node));
  std::vector<const ir::RuleSet*> ptrs;
  for (const auto& rs : irs) ptrs.push_back(&rs);
  for (const Case& c : cases) {
    flow::Packet pk{resolve(objects, c.src), resolve(objects, c.dst), static_cast<uint8_t>(c.proto),
                    c.port};
    flow::Verdict v = flow::evaluate(ptrs, pk);
    EXPECT_EQ(v.allowed, c.allow) << c.src << " -> " << c.dst << " " << k8s::to_string(c.proto)
                                  << "/" << c.port << ": expected " << (c.allow ? "allow" : "deny")
                                  << ", got " << v.why;
    EXPECT_TRUE(v.problems.empty()) << v.problems.front();
  }
}

}  // namespace netpol::ctest
