// The planner and KernelTable against the in-memory kernel: reconcile and
// garbage collection on hand-made drift, incremental transactions that stay
// small, random change sequences whose incremental result always equals a
// full render, and a refused apply that forces the next sync to be full.
#include "nft/plan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "nft/render.h"
#include "nft/kernel_table.h"
#include "tests/support/fake_kernel.h"
#include "tests/unit/netlink/world.h"
#include "tests/unit/nft/fixtures.h"

namespace netpol::nltest {
namespace {

using nft::Chain;
using nft::Element;
using nft::Elements;
using nft::Op;
using nft::Rule;
using nft::Ruleset;
using nft::Set;
using nft::Transaction;
using nft::Verb;
using nft::Verdict;
using testsupport::FakeKernel;

Ruleset rich() {
  return nft::render(nft::fx::rich_ir()).ruleset;
}

// Applies `tx` to `table` through the fake kernel; the result or a failure.
Ruleset applied(const Ruleset& start, const Transaction& tx) {
  FakeKernel k;
  k.table = start;
  nft::Status s = k.commit(tx);
  EXPECT_TRUE(s.ok()) << s.message();
  return k.table.value_or(Ruleset{});
}

size_t count(const Transaction& tx, Verb verb, auto pred) {
  size_t n = 0;
  for (const Op& op : tx.ops()) n += op.verb == verb && pred(op.object);
  return n;
}

bool is_table(const nft::Object& o) {
  return std::holds_alternative<nft::Table>(o);
}

TEST(PlanRulesets, CreatesAnAbsentTableWithoutDeletingAnything) {
  auto tx = nft::plan(std::nullopt, rich());
  ASSERT_TRUE(tx.ok()) << tx.message();
  FakeKernel k;
  ASSERT_TRUE(k.commit(tx.value()).ok());
  EXPECT_TRUE(k.table == rich());
  EXPECT_EQ(count(tx.value(), Verb::Delete, [](const auto&) { return true; }), 0u);
}

TEST(PlanRulesets, SameContentNeedsNoOps) {
  auto tx = nft::plan(rich(), rich());
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(tx.value().empty()) << tx.value().ops().size() << " ops";
}

TEST(PlanRulesets, GarbageCollectsChainsAndSetsNothingWantsWithoutDeletingTheTable) {
  Ruleset current = rich();
  // Left over by an older agent: a chain reached through a dispatch element,
  // and a set one of its rules uses.
  current.chains["ingress-OLD-gone/pod"] = Chain{"ingress-OLD-gone/pod", "stale", std::nullopt};
  current.sets["pods-OLDOLDOL-v4"] =
      Set{"pods-OLDOLDOL-v4", {nft::KeyType::Ipv4Addr}, false, std::nullopt, "stale", {}};
  current.append(Rule{"ingress-OLD-gone/pod",
                      {nft::SetMatch{{nft::Field::IpSaddr}, "pods-OLDOLDOL-v4"}, Verdict::ret()},
                      "stale"});
  current.sets.at("ingress-v4")
      .elements.insert(
          Element{{nft::fx::ip("10.0.9.9")}, {}, Verdict::jump("ingress-OLD-gone/pod")});

  auto tx = nft::plan(current, rich());
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(applied(current, tx.value()) == rich());
  EXPECT_EQ(count(tx.value(), Verb::Delete, is_table), 0u) << "the table must never be deleted";
  EXPECT_EQ(count(tx.value(), Verb::Delete,
                  [](const nft::Object& o) { return std::holds_alternative<Chain>(o); }),
            1u);
  EXPECT_EQ(count(tx.value(), Verb::Delete,
                  [](const nft::Object& o) { return std::holds_alternative<Set>(o); }),
            1u);
}

TEST(PlanRulesets, RefillsAChainHoldingARuleNetpolDidNotWrite) {
  Ruleset current = rich();
  const std::string chain = nft::pod_chain_name(nft::Direction::Ingress, "prod", "db-0");
  // What read-back returns for a foreign rule: no expressions.
  current.rules[chain].insert(current.rules[chain].begin(),
                              Rule{chain, {}, "unrecognized rule, handle 7"});
  auto tx = nft::plan(current, rich());
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(applied(current, tx.value()) == rich());
  EXPECT_EQ(count(tx.value(), Verb::Flush,
                  [&](const nft::Object& o) {
                    auto* c = std::get_if<Chain>(&o);
                    return c && c->name == chain;
                  }),
            1u);
}

TEST(PlanRulesets, RecreatesAChainWhoseCommentChangedAndItsDispatchElements) {
  Ruleset desired = rich();
  const std::string chain = nft::pod_chain_name(nft::Direction::Ingress, "prod", "web-1");
  desired.chains.at(chain).comment = "ingress of pod prod/web-1; isolated by prod/other";
  auto tx = nft::plan(rich(), desired);
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(applied(rich(), tx.value()) == desired);
}

TEST(PlanRulesets, RecreatesASetWhoseTypeChangedAndRefillsItsUsers) {
  Ruleset desired = rich();
  desired.sets.at("pods-AAAAAAAA-v4").interval = true;
  auto tx = nft::plan(rich(), desired);
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(applied(rich(), tx.value()) == desired);
}

TEST(PlanRulesets, RefusesToChangeTheTableDeclaration) {
  Ruleset current = rich();
  current.table.comment = "someone else's";
  EXPECT_FALSE(nft::plan(current, rich()).ok());
}

TEST(PlanDelta, MembershipChangeIsElementOpsOnly) {
  ir::RuleSet before = nft::fx::rich_ir();
  ir::RuleSet after = before;
  after.sets.at("pods-AAAAAAAA").elements.insert(nft::fx::host("10.0.7.7"));
  after.sets.at("pods-AAAAAAAA").elements.erase(nft::fx::host("fd00::1:5"));
  auto tx = nft::plan(rich(), after, ir::diff(before, after));
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(*tx.value().state() == nft::render(after).ruleset);
  ASSERT_EQ(tx.value().ops().size(), 2u);
  for (const Op& op : tx.value().ops()) {
    EXPECT_TRUE(std::holds_alternative<Elements>(op.object));
  }
}

TEST(PlanDelta, NewIsolatedPodIsOneChainItsRulesAndItsDispatchElements) {
  ir::RuleSet before = nft::fx::rich_ir();
  ir::RuleSet after = before;
  nft::fx::add(after, nft::fx::pod("prod", "new-0", {nft::fx::ip("10.0.1.77")},
                                   nft::fx::chain({"prod/deny-all"}, {}), std::nullopt));
  auto tx = nft::plan(rich(), after, ir::diff(before, after));
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(*tx.value().state() == nft::render(after).ruleset);
  // add chain, add its two deny rules (logged drop, counted drop), add the
  // ingress-v4 element.
  EXPECT_EQ(tx.value().ops().size(), 4u);
}

TEST(PlanDelta, ReusedAddressMovesItsDispatchElementToTheNewOwner) {
  ir::RuleSet before = nft::fx::rich_ir();
  ir::RuleSet after = before;
  after.pods.erase("prod/db-0");
  nft::fx::add(after, nft::fx::pod("prod", "db-1", {nft::fx::ip("10.0.1.9")},
                                   nft::fx::chain({"prod/deny-all"}, {}), std::nullopt));
  auto tx = nft::plan(rich(), after, ir::diff(before, after));
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_TRUE(*tx.value().state() == nft::render(after).ruleset);
}

TEST(PlanDelta, ChangeThatDoesNotFitTheMirrorIsRefused) {
  ir::RuleSet before = nft::fx::rich_ir();
  ir::RuleSet after = before;
  after.sets.at("pods-AAAAAAAA").elements.erase(nft::fx::host("10.0.1.5"));
  Ruleset drifted = rich();
  drifted.sets.at("pods-AAAAAAAA-v4").elements.clear();  // someone flushed it
  EXPECT_FALSE(nft::plan(drifted, after, ir::diff(before, after)).ok());
}

// Every step of a random history: the incremental transaction leaves exactly
// what a full render of the same IR is, and touches only what changed.
TEST(PlanDelta, RandomHistoriesEqualAFullRenderAfterEveryStep) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    World w(seed);
    FakeKernel k;
    nft::KernelTable sync(k);
    ASSERT_TRUE(sync.full(w.rules()).ok());
    size_t changes = 0, ops = 0;
    for (int i = 0; i < 300; ++i) {
      const std::string what = w.step();
      SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(i) + ": " + what);
      nft::Status s = sync.update(w.rules(), w.delta());
      ASSERT_TRUE(s.ok()) << s.message();
      ASSERT_TRUE(k.table == nft::render(w.rules()).ruleset);
      ASSERT_TRUE(sync.mirror() == k.table);
      if (w.delta().empty()) {
        EXPECT_EQ(sync.stats().last_ops, 0u);
      }
      changes += !w.delta().empty();
      ops += sync.stats().last_ops;
    }
    std::printf(
        "seed %u: %zu of 300 steps changed the IR, %zu ops; final table %zu chains, %zu sets\n",
        seed, changes, ops, k.table->chains.size(), k.table->sets.size());
    EXPECT_GT(changes, 100u);
    EXPECT_EQ(k.reads, 1u) << "no step may need a read-back";
    EXPECT_EQ(sync.stats().full_syncs, 1u);
    EXPECT_EQ(sync.stats().failures, 0u);
  }
}

