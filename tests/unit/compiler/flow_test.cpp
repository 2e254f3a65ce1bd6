// NetworkPolicy semantics as packet-flow tables: {src, dst, proto, port ->
// allow|deny}, evaluated over the IR of every node (flow.h). Each test is one
// point of the semantics list in /work/shared/design.md, mostly on the
// upstream e2e model (namespaces x, y, z; pods a, b, c; a and b on node-1, c on
// node-2, so most tables cross nodes).
#include <gtest/gtest.h>

#include "k8s/decode.h"
#include "tests/unit/compiler/flow_cases.h"

namespace netpol::ctest {
namespace {

using Op = Requirement::Op;
constexpr Protocol TCP = Protocol::TCP;
constexpr Protocol UDP = Protocol::UDP;
constexpr Protocol SCTP = Protocol::SCTP;
constexpr const char* kOutside = "192.168.7.7";

TEST(Flow, NoPolicyAllowsEverything) {
  k8s::Objects o = e2e_model();
  expect_flows(o, {
                      {"x/a", "x/b", TCP, 80, kAllow},
                      {"y/c", "x/a", UDP, 81, kAllow},
                      {kOutside, "z/c", SCTP, 80, kAllow},
                      {"x/a@6", "y/b@6", TCP, 81, kAllow},
                  });
}

TEST(Flow, EmptyIngressListDeniesAllIngressOnly) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "deny", sel(), {}));
  expect_flows(o, {
                      {"x/a", "x/b", TCP, 80, kDeny},
                      {"y/a", "x/c", TCP, 80, kDeny},
                      {kOutside, "x/a", TCP, 80, kDeny},
                      {"x/a@6", "x/b@6", TCP, 80, kDeny},
                      // x's pods are not isolated for egress.
                      {"x/a", "y/a", TCP, 80, kAllow},
                      {"y/a", "z/b", UDP, 81, kAllow},
                  });
}

TEST(Flow, RuleWithoutPeersOrPortsAllowsEverySource) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "deny", sel(), {}));
  o.policies.push_back(ingress_policy("x", "all", sel({{"pod", "a"}}), {PolicyRule{}}));
  expect_flows(o, {
                      {kOutside, "x/a", TCP, 80, kAllow},
                      {"z/c", "x/a", SCTP, 81, kAllow},
                      {"x/b", "x/a@6", UDP, 1, kAllow},
                      {"x/a", "x/b", TCP, 80, kDeny},
                  });
}

TEST(Flow, EgressIsolationDeniesUnlessAllowedAndNeedsBothSides) {
  k8s::Objects o = e2e_model();
  // x/a may talk to ns y only; y/a accepts only from ns z.
  o.policies.push_back(
      egress_policy("x", "to-y", sel({{"pod", "a"}}), {PolicyRule{{}, {nss(sel({{"ns", "y"}}))}}}));
  o.policies.push_back(ingress_policy("y", "from-z", sel({{"pod", "a"}}),
                                      {PolicyRule{{}, {nss(sel({{"ns", "z"}}))}}}));
  expect_flows(o, {
                      {"x/a", "y/b", TCP, 80, kAllow},
                      {"x/a", "y/a", TCP, 80, kDeny},  // egress ok, ingress denies
                      {"x/a", "z/a", TCP, 80, kDeny},  // egress denies
                      {"x/a", kOutside, TCP, 80, kDeny},
                      {"z/a", "y/a", TCP, 80, kAllow},
                      {"x/b", "z/a", TCP, 80, kAllow},  // x/b is not selected
                  });
}

TEST(Flow, EgressOnlyPolicyWithoutRulesDeniesAllEgressButNotIngress) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(egress_policy("x", "no-egress", sel(), {}));
  expect_flows(o, {
                      {"x/a", "x/b", TCP, 80, kDeny},
                      {"x/c", kOutside, UDP, 53, kDeny},
                      {"y/a", "x/a", TCP, 80, kAllow},
                      {kOutside, "x/c", TCP, 80, kAllow},
                  });
}

TEST(Flow, EmptyPodSelectorPeerMeansEveryPodOfThePolicyNamespace) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(
      ingress_policy("x", "same-ns", sel({{"pod", "a"}}), {PolicyRule{{}, {pods(sel())}}}));
  expect_flows(o, {
                      {"x/b", "x/a", TCP, 80, kAllow},
                      {"x/c", "x/a", TCP, 80, kAllow},
                      {"x/c@6", "x/a@6", TCP, 80, kAllow},
                      {"y/b", "x/a", TCP, 80, kDeny},
                      {kOutside, "x/a", TCP, 80, kDeny},
                  });
}

