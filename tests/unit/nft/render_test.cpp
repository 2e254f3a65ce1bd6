// The renderer: IR in, netpol's table out, as `nft list table` would show it.
#include "nft/render.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "compiler/hash.h"
#include "fixtures.h"
#include "nft/script.h"
#include "nft/transaction.h"

namespace netpol::nft {
namespace {

using namespace netpol::nft::fx;

std::vector<std::string> rule_texts(const Ruleset& rs, const std::string& chain) {
  std::vector<std::string> out;
  for (const Rule& r : rs.rules_of(chain)) out.push_back(to_text(r));
  return out;
}

std::vector<std::string> element_texts(const Ruleset& rs, const std::string& set) {
  std::vector<std::string> out;
  for (const Element& e : rs.sets.at(set).elements) out.push_back(to_text(e));
  return out;
}

std::string web_ingress() {
  return pod_chain_name(Direction::Ingress, "prod", "web-1");
}
std::string web_egress() {
  return pod_chain_name(Direction::Egress, "prod", "web-1");
}

TEST(Render, EmptyIrGivesTheFixedFootprint) {
  Ruleset rs = render(ir::RuleSet{}).ruleset;
  EXPECT_EQ(rs.table.name, "netpol");
  EXPECT_EQ(rs.table.family, TableFamily::Inet);
  EXPECT_EQ(rs.table.comment, "managed by netpol; do not edit");

  ASSERT_EQ(rs.chains.size(), 1u);
  const Chain& fwd = rs.chains.at("filter-forward");
  ASSERT_TRUE(fwd.base.has_value());
  EXPECT_EQ(fwd.base->hook, Hook::Forward);
  EXPECT_EQ(fwd.base->priority, kPriorityFilter);
  EXPECT_EQ(fwd.base->policy, ChainPolicy::Accept);
  EXPECT_FALSE(fwd.comment.empty());

  std::vector<std::string> rules = rule_texts(rs, "filter-forward");
  ASSERT_EQ(rules.size(), 9u);
  // Order matters: conntrack first (a NEW TCP packet that is not a SYN never
  // reaches a pod chain), node-local sources and neighbour discovery next,
  // egress before ingress.
  const char* want[] = {"ct state established,related accept",
                        "ct state invalid drop",
                        "ct state new tcp flags & (syn | ack) != syn drop",
                        "fib saddr type local accept",
                        "meta l4proto ipv6-icmp ct state untracked accept",
                        "ip saddr vmap @egress-v4",
                        "ip6 saddr vmap @egress-v6",
                        "ip daddr vmap @ingress-v4",
                        "ip6 daddr vmap @ingress-v6"};
  for (size_t i = 0; i < rules.size(); ++i) {
    EXPECT_EQ(rules[i].rfind(want[i], 0), 0u) << rules[i];
    EXPECT_NE(rules[i].find(" comment \""), std::string::npos)
        << "rule without comment: " << rules[i];
  }

  for (const char* m : {"ingress-v4", "ingress-v6", "egress-v4", "egress-v6"}) {
    ASSERT_TRUE(rs.sets.contains(m)) << m;
    const Set& map = rs.sets.at(m);
    EXPECT_TRUE(map.is_map());
    EXPECT_TRUE(map.elements.empty());
    EXPECT_FALSE(map.comment.empty());
    KeyType want_key = std::string(m).ends_with("v4") ? KeyType::Ipv4Addr : KeyType::Ipv6Addr;
    EXPECT_EQ(map.key, std::vector<KeyType>{want_key});
  }
  EXPECT_EQ(rs.sets.size(), 4u);
}

TEST(Render, PodChainNameCarriesHashAndReadableName) {
  std::string name = pod_chain_name(Direction::Ingress, "prod", "web-1");
  EXPECT_EQ(name, "ingress-" + short_hash("prod/web-1") + "-prod/web-1");
  EXPECT_EQ(pod_chain_name(Direction::Egress, "prod", "web-1"),
            "egress-" + short_hash("prod/web-1") + "-prod/web-1");
  EXPECT_TRUE(valid_name(name));
}

TEST(Render, LongPodNamesAreCutButStayDistinct) {
  std::string ns(63, 'n');
  std::string a = std::string(200, 'p') + "-a";
  std::string b = std::string(200, 'p') + "-b";
  std::string ca = pod_chain_name(Direction::Ingress, ns, a);
  std::string cb = pod_chain_name(Direction::Ingress, ns, b);
  EXPECT_LE(ca.size(), 200u);
  EXPECT_LE(cb.size(), 200u);
  EXPECT_NE(ca, cb);  // the hash differs even though the readable part is cut
  EXPECT_TRUE(valid_name(ca));
}

TEST(Render, IsolatedPodIsDispatchedByEachOfItsAddresses) {
  Ruleset rs = render(rich_ir()).ruleset;
  EXPECT_EQ(element_texts(rs, "ingress-v4"),
            (std::vector<std::string>{
                "10.0.1.5 : jump " + web_ingress(),
                "10.0.1.9 : jump " + pod_chain_name(Direction::Ingress, "prod", "db-0")}));
  EXPECT_EQ(element_texts(rs, "ingress-v6"),
            std::vector<std::string>{"fd00::1:5 : jump " + web_ingress()});
  // db-0 is isolated for ingress only: no egress dispatch, no egress chain.
  for (const Element& e : rs.sets.at("egress-v4").elements) {
    EXPECT_NE(e.key[0], Value(ip("10.0.1.9")));
  }
  EXPECT_FALSE(rs.chains.contains(pod_chain_name(Direction::Egress, "prod", "db-0")));
}

TEST(Render, PodWithoutChainsIsNotInAnyMap) {
  ir::RuleSet in;
  add(in, pod("a", "free", {ip("10.9.9.9")}, std::nullopt, std::nullopt));
  Ruleset rs = render(in).ruleset;
  for (const auto& [name, s] : rs.sets) EXPECT_TRUE(s.elements.empty()) << name;
  EXPECT_EQ(rs.chains.size(), 1u);
}

TEST(Render, PodChainExplainsItselfAndEndsInDrop) {
  Ruleset rs = render(rich_ir()).ruleset;
  const Chain& c = rs.chains.at(web_ingress());
  EXPECT_FALSE(c.is_base());
  EXPECT_EQ(c.comment, "ingress of pod prod/web-1; isolated by prod/allow-frontend, prod/deny-all");
  std::vector<std::string> rules = rule_texts(rs, web_ingress());
  ASSERT_GE(rules.size(), 2u);
  // What no policy allows is logged under the rate limit and dropped; over the
  // limit, counted and dropped (docs/audit-log.md).
  EXPECT_EQ(rules[rules.size() - 2], "limit rate 10/second burst 20 packets log prefix \"" +
                                         audit_deny_prefix(Direction::Ingress, "prod/web-1") +
                                         "\" group 100 drop comment \"no policy allows this\"");
  EXPECT_EQ(rules.back(),
            "counter drop comment \"no policy allows this (over the audit log rate)\"");
}

TEST(Render, DenyAllChainHasOnlyTheDrop) {
  Ruleset rs = render(rich_ir()).ruleset;
  EXPECT_EQ(rule_texts(rs, pod_chain_name(Direction::Ingress, "prod", "db-0")),
            (std::vector<std::string>{
                "limit rate 10/second burst 20 packets log prefix \"" +
                    audit_deny_prefix(Direction::Ingress, "prod/db-0") +
                    "\" group 100 drop comment \"no policy allows this\"",
                "counter drop comment \"no policy allows this (over the audit log rate)\""}));
}

TEST(Render, PeerSetRuleBecomesOneRulePerFamilyMatchingTheSource) {
  Ruleset rs = render(rich_ir()).ruleset;
  std::vector<std::string> rules = rule_texts(rs, web_ingress());
  ASSERT_GE(rules.size(), 2u);
  EXPECT_EQ(rules[0],
            "ip saddr @pods-AAAAAAAA-v4 meta l4proto tcp th dport 80 return comment "
            "\"prod/allow-frontend "
            "ingress[0]\"");
  EXPECT_EQ(rules[1],
            "ip6 saddr @pods-AAAAAAAA-v6 meta l4proto tcp th dport 80 return comment "
            "\"prod/allow-frontend ingress[0]\"");
}

TEST(Render, EgressPeersMatchTheDestination) {
  Ruleset rs = render(rich_ir()).ruleset;
  std::vector<std::string> rules = rule_texts(rs, web_egress());
  ASSERT_GE(rules.size(), 2u);
  EXPECT_EQ(rules[0], "ip daddr @pods-BBBBBBBB-v4 return comment \"prod/egress egress[0]\"");
  EXPECT_EQ(rules[1], "ip6 daddr @pods-BBBBBBBB-v6 return comment \"prod/egress egress[0]\"");
}

TEST(Render, AllowIsReturnSoTheOtherDirectionIsStillChecked) {
  Ruleset rs = render(rich_ir()).ruleset;
  for (const auto& [chain, rules] : rs.rules) {
    if (chain == "filter-forward") continue;
    // Every rule but the two deny rules at the end.
    for (size_t i = 0; i + 2 < rules.size(); ++i) {
      EXPECT_EQ(std::get<Verdict>(rules[i].exprs.back()), Verdict::ret()) << to_text(rules[i]);
    }
  }
}

TEST(Render, PortsSingleRangeAndSeveral) {
  Ruleset rs = render(rich_ir()).ruleset;
  std::vector<std::string> rules = rule_texts(rs, web_ingress());
  ASSERT_EQ(rules.size(), 7u);  // 2 + 2 + 1 (Any peer) + 2 deny
  EXPECT_EQ(rules[2],
            "ip saddr @cidr-CCCCCCCC-v4 meta l4proto udp th dport { 53, 8000-8080 } return comment "
            "\"prod/allow-frontend ingress[1]\"");
  // Any peer: a single rule without an address match.
  EXPECT_EQ(
      rules[4],
      "meta l4proto sctp th dport 9000-9100 return comment \"prod/allow-frontend ingress[2]\"");
}

TEST(Render, NamedPortLooksUpDestinationProtocolAndPort) {
  Ruleset rs = render(rich_ir()).ruleset;
  std::vector<std::string> rules = rule_texts(rs, web_egress());
  ASSERT_EQ(rules.size(), 7u);  // 2 (set peer) + 2 (named port) + 1 (any) + 2 deny
  EXPECT_EQ(rules[2],
            "meta l4proto tcp ip daddr . meta l4proto . th dport @nport-DDDDDDDD-v4 return comment "
            "\"prod/egress egress[1]\"");
  EXPECT_EQ(
      rules[3],
      "meta l4proto tcp ip6 daddr . meta l4proto . th dport @nport-DDDDDDDD-v6 return comment "
      "\"prod/egress egress[1]\"");
  EXPECT_EQ(rules[4], "return comment \"prod/egress egress[2]\"");
}

TEST(Render, EveryIrSetBecomesAV4AndAV6Set) {
  Ruleset rs = render(rich_ir()).ruleset;
  for (const char* base : {"pods-AAAAAAAA", "pods-BBBBBBBB", "cidr-CCCCCCCC", "nport-DDDDDDDD"}) {
    EXPECT_TRUE(rs.sets.contains(std::string(base) + "-v4")) << base;
    EXPECT_TRUE(rs.sets.contains(std::string(base) + "-v6")) << base;
  }
  // Empty IR set: both nft sets still exist, so rules never change with membership.
  EXPECT_TRUE(rs.sets.at("pods-BBBBBBBB-v4").elements.empty());
  EXPECT_TRUE(rs.sets.at("pods-BBBBBBBB-v6").elements.empty());

  const Set& pods4 = rs.sets.at("pods-AAAAAAAA-v4");
  EXPECT_EQ(pods4.key, std::vector<KeyType>{KeyType::Ipv4Addr});
  EXPECT_FALSE(pods4.interval);
  EXPECT_EQ(pods4.comment, "ns prod pods {app=web}");
  EXPECT_EQ(element_texts(rs, "pods-AAAAAAAA-v4"),
            (std::vector<std::string>{"10.0.1.5", "10.0.2.7"}));
  EXPECT_EQ(element_texts(rs, "pods-AAAAAAAA-v6"), std::vector<std::string>{"fd00::1:5"});

  const Set& nport6 = rs.sets.at("nport-DDDDDDDD-v6");
  EXPECT_EQ(nport6.key,
            (std::vector<KeyType>{KeyType::Ipv6Addr, KeyType::InetProto, KeyType::InetService}));
  EXPECT_EQ(element_texts(rs, "nport-DDDDDDDD-v4"),
            (std::vector<std::string>{"10.0.1.5 . tcp . 8080", "10.0.2.7 . tcp . 80"}));
  // The IR comment held quotes: they must not reach nft's quoted string.
  EXPECT_EQ(rs.sets.at("nport-DDDDDDDD-v4").comment, "port name 'http' (TCP)");
}

TEST(Render, CidrSetsAreIntervalSetsOfPrefixesAndRanges) {
  Ruleset rs = render(rich_ir()).ruleset;
  EXPECT_TRUE(rs.sets.at("cidr-CCCCCCCC-v4").interval);
  EXPECT_TRUE(rs.sets.at("cidr-CCCCCCCC-v6").interval);
  EXPECT_EQ(element_texts(rs, "cidr-CCCCCCCC-v4"),
            (std::vector<std::string>{"10.0.0.0/16", "10.2.0.0-10.255.255.255", "172.16.0.1",
                                      "192.168.1.1-192.168.1.9"}));
  EXPECT_EQ(element_texts(rs, "cidr-CCCCCCCC-v6"), std::vector<std::string>{"fd00::/112"});
}

TEST(Render, CommentsAreCutToNftsLimit) {
  ir::RuleSet in;
  std::string policies;
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) names.push_back("ns/policy-number-" + std::to_string(i));
  add(in, pod("ns", "p", {ip("10.0.0.1")}, chain(names, {}), std::nullopt));
  add(in, set("pods-LONG", ir::SetKind::Pods, std::string(300, 'c'), {}));
  Ruleset rs = render(in).ruleset;
  const Chain& c = rs.chains.at(pod_chain_name(Direction::Ingress, "ns", "p"));
  EXPECT_EQ(c.comment.size(), kMaxCommentBytes);
  EXPECT_EQ(c.comment.rfind("ingress of pod ns/p; isolated by ns/policy-number-0, ", 0), 0u);
  EXPECT_EQ(rs.sets.at("pods-LONG-v4").comment, std::string(kMaxCommentBytes, 'c'));
}

TEST(Render, LongPolicyNameIsCutButTheRuleReferenceStays) {
  ir::RuleSet in;
  std::string policy = "ns/" + std::string(250, 'p');
  add(in, pod("ns", "p", {ip("10.0.0.1")}, chain({policy}, {rule(policy, 3, std::nullopt)}),
              std::nullopt));
  Ruleset rs = render(in).ruleset;
  const Rule& r = rs.rules_of(pod_chain_name(Direction::Ingress, "ns", "p")).front();
  EXPECT_EQ(r.comment.size(), kMaxCommentBytes);
  EXPECT_TRUE(r.comment.ends_with("ppp ingress[3]")) << r.comment;
}

TEST(Render, TwoPodsClaimingOneAddressKeepTheFirstAndWarn) {
  ir::RuleSet in;
  add(in, pod("a", "one", {ip("10.0.0.1")}, chain({"a/p"}, {}), std::nullopt));
  add(in, pod("b", "two", {ip("10.0.0.1")}, chain({"b/p"}, {}), std::nullopt));
  Rendered out = render(in);
  EXPECT_EQ(element_texts(out.ruleset, "ingress-v4"),
            std::vector<std::string>{"10.0.0.1 : jump " +
                                     pod_chain_name(Direction::Ingress, "a", "one")});
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_NE(out.warnings[0].find("b/two"), std::string::npos) << out.warnings[0];
  EXPECT_NE(out.warnings[0].find("10.0.0.1"), std::string::npos) << out.warnings[0];
  // Still a table the kernel accepts: no duplicate key.
  EXPECT_TRUE(Transaction::replace(out.ruleset).ok());
}

TEST(Render, RichIrIsAValidFullReplace) {
  Rendered out = render(rich_ir());
  EXPECT_TRUE(out.warnings.empty());
  auto tx = Transaction::replace(out.ruleset);
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_EQ(tx.value().state(), out.ruleset);
}

TEST(Render, RuleNamingAnUnknownSetIsCaughtBeforeAnythingIsWritten) {
  ir::RuleSet in;
  add(in, pod("a", "p", {ip("10.0.0.1")}, chain({"a/p"}, {rule("a/p", 0, "pods-MISSING")}),
              std::nullopt));
  auto tx = Transaction::replace(render(in).ruleset);
  ASSERT_FALSE(tx.ok());
  EXPECT_NE(tx.message().find("pods-MISSING-v4"), std::string::npos) << tx.message();
}

TEST(Render, SameIrSameBytesWhateverTheBuildOrder) {
  ir::RuleSet a = rich_ir();
  ir::RuleSet b;
  b.node = a.node;
  // Insert in reverse: maps are ordered, so the result must not change.
  for (auto it = a.sets.rbegin(); it != a.sets.rend(); ++it) b.sets.insert(*it);
  for (auto it = a.pods.rbegin(); it != a.pods.rend(); ++it) b.pods.insert(*it);
  std::string sa = to_block(render(a).ruleset);
  std::string sb = to_block(render(b).ruleset);
  EXPECT_EQ(sa, sb);
  EXPECT_EQ(sa, to_block(render(a).ruleset));
}

TEST(Render, MembershipChangeOnlyChangesElements) {
  ir::RuleSet before = rich_ir();
  ir::RuleSet after = before;
  after.sets.at("pods-AAAAAAAA").elements.insert(host("10.0.3.3"));
  Ruleset rb = render(before).ruleset;
  Ruleset ra = render(after).ruleset;
  EXPECT_EQ(rb.chains, ra.chains);
  EXPECT_EQ(rb.rules, ra.rules);
  EXPECT_NE(rb.sets.at("pods-AAAAAAAA-v4"), ra.sets.at("pods-AAAAAAAA-v4"));
  EXPECT_EQ(rb.sets.at("pods-AAAAAAAA-v6"), ra.sets.at("pods-AAAAAAAA-v6"));
}

}  // namespace
}  // namespace netpol::nft