// Non-default logging rules (--audit-nflog-group/-rate/-burst): incremental
// transactions render changed pod chains with them too, so the table stays
// what a full render with the same options is.
TEST(KernelTable, AuditOptionsHoldForIncrementalChangesToo) {
  const nft::AuditOptions audit{7, 50, 5};
  World w(11);
  FakeKernel k;
  nft::KernelTable sync(k, audit);
  ASSERT_TRUE(sync.full(w.rules()).ok());
  ASSERT_TRUE(k.table == nft::render(w.rules(), audit).ruleset);
  size_t chain_changes = 0;
  for (int i = 0; i < 150; ++i) {
    const std::string what = w.step();
    SCOPED_TRACE("step " + std::to_string(i) + ": " + what);
    ASSERT_TRUE(sync.update(w.rules(), w.delta()).ok());
    ASSERT_TRUE(k.table == nft::render(w.rules(), audit).ruleset);
    chain_changes += !w.delta().pods.empty();
  }
  EXPECT_GT(chain_changes, 20u) << "the history must rewrite pod chains";
  EXPECT_FALSE(k.table == nft::render(w.rules()).ruleset) << "the options made a difference";
  EXPECT_EQ(k.reads, 1u);
}

// The mirror is known to hold without a read-back exactly while nobody but
// KernelTable has committed since its last transaction.
TEST(KernelTable, GenerationTellsWhetherTheTableCanHaveChanged) {
  World w(7);
  FakeKernel k;
  nft::KernelTable sync(k);
  EXPECT_FALSE(sync.unchanged_since_sync()) << "nothing synced yet";
  ASSERT_TRUE(sync.full(w.rules()).ok());
  EXPECT_TRUE(sync.unchanged_since_sync());
  for (int i = 0; i < 30; ++i) {
    w.step();
    ASSERT_TRUE(sync.update(w.rules(), w.delta()).ok());
    ASSERT_TRUE(sync.unchanged_since_sync()) << "after our own commit " << i;
  }
  // Another writer commits (any table of the namespace): we can no longer tell.
  k.external_commit();
  EXPECT_FALSE(sync.unchanged_since_sync());
  // ...and an incremental commit on top of it does not make it known again.
  w.step();
  while (w.delta().empty()) w.step();
  ASSERT_TRUE(sync.update(w.rules(), w.delta()).ok());
  EXPECT_FALSE(sync.unchanged_since_sync());
  // A read-back re-establishes it, also when it finds nothing to do.
  ASSERT_TRUE(sync.full(w.rules()).ok());
  EXPECT_EQ(sync.stats().last_ops, 0u);
  EXPECT_TRUE(sync.unchanged_since_sync());
  // A refused transaction leaves it unknown.
  k.fail_op = 0;
  w.step();
  while (w.delta().empty()) w.step();
  EXPECT_FALSE(sync.update(w.rules(), w.delta()).ok());
  EXPECT_FALSE(sync.unchanged_since_sync());
  ASSERT_TRUE(sync.full(w.rules()).ok());
  EXPECT_TRUE(sync.unchanged_since_sync());
  // A kernel that cannot tell its generation: never assumed unchanged.
  k.has_generation = false;
  ASSERT_TRUE(sync.full(w.rules()).ok());
  EXPECT_FALSE(sync.unchanged_since_sync());
}

