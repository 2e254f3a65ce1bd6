// The Auditor's threads around fake kernel sources: what arrives on the NFLOG
// side ends up as lines in the file, counters of chains that logged are read
// and reported, and rules fed later are used for what arrives later.
#include "agent/audit/auditor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "nft/render.h"
#include "tests/unit/audit/cluster.h"
#include "tests/unit/audit/packets.h"

namespace netpol::audit {
namespace {

namespace fs = std::filesystem;

// Hands out queued records, and reports `lost` once.
struct FakeLog : LogSource {
  std::mutex mu;
  std::vector<LogRecord> queued;
  uint64_t lost = 0;
  Status receive(std::vector<LogRecord>& out, int timeout_ms, uint64_t& l) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& r : queued) out.push_back(std::move(r));
      queued.clear();
      l += std::exchange(lost, 0);
    }
    if (out.empty()) usleep(static_cast<useconds_t>(timeout_ms) * 100);
    return {};
  }
};

// Counts reads per chain; the deny counter of x/b's ingress says 500 once.
struct FakeCounters : CounterSource {
  std::mutex mu;
  std::map<std::string, int> reads;
  Result<std::vector<CounterReading>> take(const std::string& table,
                                           const std::string& chain) override {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(table, "netpol");
    if (reads[chain]++ > 0) return std::vector<CounterReading>{};
    return std::vector<CounterReading>{
        {nft::audit_deny_prefix(nft::Direction::Ingress, "x/b"), 500}};
  }
};

std::vector<nlohmann::json> lines_of(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

TEST(Auditor, RecordsBecomeLinesAndHotChainsReportTheirCounters) {
  const fs::path log = fs::temp_directory_path() / ("netpol-auditor-" + std::to_string(getpid()));
  fs::remove(log);
  auto src = std::make_unique<FakeLog>();
  auto counters = std::make_unique<FakeCounters>();
  FakeLog* s = src.get();
  FakeCounters* c = counters.get();
  AuditorConfig cfg;
  cfg.path = log.string();
  cfg.node = "node-1";
  cfg.counter_poll = std::chrono::milliseconds(50);
  auto a = Auditor::start(cfg, std::move(src), std::move(counters));
  ASSERT_TRUE(a.ok()) << a.message();
  a.value()->update_rules(testing::cluster_rules());
  for (const k8s::Pod& p : testing::cluster_objects().pods) a.value()->upsert_pod(p);
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->queued.push_back({nft::audit_deny_prefix(nft::Direction::Ingress, "x/b"),
                         testing::tcp4("10.244.2.21", 40000, "10.244.1.12", 80)});
    s->lost = 3;
  }
  // Until a counter poll after the record made x/b's chain hot (5 s at most:
  // a busy machine is slow, not wrong).
  for (int i = 0; i < 100 && a.value()->stats().pipeline.suppressed == 0; ++i) usleep(50000);
  a.value()->flush();
  AuditorStats st = a.value()->stats();
  std::map<std::string, int> reads;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    reads = c->reads;
  }
  a.value().reset();  // stops the threads (and frees the fakes), writes what is queued
  auto lines = lines_of(log);
  fs::remove(log);
  ASSERT_EQ(lines.size(), 3u);
  size_t conn = 0, supp = 0, lost = 0;
  for (const auto& j : lines) {
    if (j["event"] == "connection") {
      ++conn;
      EXPECT_EQ(j["src"]["pod"], "a");
      EXPECT_EQ(j["src"]["namespace"], "y");
    } else if (j["event"] == "suppressed") {
      ++supp;
      EXPECT_EQ(j["count"], 500);
    } else if (j["event"] == "lost") {
      ++lost;
      EXPECT_EQ(j["reason"], "nflog_overflow");
      EXPECT_EQ(j["count"], 3);
    }
  }
  EXPECT_EQ(conn + supp + lost, 3u);
  EXPECT_EQ(st.nflog_lost, 3u);
  EXPECT_EQ(st.pipeline.suppressed, 500u);
  EXPECT_GE(reads[nft::pod_chain_name(nft::Direction::Ingress, "x", "b")], 1);
  EXPECT_EQ(reads.size(), 1u) << "only the chain that logged is polled";
}

}  // namespace
}  // namespace netpol::audit
