// The audit path against the real kernel, each test in a throwaway network
// namespace of its own (testsupport::run_in_netns; needs root, else skipped):
// the logging rules programmed through netlink read back and list exactly as
// policyc's script does, and logged packets come out of NFLOG as JSON lines,
// rate limited, with the suppressed count.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/audit/auditor.h"
#include "nft/netlink.h"
#include "nft/readback.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"
#include "tests/support/netns.h"
#include "tests/unit/audit/cluster.h"

namespace netpol::audit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Runs `body` in a thread inside a fresh network namespace (tests/support/netns.h).
#define IN_NETNS(body)                                                 \
  do {                                                                 \
    if (geteuid() != 0) GTEST_SKIP() << "needs root";                  \
    std::string why_;                                                  \
    if (!testsupport::run_in_netns(body, &why_)) GTEST_SKIP() << why_; \
  } while (0)

// A shell command in the calling thread's namespace; its stdout.
std::string sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

nft::Ruleset audited_ruleset() {
  return nft::render(testing::cluster_rules(), nft::AuditOptions{}).ruleset;
}

TEST(AuditKernel, LoggingRulesThroughNetlinkListAndReadBackLikeTheScript) {
  std::string via_netlink, via_script, problem;
  IN_NETNS([&] {
    auto backend = nft::NetlinkBackend::open();
    if (!backend.ok()) {
      problem = backend.message();
      return;
    }
    auto tx = nft::Transaction::replace(audited_ruleset());
    if (!tx.ok()) {
      problem = tx.message();
      return;
    }
    if (Status s = backend.value()->commit(tx.value()); !s.ok()) {
      problem = s.message();
      return;
    }
    auto back = backend.value()->read(nft::TableFamily::Inet, "netpol");
    if (!back.ok() || !back.value() || !(*back.value() == audited_ruleset())) {
      problem = "read-back differs from what was applied: " + back.message();
    }
    via_netlink = sh("nft list table inet netpol");
  });
  ASSERT_TRUE(problem.empty()) << problem;
  IN_NETNS([&] {
    auto tx = nft::Transaction::replace(audited_ruleset());
    std::string path = fs::temp_directory_path() / ("netpol-audit-" + std::to_string(getpid()));
    std::ofstream(path) << nft::to_script(tx.value());
    int rc = 0;
    sh("nft -f " + path, &rc);
    fs::remove(path);
    if (rc != 0) problem = "nft -f refused the script";
    via_script = sh("nft list table inet netpol");
  });
  ASSERT_TRUE(problem.empty()) << problem;
  EXPECT_NE(via_script.find("log prefix \"netpol allow ingress"), std::string::npos);
  EXPECT_NE(via_script.find("counter packets 0 bytes 0 drop"), std::string::npos);
  EXPECT_EQ(via_netlink, via_script);
}

std::vector<json> read_json_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  return out;
}

// Sends one UDP datagram from src:sport to dst:port; false if the kernel
// refused it (a drop in the output path shows as EPERM).
bool udp(const char* src, uint16_t sport, const char* dst, uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(sport);
  inet_pton(AF_INET, src, &a.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  sockaddr_in b{};
  b.sin_family = AF_INET;
  b.sin_port = htons(port);
  inet_pton(AF_INET, dst, &b.sin_addr);
  bool ok = sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&b), sizeof b) == 1;
  close(fd);
  return ok;
}

