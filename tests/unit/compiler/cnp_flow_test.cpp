// ClusterNetworkPolicy semantics as packet-flow tables over the IR of every
// node (flow.h walks the tiers as the kernel's chains do): Admin tier by
// priority and rule order, then NetworkPolicy, then Baseline; Accept, Deny and
// Pass in both tiers and directions; protocols, ranges and named ports;
// networks and nodes peers; the fail-closed rule for unknown peers;
// hostNetwork pods; and multi-step changes through the incremental Compiler.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "tests/unit/compiler/flow_cases.h"

namespace netpol::ctest {
namespace {

constexpr Protocol TCP = Protocol::TCP;
constexpr Protocol UDP = Protocol::UDP;
constexpr Protocol SCTP = Protocol::SCTP;
constexpr CnpTier Admin = CnpTier::Admin;
constexpr CnpTier Baseline = CnpTier::Baseline;
constexpr CnpAction Accept = CnpAction::Accept;
constexpr CnpAction Deny = CnpAction::Deny;
constexpr CnpAction Pass = CnpAction::Pass;
constexpr const char* kOutside = "192.168.7.7";

LabelSelector ns_is(const std::string& n) {
  return sel({{"ns", n}});
}
LabelSelector pod_is(const std::string& n) {
  return sel({{"pod", n}});
}

TEST(CnpFlow, AdminDenyIngressBeatsNetworkPolicyAllow) {
  for (Protocol proto : {TCP, UDP, SCTP}) {
    k8s::Objects o = e2e_model();
    o.policies.push_back(ingress_policy("x", "allow-all", sel(), {PolicyRule{}}));
    o.cluster_policies.push_back(
        cnp("deny-y", Admin, 10, subject_ns(ns_is("x")),
            {cnp_rule("deny-from-y", Deny, {cnp_nss(ns_is("y"))}, {cnp_port(80, proto)})}));
    expect_flows(o, {
                        {"y/a", "x/a", proto, 80, kDeny},
                        {"y/c", "x/b@6", proto, 80, kDeny},
                        {"y/a", "x/a", proto, 81, kAllow},  // another port: NetworkPolicy allows
                        {"z/a", "x/a", proto, 80, kAllow},
                        {"x/a", "y/a", proto, 80, kAllow},  // y is no subject
                    });
  }
}

TEST(CnpFlow, AdminDenyEgress) {
  for (Protocol proto : {TCP, UDP, SCTP}) {
    k8s::Objects o = e2e_model();
    o.cluster_policies.push_back(
        cnp("no-egress-to-z", Admin, 10, subject_ns(ns_is("x")), {},
            {cnp_rule("deny-z", Deny, {cnp_nss(ns_is("z"))}, {cnp_range(80, 81, proto)})}));
    expect_flows(o, {
                        {"x/a", "z/a", proto, 80, kDeny},
                        {"x/c", "z/b", proto, 81, kDeny},
                        {"x/a@6", "z/c@6", proto, 81, kDeny},
                        {"x/a", "z/a", proto, 82, kAllow},
                        {"x/a", "y/a", proto, 80, kAllow},
                        {"z/a", "x/a", proto, 80, kAllow},  // ingress of x untouched
                    });
  }
}

TEST(CnpFlow, AdminAcceptSkipsNetworkPolicyOfThatDirectionOnly) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "deny-in", sel(), {}));
  o.policies.push_back(ingress_policy("z", "deny-in", sel(), {}));
  o.cluster_policies.push_back(cnp("accept-y", Admin, 10, subject_ns(ns_is("x")),
                                   {cnp_rule("accept-from-y", Accept, {cnp_nss(ns_is("y"))})},
                                   {cnp_rule("accept-to-z", Accept, {cnp_nss(ns_is("z"))})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},  // NetworkPolicy deny-in not consulted
                      {"y/b", "x/c", UDP, 53, kAllow},
                      {"z/a", "x/a", TCP, 80, kDeny},  // no CNP rule: deny-in decides
                      // Egress accepted at x/a, but z/a's ingress still applies.
                      {"x/a", "z/a", TCP, 80, kDeny},
                  });
}

