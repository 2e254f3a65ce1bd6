// The IR the compiler builds, as nft/ and operators read it: set names and
// comments, set sharing and reference counting, chain shape and rule order,
// local pods and shared IPs, and the deltas of single changes.
#include "compiler/compiler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "compiler/hash.h"
#include "tests/unit/compiler/flow_cases.h"

namespace netpol::ctest {
namespace {

constexpr Protocol TCP = Protocol::TCP;
constexpr Protocol UDP = Protocol::UDP;

ir::Element host(std::string_view a) {
  return ir::Element{ip(a), ip(a), 0, 0};
}

// Two namespaces, pods on two nodes.
k8s::Objects small_cluster() {
  k8s::Objects o;
  o.namespaces = {ns("x", {{"team", "a"}}), ns("y", {{"team", "b"}})};
  o.pods = {
      pod("x", "a", "n1", {"10.0.0.1"}, {{"app", "web"}}, {{"http", 80, TCP}}),
      pod("x", "b", "n1", {"10.0.0.2", "fd00::2"}, {{"app", "db"}}, {{"http", 8080, TCP}}),
      pod("y", "c", "n2", {"10.0.0.3"}, {{"app", "web"}}, {{"http", 81, TCP}}),
  };
  return o;
}

const ir::Chain& ingress_of(const ir::RuleSet& rs, const std::string& key) {
  static const ir::Chain kNone;
  auto it = rs.pods.find(key);
  EXPECT_NE(it, rs.pods.end()) << key << " is not a local pod";
  if (it == rs.pods.end() || !it->second.ingress) {
    ADD_FAILURE() << key << " has no ingress chain";
    return kNone;
  }
  return *it->second.ingress;
}

TEST(Sets, NamesAndCommentsComeFromTheCanonicalDefinition) {
  k8s::Objects o = small_cluster();
  o.policies.push_back(ingress_policy(
      "x", "p", sel(),
      {PolicyRule{
          {},
          {pods(sel({{"app", "web"}})), nss_pods(sel({{"team", "b"}}), sel({{"app", "web"}})),
           nss(sel()), block("10.0.0.0/8", {"10.2.0.0/16", "10.1.0.0/16"})}}}));
  o.policies.push_back(egress_policy("x", "e", sel(), {PolicyRule{{named("http")}, {}}}));
  ir::RuleSet rs = compiler::compile(o, "n1");

  struct Want {
    std::string name, comment;
    ir::SetKind kind;
  };
  const std::vector<Want> want = {
      {"pods-" + short_hash("ns=x|pods=app=web"), "pods app=web in ns x", ir::SetKind::Pods},
      {"pods-" + short_hash("nssel=team=b|pods=app=web"), "pods app=web in ns {team=b}",
       ir::SetKind::Pods},
      {"pods-" + short_hash("nssel=*|pods=*"), "pods * in all namespaces", ir::SetKind::Pods},
      {"cidr-" + short_hash("10.0.0.0/8 except 10.1.0.0/16,10.2.0.0/16"),
       "10.0.0.0/8 except 10.1.0.0/16,10.2.0.0/16", ir::SetKind::Cidr},
      {"nport-" + short_hash("http/TCP"), "named port http/TCP", ir::SetKind::NamedPort},
  };
  ASSERT_EQ(rs.sets.size(), want.size());
  for (const Want& w : want) {
    auto it = rs.sets.find(w.name);
    ASSERT_NE(it, rs.sets.end()) << "missing set for " << w.comment;
    EXPECT_EQ(it->second.name, w.name);
    EXPECT_EQ(it->second.comment, w.comment);
    EXPECT_EQ(it->second.kind, w.kind);
  }
  const ir::Set& c = rs.sets.at(want[3].name);
  EXPECT_EQ(c.elements, (SortedBlocks<ir::Element>{{ip("10.0.0.0"), ip("10.0.255.255")},
                                                   {ip("10.3.0.0"), ip("10.255.255.255")}}));
  const ir::Set& web_y = rs.sets.at(want[1].name);
  EXPECT_EQ(web_y.elements, (SortedBlocks<ir::Element>{host("10.0.0.3")}));
}

TEST(Sets, OnePerDistinctPeerSharedByEveryRuleUsingIt) {
  k8s::Objects o = small_cluster();
  // The same peer written twice in one rule, in two rules and in two policies;
  // an absent and an empty pod selector next to a namespace selector are one peer.
  Peer web = pods(sel({{"app", "web"}}));
  Peer all_b = nss(sel({{"team", "b"}}));
  Peer all_b_explicit = nss_pods(sel({{"team", "b"}}), sel());
  o.policies.push_back(ingress_policy(
      "x", "p1", sel(), {PolicyRule{{}, {web, web}}, PolicyRule{{port(80)}, {web, all_b}}}));
  o.policies.push_back(
      ingress_policy("x", "p2", sel({{"app", "web"}}), {PolicyRule{{}, {web, all_b_explicit}}}));
  ir::RuleSet rs = compiler::compile(o, "n1");
  EXPECT_EQ(rs.sets.size(), 2u);
  const ir::Chain& a = ingress_of(rs, "x/a");
  std::set<std::string> used;
  for (const ir::Rule& r : a.rules) used.insert(r.peer.set);
  EXPECT_EQ(used.size(), 2u);
  // p1 rule 0 lists `web` twice: one rule, not two.
  EXPECT_EQ(
      std::count_if(a.rules.begin(), a.rules.end(),
                    [](const ir::Rule& r) { return r.policy == "x/p1" && r.rule_index == 0; }),
      1);
}

TEST(Sets, OnlySetsOfChainsOnThisNode) {
  k8s::Objects o = small_cluster();
  // Selects only y/c, which runs on n2.
  o.policies.push_back(
      ingress_policy("y", "p", sel(), {PolicyRule{{}, {pods(sel({{"app", "web"}}))}}}));
  EXPECT_TRUE(compiler::compile(o, "n1").sets.empty());
  EXPECT_EQ(compiler::compile(o, "n2").sets.size(), 1u);
  // A rule that emits nothing (named port that does not resolve on the pod)
  // references no set either.
  o.policies.push_back(
      ingress_policy("x", "q", sel(), {PolicyRule{{named("nope")}, {pods(sel({{"app", "db"}}))}}}));
  ir::RuleSet rs = compiler::compile(o, "n1");
  EXPECT_TRUE(rs.sets.empty());
  EXPECT_TRUE(ingress_of(rs, "x/a").rules.empty());
}

TEST(Sets, AreReferenceCountedAcrossPolicies) {
  compiler::Compiler c("n1");
  for (const auto& p : small_cluster().pods) c.upsert_pod(p);
  Peer web = pods(sel({{"app", "web"}}));
  std::string name = "pods-" + short_hash("ns=x|pods=app=web");

  ir::Delta d = c.upsert_policy(ingress_policy("x", "p1", sel(), {PolicyRule{{}, {web}}}));
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_EQ(d.sets[0].name, name);
  ASSERT_TRUE(d.sets[0].created.has_value());
  EXPECT_EQ(d.sets[0].created->elements, (SortedBlocks<ir::Element>{host("10.0.0.1")}));

  d = c.upsert_policy(ingress_policy("x", "p2", sel({{"app", "db"}}), {PolicyRule{{}, {web}}}));
  EXPECT_TRUE(d.sets.empty());
  d = c.remove_policy("x", "p1");
  EXPECT_TRUE(d.sets.empty());
  EXPECT_EQ(c.rules().sets.count(name), 1u);
  d = c.remove_policy("x", "p2");
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_TRUE(d.sets[0].removed);
  EXPECT_TRUE(c.rules().sets.empty());
}

TEST(Chains, RuleOrderAndPortGrouping) {
  k8s::Objects o = small_cluster();
  Peer web = pods(sel({{"app", "web"}}));
  Peer db = pods(sel({{"app", "db"}}));
  // Added out of order on purpose: the chain is ordered by policy key.
  o.policies.push_back(ingress_policy(
      "x", "zz", sel({{"app", "web"}}),
      {PolicyRule{{port(443), port(80), port_range(81, 90), port(85), port(53, UDP)}, {web, db}},
       PolicyRule{{every_port(UDP), port(53, UDP), port(22)}, {}}}));
  o.policies.push_back(ingress_policy("x", "aa", sel(), {PolicyRule{{}, {db}}}));
  ir::RuleSet rs = compiler::compile(o, "n1");
  const ir::Chain& a = ingress_of(rs, "x/a");
  EXPECT_EQ(a.policies, (std::vector<std::string>{"x/aa", "x/zz"}));

  std::string sweb = "pods-" + short_hash("ns=x|pods=app=web");
  std::string sdb = "pods-" + short_hash("ns=x|pods=app=db");
  auto set = [](const std::string& s) { return ir::PeerMatch{ir::PeerMatch::Kind::Set, s}; };
  std::vector<ir::Rule> want = {
      {"x/aa", 0, set(sdb), std::nullopt, {}, ""},
      {"x/zz", 0, set(sweb), 6, {{80, 90}, {443, 443}}, ""},
      {"x/zz", 0, set(sweb), 17, {{53, 53}}, ""},
      {"x/zz", 0, set(sdb), 6, {{80, 90}, {443, 443}}, ""},
      {"x/zz", 0, set(sdb), 17, {{53, 53}}, ""},
      {"x/zz", 1, {}, 6, {{22, 22}}, ""},
      {"x/zz", 1, {}, 17, {}, ""},  // every UDP port absorbs 53
  };
  EXPECT_EQ(a.rules, want);
  // x/b is selected by aa only.
  EXPECT_EQ(ingress_of(rs, "x/b").policies, (std::vector<std::string>{"x/aa"}));
}

TEST(Chains, DirectionsFollowTheAffectsFlags) {
  k8s::Objects o = small_cluster();
  o.policies.push_back(egress_policy("x", "out", sel({{"app", "web"}}), {}));
  o.policies.push_back(ingress_policy("x", "in", sel({{"app", "db"}}), {}));
  ir::RuleSet rs = compiler::compile(o, "n1");
  const ir::LocalPod& a = rs.pods.at("x/a");
  EXPECT_FALSE(a.ingress.has_value());
  ASSERT_TRUE(a.egress.has_value());
  EXPECT_TRUE(a.egress->rules.empty());
  const ir::LocalPod& b = rs.pods.at("x/b");
  ASSERT_TRUE(b.ingress.has_value());
  EXPECT_FALSE(b.egress.has_value());
}

TEST(Chains, IngressNamedPortUsesTheLocalPodsOwnNumberEgressUsesASet) {
  k8s::Objects o = small_cluster();
  o.pods.push_back(pod("y", "host", "n2", {"10.0.0.9"}, {}, {{"http", 99, TCP}}));
  o.pods.back().host_network = true;
  o.pods.push_back(
      pod("y", "done", "n2", {"10.0.0.10"}, {}, {{"http", 98, TCP}}, k8s::PodPhase::Succeeded));
  o.policies.push_back(policy("x", "p", sel(), {PolicyRule{{named("http")}, {}}}, true,
                              {PolicyRule{{named("http")}, {}}}, true));
  ir::RuleSet rs = compiler::compile(o, "n1");
  EXPECT_EQ(ingress_of(rs, "x/a").rules[0].ports, (std::vector<ir::PortRange>{{80, 80}}));
  EXPECT_EQ(ingress_of(rs, "x/b").rules[0].ports, (std::vector<ir::PortRange>{{8080, 8080}}));
  const ir::Rule& out = rs.pods.at("x/a").egress->rules.at(0);
  EXPECT_EQ(out.proto, std::optional<uint8_t>(6));
  EXPECT_TRUE(out.ports.empty());
  ASSERT_EQ(rs.sets.count(out.named_port_set), 1u);
  // Every enforceable pod of the cluster with the port, both nodes and
  // families, each with its own number; not hostNetwork or finished pods.
  EXPECT_EQ(rs.sets.at(out.named_port_set).elements,
            (SortedBlocks<ir::Element>{{ip("10.0.0.1"), ip("10.0.0.1"), 6, 80},
                                       {ip("10.0.0.2"), ip("10.0.0.2"), 6, 8080},
                                       {ip("fd00::2"), ip("fd00::2"), 6, 8080},
                                       {ip("10.0.0.3"), ip("10.0.0.3"), 6, 81}}));
}

TEST(LocalPods, AreTheEnforceablePodsOfThisNode) {
  k8s::Objects o = small_cluster();
  o.pods.push_back(pod("x", "host", "n1", {"192.168.0.1"}));
  o.pods.back().host_network = true;
  o.pods.push_back(pod("x", "done", "n1", {"10.0.0.20"}, {}, {}, k8s::PodPhase::Succeeded));
  o.pods.push_back(pod("x", "failed", "n1", {"10.0.0.21"}, {}, {}, k8s::PodPhase::Failed));
  o.pods.push_back(pod("x", "noip", "n1", {}));
  o.pods.push_back(pod("x", "pending", "n1", {"10.0.0.22"}, {}, {}, k8s::PodPhase::Pending));
  ir::RuleSet rs = compiler::compile(o, "n1");
  std::vector<std::string> keys;
  for (const auto& [k, p] : rs.pods) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"x/a", "x/b", "x/pending"}));
  EXPECT_EQ(rs.pods.at("x/b").ips, (std::vector<IpAddr>{ip("10.0.0.2"), ip("fd00::2")}));
  EXPECT_FALSE(rs.pods.at("x/a").ingress.has_value());
  EXPECT_EQ(rs.node, "n1");
}