TEST(AuditKernel, DeniedPacketsAreLoggedRateLimitedAndTheRestCounted) {
  const std::string log =
      fs::temp_directory_path() / ("netpol-audit-k-" + std::to_string(getpid()));
  fs::remove(log);
  std::string problem;
  AuditorStats stats;
  int refused = 0;
  IN_NETNS([&] {
    // Both pods' addresses on lo; traffic between them crosses the output
    // hook, where a test-only base chain dispatches like filter-forward does.
    sh("ip link set lo up && ip addr add 10.244.1.11/32 dev lo && ip addr add 10.244.1.12/32 dev "
       "lo");
    nft::Ruleset rs = audited_ruleset();
    rs.chains.emplace("test-output",
                      nft::Chain{"test-output", "test only",
                                 nft::BaseHook{nft::ChainType::Filter, nft::Hook::Output, 0,
                                               nft::ChainPolicy::Accept}});
    rs.append(nft::Rule{"test-output", {nft::VmapLookup{nft::Field::IpDaddr, "ingress-v4"}}, ""});
    auto backend = nft::NetlinkBackend::open();
    auto tx = nft::Transaction::replace(rs);
    if (!backend.ok() || !tx.ok()) {
      problem = "setup: " + backend.message() + tx.message();
      return;
    }
    if (Status s = backend.value()->commit(tx.value()); !s.ok()) {
      problem = s.message();
      return;
    }
    AuditorConfig c;
    c.path = log;
    c.node = "node-1";
    c.counter_poll = std::chrono::milliseconds(200);
    auto a = Auditor::start(c);
    if (!a.ok()) {
      problem = a.message();
      return;
    }
    a.value()->update_rules(testing::cluster_rules());
    for (const k8s::Pod& p : testing::cluster_objects().pods) a.value()->upsert_pod(p);
    // 300 denied datagrams (UDP/80 is not what allow-web allows), each from
    // its own source port: 300 attempts, far over the burst of 20.
    for (int i = 0; i < 300; ++i) {
      refused += udp("10.244.1.11", static_cast<uint16_t>(20000 + i), "10.244.1.12", 80) ? 0 : 1;
    }
    // Let the counter poll see the chain and report what it suppressed.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    a.value()->flush();
    stats = a.value()->stats();
  });
  ASSERT_TRUE(problem.empty()) << problem;
  EXPECT_EQ(refused, 300) << "every datagram must have been dropped";
  std::vector<json> lines = read_json_lines(log);
  fs::remove(log);
  size_t connections = 0;
  uint64_t suppressed = 0;
  for (const json& j : lines) {
    if (j["event"] == "connection") {
      ++connections;
      EXPECT_EQ(j["verdict"], "deny");
      EXPECT_EQ(j["direction"], "ingress");
      EXPECT_EQ(j["protocol"], "UDP");
      EXPECT_EQ(j["src"]["pod"], "a");
      EXPECT_EQ(j["dst"]["pod"], "b");
      EXPECT_EQ(j["dst"]["port"], 80);
      EXPECT_EQ(j["isolated_by"], json({"x/allow-web", "x/deny-ingress"}));
    } else if (j["event"] == "suppressed") {
      suppressed += j["count"].get<uint64_t>();
    }
  }
  // The burst (20) plus what 10/s refills while the loop ran (well under a second).
  EXPECT_GE(connections, 20u);
  EXPECT_LE(connections, 35u);
  EXPECT_EQ(connections + suppressed, 300u) << "logged + suppressed = every attempt";
  EXPECT_EQ(stats.nflog_lost, 0u);
  EXPECT_EQ(stats.errors, 0u) << stats.last_error;
}

// Sends a TCP SYN from src:sport to dst:port (a non-blocking connect; a
// drop in the output path does not fail it, TCP would retransmit).
void tcp_syn(const char* src, uint16_t sport, const char* dst, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(sport);
  inet_pton(AF_INET, src, &a.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  sockaddr_in b{};
  b.sin_family = AF_INET;
  b.sin_port = htons(port);
  inet_pton(AF_INET, dst, &b.sin_addr);
  (void)connect(fd, reinterpret_cast<sockaddr*>(&b), sizeof b);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  close(fd);
}

// A non-blocking TCP listener on ip:port; accepted() says whether a
// connection arrived.
struct Listener {
  int fd = -1;
  Listener(const char* ip, uint16_t port) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 8);
  }
  ~Listener() { close(fd); }
  bool accepted() {
    int c = accept(fd, nullptr, nullptr);
    if (c >= 0) close(c);
    return c >= 0;
  }
};