TEST(CnpFlow, AdminAcceptOfIngressDoesNotLiftTheSourcesEgress) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(egress_policy("y", "no-egress", sel(), {}));
  o.cluster_policies.push_back(cnp("accept-y", Admin, 10, subject_ns(ns_is("x")),
                                   {cnp_rule("accept-from-y", Accept, {cnp_nss(ns_is("y"))})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kDeny},
                      {"z/a", "x/a", TCP, 80, kAllow},
                  });
}

TEST(CnpFlow, AdminPassHandsOverToNetworkPolicyInBothDirections) {
  k8s::Objects o = e2e_model();
  // x's pods: ingress only from y/a on 80; egress only to z/b.
  o.policies.push_back(ingress_policy(
      "x", "from-y-a", sel(), {rule({nss_pods(sel({{"ns", "y"}}), pod_is("a"))}, {port(80)})}));
  o.policies.push_back(
      egress_policy("x", "to-z-b", sel(), {rule({nss_pods(sel({{"ns", "z"}}), pod_is("b"))})}));
  o.cluster_policies.push_back(cnp("delegate", Admin, 5, subject_ns(ns_is("x")),
                                   {cnp_rule("pass-y", Pass, {cnp_nss(ns_is("y"))}),
                                    cnp_rule("deny-rest", Deny, {cnp_nss(sel())})},
                                   {cnp_rule("pass-z", Pass, {cnp_nss(ns_is("z"))}),
                                    cnp_rule("deny-rest", Deny, {cnp_nss(sel())})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},  // Pass, then the NetworkPolicy allows
                      {"y/a", "x/a", TCP, 81, kDeny},   // Pass, the NetworkPolicy denies
                      {"y/b", "x/a", TCP, 80, kDeny},
                      {"z/a", "x/a", TCP, 80, kDeny},  // Admin Deny
                      {"x/a", "z/b", TCP, 80, kAllow},
                      {"x/a", "z/a", TCP, 80, kDeny},
                      {"x/a", "y/a", TCP, 80, kDeny},  // Admin Deny of egress
                  });
}

TEST(CnpFlow, AdminPassWithoutNetworkPolicyGoesToBaseline) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(
      cnp("delegate", Admin, 5, subject_ns(ns_is("x")),
          {cnp_rule("pass-y", Pass, {cnp_nss(ns_is("y"))}),
           cnp_rule("deny-y", Deny, {cnp_nss(ns_is("y"))})}));  // never reached for y
  o.cluster_policies.push_back(
      cnp("baseline", Baseline, 5, subject_ns(ns_is("x")),
          {cnp_rule("deny-y-81", Deny, {cnp_nss(ns_is("y"))}, {cnp_port(81)})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},
                      {"y/a", "x/a", TCP, 81, kDeny},
                      {"z/a", "x/a", TCP, 81, kAllow},
                  });
}

TEST(CnpFlow, PriorityThenNameDecideAmongAdminPolicies) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "deny-in", sel(), {}));
  // 20 accepts, 10 denies: 10 first.
  o.cluster_policies.push_back(cnp("a-accept", Admin, 20, subject_ns(ns_is("x")),
                                   {cnp_rule("accept-y", Accept, {cnp_nss(ns_is("y"))})}));
  o.cluster_policies.push_back(
      cnp("b-deny", Admin, 10, subject_ns(ns_is("x")),
          {cnp_rule("deny-y-81", Deny, {cnp_nss(ns_is("y"))}, {cnp_port(81)})}));
  // Equal priorities: by name, so "c-accept" before "d-deny".
  o.cluster_policies.push_back(cnp("d-deny", Admin, 30, subject_ns(ns_is("x")),
                                   {cnp_rule("deny-z", Deny, {cnp_nss(ns_is("z"))})}));
  o.cluster_policies.push_back(
      cnp("c-accept", Admin, 30, subject_ns(ns_is("x")),
          {cnp_rule("accept-z-80", Accept, {cnp_nss(ns_is("z"))}, {cnp_port(80)})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 81, kDeny},
                      {"y/a", "x/a", TCP, 80, kAllow},
                      {"z/a", "x/a", TCP, 80, kAllow},
                      {"z/a", "x/a", TCP, 81, kDeny},
                  });
}