TEST(Flow, EmptyNamespaceSelectorMeansEveryPodOfEveryNamespace) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(
      ingress_policy("x", "all-ns", sel({{"pod", "a"}}), {PolicyRule{{}, {nss(sel())}}}));
  expect_flows(o, {
                      {"y/b", "x/a", TCP, 80, kAllow},
                      {"z/c", "x/a", TCP, 80, kAllow},
                      {"x/b", "x/a", TCP, 80, kAllow},
                      {kOutside, "x/a", TCP, 80, kDeny},
                  });
}

TEST(Flow, SelectorsInOnePeerAreAndedPeersAreOred) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(
      ingress_policy("x", "and", sel({{"pod", "a"}}),
                     {PolicyRule{{}, {nss_pods(sel({{"ns", "y"}}), sel({{"pod", "b"}}))}}}));
  o.policies.push_back(
      ingress_policy("x", "or", sel({{"pod", "b"}}),
                     {PolicyRule{{}, {nss(sel({{"ns", "y"}})), pods(sel({{"pod", "c"}}))}}}));
  expect_flows(o, {
                      // and: only pod=b in ns=y
                      {"y/b", "x/a", TCP, 80, kAllow},
                      {"y/a", "x/a", TCP, 80, kDeny},
                      {"x/b", "x/a", TCP, 80, kDeny},
                      {"z/b", "x/a", TCP, 80, kDeny},
                      // or: anything in y, or pod=c of x
                      {"y/a", "x/b", TCP, 80, kAllow},
                      {"y/c", "x/b", TCP, 80, kAllow},
                      {"x/c", "x/b", TCP, 80, kAllow},
                      {"z/c", "x/b", TCP, 80, kDeny},
                      {"x/a", "x/b", TCP, 80, kDeny},
                  });
}

TEST(Flow, MatchExpressionsSelectPeers) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(
      ingress_policy("x", "exprs", sel({{"pod", "a"}}),
                     {PolicyRule{{},
                                 {nss_pods(sel({}, {req("ns", Op::NotIn, {"x", "z"})}),
                                           sel({}, {req("pod", Op::In, {"a", "c"})}))}}}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},
                      {"y/c", "x/a", TCP, 80, kAllow},
                      {"y/b", "x/a", TCP, 80, kDeny},
                      {"z/a", "x/a", TCP, 80, kDeny},
                      {"x/c", "x/a", TCP, 80, kDeny},
                  });
}

TEST(Flow, IpBlockWithExcept) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "cidr", sel({{"pod", "a"}}),
                                      {PolicyRule{{}, {block("10.0.2.0/24", {"10.0.2.1/32"})}}}));
  o.policies.push_back(egress_policy(
      "x", "cidr-out", sel({{"pod", "b"}}),
      {PolicyRule{{}, {block("192.168.0.0/16", {"192.168.7.0/24"}), block("fd00::3:0/112")}}}));
  expect_flows(o, {
                      {"y/b", "x/a", TCP, 80, kAllow},
                      {"y/c", "x/a", TCP, 80, kAllow},
                      {"y/a", "x/a", TCP, 80, kDeny},  // excepted
                      {"10.0.2.200", "x/a", TCP, 80, kAllow},
                      {"10.0.3.1", "x/a", TCP, 80, kDeny},
                      {"y/b@6", "x/a@6", TCP, 80, kDeny},  // other family
                      {"x/b", "192.168.6.1", TCP, 443, kAllow},
                      {"x/b", kOutside, TCP, 443, kDeny},
                      {"x/b", "192.169.0.1", TCP, 443, kDeny},
                      {"x/b@6", "z/c@6", TCP, 80, kAllow},
                      {"x/b@6", "y/c@6", TCP, 80, kDeny},
                  });
}

