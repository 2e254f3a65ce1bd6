#include "tests/unit/compiler/flow_cases.h"

#include <algorithm>

namespace netpol::ctest {

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

k8s::CnpSubject subject_ns(LabelSelector namespaces) {
  return {.kind = k8s::CnpSubject::Kind::Namespaces, .namespaces = std::move(namespaces)};
}
k8s::CnpSubject subject_pods(LabelSelector namespaces, LabelSelector pods) {
  return {.kind = k8s::CnpSubject::Kind::Pods,
          .namespaces = std::move(namespaces),
          .pods = std::move(pods)};
}
k8s::CnpPeer cnp_nss(LabelSelector namespaces) {
  return {.kind = k8s::CnpPeer::Kind::Namespaces, .namespaces = std::move(namespaces)};
}
k8s::CnpPeer cnp_pods(LabelSelector namespaces, LabelSelector pods) {
  return {.kind = k8s::CnpPeer::Kind::Pods,
          .namespaces = std::move(namespaces),
          .pods = std::move(pods)};
}
k8s::CnpPeer cnp_nets(std::vector<std::string_view> cidrs) {
  k8s::CnpPeer p;
  p.kind = k8s::CnpPeer::Kind::Networks;
  for (auto c : cidrs) p.networks.push_back(cidr(c));
  std::sort(p.networks.begin(), p.networks.end());
  p.networks.erase(std::unique(p.networks.begin(), p.networks.end()), p.networks.end());
  return p;
}
k8s::CnpPeer cnp_nodes(LabelSelector nodes) {
  return {.kind = k8s::CnpPeer::Kind::Nodes, .nodes = std::move(nodes)};
}
k8s::CnpPeer cnp_unknown() {
  return {.kind = k8s::CnpPeer::Kind::Unknown, .unknown_field = "domainNames"};
}
k8s::CnpPort cnp_port(uint16_t number, Protocol proto) {
  return cnp_range(number, number, proto);
}
k8s::CnpPort cnp_range(uint16_t first, uint16_t last, Protocol proto) {
  k8s::CnpPort p;
  p.protocol = proto;
  p.port = first;
  p.end_port = last;
  return p;
}
k8s::CnpPort cnp_named(std::string name) {
  k8s::CnpPort p;
  p.named_port = std::move(name);
  return p;
}
k8s::CnpRule cnp_rule(std::string name, CnpAction action, std::vector<k8s::CnpPeer> peers,
                      std::vector<k8s::CnpPort> ports) {
  return k8s::CnpRule{std::move(name), action, std::move(peers), std::move(ports)};
}
k8s::ClusterNetworkPolicy cnp(std::string name, CnpTier tier, int32_t priority,
                              k8s::CnpSubject subject, std::vector<k8s::CnpRule> ingress,
                              std::vector<k8s::CnpRule> egress) {
  k8s::ClusterNetworkPolicy c;
  c.name = std::move(name);
  c.uid = "uid-" + c.name;
  c.tier = tier;
  c.priority = priority;
  c.subject = std::move(subject);
  c.ingress = std::move(ingress);
  c.egress = std::move(egress);
  return c;
}
k8s::Node node(std::string name, Labels labels, std::vector<std::string> addresses) {
  k8s::Node n;
  n.name = std::move(name);
  n.labels = std::move(labels);
  for (const auto& a : addresses) n.addresses.push_back(ip(a));
  return n;
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
  expect_flows_on(objects, ptrs, cases);
}

void expect_flows_on(const k8s::Objects& objects, const std::vector<const ir::RuleSet*>& ptrs,
                     const std::vector<Case>& cases) {
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
