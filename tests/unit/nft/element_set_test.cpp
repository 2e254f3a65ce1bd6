// ElementSet against the std::set<Element> it stands in for: the same
// elements, in the same order, whatever the order of the changes, in both of
// its forms (bare addresses in blocks; any other element shape).
#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <set>
#include <vector>

#include "nft/objects.h"

namespace netpol::nft {
namespace {

IpAddr v4(uint32_t n) {
  return IpAddr::v4(0x0a000000u + n);
}
IpAddr v6(uint32_t n) {
  IpAddr a;
  a.family = Family::V6;
  a.bytes[0] = 0xfd;
  a.bytes[14] = static_cast<uint8_t>(n >> 8);
  a.bytes[15] = static_cast<uint8_t>(n);
  return a;
}
Element at(const IpAddr& ip) {
  return Element{{ip}, {}, std::nullopt};
}

void expect_same(const ElementSet& got, const std::set<Element>& want) {
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got.empty(), want.empty());
  EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end()));
  // Backwards too (the overlap check walks back one element).
  EXPECT_TRUE(std::equal(std::make_reverse_iterator(got.end()),
                         std::make_reverse_iterator(got.begin()), want.rbegin(), want.rend()));
}

Element named(const IpAddr& ip, uint8_t proto, uint16_t port) {
  return Element{{ip, Proto{proto}, Port{port}}, {}, std::nullopt};
}

// Random inserts and erases over a range of elements about 40 blocks wide,
// checked against std::set after every hundred changes and at every probe.
// Both compact shapes: addresses, and address . protocol . port.
class ElementSetShapes : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(ElementSet, ElementSetShapes, ::testing::Bool());

TEST_P(ElementSetShapes, HoldsWhatAStdSetHolds) {
  std::mt19937 rng(12);
  ElementSet got;
  std::set<Element> want;
  std::uniform_int_distribution<uint32_t> pick(0, 20000);
  auto make = [&](const IpAddr& ip) {
    return GetParam() ? named(ip, rng() % 2 ? 6 : 17, static_cast<uint16_t>(rng() % 3)) : at(ip);
  };
  for (int i = 0; i < 30000; ++i) {
    const Element e = make((i % 7 == 0) ? v6(pick(rng)) : v4(pick(rng)));
    if (rng() % 3 == 0) {
      EXPECT_EQ(got.erase(e), want.erase(e));
    } else {
      auto [it, added] = got.insert(e);
      EXPECT_EQ(added, want.insert(e).second);
      EXPECT_EQ(*it, e);
    }
    if (i % 100 == 0) expect_same(got, want);
  }
  expect_same(got, want);
  for (int i = 0; i < 2000; ++i) {
    const Element probe = make(i % 2 ? v4(pick(rng)) : v6(pick(rng)));
    auto g = got.lower_bound(probe);
    auto w = want.lower_bound(probe);
    ASSERT_EQ(g == got.end(), w == want.end());
    if (w != want.end()) {
      EXPECT_EQ(*g, *w);
    }
    EXPECT_EQ(got.contains(probe), want.contains(probe));
    EXPECT_EQ(got.count(probe), want.count(probe));
  }
  // A probe of another shape lands where std::set puts it.
  const Element longer{{v4(500), Proto{6}}, {}, std::nullopt};
  EXPECT_EQ(*got.lower_bound(longer), *want.lower_bound(longer));
  EXPECT_FALSE(got.contains(longer));
  // Erasing everything leaves it empty, with begin() == end().
  for (const Element& e : want) got.erase(e);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(got.begin(), got.end());
}

// The same elements compare equal however they were put in (the blocks then
// split at different places), and order like the std::sets they stand for.
TEST(ElementSet, ComparesByItsElements) {
  std::vector<Element> els;
  for (uint32_t i = 0; i < 3000; ++i) els.push_back(at(v4(i * 3)));
  ElementSet ascending(els.begin(), els.end());
  ElementSet descending(els.rbegin(), els.rend());
  EXPECT_EQ(ascending, descending);
  ElementSet copy = ascending;
  EXPECT_EQ(copy, ascending);
  copy.erase(els[1500]);
  EXPECT_NE(copy, ascending);
  std::set<Element> a(ascending.begin(), ascending.end()), c(copy.begin(), copy.end());
  EXPECT_EQ(ascending <=> copy, a <=> c);
  EXPECT_EQ(copy <=> ascending, c <=> a);
}

// The first element that is not a bare address moves the set to its general
// form: nothing is lost, the order holds, and clear() returns it to the start.
TEST(ElementSet, TakesEveryElementShape) {
  std::set<Element> want;
  ElementSet got;
  for (uint32_t i = 0; i < 700; ++i) {
    got.insert(at(v4(i * 2)));
    want.insert(at(v4(i * 2)));
  }
  const Element range{{v4(5)}, {v4(9)}, std::nullopt};
  const Element jump{{v4(11)}, {}, Verdict::jump("pod-a")};
  const Element concat{{v4(13), Proto{17}, Port{53}}, {}, std::nullopt};
  for (const Element& e : {range, jump, concat}) {
    EXPECT_TRUE(got.insert(e).second);
    want.insert(e);
    expect_same(got, want);
  }
  EXPECT_FALSE(got.insert(jump).second);
  EXPECT_EQ(got.find(jump)->verdict->chain, "pod-a");
  EXPECT_EQ(got.erase(at(v4(0))), 1u);
  want.erase(at(v4(0)));
  expect_same(got, want);
  // Built from a std::set of mixed shapes (moved) or of addresses (copied).
  EXPECT_EQ(ElementSet(std::set<Element>(want)), got);
  got.clear();
  EXPECT_TRUE(got.empty());
  got.insert(at(v4(1)));
  expect_same(got, {at(v4(1))});
}

}  // namespace
}  // namespace netpol::nft