TEST(KernelTable, RefusedApplyLeavesTheTableAndMakesTheNextSyncFull) {
  World w(42);
  FakeKernel k;
  nft::KernelTable sync(k);
  ASSERT_TRUE(sync.full(w.rules()).ok());
  for (int i = 0; i < 20; ++i) {
    w.step();
    ASSERT_TRUE(sync.update(w.rules(), w.delta()).ok());
  }
  // Find a change that needs several ops, and make the kernel refuse its second.
  std::optional<Ruleset> before;
  for (int i = 0; i < 200; ++i) {
    before = k.table;
    w.step();
    k.fail_op = 1;
    nft::Status s = sync.update(w.rules(), w.delta());
    if (k.fail_op) {  // the change had fewer than two ops; it went through
      k.fail_op.reset();
      ASSERT_TRUE(s.ok()) << s.message();
      continue;
    }
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(k.table == before) << "a refused transaction changed the table";
    EXPECT_TRUE(sync.needs_full());
    EXPECT_EQ(sync.stats().failures, 1u);
    const size_t reads = k.reads;
    w.step();
    ASSERT_TRUE(sync.update(w.rules(), w.delta()).ok());
    EXPECT_EQ(k.reads, reads + 1) << "the next sync reads the table back";
    EXPECT_TRUE(k.table == nft::render(w.rules()).ruleset);
    EXPECT_FALSE(sync.needs_full());
    return;
  }
  FAIL() << "no change with two ops in 200 steps";
}

TEST(KernelTable, FullSyncReplacesATableItCannotDiff) {
  FakeKernel k;
  k.table = rich();
  k.table->table.comment = "made by hand";
  nft::KernelTable sync(k);
  ASSERT_TRUE(sync.full(nft::fx::rich_ir()).ok());
  EXPECT_TRUE(k.table == rich());
  EXPECT_EQ(sync.stats().replaces, 1u);
}

}  // namespace
}  // namespace netpol::nltest
