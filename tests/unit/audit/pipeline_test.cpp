// The pipeline: logged packets in, enriched JSON lines out. Checks what a
// consumer of the log sees (parsed lines), plus the golden file that pins the
// exact format of docs/audit-log.md.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "agent/audit/auditor.h"
#include "k8s/rfc3339.h"
#include "nft/render.h"
#include "nft/spoof.h"
#include "tests/unit/audit/cluster.h"
#include "tests/unit/audit/packets.h"

namespace netpol::audit {
namespace {

using nft::Direction;
using nlohmann::json;

TimePoint at(double seconds) {
  return *parse_rfc3339_utc("2026-03-04T05:06:07Z") +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

struct Fixture {
  std::vector<std::string> lines;
  Pipeline pipeline{PipelineConfig{"node-1"}, [this](std::string l) { lines.push_back(l); }};

  // with_cnps: the cluster plus its ClusterNetworkPolicies (cluster.h).
  explicit Fixture(bool with_cnps = false) {
    pipeline.update_rules(with_cnps ? testing::cnp_cluster_rules() : testing::cluster_rules());
    for (const k8s::Pod& p : testing::cluster_objects().pods) pipeline.upsert_pod(p);
  }
  void log(const std::string& prefix, std::vector<uint8_t> packet, TimePoint t) {
    pipeline.on_record(LogRecord{prefix, std::move(packet)}, t);
  }
  json last() const { return json::parse(lines.back()); }
};

std::string deny(Direction d, const std::string& pod) {
  return nft::audit_deny_prefix(d, pod);
}
std::string allow(Direction d, const std::string& pod, const std::string& policy, uint32_t rule) {
  return nft::audit_allow_prefix(d, pod, policy, rule);
}
std::string tier_deny(k8s::CnpTier t, Direction d, const std::string& pod, const std::string& cnp,
                      uint32_t rule) {
  return nft::audit_tier_prefix(false, t, d, pod, cnp, rule);
}
std::string tier_allow(k8s::CnpTier t, Direction d, const std::string& pod, const std::string& cnp,
                       uint32_t rule) {
  return nft::audit_tier_prefix(true, t, d, pod, cnp, rule);
}

TEST(Pipeline, DeniedConnectionNamesBothPodsAndTheIsolatingPolicies) {
  Fixture f;
  // y/a lives on node-2: known from the pod directory, not from this node's rules.
  f.log(deny(Direction::Ingress, "x/b"), testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 80),
        at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["schema_version"], 2);
  EXPECT_EQ(j["event"], "connection");
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["verdict"], "deny");
  EXPECT_EQ(j["direction"], "ingress");
  EXPECT_EQ(j["protocol"], "TCP");
  EXPECT_EQ(j["src"]["namespace"], "y");
  EXPECT_EQ(j["src"]["pod"], "a");
  EXPECT_EQ(j["src"]["port"], 41000);
  EXPECT_EQ(j["dst"]["namespace"], "x");
  EXPECT_EQ(j["dst"]["pod"], "b");
  EXPECT_EQ(j["dst"]["port"], 80);
  EXPECT_EQ(j["policies"], json::array());
  EXPECT_EQ(j["rule"], nullptr);
  EXPECT_EQ(j["isolated_by"], json({"x/allow-web", "x/deny-ingress"}));
  EXPECT_EQ(j["tier"], "NetworkPolicy");
  EXPECT_EQ(j["cnp"], nullptr);
}

TEST(Pipeline, AnAdminDenyNamesTheTierTheCnpAndTheRule) {
  Fixture f(true);
  f.log(tier_deny(k8s::CnpTier::Admin, Direction::Ingress, "x/b", "guardrails", 0),
        testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 5432), at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["verdict"], "deny");
  EXPECT_EQ(j["tier"], "Admin");
  EXPECT_EQ(j["cnp"], json({{"name", "guardrails"}, {"rule", "deny-db"}, {"index", 0}}));
  // Schema 1 fields keep their meaning: no NetworkPolicy allowed it, and
  // x/b is still isolated by the same two policies.
  EXPECT_EQ(j["policies"], json::array());
  EXPECT_EQ(j["rule"], nullptr);
  EXPECT_EQ(j["isolated_by"], json({"x/allow-web", "x/deny-ingress"}));
  EXPECT_EQ(j["src"]["pod"], "a");
  EXPECT_EQ(j["dst"]["pod"], "b");
  EXPECT_EQ(f.pipeline.stats().unknown_ids, 0u);
  // Its counters are read from the Admin chain, where the rule is.
  EXPECT_EQ(f.pipeline.chains_to_poll(at(1)),
            std::vector<std::string>{
                nft::tier_chain_name(k8s::CnpTier::Admin, Direction::Ingress, "x", "b")});
}