TEST(Flow, NumericPortsEndPortAndProtocols) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(
      ingress_policy("x", "ports", sel({{"pod", "a"}}),
                     {PolicyRule{{port(80), port_range(1000, 1002, UDP), port(81, SCTP)}, {}}}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},
                      {"y/a", "x/a", TCP, 81, kDeny},
                      {"y/a", "x/a", UDP, 80, kDeny},
                      {"y/a", "x/a", UDP, 999, kDeny},
                      {"y/a", "x/a", UDP, 1000, kAllow},
                      {"y/a", "x/a", UDP, 1002, kAllow},
                      {"y/a", "x/a", UDP, 1003, kDeny},
                      {"y/a", "x/a", TCP, 1001, kDeny},
                      {"y/a", "x/a", SCTP, 81, kAllow},
                      {"y/a", "x/a", SCTP, 80, kDeny},
                  });
}

TEST(Flow, PortDefaultProtocolIsTcp) {
  k8s::Objects o = e2e_model();
  PolicyPort p;  // as the decoder leaves a port without protocol
  p.port = uint16_t{81};
  o.policies.push_back(ingress_policy("x", "tcp81", sel(), {PolicyRule{{p}, {}}}));
  expect_flows(o, {
                      {"y/a", "x/b", TCP, 81, kAllow},
                      {"y/a", "x/b", UDP, 81, kDeny},
                      {"y/a", "x/b", SCTP, 81, kDeny},
                  });
}

TEST(Flow, PortWithoutNumberAllowsEveryPortOfItsProtocol) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "udp", sel({{"pod", "a"}}),
                                      {PolicyRule{{every_port(UDP), port(53)}, {}}}));
  expect_flows(o, {
                      {"y/a", "x/a", UDP, 1, kAllow},
                      {"y/a", "x/a", UDP, 65535, kAllow},
                      {"y/a", "x/a", TCP, 53, kAllow},
                      {"y/a", "x/a", TCP, 54, kDeny},
                      {"y/a", "x/a", SCTP, 53, kDeny},
                  });
}

TEST(Flow, IngressNamedPortResolvesOnTheDestinationPod) {
  k8s::Objects o = e2e_model();
  // "web" is 8080 on a, 9090 on b, absent on c.
  o.policies.push_back(ingress_policy("x", "web", sel(), {PolicyRule{{named("web")}, {}}}));
  o.policies.push_back(
      ingress_policy("y", "udp80", sel(), {PolicyRule{{named("serve-80-udp", UDP)}, {}}}));
  // The name exists on z's pods, but for UDP: asked for over TCP it resolves
  // to nothing.
  o.policies.push_back(
      ingress_policy("z", "wrong-proto", sel(), {PolicyRule{{named("serve-80-udp", TCP)}, {}}}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 8080, kAllow},
                      {"y/a", "x/a", TCP, 9090, kDeny},
                      {"y/a", "x/b", TCP, 9090, kAllow},
                      {"y/a", "x/b", TCP, 8080, kDeny},
                      {"y/a", "x/c", TCP, 8080, kDeny},  // nothing resolves: isolated
                      {"y/a", "x/c", TCP, 80, kDeny},
                      {"x/a", "y/b", UDP, 80, kAllow},
                      {"x/a", "y/b", TCP, 80, kDeny},  // name exists for UDP only
                      {"x/a", "z/b", TCP, 80, kDeny},
                      {"x/a", "z/b", UDP, 80, kDeny},
                  });
}

TEST(Flow, EgressNamedPortResolvesOnEachDestinationPod) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(
      egress_policy("x", "web-out", sel({{"pod", "c"}}), {PolicyRule{{named("web")}, {}}}));
  o.policies.push_back(egress_policy("z", "web-to-y", sel({{"pod", "a"}}),
                                     {PolicyRule{{named("web")}, {nss(sel({{"ns", "y"}}))}}}));
  expect_flows(o, {
                      {"x/c", "y/a", TCP, 8080, kAllow},
                      {"x/c", "y/b", TCP, 9090, kAllow},
                      {"x/c@6", "z/b@6", TCP, 9090, kAllow},
                      {"x/c", "y/a", TCP, 9090, kDeny},
                      {"x/c", "y/b", TCP, 8080, kDeny},
                      {"x/c", "y/c", TCP, 8080, kDeny},
                      {"x/c", kOutside, TCP, 8080, kDeny},
                      {"x/c", "y/a", UDP, 8080, kDeny},
                      // peer AND named port
                      {"z/a", "y/b", TCP, 9090, kAllow},
                      {"z/a", "x/b", TCP, 9090, kDeny},
                  });
}

