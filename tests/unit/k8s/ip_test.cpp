// IP literals, prefixes and interval carving: the arithmetic every ipBlock
// rule and every peer set is built from.
#include "k8s/ip.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace netpol {
namespace {

IpAddr ip(const char* s) {
  auto r = IpAddr::parse(s);
  EXPECT_TRUE(r) << s;
  return r.value_or(IpAddr{});
}

Cidr cidr(const char* s) {
  auto r = Cidr::parse(s);
  EXPECT_TRUE(r) << s;
  return r.value_or(Cidr{});
}

std::vector<std::string> strs(const std::vector<IpRange>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.first.str() + "-" + r.last.str());
  return out;
}

std::vector<std::string> strs(const std::vector<Cidr>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.str());
  return out;
}

struct Canon {
  const char* in;
  const char* out;
  Family family;
};

TEST(IpAddr, ParsesAndPrintsCanonically) {
  const Canon cases[] = {
      {"0.0.0.0", "0.0.0.0", Family::V4},
      {"10.1.2.3", "10.1.2.3", Family::V4},
      {"255.255.255.255", "255.255.255.255", Family::V4},
      {"::", "::", Family::V6},
      {"::1", "::1", Family::V6},
      {"1::", "1::", Family::V6},
      {"2001:DB8:0:0:0:0:0:1", "2001:db8::1", Family::V6},
      {"2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1", Family::V6},
      // RFC 5952 4.2.2: a single zero group is not compressed.
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", Family::V6},
      // RFC 5952 4.2.3: longest run wins, first on a tie.
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1", Family::V6},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", Family::V6},
      {"fe80::1:2", "fe80::1:2", Family::V6},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
       Family::V6},
      // v4-mapped stays IPv6, printed with its dotted tail (RFC 5952 section 5).
      {"::ffff:10.0.0.1", "::ffff:10.0.0.1", Family::V6},
      {"::ffff:a00:1", "::ffff:10.0.0.1", Family::V6},
      {"64:ff9b::192.0.2.33", "64:ff9b::c000:221", Family::V6},
      {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", Family::V6},
      {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", Family::V6},
  };
  for (const auto& c : cases) {
    auto r = IpAddr::parse(c.in);
    ASSERT_TRUE(r) << c.in;
    EXPECT_EQ(r->str(), c.out) << c.in;
    EXPECT_EQ(r->family, c.family) << c.in;
    // The canonical form parses back to the same value.
    EXPECT_EQ(IpAddr::parse(r->str()), r) << c.in;
  }
}

TEST(IpAddr, RejectsJunk) {
  const char* bad[] = {"",
                       "1.2.3",
                       "1.2.3.4.5",
                       "256.1.1.1",
                       "1.2.3.-1",
                       "01.2.3.4",  // leading zero: octal in some parsers
                       "1.2.3.4 ",
                       " 1.2.3.4",
                       "1..2.3",
                       "1.2.3.4.",
                       "a.b.c.d",
                       "1.2.3.4/32",
                       ":",
                       ":::",
                       "1:2",
                       ":1::2",
                       "1::2:",
                       "1::2::3",
                       "1:2:3:4:5:6:7:8:9",
                       "1:2:3:4:5:6:7:8::",
                       "::1:2:3:4:5:6:7:8",
                       "12345::",
                       "g::1",
                       "fe80::1%eth0",  // zone ids are not addresses
                       "::ffff:1.2.3",
                       "::1.2.3.4:5",
                       "1:2:3:4:5:6:7:1.2.3.4",
                       "[::1]"};
  for (const char* s : bad) EXPECT_FALSE(IpAddr::parse(s)) << '"' << s << '"';
}

TEST(IpAddr, V4ConstructorAndOrder) {
  EXPECT_EQ(IpAddr::v4(0x0a000001).str(), "10.0.0.1");
  EXPECT_LT(ip("10.0.0.1"), ip("10.0.0.2"));
  EXPECT_LT(ip("9.255.255.255"), ip("10.0.0.0"));
  // Families never compare equal even when the bytes agree.
  EXPECT_NE(ip("0.0.0.0"), ip("::"));
}

