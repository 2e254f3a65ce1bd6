// SortedBlocks against std::set: the same values in the same order, forwards
// and backwards, whatever the order of the changes and however the blocks split.
#include "compiler/sorted_blocks.h"

#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <set>

namespace netpol {
namespace {

void expect_same(const SortedBlocks<int>& got, const std::set<int>& want) {
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got.empty(), want.empty());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end()));
  EXPECT_TRUE(std::equal(std::make_reverse_iterator(got.end()),
                         std::make_reverse_iterator(got.begin()), want.rbegin(), want.rend()));
}

TEST(SortedBlocks, HoldsWhatAStdSetHolds) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, 30000);
  SortedBlocks<int> got;
  std::set<int> want;
  for (int i = 0; i < 40000; ++i) {
    const int v = pick(rng);
    if (rng() % 3 == 0) {
      EXPECT_EQ(got.erase(v), want.erase(v));
    } else {
      auto [it, added] = got.insert(v);
      EXPECT_EQ(added, want.insert(v).second);
      EXPECT_EQ(*it, v);
    }
    if (i % 200 == 0) expect_same(got, want);
  }
  expect_same(got, want);
  for (int i = 0; i < 3000; ++i) {
    const int v = pick(rng);
    auto g = got.lower_bound(v);
    auto w = want.lower_bound(v);
    ASSERT_EQ(g == got.end(), w == want.end());
    if (w != want.end()) {
      EXPECT_EQ(*g, *w);
    }
    EXPECT_EQ(got.contains(v), want.contains(v));
  }
  // Copies compare equal to the original, and order like std::set.
  SortedBlocks<int> copy = got;
  EXPECT_EQ(copy, got);
  copy.erase(*want.begin());
  std::set<int> want_copy(copy.begin(), copy.end());
  EXPECT_EQ(copy <=> got, want_copy <=> want);
  for (int v : want) got.erase(v);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(got.begin(), got.end());
}

// In-order inserts (every bulk load) fill whole blocks, and an inserter
// (the set algorithms' output) works on it.
TEST(SortedBlocks, BulkLoadsAndInserters) {
  std::set<int> want;
  for (int i = 0; i < 5000; ++i) want.insert(i * 2);
  SortedBlocks<int> got(want.begin(), want.end());
  expect_same(got, want);
  SortedBlocks<int> odd;
  std::set<int> all;
  for (int i = 0; i < 10000; ++i) all.insert(i);
  std::set_difference(all.begin(), all.end(), got.begin(), got.end(),
                      std::inserter(odd, odd.end()));
  EXPECT_EQ(odd.size(), 5000u);
  EXPECT_TRUE(odd.contains(9999));
  EXPECT_FALSE(odd.contains(9998));
}

}  // namespace
}  // namespace netpol