TEST(Pipeline, ABaselineDenyAndAnAdminAcceptAreNamedToo) {
  Fixture f(true);
  f.log(tier_deny(k8s::CnpTier::Baseline, Direction::Egress, "x/a", "default-deny", 0),
        testing::tcp4("10.244.1.11", 41000, "10.244.1.22", 80), at(0));
  json j = f.last();
  EXPECT_EQ(j["direction"], "egress");
  EXPECT_EQ(j["tier"], "Baseline");
  EXPECT_EQ(j["cnp"], json({{"name", "default-deny"}, {"rule", "deny-to-y"}, {"index", 0}}));
  EXPECT_EQ(j["isolated_by"], json::array());  // no NetworkPolicy isolates x/a for egress
  f.log(tier_allow(k8s::CnpTier::Admin, Direction::Ingress, "y/b", "guardrails", 1),
        testing::ipv4("10.244.1.11", "10.244.1.22", 17, testing::l4_ports(5353, 53, 8)), at(1));
  j = f.last();
  EXPECT_EQ(j["verdict"], "allow");
  EXPECT_EQ(j["tier"], "Admin");
  EXPECT_EQ(j["cnp"]["rule"], "accept-dns");
  EXPECT_EQ(j["policies"], json::array());  // no NetworkPolicy allowed it: the CNP did
  EXPECT_EQ(j["rule"], nullptr);
  EXPECT_EQ(j["isolated_by"], json({"y/db-from-api"}));
}

TEST(Pipeline, ACnpRuleTheRulesDoNotKnowStillNamesItsTier) {
  Fixture f(true);
  f.log(tier_deny(k8s::CnpTier::Admin, Direction::Ingress, "x/b", "gone", 3),
        testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 5432), at(0));
  json j = f.last();
  EXPECT_EQ(j["tier"], "Admin");
  EXPECT_EQ(j["cnp"], nullptr);
  EXPECT_EQ(f.pipeline.stats().unknown_ids, 1u);
}

