// Flow cutting over a fake conntrack: after a change that removes
// permission, exactly the open connections the new rules deny are deleted;
// connections that stay allowed, connections of pods the change does not
// touch and connections the host itself opened are never touched; a change
// that only adds permission does not even list the table. Then the same
// through Enforcer's commit hook with a fake kernel.
#include "agent/flows.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>

#include "agent/options.h"
#include "agent/sync.h"
#include "compiler/compiler.h"
#include "tests/support/builders.h"
#include "tests/support/fake_kernel.h"
#include "tests/unit/agent/promparse.h"

namespace netpol::agent {
namespace {

using namespace testsupport;
using testing::parse_exposition;

// The conntrack table as a list; remove() deletes by (proto, src, sport,
// orig_dst, orig_dport, zone) and, when given, id, as the kernel does.
class FakeConntrack : public nft::Conntrack {
 public:
  std::vector<nft::Flow> table;
  std::vector<std::set<IpAddr>> listed;  // the addresses of every list() call
  size_t removes = 0;

  Result<std::vector<nft::Flow>> list(const std::set<IpAddr>& addrs) override {
    listed.push_back(addrs);
    std::vector<nft::Flow> out;
    for (const nft::Flow& f : table) {
      if (addrs.count(f.src) || addrs.count(f.dst)) out.push_back(f);
    }
    return out;
  }
  Result<size_t> remove(const std::vector<nft::Flow>& flows) override {
    ++removes;
    size_t n = 0;
    for (const nft::Flow& f : flows) {
      auto it = std::find_if(table.begin(), table.end(), [&](const nft::Flow& t) {
        return t.proto == f.proto && t.src == f.src && t.sport == f.sport &&
               t.orig_dst == f.orig_dst && t.orig_dport == f.orig_dport && t.zone == f.zone &&
               (f.id == 0 || t.id == f.id);
      });
      if (it == table.end()) continue;
      table.erase(it);
      ++n;
    }
    return n;
  }
  bool has(const std::string& text) const {
    return std::any_of(table.begin(), table.end(),
                       [&](const nft::Flow& f) { return f.str() == text; });
  }
};

nft::Flow flow(uint8_t proto, std::string_view src, uint16_t sport, std::string_view dst,
               uint16_t dport) {
  nft::Flow f;
  f.proto = proto;
  f.src = ip(src);
  f.sport = sport;
  f.dst = f.orig_dst = ip(dst);
  f.dport = f.orig_dport = dport;
  static uint32_t id = 0;
  f.id = ++id;
  return f;
}

// Node n1: x/web (10.0.0.2, fd00::2), x/client (10.0.0.3, fd00::3, role=client),
// x/other (10.0.0.4), x/bystander (10.0.0.9, its own ingress policy). Node n2:
// y/remote (10.1.0.5). Every flow below exists before the change.
struct FlowCut : ::testing::Test {
  compiler::Compiler c{"n1"};
  FakeConntrack ct;
  Registry registry;
  FlowCutter cutter{ct, registry, nullptr};

