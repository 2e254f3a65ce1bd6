// ClusterNetworkPolicies and Nodes through the whole agent: the in-process
// fake API server (real HTTP on loopback), the real informers and sync loop,
// a fake kernel. What the API holds ends up in the kernel's table (compared
// with an independent compile) and decides packets (the IR evaluator of the
// compiler tests, over the IR the agent last applied). Covers the CRD being
// absent, installed later and removed again, and Nodes the RBAC hides.
#include <gtest/gtest.h>

#include <chrono>

#include "compiler/compiler.h"
#include "nft/render.h"
#include "nft/script.h"
#include "tests/support/manifests.h"
#include "tests/unit/agent/agent_fixture.h"
#include "tests/unit/compiler/flow_cases.h"

namespace netpol::agent {
namespace {

using namespace ctest;
using fakeapi::Kind;
using std::chrono::milliseconds;
using testsupport::manifest;
constexpr CnpTier Admin = CnpTier::Admin;
constexpr CnpAction Accept = CnpAction::Accept;
constexpr CnpAction Deny = CnpAction::Deny;
constexpr CnpAction Pass = CnpAction::Pass;
constexpr const char* kNode = "node-1";  // e2e_model(): x/a, x/b, y/a, ... run here

LabelSelector ns_is(const std::string& n) {
  return sel({{"ns", n}});
}

struct AgentCnp : AgentFixture {
  // The e2e model (plus `extra` NetworkPolicies) into the fake, as kubectl would.
  void load(const k8s::Objects& o) {
    for (const auto& n : o.namespaces)
      ASSERT_TRUE(server->create(Kind::Namespace, "", manifest(n)).ok());
    for (const auto& p : o.pods) ASSERT_TRUE(server->create(Kind::Pod, p.ns, manifest(p)).ok());
    for (const auto& np : o.policies)
      ASSERT_TRUE(server->create(Kind::NetworkPolicy, np.ns, manifest(np)).ok());
    for (const auto& c : o.cluster_policies)
      ASSERT_TRUE(server->create(Kind::ClusterNetworkPolicy, "", manifest(c)).ok());
    for (const auto& n : o.nodes) ASSERT_TRUE(server->create(Kind::Node, "", manifest(n)).ok());
  }
  void start(milliseconds recheck = milliseconds(30'000)) {
    start_agent(kNode, std::chrono::seconds(0), [&](AgentConfig& c) { c.cnp_recheck = recheck; });
  }
  // True once the kernel holds exactly what a compile of `o` renders (and
  // the agent's applied IR, which expect() reads, is that compile's).
  bool enforces(const k8s::Objects& o, milliseconds limit = milliseconds(15000)) {
    const ir::RuleSet ir = compiler::compile(o, kNode);
    const auto want = nft::render(ir).ruleset;
    return wait_until([&] { return kernel.table() == want && applied_rules() == ir; }, limit);
  }
  std::string table_text() {
    auto t = kernel.table();
    return t ? nft::to_block(*t) : "";
  }
  void expect(const k8s::Objects& o, const std::vector<Case>& cases) {
    const ir::RuleSet rules = applied_rules();
    expect_flows_on(o, {&rules}, cases);
  }
};

k8s::Objects model_allowing_x() {
  k8s::Objects o = e2e_model();
  o.policies.push_back(ingress_policy("x", "allow-all", sel(), {PolicyRule{}}));
  return o;
}

TEST_F(AgentCnp, AdminTierFollowsCreateUpdateAndDeleteThroughTheApi) {
  k8s::Objects o = model_allowing_x();
  load(o);
  start();
  ASSERT_TRUE(caught_up());
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kAllow}});
  EXPECT_EQ(scrape().value("netpol_cnp_api_available"), 1);

