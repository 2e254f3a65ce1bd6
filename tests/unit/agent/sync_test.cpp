// The sync loop against a fake kernel: nothing before every informer synced,
// a table from a previous run kept until one full reconcile replaces it,
// incremental transactions afterwards, full resync after a failure, drift
// repaired, latency measured from the event's stamp to the ACK, and bursts
// coalesced into few transactions. Time is a ManualClock: the threaded loop's
// tests step it instead of sleeping.
#include "agent/sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "nft/render.h"
#include "tests/support/builders.h"
#include "tests/support/fake_kernel.h"
#include "tests/unit/agent/promparse.h"

namespace netpol::agent {
namespace {

using namespace testing;
using namespace testsupport;
using std::chrono::milliseconds;

Event upsert(ResourceKind kind, EventObject obj, SteadyTime t = {}) {
  return Event{Event::Op::Upsert, kind, std::move(obj), t};
}
Event remove(ResourceKind kind, EventObject obj, SteadyTime t = {}) {
  return Event{Event::Op::Remove, kind, std::move(obj), t};
}
Event synced(ResourceKind kind) {
  return Event{Event::Op::Synced, kind, {}, {}};
}

struct Fixture : ::testing::Test {
  Registry registry;
  SyncMetrics metrics{registry};
  testsupport::FakeKernel kernel;
  std::vector<std::string> lines;
  Logger log{LogLevel::Debug, LogFormat::Logfmt,
             [this](std::string_view l) { lines.emplace_back(l); }};
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  Enforcer core{kernel, "node1", &metrics, &log, clock};