// Render -> prefix -> index -> line: every logging rule of every tier chain
// the renderer writes comes back as a line naming the CNP and rule that its
// comment names; Pass rules never log, Deny rules always do.
TEST(Pipeline, EveryRenderedCnpLogRuleMapsBackToItsCnpAndRule) {
  Fixture f(true);
  nft::Rendered r = nft::render(testing::cnp_cluster_rules());
  size_t deny_rules = 0, deny_logs = 0, pass_rules = 0, accept_logs = 0;
  double t = 0;
  for (const auto& [chain, rules] : r.ruleset.rules) {
    const bool admin = chain.rfind("admin-", 0) == 0, base = chain.rfind("baseline-", 0) == 0;
    if (!admin && !base) continue;
    for (const nft::Rule& rule : rules) {
      const bool deny = rule.comment.find(": Deny (") != std::string::npos;
      const bool accept = rule.comment.find(": Accept (") != std::string::npos;
      deny_rules += deny;
      pass_rules += rule.comment.find(": Pass (") != std::string::npos;
      const nft::LogStmt* log = nullptr;
      for (const nft::Expr& e : rule.exprs)
        if (const auto* l = std::get_if<nft::LogStmt>(&e)) log = l;
      if (!log) continue;
      EXPECT_TRUE(deny || accept) << rule.comment;  // Pass never logs
      deny_logs += deny;
      if (accept) {
        ++accept_logs;
        // Only y opted in (netpol.io/audit: all on the Namespace).
        EXPECT_NE(chain.find("-y/b"), std::string::npos) << chain;
      }
      EXPECT_LE(log->prefix.size(), nft::kMaxLogPrefixBytes);
      auto id = parse_prefix(log->prefix);
      ASSERT_TRUE(id) << log->prefix;
      ASSERT_TRUE(id->tier) << log->prefix;
      f.log(log->prefix, testing::tcp4("192.0.2.1", 1, "10.244.1.12", 2), at(t += 20));
      json j = f.last();
      EXPECT_EQ(j["verdict"], accept ? "allow" : "deny");
      EXPECT_EQ(j["tier"], admin ? "Admin" : "Baseline") << log->prefix;
      ASSERT_TRUE(j["cnp"].is_object()) << log->prefix;
      std::string named = "cnp/" + j["cnp"]["name"].get<std::string>() + " rule " +
                          j["cnp"]["rule"].get<std::string>() + ": ";
      EXPECT_EQ(rule.comment.rfind(named, 0), 0u) << rule.comment << " vs " << named;
      EXPECT_NE(rule.comment.find("[" + std::to_string(j["cnp"]["index"].get<int>()) + "])"),
                std::string::npos)
          << rule.comment;
    }
  }
  EXPECT_EQ(f.pipeline.stats().unknown_ids, 0u);
  // Every Deny match is a logging rule plus its counter rule.
  EXPECT_GT(deny_logs, 0u);
  EXPECT_EQ(deny_rules, 2 * deny_logs);
  EXPECT_GT(pass_rules, 0u);
  EXPECT_GT(accept_logs, 0u);
}

TEST(Pipeline, ASpoofedPacketIsADenyWithReasonSpoofedBlamingNoPod) {
  Fixture f;
  // 10.244.1.11 is x/a's: the sender forged it, so the line must not name x/a.
  f.log(nft::kSpoofedPrefix, testing::tcp4("10.244.1.11", 41000, "10.244.1.12", 80), at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["schema_version"], 2);
  EXPECT_EQ(j["tier"], nullptr);  // no policy decided
  EXPECT_EQ(j["cnp"], nullptr);
  EXPECT_EQ(j["verdict"], "deny");
  EXPECT_EQ(j["direction"], "egress");
  EXPECT_EQ(j["reason"], "spoofed");
  EXPECT_EQ(j["src"]["ip"], "10.244.1.11");
  EXPECT_EQ(j["src"]["pod"], nullptr);
  EXPECT_EQ(j["src"]["kind"], "external");
  EXPECT_EQ(j["dst"]["pod"], "b");
  EXPECT_EQ(j["policies"], json::array());
  EXPECT_EQ(j["isolated_by"], json::array());
  EXPECT_EQ(f.pipeline.stats().spoofed, 1u);
  EXPECT_EQ(f.pipeline.stats().unknown_ids, 0u);
  // Policy verdicts carry no reason.
  f.log(deny(Direction::Ingress, "x/b"), testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 80),
        at(1));
  EXPECT_FALSE(f.last().contains("reason"));
}

TEST(Pipeline, AllowedConnectionNamesThePolicyAndRuleThatAllowedIt) {
  Fixture f;
  f.log(allow(Direction::Ingress, "x/b", "x/allow-web", 0),
        testing::tcp4("10.244.1.11", 41001, "10.244.1.12", 80), at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["verdict"], "allow");
  EXPECT_EQ(j["policies"], json({"x/allow-web"}));
  EXPECT_EQ(j["rule"]["policy"], "x/allow-web");
  EXPECT_EQ(j["rule"]["index"], 0);
  EXPECT_EQ(j["src"]["pod"], "a");
}