TEST(CnpFlow, RulesInOrderFirstMatchDecides) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(
      cnp("ordered", Admin, 1, subject_ns(ns_is("x")),
          {cnp_rule("accept-y-a", Accept, {cnp_pods(ns_is("y"), pod_is("a"))}),
           cnp_rule("deny-y", Deny, {cnp_nss(ns_is("y"))}),
           cnp_rule("accept-all", Accept, {cnp_nss(sel())})}));
  expect_flows(o, {
                      {"y/a", "x/b", TCP, 80, kAllow},
                      {"y/b", "x/b", TCP, 80, kDeny},
                      {"y/c", "x/b@6", SCTP, 80, kDeny},
                      {"z/b", "x/b", TCP, 80, kAllow},
                  });
}

TEST(CnpFlow, PodsSubjectSelectsOnlyThosePods) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(cnp("guard-a", Admin, 1, subject_pods(sel(), pod_is("a")),
                                   {cnp_rule("deny-z", Deny, {cnp_nss(ns_is("z"))})}));
  expect_flows(o, {
                      {"z/b", "x/a", TCP, 80, kDeny},
                      {"z/b", "y/a", TCP, 80, kDeny},
                      {"z/b", "x/b", TCP, 80, kAllow},
                      {"z/a", "z/b", TCP, 80, kAllow},
                      {"z/b@6", "z/a@6", TCP, 80, kDeny},
                  });
}

TEST(CnpFlow, BaselineDenyAppliesOnlyWhereNoNetworkPolicyIsolates) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(cnp("baseline-deny", Baseline, 100, subject_ns(sel()),
                                   {cnp_rule("deny-pods", Deny, {cnp_nss(sel())})}));
  // y opens x/a's ... namespace x opens ingress to its pod a from y.
  o.policies.push_back(
      ingress_policy("x", "from-y", sel({{"pod", "a"}}), {rule({nss(sel({{"ns", "y"}}))})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kAllow},  // NetworkPolicy decides
                      {"z/a", "x/a", TCP, 80, kDeny},   // ... and denies
                      {"y/a", "x/b", TCP, 80, kDeny},   // Baseline
                      {"x/b", "z/c", UDP, 81, kDeny},
                      {kOutside, "x/b", TCP, 80, kAllow},  // not a pod: no rule matches
                  });
}

TEST(CnpFlow, BaselineAcceptAndPassInOrder) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(
      cnp("b1", Baseline, 1, subject_ns(ns_is("x")),
          {cnp_rule("pass-z-80", Pass, {cnp_nss(ns_is("z"))}, {cnp_port(80)}),
           cnp_rule("accept-y", Accept, {cnp_nss(ns_is("y"))})}));
  o.cluster_policies.push_back(cnp("b2", Baseline, 2, subject_ns(ns_is("x")),
                                   {cnp_rule("deny-all", Deny, {cnp_nss(sel())})}));
  expect_flows(o, {
                      {"z/a", "x/a", TCP, 80, kAllow},  // Pass skips the rest of the tier
                      {"z/a", "x/a", TCP, 81, kDeny},
                      {"y/a", "x/a", UDP, 81, kAllow},
                      {"x/b", "x/a", TCP, 80, kDeny},
                  });
}

TEST(CnpFlow, BaselineEgressDenyAndNetworkPolicyEgress) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(cnp("no-egress", Baseline, 1, subject_ns(sel()), {},
                                   {cnp_rule("deny", Deny, {cnp_nss(sel())})}));
  o.policies.push_back(
      egress_policy("y", "to-x", sel(), {rule({nss(sel({{"ns", "x"}}))}, {port(80, UDP)})}));
  expect_flows(o, {
                      {"y/a", "x/a", UDP, 80, kAllow},
                      {"y/a", "x/a", TCP, 80, kDeny},
                      {"x/a", "y/a", UDP, 80, kDeny},
                      {"x/a", kOutside, UDP, 80, kAllow},
                  });
}

TEST(CnpFlow, AdminBeforeBaselineBothDirections) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(cnp("admin-accept", Admin, 1, subject_ns(sel()),
                                   {cnp_rule("from-y", Accept, {cnp_nss(ns_is("y"))})},
                                   {cnp_rule("to-y", Accept, {cnp_nss(ns_is("y"))})}));
  o.cluster_policies.push_back(cnp("baseline-deny", Baseline, 1, subject_ns(sel()),
                                   {cnp_rule("in", Deny, {cnp_nss(sel())})},
                                   {cnp_rule("out", Deny, {cnp_nss(sel())})}));
  expect_flows(o, {
                      {"y/a", "y/b", TCP, 80, kAllow},  // Admin accepts both directions
                      {"x/a", "y/b", TCP, 80, kDeny},   // egress accepted, ingress: Baseline
                      {"y/a", "x/b", TCP, 80, kDeny},   // ingress accepted, egress: Baseline
                      {"x/a", "z/b", TCP, 80, kDeny},
                  });
}

