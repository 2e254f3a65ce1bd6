// Terse builders for the compiler tests: Kubernetes objects as the decoder
// would produce them, the upstream e2e model (namespaces x, y, z; pods a, b,
// c), and a runner for {src, dst, proto, port -> allow|deny} tables evaluated
// with flow::evaluate over the IR of every node. Test-only; never linked into
// the product.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "k8s/model.h"
#include "tests/unit/compiler/flow.h"

namespace netpol::ctest {

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

k8s::Namespace ns(std::string name, Labels labels = {});
k8s::Pod pod(std::string ns, std::string name, std::string node, std::vector<std::string> ips,
             Labels labels = {}, std::vector<k8s::ContainerPort> ports = {},
             k8s::PodPhase phase = k8s::PodPhase::Running);

// The upstream e2e model: namespaces x, y, z labelled ns=<name>; pods a, b, c
// labelled pod=<name>, each serving 80 and 81 over TCP, UDP and SCTP (ports
// named serve-<port>-<proto>), dual-stack: x/a is 10.0.1.1 and fd00::1:1.
// Pods a and b run on node-1, c on node-2. Pod a also serves "web" on 8080,
// pod b serves "web" on 9090 (same name, different numbers).
k8s::Objects e2e_model();

struct Case {
  std::string src;  // pod key ("x/a"), pod key + "@6" for its IPv6, or a literal IP
  std::string dst;
  Protocol proto = Protocol::TCP;
  uint16_t port = 80;
  bool allow = true;
};
inline constexpr bool kAllow = true;
inline constexpr bool kDeny = false;

// Compiles `objects` for every node named by a pod and checks every case.
void expect_flows(const k8s::Objects& objects, const std::vector<Case>& cases);

// The nodes named by pods of `objects`, sorted.
std::vector<std::string> nodes_of(const k8s::Objects& objects);

}  // namespace netpol::ctest
