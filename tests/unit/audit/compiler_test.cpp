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

// The TierRules of pod's Admin ingress chain with CNP rule `name`.
std::vector<ir::TierRule> admin_rules(const ir::RuleSet& rs, const std::string& pod,
                                      const std::string& name) {
  std::vector<ir::TierRule> out;
  for (const ir::TierRule& r : rs.pods.at(pod).admin_ingress->rules)
    if (r.name == name) out.push_back(r);
  return out;
}

TEST(AuditCnp, AcceptRulesLogWhereTheSubjectsNamespaceOptsIn) {
  ir::RuleSet rs = testing::cnp_cluster_rules();
  // guardrails/accept-dns selects every pod: y's (netpol.io/audit: all) log, x's do not.
  for (const ir::TierRule& r : admin_rules(rs, "y/b", "accept-dns")) EXPECT_TRUE(r.log_allowed);
  for (const ir::TierRule& r : admin_rules(rs, "x/b", "accept-dns")) EXPECT_FALSE(r.log_allowed);
  ASSERT_FALSE(admin_rules(rs, "x/b", "accept-dns").empty());
  // Deny and Pass rules never carry the flag (Deny always logs, Pass never).
  for (const char* name : {"deny-db", "pass-rest"})
    for (const ir::TierRule& r : admin_rules(rs, "y/b", name)) EXPECT_FALSE(r.log_allowed);
}

TEST(AuditCnp, ChangingTheNamespaceAnnotationRebuildsItsTierChains) {
  compiler::Compiler c("node-1");
  k8s::Objects o = testing::cnp_cluster_objects();
  for (const auto& ns : o.namespaces) (void)c.upsert_namespace(ns);
  for (const auto& p : o.pods) (void)c.upsert_pod(p);
  for (const auto& p : o.policies) (void)c.upsert_policy(p);
  for (const auto& p : o.cluster_policies) (void)c.upsert_cluster_policy(p);
  ASSERT_TRUE(c.rules() == testing::cnp_cluster_rules());
  k8s::Namespace y{"y", "", "", {{"kubernetes.io/metadata.name", "y"}}, {}};
  ir::Delta d = c.upsert_namespace(y);
  ASSERT_EQ(d.pods.size(), 1u);
  EXPECT_EQ(d.pods[0].key, "y/b");
  for (const ir::TierRule& r : admin_rules(c.rules(), "y/b", "accept-dns"))
    EXPECT_FALSE(r.log_allowed);
  y.annotations["netpol.io/audit"] = "all";
  (void)c.upsert_namespace(y);
  EXPECT_TRUE(c.rules() == testing::cnp_cluster_rules());
}

TEST(AuditCnp, TierRulesLogUnderTheLimitAndCountOverIt) {
  nft::AuditOptions audit{321, 7, 9};
  nft::Ruleset rs = nft::render(testing::cnp_cluster_rules(), audit).ruleset;
  const std::string chain =
      nft::tier_chain_name(k8s::CnpTier::Admin, nft::Direction::Ingress, "x", "b");
  std::vector<std::string> texts;
  for (const nft::Rule& r : rs.rules_of(chain)) texts.push_back(nft::to_text(r));
  const std::string peer = admin_rules(testing::cnp_cluster_rules(), "x/b", "deny-db")[0].peer.set;
  const std::string prefix = nft::audit_tier_prefix(
      false, k8s::CnpTier::Admin, nft::Direction::Ingress, "x/b", "guardrails", 0);
  ASSERT_GE(texts.size(), 2u);
  const std::string comment = " comment \"cnp/guardrails rule deny-db: Deny (Admin ingress[0])\"";
  EXPECT_EQ(texts[0], "ip saddr @" + peer +
                          "-v4 meta l4proto tcp th dport 5432 limit rate 7/second burst 9 packets "
                          "log prefix \"" +
                          prefix + "\" group 321 drop" + comment);
  EXPECT_EQ(texts[1],
            "ip saddr @" + peer + "-v4 meta l4proto tcp th dport 5432 counter drop" + comment);
  // x does not opt in: its Accept rules neither log nor count; Pass never does.
  for (const std::string& t : texts) {
    if (t.find(": Accept (") != std::string::npos || t.find(": Pass (") != std::string::npos) {
      EXPECT_EQ(t.find("log"), std::string::npos) << t;
      EXPECT_EQ(t.find("counter"), std::string::npos) << t;
    }
  }
}

}  // namespace
}  // namespace netpol::audit