TEST(CnpFlow, NetworksPeers) {
  k8s::Objects o = e2e_model();
  o.cluster_policies.push_back(
      cnp("nets", Admin, 1, subject_ns(ns_is("x")), {},
          {cnp_rule("accept-y-a", Accept, {cnp_nets({"10.0.2.1/32"})}),
           cnp_rule("deny-y", Deny, {cnp_nets({"10.0.2.0/24", "10.0.0.0/16", "fd00::3:0/112"})})}));
  expect_flows(o, {
                      {"x/a", "y/a", TCP, 80, kAllow},
                      {"x/a", "y/b", TCP, 80, kDeny},
                      {"x/a", "z/b", TCP, 80, kDeny},  // 10.0.0.0/16 holds it
                      {"x/a@6", "y/b@6", TCP, 80, kAllow},
                      {"x/a@6", "z/b@6", TCP, 80, kDeny},
                      {"x/a", kOutside, TCP, 80, kAllow},
                  });
}

TEST(CnpFlow, NodesPeers) {
  k8s::Objects o = e2e_model();
  o.nodes.push_back(node("node-1", {{"role", "control"}}, {"192.168.1.1", "fd01::1"}));
  o.nodes.push_back(node("node-2", {{"role", "worker"}}, {"192.168.1.2"}));
  o.cluster_policies.push_back(cnp(
      "no-control-plane", Admin, 1, subject_ns(sel()), {},
      {cnp_rule("deny-control", Deny, {cnp_nodes(sel({{"role", "control"}}))}, {cnp_port(6443)})}));
  expect_flows(o, {
                      {"x/a", "192.168.1.1", TCP, 6443, kDeny},
                      {"x/a@6", "fd01::1", TCP, 6443, kDeny},
                      {"y/c", "192.168.1.1", TCP, 6443, kDeny},
                      {"x/a", "192.168.1.2", TCP, 6443, kAllow},
                      {"x/a", "192.168.1.1", TCP, 443, kAllow},
                  });
}

TEST(CnpFlow, NamedPortsResolveOnTheDestinationPod) {
  k8s::Objects o = e2e_model();
  // Pod a serves "web" on 8080, pod b on 9090.
  o.cluster_policies.push_back(
      cnp("web-in", Admin, 1, subject_ns(ns_is("x")),
          {cnp_rule("deny-web", Deny, {cnp_nss(sel())}, {cnp_named("web")})}));
  o.cluster_policies.push_back(cnp("web-out", Admin, 2, subject_ns(ns_is("y")), {},
                                   {cnp_rule("deny-web", Deny, {cnp_nss(sel())},
                                             {cnp_named("web"), cnp_named("serve-81-udp")})}));
  expect_flows(o, {
                      {"z/a", "x/a", TCP, 8080, kDeny},
                      {"z/a", "x/a", TCP, 9090, kAllow},
                      {"z/a", "x/b", TCP, 9090, kDeny},
                      {"y/a", "z/a", TCP, 8080, kDeny},  // egress: the destination's number
                      {"y/a", "z/b", TCP, 8080, kAllow},
                      {"y/a", "z/b", TCP, 9090, kDeny},
                      {"y/a", "z/b", UDP, 81, kDeny},  // named port of UDP takes its protocol
                      {"y/a", "z/b", TCP, 81, kAllow},
                  });
}