  void feed_cluster() {
    core.feed(upsert(ResourceKind::Namespace, testsupport::ns("x")));
    core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
    core.feed(upsert(ResourceKind::Pod, pod("x", "b", "node2", {"10.0.2.1"}, {{"app", "b"}})));
    core.feed(upsert(ResourceKind::NetworkPolicy,
                     ingress_only_from("x", "np", {{"app", "a"}}, k8s::Labels{{"app", "b"}})));
  }
  void sync_all() {
    for (auto k : {ResourceKind::Namespace, ResourceKind::Pod, ResourceKind::NetworkPolicy}) {
      core.feed(synced(k));
    }
  }
  nft::Ruleset want() const { return nft::render(core.rules()).ruleset; }
  Exposition scrape() {
    std::string err;
    auto e = parse_exposition(registry.render(), &err);
    EXPECT_TRUE(e) << err;
    return e ? *e : Exposition{};
  }
};

TEST_F(Fixture, ProgramsNothingUntilEveryInformerSynced) {
  feed_cluster();
  core.feed(synced(ResourceKind::Namespace));
  core.feed(synced(ResourceKind::Pod));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(kernel.applies, 0u);
  EXPECT_EQ(kernel.reads, 0u);
  EXPECT_FALSE(core.ready());
  core.feed(synced(ResourceKind::NetworkPolicy));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(core.ready());
  EXPECT_EQ(kernel.applies, 1u);
  ASSERT_TRUE(kernel.table);
  EXPECT_EQ(*kernel.table, want());
  EXPECT_EQ(core.rules().pods.size(), 1u) << "only x/a runs on node1";
  EXPECT_EQ(scrape().value("netpol_ready"), 1);
}

// The optional kinds: the first sync waits for their first answer, and a
// failed first list (Unavailable) is an answer. The CNP fed before then is
// in the first sync; a CNP change afterwards is one incremental transaction.
TEST_F(Fixture, FirstSyncWaitsForTheOptionalKindsFirstAnswerNotTheirSuccess) {
  core.wait_for(ResourceKind::ClusterNetworkPolicy);
  core.wait_for(ResourceKind::Node);
  feed_cluster();
  k8s::ClusterNetworkPolicy deny;
  deny.name = "deny-b";
  deny.subject.namespaces = sel({});
  k8s::CnpRule rule;
  rule.name = "from-b";
  rule.action = k8s::CnpAction::Deny;
  k8s::CnpPeer from_b;
  from_b.kind = k8s::CnpPeer::Kind::Pods;
  from_b.pods = sel({{"app", "b"}});
  rule.peers = {from_b};
  deny.ingress = {rule};
  core.feed(upsert(ResourceKind::ClusterNetworkPolicy, deny));
  sync_all();
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(kernel.applies, 0u) << "the CNP and Node informers have not answered yet";
  core.feed(synced(ResourceKind::ClusterNetworkPolicy));
  core.feed(Event{Event::Op::Unavailable, ResourceKind::Node, {}, {}});  // e.g. a 403
  ASSERT_TRUE(core.flush().ok());
  ASSERT_TRUE(core.ready());
  EXPECT_FALSE(core.nodes_known());
  EXPECT_EQ(*kernel.table, want());
  ASSERT_EQ(core.rules().pods.size(), 1u);
  EXPECT_TRUE(core.rules().pods.at("x/a").admin_ingress) << "x/a is a subject of deny-b";
  deny.priority = 7;
  core.feed(upsert(ResourceKind::ClusterNetworkPolicy, deny));
  core.feed(remove(ResourceKind::ClusterNetworkPolicy, deny));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_FALSE(core.rules().pods.at("x/a").admin_ingress);
  EXPECT_EQ(*kernel.table, want());
  EXPECT_EQ(kernel.applies, 2u) << "the first sync, then one incremental transaction";
}

TEST_F(Fixture, TableOfAPreviousRunStaysUntilOneTransactionReplacesIt) {
  // A previous agent enforced a policy on a pod that is gone now.
  {
    compiler::Compiler old("node1");
    (void)old.upsert_namespace(testsupport::ns("x"));
    (void)old.upsert_pod(pod("x", "gone", "node1", {"10.0.1.9"}, {{"app", "a"}}));
    (void)old.upsert_policy(ingress_only_from("x", "np", {{"app", "a"}}));
    nft::KernelTable prev(kernel);
    ASSERT_TRUE(prev.full(old.rules()).ok());
  }
  const nft::Ruleset previous = *kernel.table;
  kernel.applies = 0;
  feed_cluster();
  core.feed(synced(ResourceKind::Namespace));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(*kernel.table, previous) << "the old table must stay in force until the first sync";
  core.feed(synced(ResourceKind::Pod));
  core.feed(synced(ResourceKind::NetworkPolicy));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(kernel.applies, 1u) << "one transaction swaps the old state for the new";
  EXPECT_EQ(*kernel.table, want());
}

TEST_F(Fixture, ChangesAfterTheFirstSyncAreIncrementalAndTimed) {
  feed_cluster();
  sync_all();
  ASSERT_TRUE(core.flush().ok());
  const size_t reads = kernel.reads;

  const SteadyTime t0 = clock->now();
  core.feed(upsert(ResourceKind::Pod, pod("x", "c", "node2", {"10.0.2.2"}, {{"app", "b"}}), t0));
  core.feed(upsert(ResourceKind::Pod, pod("x", "d", "node1", {"10.0.1.2"}, {{"app", "a"}}), t0));
  // An event that changes nothing on this node is not timed.
  core.feed(upsert(ResourceKind::Pod, pod("x", "e", "node2", {"10.0.2.3"}, {{"app", "z"}}), t0));
  clock->advance(milliseconds(3));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(kernel.applies, 2u) << "one transaction for the batch";
  EXPECT_EQ(kernel.reads, reads) << "incremental: no read-back";
  EXPECT_EQ(*kernel.table, want());

  auto e = scrape();
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_count"), 2);
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_bucket", {{"le", "0.0025"}}), 0);
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_bucket", {{"le", "0.005"}}), 2);
  EXPECT_EQ(e.value("netpol_sync_transactions_total"), 1);
  EXPECT_EQ(e.value("netpol_sync_duration_seconds_count", {{"mode", "incremental"}}), 1);
  EXPECT_EQ(e.value("netpol_sync_duration_seconds_count", {{"mode", "full"}}), 1);
  EXPECT_EQ(e.value("netpol_local_pods"), 2);
  EXPECT_EQ(e.value("netpol_chains"), static_cast<double>(kernel.table->chains.size()));
  EXPECT_EQ(e.value("netpol_events_total", {{"kind", "pod"}, {"op", "upsert"}}), 5);

  // Pod churn with IP reuse: x/c (allowed peer) goes, x/f with other labels
  // takes its IP; the peer set must not hold that IP any more.
  core.feed(remove(ResourceKind::Pod, pod("x", "c", "node2", {"10.0.2.2"}, {{"app", "b"}})));
  core.feed(upsert(ResourceKind::Pod, pod("x", "f", "node2", {"10.0.2.2"}, {{"app", "z"}})));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(*kernel.table, want());
  bool in_a_set = false;
  for (const auto& [_, s] : core.rules().sets) {
    for (const auto& el : s.elements) in_a_set |= el.first == ip("10.0.2.2");
  }
  EXPECT_FALSE(in_a_set) << "the new pod inherits none of the old pod's allowances";
}

// Big new sets (docs/architecture.md): a cluster where a new local pod comes
// under a policy whose peer set nobody used before (250 remote pods), with
// chunking at 100 elements; and a small policy whose set already exists.
struct BigSet : Fixture {
  static constexpr int kPeers = 250;
  std::string peer_set;  // the IR set of app=peer, once it exists

