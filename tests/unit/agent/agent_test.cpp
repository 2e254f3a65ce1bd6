// The whole agent against the in-process fake API server and a fake kernel:
// what the API server holds ends up in the kernel, the resourceVersion
// watermark says when, and /healthz, /readyz, /metrics answer as documented.
#include "agent/agent.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "compiler/compiler.h"
#include "k8s/api/client.h"
#include "nft/render.h"
#include "nft/script.h"
#include "tests/fakeapi/fake_apiserver.h"
#include "tests/support/builders.h"
#include "tests/support/eventually.h"
#include "tests/support/fake_kernel.h"
#include "tests/support/manifests.h"
#include "tests/unit/agent/agent_fixture.h"
#include "tests/unit/agent/promparse.h"

namespace netpol::agent {
namespace {

using namespace testing;
using namespace testsupport;
using fakeapi::Kind;
using std::chrono::milliseconds;

// The IR the agent should enforce, compiled independently from the same objects.
ir::RuleSet compile_same(const std::vector<k8s::Namespace>& nss, const std::vector<k8s::Pod>& pods,
                         const std::vector<k8s::NetworkPolicy>& nps, const std::string& node) {
  k8s::Objects o{nss, pods, nps};
  return compiler::compile(o, node);
}

TEST_F(AgentFixture, EnforcesWhatTheApiServerHoldsAndFollowsChanges) {
  ASSERT_TRUE(server->create(Kind::Namespace, "", ns_json("x")).ok());
  ASSERT_TRUE(
      server->create(Kind::Pod, "x", manifest(pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})))
          .ok());
  ASSERT_TRUE(
      server->create(Kind::Pod, "x", manifest(pod("x", "b", "node2", {"10.0.2.1"}, {{"app", "b"}})))
          .ok());
  ASSERT_TRUE(server
                  ->create(Kind::NetworkPolicy, "x",
                           manifest(ingress_only_from("x", "np", {{"app", "a"}},
                                                      k8s::Labels{{"app", "b"}})))
                  .ok());
  EXPECT_EQ(agent, nullptr);
  start_agent();
  ASSERT_TRUE(wait_until([&] { return agent->ready(); }));
  EXPECT_EQ(agent->serve("GET", "/readyz").status, 200);
  EXPECT_EQ(agent->serve("GET", "/healthz").status, 200);
  ASSERT_TRUE(caught_up());

  auto ns_x = testsupport::ns("x");
  auto a = pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}});
  auto b = pod("x", "b", "node2", {"10.0.2.1"}, {{"app", "b"}});
  auto np = ingress_only_from("x", "np", {{"app", "a"}}, k8s::Labels{{"app", "b"}});
  EXPECT_EQ(kernel.table(), nft::render(compile_same({ns_x}, {a, b}, {np}, "node1")).ruleset);

  // Pod churn with IP reuse: b goes, c (other labels) gets b's address.
  ASSERT_TRUE(server->remove(Kind::Pod, "x", "b").ok());
  ASSERT_TRUE(
      server->create(Kind::Pod, "x", manifest(pod("x", "c", "node2", {"10.0.2.1"}, {{"app", "c"}})))
          .ok());
  ASSERT_TRUE(caught_up());
  auto c = pod("x", "c", "node2", {"10.0.2.1"}, {{"app", "c"}});
  EXPECT_EQ(kernel.table(), nft::render(compile_same({ns_x}, {a, c}, {np}, "node1")).ruleset);

  // Policy deleted: x/a is no longer isolated.
  ASSERT_TRUE(server->remove(Kind::NetworkPolicy, "x", "np").ok());
  ASSERT_TRUE(caught_up());
  EXPECT_EQ(kernel.table(), nft::render(compile_same({ns_x}, {a, c}, {}, "node1")).ruleset);

  auto m = scrape();
  EXPECT_EQ(m.value("netpol_ready"), 1);
  EXPECT_EQ(m.value("netpol_objects", {{"kind", "pod"}}), 2);
  EXPECT_EQ(m.value("netpol_objects", {{"kind", "networkpolicy"}}), 0);
  EXPECT_EQ(m.value("netpol_objects", {{"kind", "namespace"}}), 1);
  EXPECT_GE(*m.value("netpol_event_to_kernel_seconds_count"), 2);
  EXPECT_GT(*m.value("netpol_last_successful_sync_timestamp_seconds"), 1.6e9);
  EXPECT_EQ(m.value("netpol_synced_resource_version"),
            static_cast<double>(agent->synced_resource_version()));
  EXPECT_GT(*m.value("process_resident_memory_bytes"), 0);
  EXPECT_TRUE(m.families.contains("netpol_watch_restarts_total"));
  EXPECT_EQ(agent->serve("GET", "/nope").status, 404);
  EXPECT_EQ(agent->serve("POST", "/metrics").status, 405);
}