TEST(CnpFlow, UnknownPeersFailClosed) {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "deny-in", sel(), {}));
  // Accept with an unknown peer matches nothing: deny-in still decides.
  o.cluster_policies.push_back(cnp("accept-unknown", Admin, 1, subject_ns(ns_is("x")),
                                   {cnp_rule("accept", Accept, {cnp_unknown()})}));
  // Deny with an unknown peer matches everything, whatever the port.
  o.cluster_policies.push_back(
      cnp("deny-unknown", Admin, 2, subject_ns(ns_is("y")),
          {cnp_rule("deny", Deny, {cnp_unknown(), cnp_nss(ns_is("z"))}, {cnp_port(80)})}));
  expect_flows(o, {
                      {"y/a", "x/a", TCP, 80, kDeny},
                      {"x/a", "y/a", TCP, 80, kDeny},
                      {"x/a", "y/a", UDP, 53, kDeny},
                      {kOutside, "y/b", TCP, 1, kDeny},
                      {"x/a", "z/a", TCP, 80, kAllow},
                  });
}

TEST(CnpFlow, HostNetworkPodsAreNeverSubjects) {
  k8s::Objects o = e2e_model();
  k8s::Pod h = pod("x", "host", "node-2", {"192.168.1.2"}, {{"pod", "a"}});
  h.host_network = true;
  o.pods.push_back(h);
  o.cluster_policies.push_back(cnp("x-no-egress", Admin, 1, subject_ns(ns_is("x")), {},
                                   {cnp_rule("deny", Deny, {cnp_nss(sel())})}));
  o.cluster_policies.push_back(cnp("x-no-ingress", Admin, 1, subject_ns(ns_is("x")),
                                   {cnp_rule("deny", Deny, {cnp_nets({"0.0.0.0/0"})})}));
  expect_flows(o, {
                      {"x/a", "y/a", TCP, 80, kDeny},
                      {"192.168.1.2", "y/a", TCP, 80, kAllow},  // x/host: no subject
                      {"y/a", "192.168.1.2", TCP, 80, kAllow},
                  });
  for (const auto& n : nodes_of(o)) {
    ir::RuleSet rs = compiler::compile(o, n);
    EXPECT_EQ(rs.pods.count("x/host"), 0u) << n;
  }
}

// Multi-step: the same tables after each change, through incremental
// Compilers (one per node), which must also equal a full compile.
struct Steps {
  k8s::Objects o = e2e_model();
  std::map<std::string, std::unique_ptr<compiler::Compiler>> nodes;

  Steps() {
    for (const auto& n : nodes_of(o)) {
      auto c = std::make_unique<compiler::Compiler>(n);
      for (const auto& ns : o.namespaces) c->upsert_namespace(ns);
      for (const auto& p : o.pods) c->upsert_pod(p);
      nodes.emplace(n, std::move(c));
    }
  }
  void upsert(const k8s::ClusterNetworkPolicy& c) {
    std::erase_if(o.cluster_policies, [&](const auto& x) { return x.name == c.name; });
    o.cluster_policies.push_back(c);
    for (auto& [_, comp] : nodes) comp->upsert_cluster_policy(c);
  }
  void remove(const std::string& name) {
    std::erase_if(o.cluster_policies, [&](const auto& x) { return x.name == name; });
    for (auto& [_, comp] : nodes) comp->remove_cluster_policy(name);
  }
  void upsert(const k8s::Pod& p) {
    for (auto& q : o.pods)
      if (q.key() == p.key()) q = p;
    for (auto& [_, comp] : nodes) comp->upsert_pod(p);
  }
  void upsert(const k8s::Namespace& n) {
    for (auto& q : o.namespaces)
      if (q.name == n.name) q = n;
    for (auto& [_, comp] : nodes) comp->upsert_namespace(n);
  }
  void upsert(const NetworkPolicy& p) {
    std::erase_if(o.policies, [&](const auto& x) { return x.key() == p.key(); });
    o.policies.push_back(p);
    for (auto& [_, comp] : nodes) comp->upsert_policy(p);
  }
  void upsert(const k8s::Node& n) {
    std::erase_if(o.nodes, [&](const auto& x) { return x.name == n.name; });
    o.nodes.push_back(n);
    for (auto& [_, comp] : nodes) comp->upsert_node(n);
  }
  void expect(const std::vector<Case>& cases) {
    std::vector<const ir::RuleSet*> ptrs;
    for (auto& [n, comp] : nodes) {
      EXPECT_EQ(comp->rules(), compiler::compile(o, n)) << "incremental != full on " << n;
      ptrs.push_back(&comp->rules());
    }
    expect_flows_on(o, ptrs, cases);
  }
};