TEST(LocalPods, SharedIpGoesToTheRunningPodWithAWarning) {
  compiler::Compiler c("n1");
  c.upsert_pod(pod("ns", "b", "n1", {"10.0.0.5"}));
  c.upsert_pod(pod("ns", "a", "n1", {"10.0.0.5", "10.0.0.6"}, {}, {}, k8s::PodPhase::Pending));
  EXPECT_EQ(c.rules().pods.at("ns/b").ips, (std::vector<IpAddr>{ip("10.0.0.5")}));
  EXPECT_EQ(c.rules().pods.at("ns/a").ips, (std::vector<IpAddr>{ip("10.0.0.6")}));
  EXPECT_EQ(c.rules().warnings,
            (std::vector<std::string>{"IP 10.0.0.5 held by ns/a and ns/b; enforcing for ns/b"}));

  // Both running: the smaller key wins.
  ir::Delta d = c.upsert_pod(pod("ns", "a", "n1", {"10.0.0.5", "10.0.0.6"}));
  EXPECT_EQ(c.rules().pods.at("ns/a").ips, (std::vector<IpAddr>{ip("10.0.0.5"), ip("10.0.0.6")}));
  EXPECT_TRUE(c.rules().pods.at("ns/b").ips.empty());
  EXPECT_EQ(c.rules().warnings,
            (std::vector<std::string>{"IP 10.0.0.5 held by ns/a and ns/b; enforcing for ns/a"}));
  ASSERT_EQ(d.pods.size(), 2u);

  // The winner leaves: the other pod gets its address back, the warning goes.
  d = c.remove_pod("ns", "a");
  EXPECT_EQ(c.rules().pods.at("ns/b").ips, (std::vector<IpAddr>{ip("10.0.0.5")}));
  EXPECT_TRUE(c.rules().warnings.empty());
  ASSERT_EQ(d.pods.size(), 2u);
  EXPECT_EQ(d.pods[0].key, "ns/a");
  EXPECT_FALSE(d.pods[0].after.has_value());
  EXPECT_EQ(d.pods[1].key, "ns/b");
}