TEST(Flow, SeveralPoliciesAddUp) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "from-y", sel({{"pod", "a"}}),
                                      {PolicyRule{{port(80)}, {nss(sel({{"ns", "y"}}))}}}));
  o.policies.push_back(
      ingress_policy("x", "from-z", sel(), {PolicyRule{{port(81)}, {nss(sel({{"ns", "z"}}))}}}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},
                      {"y/a", "x/a", TCP, 81, kDeny},
                      {"z/a", "x/a", TCP, 81, kAllow},
                      {"z/a", "x/a", TCP, 80, kDeny},
                      {"z/a", "x/b", TCP, 81, kAllow},
                      {"y/a", "x/b", TCP, 80, kDeny},
                  });
}

TEST(Flow, HostNetworkPodsAreNeverSelected) {
  k8s::Objects o = e2e_model();
  k8s::Pod h = pod("x", "host", "node-1", {"192.168.1.10"}, {{"pod", "a"}});
  h.host_network = true;
  o.pods.push_back(h);
  o.policies.push_back(ingress_policy("x", "deny-a", sel({{"pod", "a"}}), {}));
  o.policies.push_back(ingress_policy("y", "from-a", sel(),
                                      {PolicyRule{{}, {nss_pods(sel(), sel({{"pod", "a"}}))}}}));
  expect_flows(o, {
                      {"y/b", "x/a", TCP, 80, kDeny},
                      {"y/b", "192.168.1.10", TCP, 80, kAllow},  // not isolated
                      {"x/a", "y/b", TCP, 80, kAllow},
                      {"192.168.1.10", "y/b", TCP, 80, kDeny},  // not in pod=a's set
                  });
}

TEST(Flow, FinishedAndAddresslessPodsAreInNoSetAndNotIsolated) {
  k8s::Objects o = e2e_model();
  o.pods.push_back(
      pod("z", "done", "node-1", {"10.0.3.50"}, {{"pod", "b"}}, {}, k8s::PodPhase::Succeeded));
  o.pods.push_back(
      pod("z", "failed", "node-2", {"10.0.3.51"}, {{"pod", "b"}}, {}, k8s::PodPhase::Failed));
  o.pods.push_back(pod("z", "new", "node-1", {}, {{"pod", "b"}}, {}, k8s::PodPhase::Pending));
  o.pods.push_back(
      pod("z", "starting", "node-1", {"10.0.3.52"}, {{"pod", "b"}}, {}, k8s::PodPhase::Pending));
  o.policies.push_back(ingress_policy("x", "from-b", sel(),
                                      {PolicyRule{{}, {nss_pods(sel(), sel({{"pod", "b"}}))}}}));
  o.policies.push_back(ingress_policy("z", "deny", sel(), {}));
  expect_flows(o, {
                      {"z/b", "x/a", TCP, 80, kAllow},
                      {"10.0.3.50", "x/a", TCP, 80, kDeny},
                      {"10.0.3.51", "x/a", TCP, 80, kDeny},
                      {"10.0.3.52", "x/a", TCP, 80, kAllow},  // Pending with an IP counts
                      {"x/a", "10.0.3.50", TCP, 80, kAllow},  // finished: no chain
                      {"x/a", "10.0.3.52", TCP, 80, kDeny},
                  });
}

TEST(Flow, NamespaceNameLabelSelectsDeclaredAndUndeclaredNamespaces) {
  k8s::Objects o = e2e_model();
  // Namespace w is never declared: its pods still live in a namespace that
  // carries kubernetes.io/metadata.name=w.
  o.pods.push_back(pod("w", "a", "node-2", {"10.0.9.1"}, {{"pod", "a"}}));
  o.policies.push_back(
      ingress_policy("x", "by-name", sel(),
                     {PolicyRule{{},
                                 {nss(sel({{k8s::kNamespaceNameLabel, "y"}})),
                                  nss(sel({}, {req(k8s::kNamespaceNameLabel, Op::In, {"w"})}))}}}));
  expect_flows(o, {
                      {"y/c", "x/a", TCP, 80, kAllow},
                      {"w/a", "x/b", TCP, 80, kAllow},
                      {"z/a", "x/a", TCP, 80, kDeny},
                  });
}