// The ClusterNetworkPolicies of cluster.h in the kernel, real packets, the
// lines the Auditor writes: an Admin Deny and a Baseline Deny name their tier,
// cnp/NAME and rule; an Admin Accept logs for y (netpol.io/audit: all); an
// Admin Pass logs nothing itself, and the NetworkPolicy chain it passes to
// logs its own deny as tier NetworkPolicy.
TEST(AuditKernel, CnpVerdictsAreLoggedWithTheirTierCnpAndRule) {
  const std::string log =
      fs::temp_directory_path() / ("netpol-audit-cnp-" + std::to_string(getpid()));
  fs::remove(log);
  std::string problem;
  AuditorStats stats;
  bool admin_deny_reached = true, baseline_deny_sent = true, accept_sent = false, pass_sent = true;
  IN_NETNS([&] {
    // x/a, x/b, y/a (a node-2 pod, as a source only) and y/b on lo; the
    // output hook dispatches like filter-forward: egress, then ingress.
    sh("ip link set lo up && for a in 10.244.1.11 10.244.1.12 10.244.2.21 10.244.1.22; do ip "
       "addr add $a/32 dev lo; done");
    nft::Ruleset rs = nft::render(testing::cnp_cluster_rules(), nft::AuditOptions{}).ruleset;
    rs.chains.emplace("test-output",
                      nft::Chain{"test-output", "test only",
                                 nft::BaseHook{nft::ChainType::Filter, nft::Hook::Output, 0,
                                               nft::ChainPolicy::Accept}});
    rs.append(nft::Rule{"test-output", {nft::VmapLookup{nft::Field::IpSaddr, "egress-v4"}}, ""});
    rs.append(nft::Rule{"test-output", {nft::VmapLookup{nft::Field::IpDaddr, "ingress-v4"}}, ""});
    auto backend = nft::NetlinkBackend::open();
    auto tx = nft::Transaction::replace(rs);
    if (!backend.ok() || !tx.ok()) {
      problem = "setup: " + backend.message() + tx.message();
      return;
    }
    if (Status s = backend.value()->commit(tx.value()); !s.ok()) {
      problem = s.message();
      return;
    }
    AuditorConfig c;
    c.path = log;
    c.node = "node-1";
    c.counter_poll = std::chrono::milliseconds(200);
    auto a = Auditor::start(c);
    if (!a.ok()) {
      problem = a.message();
      return;
    }
    a.value()->update_rules(testing::cnp_cluster_rules());
    for (const k8s::Pod& p : testing::cluster_objects().pods) a.value()->upsert_pod(p);
    Listener db("10.244.1.12", 5432);
    tcp_syn("10.244.2.21", 41000, "10.244.1.12", 5432);  // y/a -> x/b
    admin_deny_reached = db.accepted();
    baseline_deny_sent = udp("10.244.1.11", 41001, "10.244.1.22", 80);  // x/a -> y/b
    accept_sent = udp("10.244.2.21", 41002, "10.244.1.22", 53);         // y/a -> y/b DNS
    pass_sent = udp("10.244.2.21", 41003, "10.244.1.12", 80);           // y/a -> x/b
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    a.value()->flush();
    stats = a.value()->stats();
  });
  ASSERT_TRUE(problem.empty()) << problem;
  EXPECT_FALSE(admin_deny_reached) << "the Admin Deny must drop the SYN";
  EXPECT_FALSE(baseline_deny_sent) << "the Baseline Deny must drop the datagram";
  EXPECT_TRUE(accept_sent) << "the Admin Accept must let DNS through";
  EXPECT_FALSE(pass_sent) << "Pass hands over to x's default deny";
  std::map<uint16_t, json> by_sport;  // each attempt has its own source port
  for (const json& j : read_json_lines(log)) {
    if (j["event"] == "connection") by_sport[j["src"]["port"].get<uint16_t>()] = j;
  }
  fs::remove(log);
  ASSERT_EQ(by_sport.size(), 4u) << "one line per attempt";
  const json& admin = by_sport[41000];
  EXPECT_EQ(admin["schema_version"], 2);
  EXPECT_EQ(admin["verdict"], "deny");
  EXPECT_EQ(admin["direction"], "ingress");
  EXPECT_EQ(admin["protocol"], "TCP");
  EXPECT_EQ(admin["src"]["pod"], "a");
  EXPECT_EQ(admin["src"]["namespace"], "y");
  EXPECT_EQ(admin["dst"]["pod"], "b");
  EXPECT_EQ(admin["tier"], "Admin");
  EXPECT_EQ(admin["cnp"], json({{"name", "guardrails"}, {"rule", "deny-db"}, {"index", 0}}));
  EXPECT_EQ(admin["policies"], json::array());
  const json& base = by_sport[41001];
  EXPECT_EQ(base["verdict"], "deny");
  EXPECT_EQ(base["direction"], "egress");
  EXPECT_EQ(base["tier"], "Baseline");
  EXPECT_EQ(base["cnp"], json({{"name", "default-deny"}, {"rule", "deny-to-y"}, {"index", 0}}));
  EXPECT_EQ(base["dst"]["namespace"], "y");
  const json& accept = by_sport[41002];
  EXPECT_EQ(accept["verdict"], "allow");
  EXPECT_EQ(accept["tier"], "Admin");
  EXPECT_EQ(accept["cnp"]["rule"], "accept-dns");
  const json& pass = by_sport[41003];
  EXPECT_EQ(pass["verdict"], "deny");
  EXPECT_EQ(pass["tier"], "NetworkPolicy");
  EXPECT_EQ(pass["cnp"], nullptr);
  EXPECT_EQ(pass["isolated_by"], json({"x/allow-web", "x/deny-ingress"}));
  EXPECT_EQ(stats.pipeline.unknown_ids, 0u);
  EXPECT_EQ(stats.errors, 0u) << stats.last_error;
}

TEST(AuditKernel, SecondListenerOnTheSameGroupIsRefused) {
  std::string first, second;
  IN_NETNS([&] {
    NflogOptions o;
    o.group = 4242;
    auto a = open_nflog(o);
    first = a.ok() ? "" : a.message();
    auto b = open_nflog(o);
    second = b.ok() ? "bound twice" : b.message();
  });
  EXPECT_EQ(first, "");
  EXPECT_NE(second.find("4242"), std::string::npos) << second;
}

}  // namespace
}  // namespace netpol::audit