// Finished pods are left out by the API server (the Pod informer's field
// selector), a pod that finishes arrives as a delete, and the kernel ends up
// with exactly what compiling every pod, finished ones included, gives.
TEST_F(AgentFixture, FinishedPodsAreNotSentAndAPodThatFinishesGoes) {
  ASSERT_TRUE(server->create(Kind::Namespace, "", ns_json("x")).ok());
  auto a = pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}});
  auto b = pod("x", "b", "node2", {"10.0.2.1"}, {{"app", "b"}});
  auto j = pod("x", "j", "node1", {"10.0.1.9"}, {{"app", "b"}});
  auto f = pod("x", "f", "node1", {"10.0.1.7"}, {{"app", "b"}});
  for (const auto& p : {a, b, j, f}) ASSERT_TRUE(server->create(Kind::Pod, "x", manifest(p)).ok());
  ASSERT_TRUE(server->update_status(Kind::Pod, "x", "f", pod_status("10.0.1.7", "Failed")).ok());
  f.phase = k8s::PodPhase::Failed;
  auto np = ingress_only_from("x", "np", {{"app", "a"}}, k8s::Labels{{"app", "b"}});
  ASSERT_TRUE(server->create(Kind::NetworkPolicy, "x", manifest(np)).ok());
  start_agent();
  ASSERT_TRUE(wait_until([&] { return agent->ready(); }));
  ASSERT_TRUE(caught_up());
  auto ns_x = testsupport::ns("x");
  const auto with_all = nft::render(compile_same({ns_x}, {a, b, j, f}, {np}, "node1")).ruleset;
  EXPECT_EQ(with_all, nft::render(compile_same({ns_x}, {a, b, j}, {np}, "node1")).ruleset)
      << "a Failed pod contributes nothing";
  EXPECT_EQ(kernel.table(), with_all);
  auto m = scrape();
  EXPECT_EQ(m.value("netpol_objects", {{"kind", "pod"}}), 3) << "the Failed pod was not sent";
  EXPECT_EQ(m.value("netpol_watch_list", {{"kind", "pod"}}), 1);
  EXPECT_EQ(server->stats().watch_lists, 5u) << "every informer read its state by watch-list";

  ASSERT_TRUE(server->update_status(Kind::Pod, "x", "j", pod_status("10.0.1.9", "Succeeded")).ok());
  j.phase = k8s::PodPhase::Succeeded;
  ASSERT_TRUE(caught_up());
  EXPECT_EQ(kernel.table(), nft::render(compile_same({ns_x}, {a, b, j, f}, {np}, "node1")).ruleset);
  EXPECT_EQ(kernel.table(), nft::render(compile_same({ns_x}, {a, b}, {np}, "node1")).ruleset);
  EXPECT_EQ(scrape().value("netpol_objects", {{"kind", "pod"}}), 2) << "j left as a delete";
}

// --watch-list off: every informer lists, then watches.
TEST_F(AgentFixture, WatchListOffLists) {
  ASSERT_TRUE(server->create(Kind::Namespace, "", ns_json("x")).ok());
  ASSERT_TRUE(server->create(Kind::Pod, "x", manifest(pod("x", "a", "node1", {"10.0.1.1"}))).ok());
  start_agent("node1", std::chrono::seconds(0), [](AgentConfig& c) { c.watch_list = false; });
  ASSERT_TRUE(wait_until([&] { return agent->ready(); }));
  ASSERT_TRUE(caught_up());
  EXPECT_EQ(server->stats().watch_lists, 0u);
  auto m = scrape();
  EXPECT_EQ(m.value("netpol_watch_list", {{"kind", "pod"}}), 0);
  EXPECT_EQ(m.value("netpol_objects", {{"kind", "pod"}}), 1);
}

