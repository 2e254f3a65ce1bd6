// Terse builders of the compact Kubernetes objects (k8s/model.h) as the
// decoder makes them, for every test and benchmark: namespaces, pods,
// policies and their parts. Every object gets a uid and resourceVersion "1";
// selectors and requirement values come sorted, as decode sorts them. A bad
// IP or CIDR literal throws std::invalid_argument (a gtest test fails on it).
// Test code only; never linked into the product.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/model.h"

namespace netpol::testsupport {

using k8s::Labels;
using k8s::LabelSelector;
using k8s::NetworkPolicy;
using k8s::Peer;
using k8s::PolicyPort;
using k8s::PolicyRule;
using k8s::Protocol;
using k8s::Requirement;

IpAddr ip(std::string_view text);
Cidr cidr(std::string_view text);

LabelSelector sel(Labels match_labels = {}, std::vector<Requirement> expressions = {});
Requirement req(std::string key, Requirement::Op op, std::vector<std::string> values = {});

Peer pods(LabelSelector pod_selector);
Peer nss(LabelSelector namespace_selector);
Peer nss_pods(LabelSelector namespace_selector, LabelSelector pod_selector);
Peer block(std::string_view c, std::vector<std::string_view> except = {});

PolicyPort port(uint16_t number, Protocol proto = Protocol::TCP);
PolicyPort port_range(uint16_t first, uint16_t end, Protocol proto = Protocol::TCP);
PolicyPort named(std::string name, Protocol proto = Protocol::TCP);
PolicyPort every_port(Protocol proto);

PolicyRule rule(std::vector<Peer> peers, std::vector<PolicyPort> ports = {});

// A policy isolating `selector`'s pods in the directions given by which lists
// are passed (ingress always, as the API server defaults it; egress only when
// `egress_isolates`).
NetworkPolicy policy(std::string ns, std::string name, LabelSelector selector,
                     std::vector<PolicyRule> ingress, bool ingress_isolates = true,
                     std::vector<PolicyRule> egress = {}, bool egress_isolates = false);
NetworkPolicy ingress_policy(std::string ns, std::string name, LabelSelector selector,
                             std::vector<PolicyRule> ingress);
NetworkPolicy egress_policy(std::string ns, std::string name, LabelSelector selector,
                            std::vector<PolicyRule> egress);
// The common small case: pods matching `selector` accept TCP 80 only from the
// pods of their namespace matching `from`; without `from`, no ingress at all.
NetworkPolicy ingress_only_from(std::string ns, std::string name, Labels selector,
                                std::optional<Labels> from = std::nullopt);

// Carries kubernetes.io/metadata.name=<name> like every real namespace.
k8s::Namespace ns(std::string name, Labels labels = {});
k8s::Pod pod(std::string ns, std::string name, std::string node, std::vector<std::string> ips,
             Labels labels = {}, std::vector<k8s::ContainerPort> ports = {},
             k8s::PodPhase phase = k8s::PodPhase::Running);

// The nodes named by pods of `objects`, sorted, unique.
std::vector<std::string> nodes_of(const k8s::Objects& objects);

}  // namespace netpol::testsupport