  void SetUp() override {
    core.set_chunking(100, 100);
    core.feed(upsert(ResourceKind::Namespace, testsupport::ns("x")));
    for (int i = 0; i < kPeers; ++i) {
      core.feed(upsert(ResourceKind::Pod,
                       pod("x", "r" + std::to_string(i), "node2",
                           {"10.2." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1)},
                           {{"app", "peer"}})));
    }
    core.feed(upsert(ResourceKind::Pod, pod("x", "z", "node1", {"10.0.1.9"}, {{"app", "z"}})));
    core.feed(upsert(ResourceKind::Pod, pod("x", "y0", "node2", {"10.0.3.1"}, {{"app", "y"}})));
    core.feed(upsert(ResourceKind::NetworkPolicy,
                     ingress_only_from("x", "big", {{"app", "a"}}, k8s::Labels{{"app", "peer"}})));
    core.feed(upsert(ResourceKind::NetworkPolicy,
                     ingress_only_from("x", "small", {{"app", "z"}}, k8s::Labels{{"app", "y"}})));
    sync_all();
    ASSERT_TRUE(core.flush().ok());
    ASSERT_EQ(core.rules().sets.size(), 1u) << "only the small policy's set is in use";
  }
  // The nft set (IPv4) of the IR set that selects app=peer, or "".
  std::string peer_nft_set() {
    for (const auto& [name, s] : core.rules().sets) {
      if (s.elements.size() == kPeers) return nft::family_set_name(name, netpol::Family::V4);
    }
    return "";
  }
  bool referenced(const std::string& set) const {
    for (const auto& [_, rules] : kernel.table->rules) {
      for (const auto& r : rules) {
        for (const auto& x : r.exprs) {
          if (const auto* m = std::get_if<nft::SetMatch>(&x); m && m->set == set) return true;
        }
      }
    }
    return false;
  }
  // x/a comes under the big policy (its set held), then x/b under a policy
  // whose set is every pod of x (253): held too, behind x/a.
  void hold_two_big_sets() {
    core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
    ASSERT_TRUE(core.flush().ok());
    core.feed(upsert(ResourceKind::NetworkPolicy,
                     ingress_only_from("x", "all", {{"app", "b"}}, k8s::Labels{})));
    core.feed(upsert(ResourceKind::Pod, pod("x", "b", "node1", {"10.0.1.3"}, {{"app", "b"}})));
    ASSERT_TRUE(core.flush().ok());
  }
  bool dispatched(const char* addr) const {
    for (const auto& el : kernel.table->sets.at("ingress-v4").elements) {
      if (el.key[0] == nft::Value(ip(addr))) return true;
    }
    return false;
  }
};

TEST_F(BigSet, ABigNewSetGoesInChunksAndItsRulesAfterTheLastOne) {
  const size_t applies = kernel.applies;
  const SteadyTime t0 = clock->now();
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}}), t0));
  const std::string set = peer_nft_set();
  ASSERT_FALSE(set.empty());

  // 250 members, chunks of 100: three transactions of elements, then the rest.
  for (size_t chunk = 1; chunk <= 2; ++chunk) {
    ASSERT_TRUE(core.flush().ok());
    EXPECT_TRUE(core.busy());
    EXPECT_EQ(kernel.applies, applies + chunk);
    ASSERT_TRUE(kernel.table->sets.contains(set));
    EXPECT_EQ(kernel.table->sets.at(set).elements.size(), 100 * chunk);
    EXPECT_FALSE(referenced(set)) << "no rule uses a set that is not complete";
    EXPECT_FALSE(dispatched("10.0.1.1")) << "the new pod meets no rules of its own yet";
  }
  clock->advance(milliseconds(30));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_FALSE(core.busy());
  EXPECT_EQ(kernel.applies, applies + 4) << "third chunk, then the pod's chain and dispatch";
  EXPECT_EQ(*kernel.table, want());
  EXPECT_TRUE(referenced(set));
  EXPECT_TRUE(dispatched("10.0.1.1"));

  auto e = scrape();
  EXPECT_EQ(e.value("netpol_set_chunks_total"), 3);
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_count"), 1);
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_bucket", {{"le", "0.025"}}), 0)
      << "the pod's own latency runs until its rules are in";
}