TEST(Incremental, AnElementStaysWhileAnyMemberHoldsTheIp) {
  compiler::Compiler c("n1");
  c.upsert_pod(pod("x", "local", "n1", {"10.0.0.1"}));
  c.upsert_policy(ingress_policy("x", "p", sel(),
                                 {PolicyRule{{}, {nss_pods(sel(), sel({{"role", "client"}}))}}}));
  c.upsert_pod(pod("y", "old", "n2", {"10.9.9.9"}, {{"role", "client"}}));
  ir::Delta d = c.upsert_pod(
      pod("y", "new", "n2", {"10.9.9.9"}, {{"role", "client"}}, {}, k8s::PodPhase::Pending));
  EXPECT_TRUE(d.empty());  // the element was already there
  d = c.remove_pod("y", "old");
  EXPECT_TRUE(d.empty());  // y/new still holds it
  d = c.upsert_pod(pod("y", "new", "n2", {"10.9.9.9"}, {{"role", "server"}}));
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_EQ(d.sets[0].del, (std::vector<ir::Element>{host("10.9.9.9")}));
  EXPECT_TRUE(d.pods.empty());
}

TEST(Incremental, RemotePodLabelChangeOnlyMovesElements) {
  compiler::Compiler c("n1");
  for (const auto& n : small_cluster().namespaces) c.upsert_namespace(n);
  for (const auto& p : small_cluster().pods) c.upsert_pod(p);
  c.upsert_policy(
      ingress_policy("x", "p", sel(), {PolicyRule{{}, {nss_pods(sel(), sel({{"app", "web"}}))}}}));
  k8s::Pod yc = small_cluster().pods[2];
  yc.labels["app"] = "db";
  ir::Delta d = c.upsert_pod(yc);
  EXPECT_TRUE(d.pods.empty());
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_TRUE(d.sets[0].add.empty());
  EXPECT_EQ(d.sets[0].del, (std::vector<ir::Element>{host("10.0.0.3")}));
  // An unrelated label: nothing changes at all.
  yc.labels["other"] = "1";
  EXPECT_TRUE(c.upsert_pod(yc).empty());
  // Same object again (a resync): nothing.
  EXPECT_TRUE(c.upsert_pod(yc).empty());
}