TEST(Pipeline, AnAddressNoPodHoldsIsExternal) {
  Fixture f;
  f.log(deny(Direction::Ingress, "x/a"),
        testing::ipv4("192.0.2.7", "10.244.1.11", 17, testing::l4_ports(5000, 53, 8)), at(0));
  json j = f.last();
  EXPECT_EQ(j["src"]["kind"], "external");
  EXPECT_EQ(j["src"]["pod"], nullptr);
  EXPECT_EQ(j["src"]["namespace"], nullptr);
  EXPECT_EQ(j["dst"]["kind"], "pod");
  EXPECT_EQ(j["protocol"], "UDP");
}

TEST(Pipeline, RepeatsOfOneAttemptAreOneLine) {
  Fixture f;
  auto syn = testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 80);
  f.log(deny(Direction::Ingress, "x/b"), syn, at(0));
  f.log(deny(Direction::Ingress, "x/b"), syn, at(1));  // SYN retransmitted
  f.log(deny(Direction::Ingress, "x/b"), syn, at(3));
  EXPECT_EQ(f.lines.size(), 1u);
  EXPECT_EQ(f.pipeline.stats().repeats, 2u);
  // Another source port is another attempt; the same one much later too.
  f.log(deny(Direction::Ingress, "x/b"), testing::tcp4("10.244.2.21", 41002, "10.244.1.12", 80),
        at(3.5));
  f.log(deny(Direction::Ingress, "x/b"), syn, at(30));
  EXPECT_EQ(f.lines.size(), 3u);
}

TEST(Pipeline, ForeignPrefixesAndBrokenPacketsAreCountedNotLogged) {
  Fixture f;
  f.log("some other tool", testing::tcp4("10.0.0.1", 1, "10.0.0.2", 2), at(0));
  f.log(deny(Direction::Ingress, "x/b"), {0x45, 0}, at(0));
  EXPECT_TRUE(f.lines.empty());
  EXPECT_EQ(f.pipeline.stats().foreign, 1u);
  EXPECT_EQ(f.pipeline.stats().decode_errors, 1u);
}

TEST(Pipeline, AnIdTheRulesDoNotKnowIsStillLoggedFromThePacket) {
  Fixture f;
  f.log(deny(Direction::Ingress, "gone/pod"), testing::tcp4("10.244.1.11", 1, "10.244.1.12", 80),
        at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  EXPECT_EQ(f.last()["dst"]["pod"], "b");
  EXPECT_EQ(f.last()["isolated_by"], json::array());
  EXPECT_EQ(f.pipeline.stats().unknown_ids, 1u);
}

TEST(Pipeline, ChainsThatLoggedArePolledUntilTheyGoQuiet) {
  Fixture f;
  EXPECT_TRUE(f.pipeline.chains_to_poll(at(0)).empty());
  f.log(deny(Direction::Ingress, "x/b"), testing::tcp4("10.244.2.21", 1, "10.244.1.12", 80), at(0));
  const std::string chain = nft::pod_chain_name(Direction::Ingress, "x", "b");
  EXPECT_EQ(f.pipeline.chains_to_poll(at(1)), std::vector<std::string>{chain});
  // Listed one last time after it went quiet, then no more.
  EXPECT_EQ(f.pipeline.chains_to_poll(at(10)), std::vector<std::string>{chain});
  EXPECT_TRUE(f.pipeline.chains_to_poll(at(11)).empty());
}

TEST(Pipeline, CountersBecomeSuppressedLines) {
  Fixture f;
  f.pipeline.on_counters({{deny(Direction::Ingress, "x/b"), 9980},
                          {allow(Direction::Ingress, "x/b", "x/allow-web", 0), 0}},
                         at(2));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["event"], "suppressed");
  EXPECT_EQ(j["count"], 9980);
  EXPECT_EQ(j["pod"]["namespace"], "x");
  EXPECT_EQ(j["pod"]["pod"], "b");
  EXPECT_EQ(j["verdict"], "deny");
  EXPECT_EQ(f.pipeline.stats().suppressed, 9980u);
}

// --- the format, pinned -------------------------------------------------------

std::string golden_path() {
  return std::string(NETPOL_SOURCE_DIR) + "/tests/unit/audit/format.golden.jsonl";
}

