#include "tests/support/builders.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace netpol::testsupport {

IpAddr ip(std::string_view text) {
  auto a = IpAddr::parse(text);
  if (!a) throw std::invalid_argument("bad IP in test: " + std::string(text));
  return *a;
}

Cidr cidr(std::string_view text) {
  auto c = Cidr::parse(text);
  if (!c) throw std::invalid_argument("bad CIDR in test: " + std::string(text));
  return *c;
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

PolicyRule rule(std::vector<Peer> peers, std::vector<PolicyPort> ports) {
  return PolicyRule{std::move(ports), std::move(peers)};
}

NetworkPolicy policy(std::string ns, std::string name, LabelSelector selector,
                     std::vector<PolicyRule> ingress, bool ingress_isolates,
                     std::vector<PolicyRule> egress, bool egress_isolates) {
  NetworkPolicy p;
  p.ns = std::move(ns);
  p.name = std::move(name);
  p.uid = "uid-" + p.ns + "-" + p.name;
  p.resource_version = "1";
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

NetworkPolicy ingress_only_from(std::string ns, std::string name, Labels selector,
                                std::optional<Labels> from) {
  std::vector<PolicyRule> ingress;
  if (from) ingress.push_back(rule({pods(sel(std::move(*from)))}, {port(80)}));
  return ingress_policy(std::move(ns), std::move(name), sel(std::move(selector)),
                        std::move(ingress));
}

k8s::Namespace ns(std::string name, Labels labels) {
  labels[k8s::kNamespaceNameLabel] = name;
  return k8s::Namespace{name, "uid-" + name, "1", std::move(labels), {}};
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

std::vector<std::string> nodes_of(const k8s::Objects& objects) {
  std::set<std::string> nodes;
  for (const auto& p : objects.pods)
    if (!p.node_name.empty()) nodes.insert(p.node_name);
  return {nodes.begin(), nodes.end()};
}

}  // namespace netpol::testsupport