TEST(Flow, SharedIpCountsForEveryPodHoldingIt) {
  k8s::Objects o = e2e_model();
  // A pod on its way out and its successor briefly share 10.0.3.99; only the
  // first carries the label the peer selects.
  o.pods.push_back(pod("z", "old", "node-2", {"10.0.3.99"}, {{"pod", "old"}}));
  o.pods.push_back(
      pod("z", "new", "node-2", {"10.0.3.99"}, {{"pod", "new"}}, {}, k8s::PodPhase::Pending));
  o.policies.push_back(ingress_policy("x", "from-old", sel(),
                                      {PolicyRule{{}, {nss_pods(sel(), sel({{"pod", "old"}}))}}}));
  expect_flows(o, {
                      {"10.0.3.99", "x/a", TCP, 80, kAllow},
                      {"z/a", "x/a", TCP, 80, kDeny},
                  });
}

}  // namespace
}  // namespace netpol::ctest

// The same tables, with the policy written as a manifest and decoded by k8s/:
// the points where "missing", "empty" and "defaulted" differ only in YAML.
namespace netpol::ctest {
namespace {

k8s::Objects with_manifest(const std::string& yaml) {
  k8s::Objects o = e2e_model();
  k8s::DecodeResult r = k8s::decode_manifests(yaml, "test.yaml");
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front().str());
  for (auto& p : r.objects.policies) o.policies.push_back(std::move(p));
  return o;
}

TEST(FlowManifest, PolicyTypesDefaultToIngressAndEgressWhenEgressRulesExist) {
  k8s::Objects o = with_manifest(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-only-rules, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: y}}}]
)");
  expect_flows(o, {
                      {"x/a", "y/a", TCP, 80, kAllow},
                      {"x/a", "z/a", TCP, 80, kDeny},
                      // Ingress is isolated too, with no ingress rules: deny all.
                      {"y/a", "x/a", TCP, 80, kDeny},
                  });
}

TEST(FlowManifest, ExplicitEgressPolicyTypeLeavesIngressOpen) {
  k8s::Objects o = with_manifest(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-type, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
)");
  expect_flows(o, {
                      {"x/a", "y/a", TCP, 80, kDeny},
                      {"y/a", "x/a", TCP, 80, kAllow},
                  });
}

TEST(FlowManifest, EmptyAndMissingIngressBothDenyAll) {
  k8s::Objects o = with_manifest(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: empty-list, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: []
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: missing, namespace: y}
spec:
  podSelector: {matchLabels: {pod: a}}
)");
  expect_flows(o, {
                      {"z/a", "x/a", TCP, 80, kDeny},
                      {"z/a", "y/a", TCP, 80, kDeny},
                      {"z/a", "x/b", TCP, 80, kAllow},
                  });
}

TEST(FlowManifest, EmptyAndMissingFromBothAllowAllSources) {
  k8s::Objects o = with_manifest(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-empty, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: []
    ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-missing, namespace: y}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 81, protocol: UDP}]
)");
  expect_flows(o, {
                      {"z/a", "x/a", TCP, 80, kAllow},
                      {"192.168.7.7", "x/c", TCP, 80, kAllow},
                      {"z/a", "x/a", TCP, 81, kDeny},
                      {"z/a", "y/b", UDP, 81, kAllow},
                      {"192.168.7.7", "y/c", UDP, 81, kAllow},
                      {"z/a", "y/b", TCP, 81, kDeny},
                  });
}

TEST(FlowManifest, NamedPortAndEndPortFromYaml) {
  k8s::Objects o = with_manifest(R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: mixed, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {}, namespaceSelector: {matchLabels: {ns: x}}}]
    ports: [{port: serve-81-udp, protocol: UDP}, {port: 8000, endPort: 8002}]
  egress:
  - ports: [{port: web}]
)");
  expect_flows(o, {
                      {"x/a", "y/b", UDP, 81, kAllow},
                      {"x/a", "y/b", UDP, 80, kDeny},
                      {"x/a", "y/b", TCP, 8001, kAllow},
                      {"x/a", "y/b", TCP, 8003, kDeny},
                      {"z/a", "y/b", TCP, 8001, kDeny},
                      {"y/a", "z/b", TCP, 9090, kAllow},
                      {"y/a", "z/a", TCP, 9090, kDeny},
                      {"y/a", "z/a", TCP, 8080, kAllow},
                  });
}

}  // namespace
}  // namespace netpol::ctest
