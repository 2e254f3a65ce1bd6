// policyc explain (answers and reasons from the IR) and policyc audit (the
// consumer side of the log: parsing, filters, summary), on the small cluster.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "compiler/policyc/audit_query.h"
#include "compiler/policyc/explain.h"
#include "k8s/rfc3339.h"
#include "tests/unit/audit/cluster.h"

namespace netpol::policyc {
namespace {

Explanation ask(const std::string& from, const std::string& to, const std::string& port,
                std::optional<Family> fam = std::nullopt) {
  Explainer e(audit::testing::cluster_objects());
  Query q;
  q.from = from;
  q.to = to;
  auto p = parse_port(port);
  EXPECT_TRUE(p) << port;
  q.port = p->first;
  q.protocol = p->second;
  q.family = fam;
  auto r = e.explain(q);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? r.value() : Explanation{};
}

std::string text(const Explanation& e) {
  std::string out;
  for (const auto& l : e.lines) out += l + "\n";
  return out;
}

TEST(Explain, AllowedNamesTheRuleThatAllowsIt) {
  Explanation e = ask("x/a", "x/b", "80/TCP");
  EXPECT_TRUE(e.allowed) << text(e);
  EXPECT_NE(text(e).find("isolated by x/allow-web, x/deny-ingress; allowed by x/allow-web "
                         "ingress[0]"),
            std::string::npos)
      << text(e);
  EXPECT_NE(text(e).find("egress of x/a (node node-1): not isolated"), std::string::npos);
}

TEST(Explain, DeniedSaysWhichPoliciesIsolateAndWhyNoRuleMatches) {
  Explanation e = ask("x/a", "x/b", "81/TCP");
  EXPECT_FALSE(e.allowed);
  EXPECT_NE(text(e).find("no rule allows it: denied"), std::string::npos) << text(e);
  EXPECT_NE(text(e).find("x/allow-web ingress[0]"), std::string::npos);
  EXPECT_NE(text(e).find("another port"), std::string::npos);
  EXPECT_NE(text(e).find("x/deny-ingress allows no ingress traffic"), std::string::npos);
  EXPECT_FALSE(ask("y/a", "x/b", "80/TCP").allowed) << "not the client pod";
  EXPECT_FALSE(ask("x/a", "x/b", "80/UDP").allowed) << "another protocol";
}

TEST(Explain, AddressesResolveToPodsOrExternal) {
  EXPECT_TRUE(ask("10.244.1.11", "x/b", "80").allowed);  // x/a by address
  Explanation e = ask("192.0.2.1", "x/b", "80/TCP");
  EXPECT_FALSE(e.allowed);
  EXPECT_NE(text(e).find("external (192.0.2.1)"), std::string::npos) << text(e);
  // A remote pod (node-2) is enforced on its own node.
  EXPECT_TRUE(ask("y/a", "y/b", "5432/TCP").allowed);
  EXPECT_FALSE(ask("x/b", "y/b", "5432/TCP").allowed);
}

TEST(Explain, FamilyFollowsTheAddresses) {
  Explanation e = ask("x/a", "x/b", "80/TCP");
  EXPECT_NE(text(e).find("over IPv4"), std::string::npos);
  Explainer ex(audit::testing::cluster_objects());
  auto r = ex.explain(Query{"x/a", "x/b", 80, k8s::Protocol::TCP, Family::V6});
  EXPECT_FALSE(r.ok()) << "x/b has no IPv6 address";
}

TEST(Explain, BadQueriesAreErrors) {
  Explainer e(audit::testing::cluster_objects());
  EXPECT_FALSE(e.explain(Query{"x/nope", "x/b", 80}).ok());
  EXPECT_FALSE(e.explain(Query{"x/a", "not an ip", 80}).ok());
  EXPECT_FALSE(parse_port("0/TCP"));
  EXPECT_FALSE(parse_port("80/ICMP"));
  EXPECT_FALSE(parse_port("http"));
  EXPECT_EQ(parse_port("53/udp")->second, k8s::Protocol::UDP);
}

// --- audit ----------------------------------------------------------------------

// format.golden.jsonl is what the agent writes today (schema 2);
// format.v1.jsonl the same events as schema 1 wrote them, frozen: a reader
// must keep understanding logs written before the upgrade.
constexpr const char* kV2 = "format.golden.jsonl";
constexpr const char* kV1 = "format.v1.jsonl";

std::vector<AuditRecord> golden_records(const char* file = kV2) {
  std::ifstream in(std::string(NETPOL_SOURCE_DIR) + "/tests/unit/audit/" + file);
  std::vector<AuditRecord> out;
  for (std::string l; std::getline(in, l);) {
    auto r = parse_audit_line(l);
    EXPECT_TRUE(r) << l;
    if (r) out.push_back(*r);
  }
  return out;
}

size_t count(const AuditFilter& f, const char* file = kV2) {
  size_t n = 0;
  for (const AuditRecord& r : golden_records(file)) n += matches(r, f) ? 1 : 0;
  return n;
}

TEST(AuditRead, EveryDocumentedLineParsesAndCorruptOnesDoNot) {
  EXPECT_EQ(golden_records().size(), 13u);
  EXPECT_EQ(golden_records(kV1).size(), 9u);
  EXPECT_EQ(golden_records()[0].schema, 2);
  EXPECT_EQ(golden_records(kV1)[0].schema, 1);
  std::string good = golden_records()[0].raw;
  for (std::string bad :
       {std::string(""), std::string("garbage"), good.substr(0, good.size() / 2), std::string("[]"),
        std::string("{\"schema_version\":3,\"event\":\"connection\",\"time\":"
                    "\"2026-01-01T00:00:00Z\"}"),
        std::string("{\"schema_version\":0,\"event\":\"lost\",\"time\":"
                    "\"2026-01-01T00:00:00Z\"}"),
        std::string("{\"schema_version\":1,\"event\":\"connection\",\"time\":\"yesterday\"}"),
        std::string("{\"schema_version\":1,\"event\":\"connection\",\"time\":"
                    "\"2026-01-01T00:00:00Z\"}")}) {
    EXPECT_FALSE(parse_audit_line(bad)) << bad;
  }
}

// The schema 1 filters on a schema 1 log: what they selected before the upgrade.
TEST(AuditRead, FiltersSelectWhatTheyName) {
  auto count = [](const AuditFilter& f) { return policyc::count(f, kV1); };
  AuditFilter f;
  EXPECT_EQ(count(f), 9u);
  f.verdict = "deny";
  // 3 denied connections and 1 suppressed count; "lost" lines only without flow filters.
  EXPECT_EQ(count(f), 4u);
  f = {};
  f.event = "connection";
  f.protocol = "tcp";
  EXPECT_EQ(count(f), 2u);
  f = {};
  f.ns = std::make_shared<RE2>("y");
  EXPECT_EQ(count(f), 2u);  // y/a -> x/b, y/a -> y/b
  f = {};
  f.pod = std::make_shared<RE2>("x/(a|b)");
  f.event = "connection";
  EXPECT_EQ(count(f), 4u);
  f = {};
  f.policy = std::make_shared<RE2>(".*/allow-web");
  f.verdict = "allow";
  EXPECT_EQ(count(f), 2u);  // the allowed connection and its suppressed count
  f = {};
  f.port = 53;
  EXPECT_EQ(count(f), 1u);
  f = {};
  f.since = netpol::parse_rfc3339_utc("2026-03-04T05:06:08Z");
  f.until = netpol::parse_rfc3339_utc("2026-03-04T05:06:10Z");
  EXPECT_EQ(count(f), 4u);
}

TEST(AuditRead, TierAndCnpFiltersReadBothSchemas) {
  AuditFilter f;
  f.tier = "Admin";
  EXPECT_EQ(count(f), 3u);  // the Admin deny, the logged Admin accept, its suppressed count
  EXPECT_EQ(count(f, kV1), 0u);
  f.verdict = "deny";
  EXPECT_EQ(count(f), 2u);
  f = {};
  f.tier = "Baseline";
  EXPECT_EQ(count(f), 1u);
  f.direction = "ingress";
  EXPECT_EQ(count(f), 0u);  // the Baseline deny is x/a's egress
  f = {};
  // Every schema 1 verdict is a NetworkPolicy's; "lost" lines name no tier.
  f.tier = "NetworkPolicy";
  EXPECT_EQ(count(f), 7u);
  EXPECT_EQ(count(f, kV1), 7u);
  f = {};
  f.cnp = std::make_shared<RE2>("guardrails");
  EXPECT_EQ(count(f), 3u);
  EXPECT_EQ(count(f, kV1), 0u);
  f.verdict = "allow";
  EXPECT_EQ(count(f), 1u);
  f = {};
  f.cnp = std::make_shared<RE2>("guard");  // anchored, like --policy
  EXPECT_EQ(count(f), 0u);
  f.cnp = std::make_shared<RE2>("default-.*");
  EXPECT_EQ(count(f), 1u);
  // The schema 1 filters see the same schema 1 fields in a schema 2 log.
  f = {};
  f.policy = std::make_shared<RE2>("x/allow-web");
  f.verdict = "allow";
  EXPECT_EQ(count(f), count(f, kV1));
  f = {};
  f.verdict = "deny";
  EXPECT_EQ(count(f), count(f, kV1) + 3);  // + the Admin, Baseline deny and the Admin suppressed
}

TEST(AuditRead, SummaryRanksFlowsMostFrequentFirst) {
  AuditSummary s;
  auto recs = golden_records();
  for (int i = 0; i < 3; ++i) s.add(recs[3]);  // the IPv6 UDP denial, three times
  for (const AuditRecord& r : recs) s.add(r);
  std::string out = s.render(2);
  std::istringstream lines(out);
  std::string head, first;
  std::getline(lines, head);
  std::getline(lines, first);
  EXPECT_NE(first.find("2001:db8::7 -> x/a:53/UDP (deny, ingress)"), std::string::npos) << out;
  EXPECT_NE(first.find("4"), std::string::npos);
  EXPECT_NE(out.find("9980  x/b ingress (deny)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("310  x/b ingress (deny, Admin cnp/guardrails)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("lost lines: 19"), std::string::npos);
}

TEST(AuditRead, TimeArgumentsAreRfc3339OrDurationsAgo) {
  auto now = *netpol::parse_rfc3339_utc("2026-03-04T05:06:07Z");
  EXPECT_EQ(*parse_time_arg("15m", now), now - std::chrono::minutes(15));
  EXPECT_EQ(*parse_time_arg("2d", now), now - std::chrono::hours(48));
  EXPECT_EQ(*parse_time_arg("2026-03-04T05:00:00Z", now),
            *netpol::parse_rfc3339_utc("2026-03-04T05:00:00Z"));
  EXPECT_FALSE(parse_time_arg("soon", now));
  EXPECT_FALSE(parse_time_arg("5w", now));
}

TEST(AuditRead, TableRowsShowBothEndsAndTheDecidingPolicy) {
  auto recs = golden_records();
  EXPECT_NE(table_row(recs[0]).find("y/a:41000"), std::string::npos);
  EXPECT_NE(table_row(recs[0]).find("(none allows it; isolated by x/allow-web, x/deny-ingress)"),
            std::string::npos);
  EXPECT_NE(table_row(recs[1]).find("x/allow-web ingress[0]"), std::string::npos);
  EXPECT_NE(table_row(recs[3]).find("[2001:db8::7]:5353"), std::string::npos);
  EXPECT_NE(table_row(recs[9]).find("Admin cnp/guardrails rule deny-db ingress[0]"),
            std::string::npos)
      << table_row(recs[9]);
  EXPECT_NE(table_row(recs[11]).find("Baseline cnp/default-deny rule deny-to-y egress[0]"),
            std::string::npos)
      << table_row(recs[11]);
  EXPECT_NE(
      table_row(recs[12]).find("(over the log rate limit of Admin cnp/guardrails rule deny-db)"),
      std::string::npos)
      << table_row(recs[12]);
  // A schema 1 line reads as it did.
  auto v1 = golden_records(kV1);
  EXPECT_EQ(table_row(v1[1]), table_row(recs[1]));
}

}  // namespace
}  // namespace netpol::policyc

namespace netpol::policyc {
namespace {

// Every field of every documented line replaced by a value of every other JSON
// type, and every line cut at every length: the reader skips or shows such
// lines, it never throws.
TEST(AuditRead, TypeConfusedAndTruncatedLinesNeverThrow) {
  std::stringstream in;
  for (const char* file : {"format.golden.jsonl", "format.v1.jsonl"}) {
    std::ifstream f(std::string(NETPOL_SOURCE_DIR) + "/tests/unit/audit/" + file);
    in << f.rdbuf();
  }
  std::vector<nlohmann::json> variants = {
      nullptr, 1, -1, 1.5, "x", nlohmann::json::array(), nlohmann::json::object(), true};
  AuditFilter all;
  all.ns = std::make_shared<RE2>(".*");
  all.pod = std::make_shared<RE2>(".*");
  all.policy = std::make_shared<RE2>(".*");
  all.port = 80;
  all.protocol = "TCP";
  all.tier = "Admin";
  all.cnp = std::make_shared<RE2>(".*");
  size_t tried = 0;
  auto exercise = [&](const std::string& line) {
    ++tried;
    EXPECT_NO_THROW({
      auto r = parse_audit_line(line);
      if (r) {
        (void)matches(*r, all);
        (void)matches(*r, AuditFilter{});
        (void)table_row(*r);
        AuditSummary s;
        s.add(*r);
        (void)s.render(5);
      }
    }) << line;
  };
  for (std::string l; std::getline(in, l);) {
    for (size_t cut = 0; cut < l.size(); cut += 7) exercise(l.substr(0, cut));
    nlohmann::json j = nlohmann::json::parse(l);
    std::function<void(nlohmann::json&)> mutate = [&](nlohmann::json& node) {
      if (!node.is_object()) return;
      for (auto& [k, v] : node.items()) {
        nlohmann::json saved = v;
        for (const auto& other : variants) {
          v = other;
          exercise(j.dump());
        }
        v = saved;
        mutate(v);
      }
    };
    mutate(j);
  }
  EXPECT_GT(tried, 1000u);
}

}  // namespace
}  // namespace netpol::policyc