TEST(IpAddr, MaskNextPrev) {
  EXPECT_EQ(ip("10.1.2.3").masked(8).str(), "10.0.0.0");
  EXPECT_EQ(ip("10.1.2.3").masked(0).str(), "0.0.0.0");
  EXPECT_EQ(ip("10.1.2.3").masked(32).str(), "10.1.2.3");
  EXPECT_EQ(ip("10.1.2.3").masked(23).str(), "10.1.2.0");
  EXPECT_EQ(ip("10.1.3.3").masked(23).str(), "10.1.2.0");
  EXPECT_EQ(ip("10.1.2.3").last_in(23).str(), "10.1.3.255");
  EXPECT_EQ(ip("10.1.2.3").last_in(0).str(), "255.255.255.255");
  EXPECT_EQ(ip("2001:db8::1").masked(32).str(), "2001:db8::");
  EXPECT_EQ(ip("2001:db8::1").last_in(120).str(), "2001:db8::ff");
  EXPECT_EQ(ip("2001:db8::1").last_in(128).str(), "2001:db8::1");

  EXPECT_EQ(ip("10.0.0.255").next()->str(), "10.0.1.0");
  EXPECT_EQ(ip("10.0.1.0").prev()->str(), "10.0.0.255");
  EXPECT_FALSE(ip("255.255.255.255").next());
  EXPECT_FALSE(ip("0.0.0.0").prev());
  EXPECT_EQ(ip("::ffff").next()->str(), "::1:0");
  EXPECT_FALSE(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").next());
  EXPECT_FALSE(ip("::").prev());
  // An IPv4 address does not carry into the unused bytes.
  EXPECT_EQ(ip("255.255.255.254").next()->str(), "255.255.255.255");
}

TEST(Cidr, ParseClearsHostBits) {
  EXPECT_EQ(cidr("10.1.2.3/8").str(), "10.0.0.0/8");
  EXPECT_EQ(cidr("0.0.0.0/0").str(), "0.0.0.0/0");
  EXPECT_EQ(cidr("1.2.3.4/0").str(), "0.0.0.0/0");
  EXPECT_EQ(cidr("10.1.2.3/32").str(), "10.1.2.3/32");
  EXPECT_EQ(cidr("::/0").str(), "::/0");
  EXPECT_EQ(cidr("2001:DB8::1/64").str(), "2001:db8::/64");
  EXPECT_EQ(cidr("::1/128").str(), "::1/128");
  EXPECT_EQ(cidr("::ffff:10.0.0.0/104").addr.family, Family::V6);
}

TEST(Cidr, RejectsJunk) {
  const char* bad[] = {"10.0.0.1",    "10.0.0.0/",    "10.0.0.0/33", "10.0.0.0/-1",
                       "10.0.0.0/08", "10.0.0.0/8 ",  "/8",          "::/129",
                       "::/1a",       "10.0.0.0/8/8", "fe80::%1/64", "10.0.0.0/1000"};
  for (const char* s : bad) EXPECT_FALSE(Cidr::parse(s)) << '"' << s << '"';
}

TEST(Cidr, Contains) {
  Cidr net = cidr("10.0.0.0/8");
  EXPECT_TRUE(net.contains(ip("10.0.0.0")));
  EXPECT_TRUE(net.contains(ip("10.255.255.255")));
  EXPECT_FALSE(net.contains(ip("11.0.0.0")));
  EXPECT_FALSE(net.contains(ip("::ffff:10.0.0.1")));  // other family
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("1.2.3.4")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));
  EXPECT_TRUE(cidr("::/0").contains(ip("::1")));
  EXPECT_TRUE(net.contains(cidr("10.1.0.0/16")));
  EXPECT_TRUE(net.contains(net));
  EXPECT_FALSE(cidr("10.1.0.0/16").contains(net));
  EXPECT_FALSE(net.contains(cidr("11.0.0.0/16")));
  EXPECT_EQ(cidr("10.0.0.0/8").last().str(), "10.255.255.255");
}

struct CarveCase {
  const char* cidr;
  std::vector<const char*> excepts;
  std::vector<std::string> want;
};

