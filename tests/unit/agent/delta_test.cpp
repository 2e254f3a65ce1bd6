// Folding a burst of compiler deltas into one: the folded delta must move the
// rules (and the kernel table) from the state before the burst to the state
// after it, whatever the burst did.
#include "agent/delta.h"

#include <gtest/gtest.h>

#include <random>

#include "compiler/compiler.h"
#include "nft/kernel_table.h"
#include "nft/render.h"
#include "tests/support/builders.h"
#include "tests/support/fake_kernel.h"

namespace netpol::agent {
namespace {

using namespace testing;
using namespace testsupport;

ir::Element el(const char* addr) {
  return ir::Element{ip(addr), ip(addr), 0, 0};
}

ir::Set pods_set(const std::string& name, std::initializer_list<const char*> addrs) {
  ir::Set s{name, ir::SetKind::Pods, "test", {}};
  for (const char* a : addrs) s.elements.insert(el(a));
  return s;
}

TEST(DeltaBatch, CancellingChangesDropOut) {
  DeltaBatch b;
  ir::Delta d1;
  d1.sets.push_back(
      ir::SetDelta{"pods-A", std::nullopt, false, {el("10.0.0.1")}, {el("10.0.0.9")}});
  ir::Delta d2;
  d2.sets.push_back(
      ir::SetDelta{"pods-A", std::nullopt, false, {el("10.0.0.9")}, {el("10.0.0.1")}});
  b.add(std::move(d1));
  b.add(std::move(d2));
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.take().empty());
}

TEST(DeltaBatch, CreatedAbsorbsLaterElementChanges) {
  DeltaBatch b;
  ir::Delta d1;
  d1.sets.push_back(ir::SetDelta{"pods-A", pods_set("pods-A", {"10.0.0.1"}), false, {}, {}});
  ir::Delta d2;
  d2.sets.push_back(
      ir::SetDelta{"pods-A", std::nullopt, false, {el("10.0.0.2")}, {el("10.0.0.1")}});
  b.add(std::move(d1));
  b.add(std::move(d2));
  ir::Delta out = b.take();
  ASSERT_EQ(out.sets.size(), 1u);
  ASSERT_TRUE(out.sets[0].created);
  EXPECT_EQ(out.sets[0].created->elements, SortedBlocks<ir::Element>{el("10.0.0.2")});
}

TEST(DeltaBatch, RemovedThenCreatedIsCreatedAndElementsAfterRemovalBreakTheBatch) {
  DeltaBatch b;
  ir::Delta d1;
  d1.sets.push_back(ir::SetDelta{"pods-A", std::nullopt, true, {}, {}});
  ir::Delta d2;
  d2.sets.push_back(ir::SetDelta{"pods-A", pods_set("pods-A", {"10.0.0.3"}), false, {}, {}});
  b.add(std::move(d1));
  b.add(std::move(d2));
  ir::Delta out = b.take();
  ASSERT_EQ(out.sets.size(), 1u);
  EXPECT_TRUE(out.sets[0].created);

  ir::Delta d3;
  d3.sets.push_back(ir::SetDelta{"pods-B", std::nullopt, true, {}, {}});
  ir::Delta d4;
  d4.sets.push_back(ir::SetDelta{"pods-B", std::nullopt, false, {el("10.0.0.4")}, {}});
  b.add(std::move(d3));
  b.add(std::move(d4));
  EXPECT_TRUE(b.broken());
}

// A random burst of namespace, pod and policy changes: before + folded delta
// == after, for the IR and for the kernel table planned incrementally.
TEST(DeltaBatch, RandomBurstsFoldToTheSameState) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const char* apps[] = {"web", "db", "cache"};
  const char* nss[] = {"a", "b", "c"};

  compiler::Compiler c("node1");
  testsupport::FakeKernel kernel;
  nft::KernelTable table(kernel);
  for (const char* n : nss) (void)c.upsert_namespace(testsupport::ns(n, {{"team", n}}));
  ASSERT_TRUE(table.full(c.rules()).ok());

  for (int round = 0; round < 150; ++round) {
    const ir::RuleSet before = c.rules();
    DeltaBatch batch;
    const int burst = 1 + pick(12);
    for (int i = 0; i < burst; ++i) {
      const std::string ns = nss[pick(3)];
      const int id = pick(6);
      const std::string name = "p" + std::to_string(id);
      // Few addresses, so pods often reuse an address another pod had.
      const std::string addr = "10.1.0." + std::to_string(1 + pick(8));
      switch (pick(7)) {
        case 0:
        case 1:
          batch.add(c.upsert_pod(
              pod(ns, name, pick(2) ? "node1" : "node2", {addr}, {{"app", apps[pick(3)]}})));
          break;
        case 2:
          batch.add(c.remove_pod(ns, name));
          break;
        case 3:
          batch.add(c.upsert_policy(ingress_only_from(
              ns, "np" + std::to_string(pick(3)), {{"app", apps[pick(3)]}},
              pick(3) ? std::optional<k8s::Labels>(k8s::Labels{{"app", apps[pick(3)]}})
                      : std::nullopt)));
          break;
        case 4:
          batch.add(c.remove_policy(ns, "np" + std::to_string(pick(3))));
          break;
        case 5:
          batch.add(c.upsert_namespace(testsupport::ns(ns, {{"team", apps[pick(3)]}})));
          break;
        default:
          break;
      }
    }
    ASSERT_FALSE(batch.broken()) << "round " << round;
    ir::Delta folded = batch.take();
    ir::RuleSet replay = before;
    ir::patch(replay, folded);
    ASSERT_EQ(replay, c.rules()) << "round " << round;
    ASSERT_TRUE(table.update(c.rules(), folded).ok()) << "round " << round;
    ASSERT_TRUE(kernel.table);
    ASSERT_EQ(*kernel.table, nft::render(c.rules()).ruleset) << "round " << round;
  }
  // Every round went through the incremental path, none fell back to a reconcile.
  EXPECT_EQ(table.stats().full_syncs, 1u);
}

}  // namespace
}  // namespace netpol::agent