  void SetUp() override {
    c.upsert_namespace(ns("x"));
    c.upsert_namespace(ns("y"));
    c.upsert_pod(pod("x", "web", "n1", {"10.0.0.2", "fd00::2"}, {{"app", "web"}}));
    c.upsert_pod(pod("x", "client", "n1", {"10.0.0.3", "fd00::3"}, {{"role", "client"}}));
    c.upsert_pod(pod("x", "other", "n1", {"10.0.0.4", "fd00::4"}, {{"role", "other"}}));
    c.upsert_pod(pod("x", "bystander", "n1", {"10.0.0.9"}, {{"app", "by"}}));
    c.upsert_pod(pod("y", "remote", "n2", {"10.1.0.5"}, {{"app", "r"}}));
    c.upsert_policy(ingress_only_from("x", "by-deny", {{"app", "by"}}));
    ct.table = {
        flow(IPPROTO_TCP, "10.0.0.3", 40000, "10.0.0.2", 80),   // client -> web: stays allowed
        flow(IPPROTO_TCP, "10.0.0.4", 40001, "10.0.0.2", 80),   // other -> web: denied after
        flow(IPPROTO_UDP, "10.1.0.5", 5353, "10.0.0.2", 53),    // remote -> web udp: denied after
        flow(IPPROTO_SCTP, "10.0.0.3", 40002, "10.0.0.2", 80),  // client -> web sctp: denied after
        flow(IPPROTO_TCP, "fd00::4", 40003, "fd00::2", 80),     // other -> web IPv6: denied after
        flow(IPPROTO_TCP, "fd00::3", 40004, "fd00::2", 80),     // client -> web IPv6: allowed
        flow(IPPROTO_TCP, "10.0.0.2", 40005, "10.1.0.5", 443),  // web -> remote: egress open
        flow(IPPROTO_TCP, "10.0.0.4", 40006, "10.0.0.9", 22),   // other -> bystander: not touched
        flow(IPPROTO_TCP, "10.1.0.5", 40007, "10.1.0.6", 80),   // two remote ends
    };
  }
  size_t commit(ir::Delta d) { return cutter.after_commit(c.rules(), &d, SteadyTime{}); }
};

TEST_F(FlowCut, TighteningCutsExactlyTheDeniedFlowsOfThePodsItTouches) {
  const size_t cut = commit(c.upsert_policy(
      ingress_only_from("x", "web", {{"app", "web"}}, k8s::Labels{{"role", "client"}})));
  EXPECT_EQ(cut, 4u);
  EXPECT_EQ(cutter.cut_total(), 4u);
  // Allowed, or outside the change: still there.
  EXPECT_TRUE(ct.has("tcp 10.0.0.3:40000 -> 10.0.0.2:80"));
  EXPECT_TRUE(ct.has("tcp [fd00::3]:40004 -> [fd00::2]:80"));
  EXPECT_TRUE(ct.has("tcp 10.0.0.2:40005 -> 10.1.0.5:443"));
  EXPECT_TRUE(ct.has("tcp 10.0.0.4:40006 -> 10.0.0.9:22"));
  EXPECT_TRUE(ct.has("tcp 10.1.0.5:40007 -> 10.1.0.6:80"));
  // Denied now: gone (TCP, UDP, SCTP; IPv4 and IPv6).
  EXPECT_FALSE(ct.has("tcp 10.0.0.4:40001 -> 10.0.0.2:80"));
  EXPECT_FALSE(ct.has("udp 10.1.0.5:5353 -> 10.0.0.2:53"));
  EXPECT_FALSE(ct.has("sctp 10.0.0.3:40002 -> 10.0.0.2:80"));
  EXPECT_FALSE(ct.has("tcp [fd00::4]:40003 -> [fd00::2]:80"));
  // Only the addresses of the pod the change isolated were asked for.
  ASSERT_EQ(ct.listed.size(), 1u);
  EXPECT_EQ(ct.listed[0], (std::set<IpAddr>{ip("10.0.0.2"), ip("fd00::2")}));

  std::string err;
  auto e = parse_exposition(registry.render(), &err);
  ASSERT_TRUE(e) << err;
  EXPECT_EQ(e->value("netpol_flows_cut_total"), 4);
  EXPECT_EQ(e->value("netpol_flow_cut_seconds_count"), 1);
}

TEST_F(FlowCut, APeerLeavingTheAllowedSetLosesItsFlows) {
  commit(c.upsert_policy(
      ingress_only_from("x", "web", {{"app", "web"}}, k8s::Labels{{"role", "client"}})));
  ASSERT_TRUE(ct.has("tcp 10.0.0.3:40000 -> 10.0.0.2:80"));
  ct.listed.clear();
  // The client's label changes: it leaves the policy's peer set (a set delete).
  const size_t cut =
      commit(c.upsert_pod(pod("x", "client", "n1", {"10.0.0.3", "fd00::3"}, {{"role", "gone"}})));
  EXPECT_EQ(cut, 2u);
  EXPECT_FALSE(ct.has("tcp 10.0.0.3:40000 -> 10.0.0.2:80"));
  EXPECT_FALSE(ct.has("tcp [fd00::3]:40004 -> [fd00::2]:80"));
  EXPECT_TRUE(ct.has("tcp 10.0.0.4:40006 -> 10.0.0.9:22"));
}

TEST_F(FlowCut, AChangeThatOnlyAddsPermissionListsNothing) {
  const auto before = ct.table;
  EXPECT_EQ(commit(c.upsert_pod(pod("x", "new", "n1", {"10.0.0.7"}, {{"role", "other"}}))), 0u);
  EXPECT_EQ(commit(c.remove_policy("x", "by-deny")), 0u);
  EXPECT_TRUE(ct.listed.empty());
  EXPECT_EQ(ct.table, before);
}

TEST_F(FlowCut, LooseningKeepsEveryFlow) {
  commit(c.upsert_policy(
      ingress_only_from("x", "web", {{"app", "web"}}, k8s::Labels{{"role", "client"}})));
  const auto before = ct.table;
  // A second policy allows everyone on 80: more permission, nothing cut.
  EXPECT_EQ(commit(c.upsert_policy(
                policy("x", "web-all", sel({{"app", "web"}}), {rule({}, {port(80)})}))),
            0u);
  EXPECT_EQ(ct.table, before);
}

TEST_F(FlowCut, FlowsTheHostOpenedAndDnatedFlowsAreJudgedAsTheHookSawThem) {
  nft::Flow probe = flow(IPPROTO_TCP, "10.0.0.1", 50000, "10.0.0.2", 8080);
  probe.from_host = true;  // kubelet probe: accepted before any pod chain
  // Through a Service VIP: the rules saw the backend (reply source) and its port.
  nft::Flow svc = flow(IPPROTO_TCP, "10.0.0.3", 50001, "10.0.0.2", 80);
  svc.orig_dst = ip("10.96.0.10");
  svc.orig_dport = 8000;
  nft::Flow svc_denied = flow(IPPROTO_TCP, "10.0.0.4", 50002, "10.0.0.2", 80);
  svc_denied.orig_dst = ip("10.96.0.10");
  svc_denied.orig_dport = 8000;
  ct.table = {probe, svc, svc_denied};
  EXPECT_EQ(commit(c.upsert_policy(
                ingress_only_from("x", "web", {{"app", "web"}}, k8s::Labels{{"role", "client"}}))),
            1u);
  EXPECT_EQ(ct.table, (std::vector<nft::Flow>{probe, svc}));
}

TEST_F(FlowCut, EgressTighteningCutsTheSourcesFlows) {
  const size_t cut =
      commit(c.upsert_policy(egress_policy("x", "web-out", sel({{"app", "web"}}), {})));
  EXPECT_EQ(cut, 1u);
  EXPECT_FALSE(ct.has("tcp 10.0.0.2:40005 -> 10.1.0.5:443"));
  // Flows into web are ingress, and web's ingress is still open.
  EXPECT_TRUE(ct.has("tcp 10.0.0.4:40001 -> 10.0.0.2:80"));
}

// Through the sync loop: the hook runs after each incremental commit (not
// after the first sync) with the committed delta, and the cut is timed from
// the oldest event of the batch.
TEST(FlowsThroughSync, CommitHookCutsAfterTheIncrementalCommit) {
  Registry registry;
  SyncMetrics metrics{registry};
  FakeKernel kernel;
  auto clock = std::make_shared<ManualClock>();
  Enforcer core{kernel, "n1", &metrics, nullptr, clock};
  FakeConntrack ct;
  FlowCutter cutter{ct, registry, nullptr, clock};
  int hooks = 0;
  core.set_commit_hook([&](const ir::RuleSet& rules, const ir::Delta* d, SteadyTime since) {
    ++hooks;
    cutter.after_commit(rules, d, since);
  });
  using Obj = EventObject;
  auto up = [&](ResourceKind k, Obj o) {
    core.feed(Event{Event::Op::Upsert, k, std::move(o), clock->now()});
  };
  up(ResourceKind::Namespace, ns("x"));
  up(ResourceKind::Pod, pod("x", "web", "n1", {"10.0.0.2"}, {{"app", "web"}}));
  up(ResourceKind::Pod, pod("x", "other", "n1", {"10.0.0.4"}, {{"role", "other"}}));
  for (auto k : {ResourceKind::Namespace, ResourceKind::Pod, ResourceKind::NetworkPolicy})
    core.feed(Event{Event::Op::Synced, k, {}, {}});
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(hooks, 0);  // the first sync enforces the state the agent found
  ct.table = {flow(IPPROTO_TCP, "10.0.0.4", 40001, "10.0.0.2", 80)};

  up(ResourceKind::NetworkPolicy, ingress_only_from("x", "web", {{"app", "web"}}));
  clock->advance(std::chrono::milliseconds(30));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(hooks, 1);
  EXPECT_TRUE(ct.table.empty());
  std::string err;
  auto e = parse_exposition(registry.render(), &err);
  ASSERT_TRUE(e) << err;
  EXPECT_EQ(e->value("netpol_flows_cut_total"), 1);
  EXPECT_NEAR(e->value("netpol_flow_cut_seconds_sum").value_or(-1), 0.030, 1e-6);
}

// A ClusterNetworkPolicy Deny on a pod no NetworkPolicy isolates: its tier
// chain is the only thing denying, and the open connection is cut too.
TEST(FlowsThroughSync, AnAdminDenyOnAPodWithoutNetworkPoliciesCutsItsFlows) {
  Registry registry;
  SyncMetrics metrics{registry};
  FakeKernel kernel;
  auto clock = std::make_shared<ManualClock>();
  Enforcer core{kernel, "n1", &metrics, nullptr, clock};
  FakeConntrack ct;
  FlowCutter cutter{ct, registry, nullptr, clock};
  core.set_commit_hook([&](const ir::RuleSet& rules, const ir::Delta* d, SteadyTime since) {
    cutter.after_commit(rules, d, since);
  });
  auto up = [&](ResourceKind k, EventObject o) {
    core.feed(Event{Event::Op::Upsert, k, std::move(o), clock->now()});
  };
  up(ResourceKind::Namespace, ns("x"));
  up(ResourceKind::Pod, pod("x", "web", "n1", {"10.0.0.2"}, {{"app", "web"}}));
  up(ResourceKind::Pod, pod("x", "other", "n1", {"10.0.0.4"}, {{"role", "other"}}));
  for (auto k : {ResourceKind::Namespace, ResourceKind::Pod, ResourceKind::NetworkPolicy})
    core.feed(Event{Event::Op::Synced, k, {}, {}});
  ASSERT_TRUE(core.flush().ok());
  ct.table = {flow(IPPROTO_TCP, "10.0.0.4", 40001, "10.0.0.2", 80),
              flow(IPPROTO_TCP, "10.0.0.2", 40002, "10.0.0.4", 80)};

  k8s::ClusterNetworkPolicy deny;
  deny.name = "guard";
  deny.subject.kind = k8s::CnpSubject::Kind::Pods;
  deny.subject.pods = sel({{"app", "web"}});
  k8s::CnpRule rule;
  rule.action = k8s::CnpAction::Deny;
  k8s::CnpPeer from;
  from.kind = k8s::CnpPeer::Kind::Pods;
  from.pods = sel({{"role", "other"}});
  rule.peers = {from};
  deny.ingress = {rule};
  up(ResourceKind::ClusterNetworkPolicy, deny);
  ASSERT_TRUE(core.flush().ok());
  ASSERT_FALSE(core.rules().pods.at("x/web").ingress) << "no NetworkPolicy isolates web";
  EXPECT_FALSE(ct.has("tcp 10.0.0.4:40001 -> 10.0.0.2:80")) << "denied by the Admin tier";
  EXPECT_TRUE(ct.has("tcp 10.0.0.2:40002 -> 10.0.0.4:80")) << "web's egress is not touched";
}

TEST(FlowsFlag, OnByDefaultAndSwitchedOffByCutFlowsFalse) {
  auto env = [](const std::string&) -> std::optional<std::string> { return "n1"; };
  const char* on[] = {"netpol-agent"};
  auto a = parse_options(1, on, env);
  ASSERT_TRUE(std::holds_alternative<Options>(a));
  EXPECT_TRUE(std::get<Options>(a).cut_flows);
  const char* off[] = {"netpol-agent", "--cut-flows=false"};
  auto b = parse_options(2, off, env);
  ASSERT_TRUE(std::holds_alternative<Options>(b));
  EXPECT_FALSE(std::get<Options>(b).cut_flows);
  const char* bad[] = {"netpol-agent", "--cut-flows=maybe"};
  auto c = parse_options(2, bad, env);
  ASSERT_TRUE(std::holds_alternative<ParseExit>(c));
  EXPECT_EQ(std::get<ParseExit>(c).code, 2);
}

}  // namespace
}  // namespace netpol::agent