TEST(Carve, CidrMinusExcepts) {
  const CarveCase cases[] = {
      {"10.0.0.0/8", {}, {"10.0.0.0-10.255.255.255"}},
      {"10.0.0.0/8", {"10.1.0.0/16"}, {"10.0.0.0-10.0.255.255", "10.2.0.0-10.255.255.255"}},
      // Except at the start and at the end of the cidr.
      {"10.0.0.0/24", {"10.0.0.0/25"}, {"10.0.0.128-10.0.0.255"}},
      {"10.0.0.0/24", {"10.0.0.128/25"}, {"10.0.0.0-10.0.0.127"}},
      {"10.0.0.0/24", {"10.0.0.0/25", "10.0.0.128/25"}, {}},
      // Overlapping (nested) and unsorted excepts.
      {"10.0.0.0/24", {"10.0.0.64/26", "10.0.0.0/25", "10.0.0.8/29"}, {"10.0.0.128-10.0.0.255"}},
      {"10.0.0.0/24",
       {"10.0.0.200/32", "10.0.0.10/31", "10.0.0.10/31"},
       {"10.0.0.0-10.0.0.9", "10.0.0.12-10.0.0.199", "10.0.0.201-10.0.0.255"}},
      {"0.0.0.0/0", {"0.0.0.0/32"}, {"0.0.0.1-255.255.255.255"}},
      {"0.0.0.0/0", {"255.255.255.255/32"}, {"0.0.0.0-255.255.255.254"}},
      {"0.0.0.0/0",
       {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"},
       {"0.0.0.0-9.255.255.255", "11.0.0.0-172.15.255.255", "172.32.0.0-192.167.255.255",
        "192.169.0.0-255.255.255.255"}},
      {"10.0.0.1/32", {}, {"10.0.0.1-10.0.0.1"}},
      {"::/0", {"::/1"}, {"8000::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
      {"::/0",
       {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
       {"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}},
      {"2001:db8::/64", {"2001:db8::/65"}, {"2001:db8:0:0:8000::-2001:db8::ffff:ffff:ffff:ffff"}},
      {"::1/128", {}, {"::1-::1"}},
      // Other family and outside the cidr: ignored.
      {"10.0.0.0/24", {"::/0", "11.0.0.0/8"}, {"10.0.0.0-10.0.0.255"}},
      // An except covering the whole cidr leaves nothing.
      {"10.0.0.0/24", {"10.0.0.0/8"}, {}},
  };
  for (const auto& c : cases) {
    std::vector<Cidr> ex;
    for (const char* e : c.excepts) ex.push_back(cidr(e));
    EXPECT_EQ(strs(carve(cidr(c.cidr), ex)), c.want) << c.cidr;
  }
}

TEST(RangeToCidrs, SmallestCover) {
  auto cover = [](const char* a, const char* b) { return strs(range_to_cidrs({ip(a), ip(b)})); };
  EXPECT_EQ(cover("10.0.0.0", "10.0.0.255"), (std::vector<std::string>{"10.0.0.0/24"}));
  EXPECT_EQ(cover("10.0.0.1", "10.0.0.1"), (std::vector<std::string>{"10.0.0.1/32"}));
  EXPECT_EQ(cover("0.0.0.0", "255.255.255.255"), (std::vector<std::string>{"0.0.0.0/0"}));
  EXPECT_EQ(cover("0.0.0.1", "255.255.255.255"),
            (std::vector<std::string>{"0.0.0.1/32",  "0.0.0.2/31",  "0.0.0.4/30",  "0.0.0.8/29",
                                      "0.0.0.16/28", "0.0.0.32/27", "0.0.0.64/26", "0.0.0.128/25",
                                      "0.0.1.0/24",  "0.0.2.0/23",  "0.0.4.0/22",  "0.0.8.0/21",
                                      "0.0.16.0/20", "0.0.32.0/19", "0.0.64.0/18", "0.0.128.0/17",
                                      "0.1.0.0/16",  "0.2.0.0/15",  "0.4.0.0/14",  "0.8.0.0/13",
                                      "0.16.0.0/12", "0.32.0.0/11", "0.64.0.0/10", "0.128.0.0/9",
                                      "1.0.0.0/8",   "2.0.0.0/7",   "4.0.0.0/6",   "8.0.0.0/5",
                                      "16.0.0.0/4",  "32.0.0.0/3",  "64.0.0.0/2",  "128.0.0.0/1"}));
  EXPECT_EQ(cover("10.0.0.12", "10.0.0.199"),
            (std::vector<std::string>{"10.0.0.12/30", "10.0.0.16/28", "10.0.0.32/27",
                                      "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/29"}));
  EXPECT_EQ(cover("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            (std::vector<std::string>{"::/0"}));
  EXPECT_EQ(cover("::1", "::2"), (std::vector<std::string>{"::1/128", "::2/128"}));
  // Inverted or mixed-family ranges are empty rather than garbage.
  EXPECT_TRUE(cover("10.0.0.2", "10.0.0.1").empty());
  EXPECT_TRUE(range_to_cidrs({ip("10.0.0.1"), ip("::1")}).empty());
}

TEST(RangeToCidrs, RoundTripsCarve) {
  // Every carved range, re-expressed as prefixes, covers exactly the range:
  // first prefix starts at first, prefixes abut, last prefix ends at last.
  std::vector<Cidr> ex = {cidr("10.0.0.7/32"), cidr("10.0.3.0/24"), cidr("10.0.128.0/17")};
  for (const IpRange& r : carve(cidr("10.0.0.0/16"), ex)) {
    auto cs = range_to_cidrs(r);
    ASSERT_FALSE(cs.empty());
    EXPECT_EQ(cs.front().addr, r.first);
    EXPECT_EQ(cs.back().last(), r.last);
    for (size_t i = 1; i < cs.size(); ++i) EXPECT_EQ(cs[i - 1].last().next(), cs[i].addr);
  }
}

}  // namespace
}  // namespace netpol
