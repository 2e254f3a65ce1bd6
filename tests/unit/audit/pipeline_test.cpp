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

  Fixture() {
    pipeline.update_rules(testing::cluster_rules());
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

TEST(Pipeline, DeniedConnectionNamesBothPodsAndTheIsolatingPolicies) {
  Fixture f;
  // y/a lives on node-2: known from the pod directory, not from this node's rules.
  f.log(deny(Direction::Ingress, "x/b"), testing::tcp4("10.244.2.21", 41000, "10.244.1.12", 80),
        at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["schema_version"], 1);
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
}

TEST(Pipeline, ASpoofedPacketIsADenyWithReasonSpoofedBlamingNoPod) {
  Fixture f;
  // 10.244.1.11 is x/a's: the sender forged it, so the line must not name x/a.
  f.log(nft::kSpoofedPrefix, testing::tcp4("10.244.1.11", 41000, "10.244.1.12", 80), at(0));
  ASSERT_EQ(f.lines.size(), 1u);
  json j = f.last();
  EXPECT_EQ(j["schema_version"], 1);  // a new optional key, not a new version
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