TEST(Incremental, NamespaceLabelsMovePodsInAndOutOfNamespaceSelectorSets) {
  compiler::Compiler c("n1");
  for (const auto& n : small_cluster().namespaces) c.upsert_namespace(n);
  for (const auto& p : small_cluster().pods) c.upsert_pod(p);
  c.upsert_policy(ingress_policy("x", "p", sel(), {PolicyRule{{}, {nss(sel({{"team", "b"}}))}}}));
  ir::Delta d = c.upsert_namespace(ns("x", {{"team", "b"}}));
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_EQ(d.sets[0].add,
            (std::vector<ir::Element>{host("10.0.0.1"), host("10.0.0.2"), host("fd00::2")}));
  d = c.upsert_namespace(ns("y", {{"team", "c"}}));
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_EQ(d.sets[0].del, (std::vector<ir::Element>{host("10.0.0.3")}));
  // Removing the Namespace object leaves its pods in a namespace that carries
  // only its name label.
  d = c.remove_namespace("x");
  ASSERT_EQ(d.sets.size(), 1u);
  EXPECT_EQ(d.sets[0].del.size(), 3u);
}

TEST(Incremental, NamespaceNameLabelCannotBeOverridden) {
  compiler::Compiler c("n1");
  c.upsert_pod(pod("x", "a", "n1", {"10.0.0.1"}));
  c.upsert_pod(pod("y", "b", "n2", {"10.0.0.2"}));
  c.upsert_policy(ingress_policy("x", "p", sel(),
                                 {PolicyRule{{}, {nss(sel({{k8s::kNamespaceNameLabel, "y"}}))}}}));
  k8s::Namespace bad{"y", "uid", "1", {{k8s::kNamespaceNameLabel, "other"}}};
  c.upsert_namespace(bad);
  ASSERT_EQ(c.rules().sets.size(), 1u);
  EXPECT_EQ(c.rules().sets.begin()->second.elements, (SortedBlocks<ir::Element>{host("10.0.0.2")}));
}

TEST(Incremental, PeerWithoutSelectorOrBlockAdmitsNobody) {
  k8s::Objects o = small_cluster();
  o.policies.push_back(ingress_policy("x", "p", sel(), {PolicyRule{{}, {Peer{}}}}));
  ir::RuleSet rs = compiler::compile(o, "n1");
  EXPECT_TRUE(ingress_of(rs, "x/a").rules.empty());
}

}  // namespace
}  // namespace netpol::ctest