TEST_F(AgentFixture, NotReadyAndNothingProgrammedWhileTheApiServerIsDown) {
  server->stop();
  start_agent();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_FALSE(agent->ready());
  HttpResponse r = agent->serve("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("waiting for the first list"), std::string::npos) << r.body;
  EXPECT_EQ(agent->serve("GET", "/healthz").status, 200) << "alive: retrying is not a fault";
  EXPECT_FALSE(kernel.table()) << "nothing programmed before every informer synced";
  EXPECT_GT(*scrape().value("netpol_api_errors_total", {{"kind", "pod"}}), 0);
}

TEST_F(AgentFixture, HealthzFailsWhileAWatchIsStuckAndRecovers) {
  ASSERT_TRUE(server->create(Kind::Namespace, "", ns_json("x")).ok());
  start_agent("node1", std::chrono::seconds(1));
  ASSERT_TRUE(wait_until([&] { return agent->ready(); }));
  EXPECT_EQ(agent->serve("GET", "/healthz").status, 200);
  // Every request now hangs without a byte for 4 s; the watches are cut, so
  // the informers reconnect into the hang.
  fakeapi::Faults f;
  f.hang_rate = 1.0;
  f.hang_for = milliseconds(4000);
  server->set_faults(f);
  server->drop_watches();
  std::this_thread::sleep_for(milliseconds(300));
  (void)agent->serve("GET", "/healthz");  // notes the reconnects as progress
  HttpResponse stuck;
  EXPECT_TRUE(wait_until(
      [&] {
        stuck = agent->serve("GET", "/healthz");
        return stuck.status == 503;
      },
      milliseconds(3000)));
  EXPECT_NE(stuck.body.find("made no progress"), std::string::npos) << stuck.body;
  EXPECT_EQ(agent->serve("GET", "/readyz").status, 200) << "still enforcing the last state";
  server->set_faults({});
  EXPECT_TRUE(wait_until([&] { return agent->serve("GET", "/healthz").status == 200; },
                         milliseconds(10000)));
}

TEST_F(AgentFixture, RestartedAgentTakesOverTheTableWithoutAGap) {
  ASSERT_TRUE(server->create(Kind::Namespace, "", ns_json("x")).ok());
  ASSERT_TRUE(
      server->create(Kind::Pod, "x", manifest(pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})))
          .ok());
  ASSERT_TRUE(
      server
          ->create(Kind::NetworkPolicy, "x", manifest(ingress_only_from("x", "np", {{"app", "a"}})))
          .ok());
  start_agent();
  ASSERT_TRUE(caught_up());
  const auto first = kernel.table();
  ASSERT_TRUE(first);
  agent->stop();
  agent.reset();
  EXPECT_EQ(kernel.table(), first) << "the table stays when the agent exits";

  // While it is down a pod is added; the new agent reconciles in place.
  ASSERT_TRUE(
      server->create(Kind::Pod, "x", manifest(pod("x", "d", "node1", {"10.0.1.2"}, {{"app", "a"}})))
          .ok());
  start_agent();
  ASSERT_TRUE(caught_up());
  auto ns_x = testsupport::ns("x");
  auto a = pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}});
  auto d = pod("x", "d", "node1", {"10.0.1.2"}, {{"app", "a"}});
  EXPECT_EQ(kernel.table(),
            nft::render(compile_same({ns_x}, {a, d}, {ingress_only_from("x", "np", {{"app", "a"}})},
                                     "node1"))
                .ruleset);
}

}  // namespace
}  // namespace netpol::agent

namespace netpol::agent {
namespace {

// netpol-cni's socket on the whole agent: a Pending pod with no IP in the API
// is bound over the socket, and the answer comes with its IP in the kernel.
TEST_F(AgentFixture, ServesNetpolCniAndAnswersOnceThePodIsInTheKernel) {
  const std::string sock = "/tmp/netpol-agent-test-" + std::to_string(::getpid()) + ".sock";
  ASSERT_TRUE(server->create(Kind::Namespace, "", ns_json("x")).ok());
  ASSERT_TRUE(server
                  ->create(Kind::Pod, "x",
                           manifest(pod("x", "new", "node1", {}, {{"app", "new"}}, {},
                                        k8s::PodPhase::Pending)))
                  .ok());
  ASSERT_TRUE(
      server->create(Kind::NetworkPolicy, "x", manifest(ingress_policy("x", "deny", sel(), {})))
          .ok());
  AgentConfig cfg;
  cfg.node_name = "node1";
  cfg.sync.tick = milliseconds(10);
  cfg.cni_socket = sock;
  agent = std::make_unique<Agent>(client, kernel, cfg, log);
  agent->start();
  ASSERT_TRUE(agent->cni_serving());
  ASSERT_TRUE(caught_up());

  auto ask = [&](cni::Op op) {
    cni::Request r;
    r.op = op;
    r.pod_namespace = "x";
    r.pod_name = "new";
    r.container_id = "c1";
    r.ifname = "eth0";
    r.netns = "/var/run/netns/x";
    r.ips = {"10.0.1.7"};
    r.host_interface = "vethnew";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto fd = cni::connect_unix(sock, deadline);
    EXPECT_TRUE(fd.ok()) << fd.status().str();
    if (!fd.ok()) return cni::Answer{cni::Refusal::Failed, "connect"};
    EXPECT_TRUE(cni::write_all(fd.value().get(), cni::encode(r), deadline).ok());
    auto text = cni::read_message(fd.value().get(), cni::kMaxMessageBytes, deadline);
    EXPECT_TRUE(text.ok());
    auto a = cni::decode_answer(text.ok() ? text.value() : "");
    return a.ok() ? a.value() : cni::Answer{cni::Refusal::Failed, "decode"};
  };
  auto has_ip = [&] {
    auto t = kernel.table();
    return t && nft::to_block(*t).find("10.0.1.7") != std::string::npos;
  };
  EXPECT_FALSE(has_ip());
  const cni::Answer bound = ask(cni::Op::Bind);
  EXPECT_TRUE(bound.ok()) << bound.message;
  EXPECT_TRUE(has_ip()) << "answered before the pod's IP was in the kernel";
  EXPECT_EQ(scrape().value("netpol_cni_bindings"), 1);
  EXPECT_TRUE(ask(cni::Op::Check).ok());
  EXPECT_TRUE(ask(cni::Op::Release).ok());
  EXPECT_FALSE(has_ip());
  agent.reset();
  EXPECT_NE(::access(sock.c_str(), F_OK), 0);  // the socket goes with the agent
  std::remove(bindings_state_path(sock).c_str());
}

}  // namespace
}  // namespace netpol::agent