TEST(CnpFlow, StepsPriorityChangedRulesReorderedTierChangedDeleted) {
  Steps s;
  s.upsert(ingress_policy("x", "deny-in", sel(), {}));
  auto accept = cnp("accept-y", Admin, 20, subject_ns(ns_is("x")),
                    {cnp_rule("accept", Accept, {cnp_nss(ns_is("y"))})});
  auto deny = cnp("deny-y-a", Admin, 10, subject_ns(ns_is("x")),
                  {cnp_rule("deny", Deny, {cnp_pods(ns_is("y"), pod_is("a"))})});
  s.upsert(accept);
  s.upsert(deny);
  s.expect({{"y/a", "x/a", TCP, 80, kDeny}, {"y/b", "x/a", TCP, 80, kAllow}});
  accept.priority = 5;  // priority changed: accept first now
  s.upsert(accept);
  s.expect({{"y/a", "x/a", TCP, 80, kAllow}, {"y/b", "x/a", TCP, 80, kAllow}});
  // Rules reordered within one CNP.
  auto both = cnp("both", Admin, 1, subject_ns(ns_is("x")),
                  {cnp_rule("deny-y-a", Deny, {cnp_pods(ns_is("y"), pod_is("a"))}),
                   cnp_rule("accept-y", Accept, {cnp_nss(ns_is("y"))})});
  s.upsert(both);
  s.expect({{"y/a", "x/a", TCP, 80, kDeny}, {"y/b", "x/a", TCP, 80, kAllow}});
  std::swap(both.ingress[0], both.ingress[1]);
  s.upsert(both);
  s.expect({{"y/a", "x/a", TCP, 80, kAllow}});
  // Tier changed: as Baseline, deny-in (a NetworkPolicy) decides first.
  s.remove("accept-y");
  s.remove("deny-y-a");
  both.tier = Baseline;
  s.upsert(both);
  s.expect({{"y/a", "x/a", TCP, 80, kDeny}, {"y/b", "x/b", TCP, 80, kDeny}});
  s.upsert(ingress_policy("x", "deny-in", sel({{"pod", "nobody"}}), {}));  // x no longer isolated
  s.expect({{"y/a", "x/a", TCP, 80, kAllow}, {"z/a", "x/a", TCP, 80, kAllow}});
  s.remove("both");
  s.expect({{"y/a", "x/a", TCP, 80, kAllow}});
}

TEST(CnpFlow, StepsSubjectRelabelledAndNamespaceRelabelled) {
  Steps s;
  s.upsert(cnp("guard", Admin, 1, subject_pods(sel({{"tier", "db"}}), pod_is("b")),
               {cnp_rule("deny", Deny, {cnp_nss(sel())})}));
  s.expect({{"z/a", "x/b", TCP, 80, kAllow}});
  s.upsert(ns("x", {{"ns", "x"}, {"tier", "db"}}));
  s.expect({{"z/a", "x/b", TCP, 80, kDeny}, {"z/a", "x/a", TCP, 80, kAllow}});
  k8s::Pod a = s.o.pods[0];  // x/a
  ASSERT_EQ(a.key(), "x/a");
  a.labels["pod"] = "b";
  s.upsert(a);
  s.expect({{"z/a", "x/a", TCP, 80, kDeny}});
  a.labels["pod"] = "a";
  s.upsert(a);
  s.expect({{"z/a", "x/a", TCP, 80, kAllow}, {"z/a", "x/b", TCP, 80, kDeny}});
  s.upsert(ns("x", {{"ns", "x"}}));
  s.expect({{"z/a", "x/b", TCP, 80, kAllow}});
}

TEST(CnpFlow, StepsNodeAppearsInANodesPeer) {
  Steps s;
  s.upsert(cnp("no-nodes", Admin, 1, subject_ns(sel()), {},
               {cnp_rule("deny", Deny, {cnp_nodes(sel({{"role", "control"}}))})}));
  s.expect({{"x/a", "192.168.1.1", TCP, 6443, kAllow}});
  s.upsert(node("cp-1", {{"role", "control"}}, {"192.168.1.1"}));
  s.expect({{"x/a", "192.168.1.1", TCP, 6443, kDeny}, {"x/c", "192.168.1.1", TCP, 1, kDeny}});
}

}  // namespace
}  // namespace netpol::ctest
