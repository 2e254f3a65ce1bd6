// The compiler tests' model and runner: the upstream e2e cluster (namespaces
// x, y, z; pods a, b, c) and {src, dst, proto, port -> allow|deny} tables
// evaluated with flow::evaluate over the IR of every node. The objects come
// from tests/support/builders.h, whose names this namespace takes in.
// Test-only; never linked into the product.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "k8s/model.h"
#include "tests/support/builders.h"
#include "tests/unit/compiler/flow.h"

namespace netpol::ctest {

using namespace testsupport;  // the builders are these tests' vocabulary

// The upstream e2e model: namespaces x, y, z labelled ns=<name>; pods a, b, c
// labelled pod=<name>, each serving 80 and 81 over TCP, UDP and SCTP (ports
// named serve-<port>-<proto>), dual-stack: x/a is 10.0.1.1 and fd00::1:1.
// Pods a and b run on node-1, c on node-2. Pod a also serves "web" on 8080,
// pod b serves "web" on 9090 (same name, different numbers).
k8s::Objects e2e_model();

// ClusterNetworkPolicy builders.
using k8s::CnpAction;
using k8s::CnpTier;
k8s::CnpSubject subject_ns(LabelSelector namespaces);
k8s::CnpSubject subject_pods(LabelSelector namespaces, LabelSelector pods);
k8s::CnpPeer cnp_nss(LabelSelector namespaces);
k8s::CnpPeer cnp_pods(LabelSelector namespaces, LabelSelector pods);
k8s::CnpPeer cnp_nets(std::vector<std::string_view> cidrs);
k8s::CnpPeer cnp_nodes(LabelSelector nodes);
k8s::CnpPeer cnp_unknown();  // a peer naming a field this version does not know
k8s::CnpPort cnp_port(uint16_t number, Protocol proto = Protocol::TCP);
k8s::CnpPort cnp_range(uint16_t first, uint16_t last, Protocol proto = Protocol::TCP);
k8s::CnpPort cnp_named(std::string name);
k8s::CnpRule cnp_rule(std::string name, CnpAction action, std::vector<k8s::CnpPeer> peers,
                      std::vector<k8s::CnpPort> ports = {});
k8s::ClusterNetworkPolicy cnp(std::string name, CnpTier tier, int32_t priority,
                              k8s::CnpSubject subject, std::vector<k8s::CnpRule> ingress,
                              std::vector<k8s::CnpRule> egress = {});
k8s::Node node(std::string name, Labels labels, std::vector<std::string> addresses);

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
// The same over given RuleSets (e.g. incremental Compilers' rules()); `objects`
// only resolves endpoint names.
void expect_flows_on(const k8s::Objects& objects, const std::vector<const ir::RuleSet*>& rules,
                     const std::vector<Case>& cases);

}  // namespace netpol::ctest
