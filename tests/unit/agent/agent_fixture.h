// The whole agent against the in-process fake API server (real HTTP on
// loopback) and a fake kernel: the fixture agent_test.cpp and
// agent_cnp_test.cpp share. Test code only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/agent.h"
#include "compiler/ir.h"
#include "k8s/api/client.h"
#include "tests/fakeapi/fake_apiserver.h"
#include "tests/support/eventually.h"
#include "tests/support/fake_kernel.h"
#include "tests/unit/agent/promparse.h"

namespace netpol::agent {

// The fake kernel behind a lock: the sync thread writes, the test reads.
class LockedKernel : public nft::Kernel {
 public:
  nft::Status commit(const nft::Transaction& tx) override {
    std::lock_guard lock(mu_);
    return inner_.commit(tx);
  }
  nft::Result<std::optional<nft::Ruleset>> read(nft::TableFamily f, const std::string& n) override {
    std::lock_guard lock(mu_);
    return inner_.read(f, n);
  }
  std::optional<nft::Ruleset> table() {
    std::lock_guard lock(mu_);
    return inner_.table;
  }

 private:
  std::mutex mu_;
  testsupport::FakeKernel inner_;
};

inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(15000)) {
  return testsupport::eventually(pred, limit);
}

struct AgentFixture : ::testing::Test {
  static fakeapi::Options server_options() {
    fakeapi::Options o;
    o.keep_pod_status = true;
    o.bookmark_interval = std::chrono::milliseconds(50);
    return o;
  }
  void SetUp() override { start_server(server_options()); }
  void start_server(const fakeapi::Options& o) {
    std::string err;
    server = fakeapi::Server::start(o, &err);
    ASSERT_TRUE(server) << err;
    k8s::api::ClientConfig cfg;
    cfg.server = server->url();
    auto c = k8s::api::make_http_client(cfg);
    ASSERT_TRUE(c.ok()) << c.status().str();
    client = c.value();
  }
  void TearDown() override {
    agent.reset();
    if (server) server->stop();
  }
  // `tweak` changes the configuration before the agent is made.
  void start_agent(const std::string& node = "node1",
                   std::chrono::seconds watch_stall = std::chrono::seconds(0),
                   const std::function<void(AgentConfig&)>& tweak = {}) {
    AgentConfig cfg;
    cfg.node_name = node;
    cfg.watch_stall = watch_stall;
    cfg.sync.tick = std::chrono::milliseconds(10);
    if (tweak) tweak(cfg);
    agent = std::make_unique<Agent>(client, kernel, cfg, log);
    agent->add_applied_listener([this](const ir::RuleSet& rules) {
      std::lock_guard lock(applied_mu);
      applied = rules;
    });
    agent->start();
  }
  // Waits until the agent enforces everything the server holds now.
  bool caught_up() {
    const uint64_t rv = server->resource_version();
    return wait_until([&] { return agent->synced_resource_version() >= rv; });
  }
  // The IR of the agent's last successful apply (what the kernel enforces).
  ir::RuleSet applied_rules() {
    std::lock_guard lock(applied_mu);
    return applied;
  }
  testing::Exposition scrape() {
    HttpResponse r = agent->serve("GET", "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    std::string err;
    auto e = testing::parse_exposition(r.body, &err);
    EXPECT_TRUE(e) << err << "\n" << r.body;
    return e ? *e : testing::Exposition{};
  }

  std::unique_ptr<fakeapi::Server> server;
  std::shared_ptr<k8s::api::ApiClient> client;
  LockedKernel kernel;
  Logger log{LogLevel::Warn};
  std::unique_ptr<Agent> agent;
  std::mutex applied_mu;
  ir::RuleSet applied;
};

}  // namespace netpol::agent