  // Deny from y on 80 (priority 10), Accept from y on 80 (priority 20): Deny first.
  auto deny = cnp("deny-y", Admin, 10, subject_ns(ns_is("x")),
                  {cnp_rule("deny-from-y", Deny, {cnp_nss(ns_is("y"))}, {cnp_port(80)})});
  auto accept = cnp("accept-y", Admin, 20, subject_ns(ns_is("x")),
                    {cnp_rule("accept-from-y", Accept, {cnp_nss(ns_is("y"))}, {cnp_port(80)})});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(server->create(Kind::ClusterNetworkPolicy, "", manifest(deny)).ok());
  o.cluster_policies = {deny};
  ASSERT_TRUE(enforces(o));
  const auto took = std::chrono::steady_clock::now() - t0;
  // The batch window is 20 ms at most; the rest is HTTP, compile and a loaded box.
  EXPECT_LT(took, milliseconds(2000));
  EXPECT_NE(table_text().find("cnp/deny-y"), std::string::npos) << table_text();
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kDeny},
             {"y/a", "x/a", Protocol::TCP, 81, kAllow},  // the NetworkPolicy
             {"z/a", "x/a", Protocol::TCP, 80, kAllow}});

  ASSERT_TRUE(server->create(Kind::ClusterNetworkPolicy, "", manifest(accept)).ok());
  o.cluster_policies = {accept, deny};
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kDeny}});

  // Priority change: accept-y goes first.
  ASSERT_TRUE(
      server->merge_patch(Kind::ClusterNetworkPolicy, "", "accept-y", {{"spec", {{"priority", 5}}}})
          .ok());
  o.cluster_policies[0].priority = 5;
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kAllow}, {"z/a", "x/a", Protocol::TCP, 80, kAllow}});

  // Action change: accept-y now Passes, which skips the rest of the Admin
  // tier (deny-y too): the NetworkPolicy decides, and allows.
  auto passing = accept;
  passing.priority = 5;
  passing.ingress[0].action = Pass;
  ASSERT_TRUE(server->update(Kind::ClusterNetworkPolicy, "", "accept-y", manifest(passing)).ok());
  o.cluster_policies[0] = passing;
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kAllow}});
  // And back to Deny, for good measure: the first rule decides again.
  passing.ingress[0].action = Deny;
  ASSERT_TRUE(server->update(Kind::ClusterNetworkPolicy, "", "accept-y", manifest(passing)).ok());
  o.cluster_policies[0] = passing;
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kDeny}, {"y/a", "x/a", Protocol::TCP, 81, kAllow}});

  // Deleted: the NetworkPolicy alone decides; nothing of the CNPs is left.
  ASSERT_TRUE(server->remove(Kind::ClusterNetworkPolicy, "", "deny-y").ok());
  ASSERT_TRUE(server->remove(Kind::ClusterNetworkPolicy, "", "accept-y").ok());
  o.cluster_policies.clear();
  ASSERT_TRUE(enforces(o));
  EXPECT_EQ(table_text().find("cnp/"), std::string::npos) << table_text();
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kAllow}});
  auto m = scrape();
  EXPECT_EQ(m.value("netpol_objects", {{"kind", "clusternetworkpolicy"}}), 0);
  EXPECT_GE(*m.value("netpol_events_total", {{"kind", "clusternetworkpolicy"}, {"op", "upsert"}}),
            5);
  EXPECT_EQ(m.value("netpol_events_total", {{"kind", "clusternetworkpolicy"}, {"op", "delete"}}),
            2);
}