TEST_F(BigSet, ASmallChangeFedMeanwhileCommitsBeforeTheHeldRules) {
  core.set_chunking(100, 50);  // five chunks
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  ASSERT_TRUE(core.busy());
  const std::string set = peer_nft_set();

  // A new member of the small policy's set: nothing the held change touches.
  const SteadyTime t1 = clock->now();
  core.feed(upsert(ResourceKind::Pod, pod("x", "y1", "node2", {"10.0.3.2"}, {{"app", "y"}}), t1));
  clock->advance(milliseconds(1));
  ASSERT_TRUE(core.flush().ok());
  bool in_small = false;
  for (const auto& [name, s] : kernel.table->sets) {
    if (name == set || s.is_map()) continue;
    for (const auto& el : s.elements) in_small |= el.key[0] == nft::Value(ip("10.0.3.2"));
  }
  EXPECT_TRUE(in_small) << "the small change is in the kernel";
  EXPECT_FALSE(referenced(set)) << "while the big set is still being sent";
  EXPECT_TRUE(core.busy());
  auto e = scrape();
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_count"), 1);
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_bucket", {{"le", "0.0025"}}), 1)
      << "timed when it committed, not when the held change does";

  // A second pod under the big policy depends on the held set: it waits too.
  core.feed(upsert(ResourceKind::Pod, pod("x", "a2", "node1", {"10.0.1.2"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(core.busy());
  EXPECT_FALSE(dispatched("10.0.1.2"));
  EXPECT_FALSE(referenced(set));
  ASSERT_TRUE(core.flush().ok());
  ASSERT_TRUE(core.flush().ok());
  EXPECT_FALSE(core.busy()) << "fifth chunk sent: the held change committed";
  EXPECT_TRUE(dispatched("10.0.1.1"));
  EXPECT_TRUE(dispatched("10.0.1.2"));
  EXPECT_EQ(*kernel.table, want());
}

TEST_F(BigSet, APeerJoiningTheHeldSetCommitsTheRestOfItsChangeAtOnce) {
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  const std::string set = peer_nft_set();
  // Matches both selectors: it joins the held set and the small policy's set.
  core.feed(upsert(ResourceKind::Pod,
                   pod("x", "both", "node2", {"10.0.3.7"}, {{"app", "peer"}, {"tier", "y"}})));
  core.feed(upsert(ResourceKind::NetworkPolicy,
                   ingress_only_from("x", "small", {{"app", "z"}}, k8s::Labels{{"tier", "y"}})));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(core.busy());
  bool in_small = false;
  for (const auto& [name, s] : kernel.table->sets) {
    if (name == set || s.is_map()) continue;
    for (const auto& el : s.elements) in_small |= el.key[0] == nft::Value(ip("10.0.3.7"));
  }
  EXPECT_TRUE(in_small) << "its change to a set in use did not wait";
  while (core.busy()) ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(*kernel.table, want()) << "and the held set got it too";
}

// The chunks carry the members of when the change was held; the commit sends
// only the difference to the members of when it commits.
TEST_F(BigSet, APeerLeavingAndOneJoiningWhileHeldAreInTheCommittedSet) {
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  ASSERT_TRUE(core.busy());
  const std::string set = peer_nft_set();
  core.feed(remove(ResourceKind::Pod, pod("x", "r0", "node2", {"10.2.0.1"}, {{"app", "peer"}})));
  core.feed(upsert(ResourceKind::Pod, pod("x", "new", "node2", {"10.2.9.9"}, {{"app", "peer"}})));
  while (core.busy()) ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(*kernel.table, want());
  const auto& members = kernel.table->sets.at(set).elements;
  auto has = [&](const char* a) {
    return std::any_of(members.begin(), members.end(),
                       [&](const nft::Element& el) { return el.key[0] == nft::Value(ip(a)); });
  };
  EXPECT_EQ(members.size(), static_cast<size_t>(kPeers));
  EXPECT_FALSE(has("10.2.0.1"));
  EXPECT_TRUE(has("10.2.9.9"));
}

TEST_F(BigSet, TwoIndependentBigSetsCommitEachWhenItsOwnChunksAreIn) {
  ASSERT_NO_FATAL_FAILURE(hold_two_big_sets());
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(dispatched("10.0.1.1")) << "x/a's three chunks are in: it does not wait for x/b";
  EXPECT_FALSE(dispatched("10.0.1.3"));
  EXPECT_TRUE(core.busy());
  int flushes = 0;
  while (core.busy() && flushes++ < 10) ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(flushes, 3) << "x/b's three chunks, one a flush";
  EXPECT_TRUE(dispatched("10.0.1.3"));
  EXPECT_EQ(*kernel.table, want());
}

// A change that depends on the first held change (a pod under its policy)
// and adds a member to the second's set (the pod is in x): the member goes
// with the second, which creates that set. Sent with the first, it met no set
// in the kernel; the planner fell back to a full resync, which sent the second
// change whole, so its next chunk was refused (the 100k-pod benchmark, one
// run in five).
TEST_F(BigSet, AChangeDependingOnTheFirstHeldChangeAndAddingToTheSecondsSet) {
  ASSERT_NO_FATAL_FAILURE(hold_two_big_sets());
  const size_t reads = kernel.reads;
  core.feed(upsert(ResourceKind::Pod, pod("x", "a2", "node1", {"10.0.1.4"}, {{"app", "a"}})));
  int flushes = 0;
  while (core.busy() && flushes++ < 20) ASSERT_TRUE(core.flush().ok());
  EXPECT_FALSE(core.busy());
  EXPECT_EQ(kernel.reads, reads) << "no full resync";
  for (const char* a : {"10.0.1.1", "10.0.1.3", "10.0.1.4"}) EXPECT_TRUE(dispatched(a)) << a;
  EXPECT_EQ(*kernel.table, want());
  EXPECT_EQ(scrape().value("netpol_apply_errors_total"), 0);
}

TEST_F(BigSet, WithAYieldThatNeverStopsEverythingGoesInOneFlush) {
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  const size_t applies = kernel.applies;
  ASSERT_TRUE(core.flush([] { return false; }).ok());
  EXPECT_FALSE(core.busy());
  EXPECT_EQ(kernel.applies, applies + 4);
  EXPECT_EQ(*kernel.table, want());
}

TEST_F(BigSet, ThePolicyGoingAwayMidwayRemovesThePartialSet) {
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  const std::string set = peer_nft_set();
  ASSERT_TRUE(kernel.table->sets.contains(set));
  core.feed(remove(ResourceKind::NetworkPolicy,
                   ingress_only_from("x", "big", {{"app", "a"}}, k8s::Labels{{"app", "peer"}})));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_FALSE(core.busy());
  EXPECT_FALSE(kernel.table->sets.contains(set));
  EXPECT_EQ(*kernel.table, want());
}

TEST_F(BigSet, AFailedChunkMakesTheNextSyncAFullOneThatSendsEverything) {
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  kernel.fail_op = 0;
  EXPECT_FALSE(core.flush().ok());
  EXPECT_FALSE(core.busy());
  EXPECT_TRUE(core.needs_full());
  EXPECT_FALSE(dispatched("10.0.1.1"));
  const size_t reads = kernel.reads;
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(kernel.reads, reads + 1) << "reconciled from a read-back";
  EXPECT_EQ(*kernel.table, want());
  auto e = scrape();
  EXPECT_EQ(e.value("netpol_apply_errors_total"), 1);
  EXPECT_EQ(e.value("netpol_event_to_kernel_seconds_count"), 1) << "the held event, by the full";
}

TEST_F(BigSet, ChunkingOffSendsTheSetWithItsRulesInOneTransaction) {
  core.set_chunking(0, 100);
  core.feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  const size_t applies = kernel.applies;
  ASSERT_TRUE(core.flush().ok());
  EXPECT_FALSE(core.busy());
  EXPECT_EQ(kernel.applies, applies + 1);
  EXPECT_EQ(*kernel.table, want());
}

TEST_F(Fixture, FailedApplyForcesAFullResyncThatRepairsEverything) {
  feed_cluster();
  sync_all();
  ASSERT_TRUE(core.flush().ok());
  kernel.fail_op = 0;
  core.feed(upsert(ResourceKind::Pod, pod("x", "d", "node1", {"10.0.1.2"}, {{"app", "a"}})));
  EXPECT_FALSE(core.flush().ok());
  EXPECT_TRUE(core.needs_full());
  EXPECT_EQ(scrape().value("netpol_apply_errors_total"), 1);
  // Meanwhile more changes arrive; the retry reconciles all of them at once.
  core.feed(upsert(ResourceKind::Pod, pod("x", "g", "node1", {"10.0.1.3"}, {{"app", "a"}})));
  const size_t reads = kernel.reads;
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(kernel.reads, reads + 1) << "full resync reads the table back";
  EXPECT_FALSE(core.needs_full());
  EXPECT_EQ(*kernel.table, want());
  EXPECT_EQ(core.rules().pods.size(), 3u);
}

TEST_F(Fixture, DriftCheckRepairsAFlushedTable) {
  feed_cluster();
  sync_all();
  ASSERT_TRUE(core.flush().ok());
  auto clean = core.check_drift();
  ASSERT_TRUE(clean.ok());
  EXPECT_FALSE(clean.value()) << "nothing to repair";
  // `nft flush table inet netpol`: every rule gone, chains and sets stay.
  kernel.table->rules.clear();
  auto repaired = core.check_drift();
  ASSERT_TRUE(repaired.ok());
  EXPECT_TRUE(repaired.value());
  EXPECT_EQ(*kernel.table, want());
  // `nft delete table inet netpol`.
  kernel.table.reset();
  ASSERT_TRUE(core.check_drift().ok());
  EXPECT_EQ(*kernel.table, want());
  EXPECT_EQ(scrape().value("netpol_drift_repairs_total"), 2);
}

TEST_F(Fixture, DriftCheckSkipsTheReadBackOnlyWhileNobodyCommitted) {
  feed_cluster();
  sync_all();
  ASSERT_TRUE(core.flush().ok());
  core.feed(upsert(ResourceKind::Pod, pod("x", "d", "node1", {"10.0.1.2"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  const size_t reads = kernel.reads;
  auto quiet = core.check_drift(/*read_back=*/false);
  ASSERT_TRUE(quiet.ok());
  EXPECT_FALSE(quiet.value());
  EXPECT_EQ(kernel.reads, reads) << "generation unchanged: nothing to read";
  // `nft flush table inet netpol` by someone: a commit, so the generation moves.
  kernel.table->rules.clear();
  kernel.external_commit();
  auto repaired = core.check_drift(/*read_back=*/false);
  ASSERT_TRUE(repaired.ok());
  EXPECT_TRUE(repaired.value());
  EXPECT_EQ(kernel.reads, reads + 1);
  EXPECT_EQ(*kernel.table, want());
  // The periodic forced read-back finds what the generation cannot show (here
  // a change made without a commit, which only our own bookkeeping could cause).
  kernel.table->rules.clear();
  ASSERT_FALSE(core.check_drift(false).value());
  auto forced = core.check_drift(/*read_back=*/true);
  ASSERT_TRUE(forced.ok());
  EXPECT_TRUE(forced.value());
  EXPECT_EQ(*kernel.table, want());
  auto m = scrape();
  EXPECT_EQ(m.value("netpol_drift_checks_total", {{"result", "unchanged"}}), 2);
  EXPECT_EQ(m.value("netpol_drift_checks_total", {{"result", "repaired"}}), 2);
  EXPECT_EQ(m.value("netpol_drift_checks_total", {{"result", "clean"}}), 0);
  EXPECT_EQ(m.value("netpol_drift_repairs_total"), 2);
}

TEST_F(Fixture, AppliedListenersSeeTheEnforcedRules) {
  std::vector<size_t> seen;
  core.add_applied_listener([&](const ir::RuleSet& rs) { seen.push_back(rs.pods.size()); });
  feed_cluster();
  sync_all();
  ASSERT_TRUE(core.flush().ok());
  core.feed(upsert(ResourceKind::Pod, pod("x", "d", "node1", {"10.0.1.2"}, {{"app", "a"}})));
  ASSERT_TRUE(core.flush().ok());
  kernel.fail_op = 0;
  core.feed(upsert(ResourceKind::Pod, pod("x", "h", "node1", {"10.0.1.4"}, {{"app", "a"}})));
  EXPECT_FALSE(core.flush().ok());
  EXPECT_EQ(seen, (std::vector<size_t>{1, 2})) << "not called for a failed apply";
}

// --- the threaded loop -----------------------------------------------------------

// A kernel that counts transactions and can be made to fail.
class CountingKernel : public nft::Kernel {
 public:
  nft::Status commit(const nft::Transaction& tx) override {
    std::lock_guard lock(mu);
    if (failures > 0) {
      --failures;
      return nft::Error{"injected failure"};
    }
    return inner.commit(tx);
  }
  nft::Result<std::optional<nft::Ruleset>> read(nft::TableFamily f, const std::string& n) override {
    std::lock_guard lock(mu);
    return inner.read(f, n);
  }
  size_t applies() {
    std::lock_guard lock(mu);
    return inner.applies;
  }
  std::optional<nft::Ruleset> table() {
    std::lock_guard lock(mu);
    return inner.table;
  }
  std::mutex mu;
  testsupport::FakeKernel inner;
  int failures = 0;
};

// A SyncThread over a CountingKernel with its metrics on a ManualClock, and the
// events every test starts with.
struct LoopRig {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  Registry registry;
  SyncMetrics metrics{registry};
  CountingKernel kernel;
  Enforcer core{kernel, "node1", &metrics, nullptr, clock};
  std::unique_ptr<SyncThread> loop;

  void start(SyncThreadOptions o = {}) {
    o.clock = clock;
    loop = std::make_unique<SyncThread>(core, std::move(o), &metrics, nullptr);
    loop->start();
  }
  // Lets the sync thread run; whenever it has nothing left to do but wait,
  // time jumps to its next deadline. False if `pred` never held.
  bool run_until(const std::function<bool()>& pred, int max_steps = 100'000) {
    for (int i = 0; i < max_steps; ++i) {
      if (pred()) return true;
      if (!clock->await_parked()) return pred();
      if (pred()) return true;
      clock->advance_to_next_deadline();
    }
    return pred();
  }
  // The same for a span of fake time: ends parked at now() + d.
  void run_for(std::chrono::nanoseconds d) {
    const SteadyTime end = clock->now() + d;
    while (clock->await_parked() && clock->now() < end) {
      const auto next = clock->next_deadline();
      clock->advance((next && *next < end ? *next : end) - clock->now());
    }
  }
  void upsert(ResourceKind kind, EventObject obj) {
    loop->enqueue(Event{Event::Op::Upsert, kind, std::move(obj), {}});
  }
  void all_synced() {
    for (auto k : {ResourceKind::Namespace, ResourceKind::Pod, ResourceKind::NetworkPolicy}) {
      loop->enqueue(Event{Event::Op::Synced, k, {}, {}});
    }
  }
  // Namespace x, a policy for app=a, and one local pod it selects.
  void isolated_pod(const k8s::NetworkPolicy& policy) {
    upsert(ResourceKind::Namespace, testsupport::ns("x"));
    upsert(ResourceKind::NetworkPolicy, policy);
    upsert(ResourceKind::Pod, pod("x", "local", "node1", {"10.9.0.1"}, {{"app", "a"}}));
  }
  bool table_is_the_rules() {
    auto t = kernel.table();
    return t && *t == nft::render(core.rules()).ruleset;
  }
};

TEST(SyncThread, ABurstOfAThousandEventsBecomesAFewTransactions) {
  LoopRig r;
  SyncThreadOptions o;
  o.max_delay = milliseconds(20);
  r.start(o);
  // Every pod of x is a peer of the policy, so every event changes the rules.
  r.isolated_pod(ingress_only_from("x", "np", {{"app", "a"}}, k8s::Labels{}));
  r.all_synced();
  ASSERT_TRUE(r.run_until([&] { return r.loop->ready(); }));
  const size_t before = r.kernel.applies();
  for (int i = 0; i < 1000; ++i) {
    const std::string addr =
        "10." + std::to_string(1 + i / 250) + ".0." + std::to_string(i % 250 + 1);
    r.upsert(ResourceKind::Pod, pod("x", "p" + std::to_string(i), i % 10 == 1 ? "node1" : "node2",
                                    {addr}, {{"app", i % 2 ? "a" : "b"}}));
  }
  ASSERT_TRUE(r.run_until([&] { return r.metrics.event_latency.count() == 1000; }))
      << "latencies seen: " << r.metrics.event_latency.count();
  r.loop->stop();
  // Time stood still while they came, so the batch stayed open until it was
  // full: max_batch (1000) events, one transaction.
  EXPECT_EQ(r.kernel.applies() - before, 1u) << "1000 events must not become ~1000 transactions";
  EXPECT_TRUE(r.table_is_the_rules());
}

TEST(SyncThread, AWritePacedBurstIsCoalescedToo) {
  // kubectl writes objects one by one, about a millisecond apart: longer
  // than the quiet period of an isolated event, so only the burst mode
  // (a batch starting within burst_window of the previous one) coalesces them.
  LoopRig r;
  r.start();
  r.isolated_pod(ingress_only_from("x", "np", {{"app", "a"}}, k8s::Labels{}));
  r.all_synced();
  ASSERT_TRUE(r.run_until([&] { return r.loop->ready(); }));
  const size_t before = r.kernel.applies();
  for (int i = 0; i < 200; ++i) {
    r.upsert(ResourceKind::Pod, pod("x", "p" + std::to_string(i), "node2",
                                    {"10.1.0." + std::to_string(i + 1)}, {{"app", "b"}}));
    ASSERT_TRUE(r.clock->await_parked());
    r.clock->advance(milliseconds(1));
    ASSERT_TRUE(r.clock->await_parked());
  }
  ASSERT_TRUE(r.run_until([&] { return r.metrics.event_latency.count() == 200; }));
  r.loop->stop();
  // Each batch stays open for max_delay (20 ms, 20 writes): 10 transactions.
  EXPECT_EQ(r.kernel.applies() - before, 10u)
      << "200 writes 1 ms apart must not become ~200 transactions";
  EXPECT_TRUE(r.table_is_the_rules());
}

TEST(SyncThread, AnIsolatedEventWaitsOnlyTheQuietPeriod) {
  LoopRig r;
  r.start();
  r.isolated_pod(ingress_only_from("x", "np", {{"app", "a"}}, k8s::Labels{}));
  r.all_synced();
  ASSERT_TRUE(r.run_until([&] { return r.loop->ready(); }));
  r.run_for(milliseconds(50));  // well past burst_window: the next event is on its own
  const size_t before = r.kernel.applies();
  const SteadyTime t0 = r.clock->now();
  r.upsert(ResourceKind::Pod, pod("x", "p", "node2", {"10.1.0.1"}, {{"app", "b"}}));
  ASSERT_TRUE(r.run_until([&] { return r.kernel.applies() > before; }));
  EXPECT_EQ(r.clock->now() - t0, std::chrono::microseconds(250)) << "quiet, not burst_quiet";
  r.loop->stop();
}

TEST(SyncThread, FailuresAreRetriedWithBackoffUntilTheKernelAccepts) {
  LoopRig r;
  r.kernel.failures = 3;
  SyncThreadOptions o;
  o.backoff = {milliseconds(10), milliseconds(100), 2.0, 0.0};
  r.start(o);
  const SteadyTime t0 = r.clock->now();
  r.isolated_pod(ingress_only_from("x", "np", {{"app", "a"}}));
  r.all_synced();
  // No further event arrives: the retries alone must get the table in.
  ASSERT_TRUE(r.run_until([&] { return r.loop->ready(); }));
  EXPECT_EQ(r.clock->now() - t0, milliseconds(10 + 20 + 40)) << "three backoffs";
  r.loop->stop();
  EXPECT_EQ(r.metrics.apply_errors.value(), 3);
  EXPECT_TRUE(r.table_is_the_rules());
}

TEST(SyncThread, WatermarkMovesOnlyOnceEverythingBeforeItIsApplied) {
  LoopRig r;
  std::atomic<uint64_t> delivered{0};
  SyncThreadOptions o;
  o.tick = milliseconds(5);
  o.barrier = [&]() -> std::optional<uint64_t> { return delivered.load(); };
  r.start(o);
  r.all_synced();
  ASSERT_TRUE(r.run_until([&] { return r.loop->ready(); }));
  delivered = 42;
  ASSERT_TRUE(r.run_until([&] { return r.loop->synced_resource_version() == 42; }));
  // While the kernel refuses, the watermark stays where it was.
  {
    std::lock_guard lock(r.kernel.mu);
    r.kernel.failures = 1000;
  }
  r.isolated_pod(ingress_only_from("x", "np", {{"app", "a"}}));
  delivered = 50;
  r.run_for(milliseconds(100));
  EXPECT_EQ(r.loop->synced_resource_version(), 42u);
  {
    std::lock_guard lock(r.kernel.mu);
    r.kernel.failures = 0;
  }
  ASSERT_TRUE(r.run_until([&] { return r.loop->synced_resource_version() == 50; }));
  r.loop->stop();
}

}  // namespace
}  // namespace netpol::agent

// --- anti-spoofing (docs/spoofing.md) -------------------------------------------

namespace netpol::agent {
namespace {

IpAddr addr(const char* s) {
  return *IpAddr::parse(s);
}

Event links_event(LinksView v) {
  Event ev;
  ev.op = Event::Op::Links;
  ev.links = std::move(v);
  return ev;
}

std::set<nft::Element> bound_in(const std::optional<nft::Ruleset>& t, const char* set) {
  if (!t || !t->sets.count(set)) return {};
  const nft::ElementSet& els = t->sets.at(set).elements;
  return {els.begin(), els.end()};
}
nft::Element el(const char* ip, const char* ifc) {
  return nft::Element{{addr(ip), nft::IfName{ifc}}, {}, std::nullopt};
}

TEST_F(Fixture, AntiSpoofingGuardsLinkedAndBoundInterfaces) {
  core.set_anti_spoofing(true);
  feed_cluster();
  sync_all();
  // The route to local pod x/a names its veth; 10.0.2.1 is a pod of node2 and
  // 10.0.9.9 no pod at all: the links do not bind them.
  LinksView view;
  view.bindings = {{"cali-a", addr("10.0.1.1"), false},
                   {"cali-z", addr("10.0.2.1"), false},
                   {"cali-q", addr("10.0.9.9"), false}};
  core.feed(links_event(view));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_EQ(core.routed_guard(), (nft::PortBindings{{"cali-a", addr("10.0.1.1")}}));
  EXPECT_EQ(bound_in(kernel.table, "spoof-bound-v4"),
            (std::set<nft::Element>{el("10.0.1.1", "cali-a")}));
  ASSERT_TRUE(kernel.bridge.has_value());  // created with the inet guard, empty
  EXPECT_TRUE(bound_in(kernel.bridge, "spoof-bound-v4").empty());

  // netpol-cni binds a new pod x/c (Pending, no IP in the API) behind bridge
  // port veth-c: its address goes to the bridge table in the flush that
  // commits its chains, before netpol-cni is answered.
  view.bridge_ports = {"veth-c"};
  core.feed(links_event(view));
  k8s::Pod c = pod("x", "c", "node1", {}, {{"app", "c"}});
  c.phase = k8s::PodPhase::Pending;
  bool applied = false;
  Event bind{Event::Op::Bind,
             ResourceKind::Pod,
             c,
             {},
             PodBinding{"x", "c", "", {addr("10.0.1.3")}, "veth-c"},
             [&] { applied = true; }};
  core.feed(std::move(bind));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(applied);
  EXPECT_EQ(bound_in(kernel.bridge, "spoof-bound-v4"),
            (std::set<nft::Element>{el("10.0.1.3", "veth-c")}));
  EXPECT_EQ(bound_in(kernel.table, "spoof-bound-v4"),
            (std::set<nft::Element>{el("10.0.1.1", "cali-a")}));

  // The binding goes: so does its guard element; the rules stay.
  const auto rules_before = kernel.bridge->rules;
  core.feed(Event{Event::Op::Unbind,
                  ResourceKind::Pod,
                  {},
                  {},
                  PodBinding{"x", "c", "", {addr("10.0.1.3")}, "veth-c"}});
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(bound_in(kernel.bridge, "spoof-bound-v4").empty());
  EXPECT_TRUE(kernel.bridge->rules == rules_before);

  // A drift check finds both tables as they should be.
  auto drift = core.check_drift(true);
  ASSERT_TRUE(drift.ok());
  EXPECT_FALSE(drift.value());
}

TEST_F(Fixture, AntiSpoofingOffProgramsNoGuardAndRemovesOne) {
  // A guard left by an earlier run with the flag on.
  kernel.bridge = nft::render_bridge_guard({{"veth-c", addr("10.0.1.3")}}, {});
  feed_cluster();
  sync_all();
  core.feed(links_event(LinksView{{{"cali-a", addr("10.0.1.1"), false}}, {}}));
  ASSERT_TRUE(core.flush().ok());
  EXPECT_TRUE(core.routed_guard().empty());
  ASSERT_TRUE(kernel.table.has_value());
  EXPECT_FALSE(kernel.table->chains.count(nft::kGuardChain));
  EXPECT_TRUE(*kernel.table == want());
  EXPECT_FALSE(kernel.bridge.has_value());
}

}  // namespace
}  // namespace netpol::agent
