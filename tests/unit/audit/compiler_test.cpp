// netpol.io/audit from manifests to rules: which rules log what they allow,
// and that changing the annotation changes the rules incrementally.
#include "compiler/compiler.h"

#include <gtest/gtest.h>

#include "agent/audit/record.h"
#include "nft/render.h"
#include "nft/script.h"
#include "tests/unit/audit/cluster.h"

namespace netpol::audit {
namespace {

const ir::Rule& first_rule(const ir::RuleSet& rs, const std::string& pod, bool ingress = true) {
  const ir::LocalPod& p = rs.pods.at(pod);
  return (ingress ? *p.ingress : *p.egress).rules.at(0);
}

TEST(AuditAnnotation, DecodedOnNamespacesAndPoliciesOnlyNetpolKeys) {
  k8s::Objects o = testing::cluster_objects();
  for (const k8s::Namespace& ns : o.namespaces) {
    if (ns.name == "y") {
      EXPECT_EQ(ns.annotations, (k8s::Labels{{"netpol.io/audit", "all"}}));
    }
  }
}

TEST(AuditAnnotation, PolicyAndNamespaceOptInMarkTheirRules) {
  ir::RuleSet rs = testing::cluster_rules();
  EXPECT_TRUE(first_rule(rs, "x/b").log_allowed);  // policy annotation
  EXPECT_TRUE(first_rule(rs, "y/b").log_allowed);  // namespace annotation
}

TEST(AuditAnnotation, APolicysOwnValueWinsOverItsNamespace) {
  k8s::Objects o = testing::cluster_objects();
  for (k8s::NetworkPolicy& p : o.policies) {
    if (p.key() == "y/db-from-api") p.annotations["netpol.io/audit"] = "deny";
    if (p.key() == "x/allow-web") p.annotations.clear();
  }
  ir::RuleSet rs = compiler::compile(o, "node-1");
  EXPECT_FALSE(first_rule(rs, "y/b").log_allowed);
  EXPECT_FALSE(first_rule(rs, "x/b").log_allowed);
}

TEST(AuditAnnotation, AnUnknownValueIsTheDefaultNotAnError) {
  k8s::Objects o = testing::cluster_objects();
  for (k8s::NetworkPolicy& p : o.policies) p.annotations["netpol.io/audit"] = "everything";
  ir::RuleSet rs = compiler::compile(o, "node-1");
  EXPECT_FALSE(first_rule(rs, "x/b").log_allowed);
  // ... except where the namespace says all.
  EXPECT_TRUE(first_rule(rs, "y/b").log_allowed);
}

TEST(AuditAnnotation, ChangingTheNamespaceAnnotationRebuildsItsChains) {
  compiler::Compiler c("node-1");
  k8s::Objects o = testing::cluster_objects();
  for (const auto& ns : o.namespaces) (void)c.upsert_namespace(ns);
  for (const auto& p : o.pods) (void)c.upsert_pod(p);
  for (const auto& p : o.policies) (void)c.upsert_policy(p);
  ASSERT_TRUE(first_rule(c.rules(), "y/b").log_allowed);
  k8s::Namespace y{"y", "", "", {{"kubernetes.io/metadata.name", "y"}}, {}};
  ir::Delta d = c.upsert_namespace(y);
  ASSERT_EQ(d.pods.size(), 1u);
  EXPECT_EQ(d.pods[0].key, "y/b");
  EXPECT_FALSE(first_rule(c.rules(), "y/b").log_allowed);
  EXPECT_TRUE(first_rule(c.rules(), "x/b").log_allowed);  // x untouched
  y.annotations["netpol.io/audit"] = "all";
  d = c.upsert_namespace(y);
  EXPECT_EQ(d.pods.size(), 1u);
  EXPECT_TRUE(first_rule(c.rules(), "y/b").log_allowed);
  EXPECT_TRUE(c.upsert_namespace(y).empty()) << "same annotation again: no change";
  EXPECT_TRUE(c.rules() == testing::cluster_rules());
}

TEST(AuditAnnotation, ShowsInTheIrJsonOnlyWhenSet) {
  std::string j = ir::to_json(testing::cluster_rules());
  EXPECT_NE(j.find("\"log_allowed\": true"), std::string::npos) << j;
  EXPECT_EQ(j.find("\"log_allowed\": false"), std::string::npos);
}

TEST(AuditRender, AnOptedInRuleLogsUnderTheLimitAndCountsOverIt) {
  nft::AuditOptions audit{321, 7, 9};
  nft::Ruleset rs = nft::render(testing::cluster_rules(), audit).ruleset;
  const std::string chain = nft::pod_chain_name(nft::Direction::Ingress, "x", "b");
  std::vector<std::string> texts;
  for (const nft::Rule& r : rs.rules_of(chain)) texts.push_back(nft::to_text(r));
  const std::string prefix =
      nft::audit_allow_prefix(nft::Direction::Ingress, "x/b", "x/allow-web", 0);
  ASSERT_EQ(texts.size(), 6u);  // (logged + counted) per family, then the two deny rules
  EXPECT_EQ(texts[0], "ip saddr @" + first_rule(testing::cluster_rules(), "x/b").peer.set +
                          "-v4 meta l4proto tcp th dport 80 limit rate 7/second burst 9 packets "
                          "log prefix \"" +
                          prefix + "\" group 321 return comment \"x/allow-web ingress[0]\"");
  EXPECT_EQ(texts[1], "ip saddr @" + first_rule(testing::cluster_rules(), "x/b").peer.set +
                          "-v4 meta l4proto tcp th dport 80 counter return comment "
                          "\"x/allow-web ingress[0]\"");
  EXPECT_NE(texts[4].find("log prefix \"" + nft::audit_deny_prefix(nft::Direction::Ingress, "x/b") +
                          "\" group 321 drop"),
            std::string::npos);
  // A rule that does not opt in has no log and no counter.
  nft::Ruleset plain = nft::render(compiler::compile(
                                       [] {
                                         k8s::Objects o = testing::cluster_objects();
                                         for (auto& ns : o.namespaces) ns.annotations.clear();
                                         for (auto& p : o.policies) p.annotations.clear();
                                         return o;
                                       }(),
                                       "node-1"))
                           .ruleset;
  EXPECT_EQ(plain.rules_of(chain).size(), 4u);
  EXPECT_EQ(nft::to_text(plain.rules_of(chain)[0]).find("log"), std::string::npos);
}

}  // namespace
}  // namespace netpol::audit