TEST_F(AgentCnp, WithoutTheCrdEnforcesNetworkPoliciesAndPicksCnpsUpOnceInstalled) {
  server->stop();
  fakeapi::Options so = server_options();
  so.install_cnp_crd = false;
  start_server(so);
  k8s::Objects o = model_allowing_x();
  load(o);
  start(milliseconds(100));
  ASSERT_TRUE(wait_until([&] { return agent->ready(); }));
  EXPECT_EQ(agent->serve("GET", "/readyz").status, 200);
  ASSERT_TRUE(enforces(o));
  ASSERT_TRUE(wait_until([&] {
    return scrape().value("netpol_api_absent_total", {{"kind", "clusternetworkpolicy"}}) >= 3;
  })) << "the agent lists again every --cnp-recheck-interval";
  auto m = scrape();
  EXPECT_EQ(m.value("netpol_cnp_api_available"), 0);
  EXPECT_EQ(m.value("netpol_api_errors_total", {{"kind", "clusternetworkpolicy"}}), 0)
      << "a CRD that is not installed is no error";
  EXPECT_EQ(agent->serve("GET", "/healthz").status, 200);

  // The CRD is installed and a CNP created: enforced without a restart.
  ASSERT_TRUE(server->create(Kind::CustomResourceDefinition, "", fakeapi::cnp_crd_object()).ok());
  auto deny = cnp("deny-y", Admin, 10, subject_ns(ns_is("x")),
                  {cnp_rule("deny-from-y", Deny, {cnp_nss(ns_is("y"))}, {cnp_port(80)})});
  ASSERT_TRUE(server->create(Kind::ClusterNetworkPolicy, "", manifest(deny)).ok());
  o.cluster_policies = {deny};
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kDeny}, {"z/a", "x/a", Protocol::TCP, 80, kAllow}});
  ASSERT_TRUE(wait_until([&] { return scrape().value("netpol_cnp_api_available") == 1; }));
  EXPECT_EQ(scrape().value("netpol_objects", {{"kind", "clusternetworkpolicy"}}), 1);

  // The CRD removed (the API server deletes its objects): the CNP rules go,
  // the NetworkPolicies stay, and the agent goes back to re-checking.
  const double absent_before =
      *scrape().value("netpol_api_absent_total", {{"kind", "clusternetworkpolicy"}});
  ASSERT_TRUE(server->remove(Kind::CustomResourceDefinition, "", fakeapi::kCnpCrdName).ok());
  o.cluster_policies.clear();
  ASSERT_TRUE(enforces(o));
  expect(o, {{"y/a", "x/a", Protocol::TCP, 80, kAllow}});
  server->drop_watches();  // a real server ends the watches of a removed CRD
  ASSERT_TRUE(wait_until([&] {
    auto e = scrape();
    return e.value("netpol_cnp_api_available") == 0 &&
           *e.value("netpol_api_absent_total", {{"kind", "clusternetworkpolicy"}}) > absent_before;
  }));
  EXPECT_EQ(agent->serve("GET", "/readyz").status, 200);
}

TEST_F(AgentCnp, NodeAddressChangeMovesTheNodesPeerSet) {
  k8s::Objects o = e2e_model();
  o.nodes = {node("infra-1", {{"role", "infra"}}, {"192.168.50.1"}),
             node("worker-1", {{"role", "worker"}}, {"192.168.60.1"})};
  o.cluster_policies = {
      cnp("no-infra", Admin, 10, subject_ns(ns_is("x")), {},
          {cnp_rule("deny-infra", Deny, {cnp_nodes(sel({{"role", "infra"}}))}, {cnp_port(80)})})};
  load(o);
  start();
  ASSERT_TRUE(caught_up());
  ASSERT_TRUE(enforces(o));
  expect(o, {{"x/a", "192.168.50.1", Protocol::TCP, 80, kDeny},
             {"x/a", "192.168.50.2", Protocol::TCP, 80, kAllow},
             {"x/a", "192.168.60.1", Protocol::TCP, 80, kAllow},
             {"y/a", "192.168.50.1", Protocol::TCP, 80, kAllow}});  // y is no subject

  // The infra node's address changes (what the kubelet reports).
  ASSERT_TRUE(
      server
          ->update_status(Kind::Node, "", "infra-1",
                          {{"addresses", {{{"type", "InternalIP"}, {"address", "192.168.50.2"}}}}})
          .ok());
  o.nodes[0] = node("infra-1", {{"role", "infra"}}, {"192.168.50.2"});
  ASSERT_TRUE(enforces(o));
  expect(o, {{"x/a", "192.168.50.1", Protocol::TCP, 80, kAllow},
             {"x/a", "192.168.50.2", Protocol::TCP, 80, kDeny}});
  // The worker is relabelled infra: it joins the set.
  ASSERT_TRUE(server
                  ->merge_patch(Kind::Node, "", "worker-1",
                                {{"metadata", {{"labels", {{"role", "infra"}}}}}})
                  .ok());
  o.nodes[1].labels = {{"role", "infra"}};
  ASSERT_TRUE(enforces(o));
  expect(o, {{"x/a", "192.168.60.1", Protocol::TCP, 80, kDeny}});
  ASSERT_TRUE(server->remove(Kind::Node, "", "infra-1").ok());
  o.nodes.erase(o.nodes.begin());
  ASSERT_TRUE(enforces(o));
  expect(o, {{"x/a", "192.168.50.2", Protocol::TCP, 80, kAllow}});
  EXPECT_EQ(scrape().value("netpol_objects", {{"kind", "node"}}), 1);
}