std::vector<std::string> golden_events() {
  Fixture f;
  f.log(deny(Direction::Ingress, "x/b"), testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 80),
        at(0.000123));
  f.log(allow(Direction::Ingress, "x/b", "x/allow-web", 0),
        testing::tcp4("10.244.1.11", 41001, "10.244.1.12", 80), at(0.5));
  f.log(allow(Direction::Ingress, "y/b", "y/db-from-api", 0),
        testing::ipv4("10.244.2.21", "10.244.1.22", 132, testing::l4_ports(7000, 3868, 12)),
        at(0.75));
  f.log(deny(Direction::Ingress, "x/a"),
        testing::ipv6("2001:db8::7", "fd00:10:244:1::11", 17, testing::l4_ports(5353, 53, 8)),
        at(1));
  f.log(deny(Direction::Ingress, "x/b"),
        testing::ipv4("198.51.100.1", "10.244.1.12", 1, {8, 0, 0, 0, 0, 0, 0, 0}), at(1.25));
  f.pipeline.on_counters({{deny(Direction::Ingress, "x/b"), 9980}}, at(2));
  f.pipeline.on_counters({{allow(Direction::Ingress, "x/b", "x/allow-web", 0), 12}}, at(2));
  std::vector<std::string> out = f.lines;
  out.push_back(format(Lost{at(3), "node-1", 17, "queue_full"}));
  out.push_back(format(Lost{at(3), "node-1", 2, "nflog_overflow"}));
  // Schema 2: verdicts ClusterNetworkPolicies decided.
  Fixture c(true);
  c.log(tier_deny(k8s::CnpTier::Admin, Direction::Ingress, "x/b", "guardrails", 0),
        testing::tcp4("10.244.2.21", 41002, "10.244.1.12", 5432), at(4));
  c.log(tier_allow(k8s::CnpTier::Admin, Direction::Ingress, "y/b", "guardrails", 1),
        testing::ipv4("10.244.1.11", "10.244.1.22", 17, testing::l4_ports(5353, 53, 8)), at(4.5));
  c.log(tier_deny(k8s::CnpTier::Baseline, Direction::Egress, "x/a", "default-deny", 0),
        testing::tcp4("10.244.1.11", 41003, "10.244.1.22", 80), at(5));
  c.pipeline.on_counters(
      {{tier_deny(k8s::CnpTier::Admin, Direction::Ingress, "x/b", "guardrails", 0), 310}}, at(6));
  out.insert(out.end(), c.lines.begin(), c.lines.end());
  return out;
}

TEST(Format, GoldenFilePinsEveryLineByteForByte) {
  std::string got;
  for (const std::string& l : golden_events()) got += l;
  if (const char* u = std::getenv("UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(golden_path(), std::ios::binary) << got;
  }
  std::ifstream in(golden_path(), std::ios::binary);
  ASSERT_TRUE(in) << golden_path() << " (UPDATE_GOLDEN=1 writes it)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(got, want.str()) << "the audit log format changed: a consumer contract "
                                "(docs/audit-log.md); bump schema_version if incompatible";
}

void collect_keys(const json& j, std::set<std::string>& keys) {
  if (!j.is_object()) return;
  for (const auto& [k, v] : j.items()) {
    keys.insert(k);
    collect_keys(v, keys);
  }
}

TEST(Format, EveryFieldIsDocumented) {
  std::ifstream doc(std::string(NETPOL_SOURCE_DIR) + "/docs/audit-log.md");
  ASSERT_TRUE(doc);
  std::stringstream text;
  text << doc.rdbuf();
  std::set<std::string> keys;
  for (const std::string& l : golden_events()) {
    json j = json::parse(l);  // also: every line is valid JSON
    collect_keys(j, keys);
    EXPECT_EQ(l.back(), '\n');
    EXPECT_EQ(l.find('\n'), l.size() - 1) << "one event, one line";
  }
  for (const std::string& k : keys) {
    EXPECT_NE(text.str().find("`" + k + "`"), std::string::npos)
        << "field " << k << " is not in docs/audit-log.md";
  }
}

}  // namespace
}  // namespace netpol::audit