// RBAC that does not let the agent list Nodes: it still gets ready and
// enforces, and `nodes` peers fail closed (the API's rule for peers an
// implementation cannot evaluate) until the Nodes can be listed.
TEST_F(AgentCnp, NodesForbiddenFailClosedAndAreUsedOnceListable) {
  k8s::Objects o = e2e_model();
  o.nodes = {node("infra-1", {{"role", "infra"}}, {"192.168.50.1"})};
  o.cluster_policies = {
      cnp("no-infra", Admin, 10, subject_ns(ns_is("x")), {},
          {cnp_rule("deny-infra", Deny, {cnp_nodes(sel({{"role", "infra"}}))}, {cnp_port(80)})}),
      cnp("infra-ok-for-y", Admin, 20, subject_ns(ns_is("y")), {},
          {cnp_rule("accept-infra", Accept, {cnp_nodes(sel({{"role", "infra"}}))}),
           cnp_rule("deny-rest", Deny, {cnp_nets({"0.0.0.0/0"})})})};
  load(o);
  server->fail_next(403, 1'000'000, "/api/v1/nodes");
  start();
  ASSERT_TRUE(wait_until([&] { return agent->ready(); }));
  EXPECT_EQ(agent->serve("GET", "/readyz").status, 200);
  ASSERT_TRUE(wait_until([&] {
    return scrape().value("netpol_api_errors_total", {{"kind", "node"}}) >= 1;
  }));
  ASSERT_TRUE(wait_until([&] {
    const ir::RuleSet rules = applied_rules();
    return rules.pods.size() > 0;
  }));
  // Fail closed: the Deny matches every destination, the Accept none.
  expect(o, {{"x/a", "192.168.50.1", Protocol::TCP, 80, kDeny},
             {"x/a", "192.168.77.7", Protocol::TCP, 80, kDeny},
             {"y/a", "192.168.50.1", Protocol::TCP, 80, kDeny}});
  // Protection off (node peers compiled as matching no node, as a compile
  // without the Node objects does): the Deny to the infra node lets it through.
  k8s::Objects blind = o;
  blind.nodes.clear();
  const ir::RuleSet open = compiler::compile(blind, kNode);
  expect_flows_on(blind, {&open}, {{"x/a", "192.168.50.1", Protocol::TCP, 80, kAllow}});

  // RBAC fixed: the Nodes list, the peers are exact.
  server->clear_fail_next();
  ASSERT_TRUE(enforces(o, milliseconds(60'000)));
  expect(o, {{"x/a", "192.168.50.1", Protocol::TCP, 80, kDeny},
             {"x/a", "192.168.77.7", Protocol::TCP, 80, kAllow},
             {"y/a", "192.168.50.1", Protocol::TCP, 80, kAllow},
             {"y/a", "192.168.77.7", Protocol::TCP, 80, kDeny}});
  EXPECT_EQ(scrape().value("netpol_objects", {{"kind", "node"}}), 1);
}

}  // namespace
}  // namespace netpol::agent
