// The decoder, the prefix contract and the time format.
#include "agent/audit/record.h"

#include <gtest/gtest.h>

#include "compiler/hash.h"
#include "nft/render.h"
#include "tests/unit/audit/packets.h"

namespace netpol::audit {
namespace {

using testing::ipv4;
using testing::ipv6;
using testing::l4_ports;

TEST(Decode, Ipv4TcpGivesAddressesAndPorts) {
  auto p = decode_packet(testing::tcp4("10.0.0.1", 40000, "10.0.0.2", 80).data(), 40);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->src.str(), "10.0.0.1");
  EXPECT_EQ(p->dst.str(), "10.0.0.2");
  EXPECT_EQ(p->proto, 6);
  EXPECT_TRUE(p->has_ports);
  EXPECT_EQ(p->sport, 40000);
  EXPECT_EQ(p->dport, 80);
}

TEST(Decode, Ipv4OptionsAreSkipped) {
  auto pkt = ipv4("10.0.0.1", "10.0.0.2", 17, l4_ports(5353, 53, 8), /*options=*/2);
  auto p = decode_packet(pkt.data(), pkt.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->dport, 53);
  EXPECT_EQ(protocol_name(p->proto), "UDP");
}

TEST(Decode, SctpAndIcmp) {
  auto sctp = ipv4("10.0.0.1", "10.0.0.2", 132, l4_ports(1000, 3868, 12));
  auto p = decode_packet(sctp.data(), sctp.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(protocol_name(p->proto), "SCTP");
  EXPECT_EQ(p->dport, 3868);
  auto icmp = ipv4("10.0.0.1", "10.0.0.2", 1, {8, 0, 0, 0, 0, 0, 0, 0});
  p = decode_packet(icmp.data(), icmp.size());
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_ports);
  EXPECT_EQ(p->icmp_type, 8);
  EXPECT_EQ(p->icmp_code, 0);
}

TEST(Decode, Ipv6ExtensionHeadersAreWalked) {
  // hop-by-hop (8 bytes) then destination options (16 bytes) then TCP.
  std::vector<uint8_t> rest = {60, 0, 0, 0, 0, 0, 0, 0, 6, 1};
  rest.resize(8 + 16, 0);
  auto l4 = l4_ports(12345, 443, 20);
  rest.insert(rest.end(), l4.begin(), l4.end());
  auto pkt = ipv6("fd00::1", "fd00::2", 0, rest);
  auto p = decode_packet(pkt.data(), pkt.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->src.str(), "fd00::1");
  EXPECT_EQ(p->proto, 6);
  EXPECT_EQ(p->dport, 443);
}

TEST(Decode, Icmpv6) {
  auto pkt = ipv6("fd00::1", "fd00::2", 58, {128, 0, 0, 0, 0, 0, 0, 0});
  auto p = decode_packet(pkt.data(), pkt.size());
  ASSERT_TRUE(p);
  EXPECT_EQ(protocol_name(p->proto), "ICMPv6");
  EXPECT_EQ(p->icmp_type, 128);
}

TEST(Decode, LaterFragmentsHaveNoPorts) {
  auto pkt = ipv4("10.0.0.1", "10.0.0.2", 17, l4_ports(1, 2, 8), 0, /*offset*/ 0x0010);
  auto p = decode_packet(pkt.data(), pkt.size());
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_ports);
}

TEST(Decode, TruncatedOrForeignPayloadsAreRejectedNotRead) {
  auto pkt = testing::tcp4("10.0.0.1", 1, "10.0.0.2", 2);
  for (size_t len = 0; len < 20; ++len) EXPECT_FALSE(decode_packet(pkt.data(), len)) << len;
  // Header present, transport cut: addresses, no ports.
  auto p = decode_packet(pkt.data(), 22);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->has_ports);
  std::vector<uint8_t> junk(60, 0x55);
  EXPECT_FALSE(decode_packet(junk.data(), junk.size()));
  EXPECT_FALSE(decode_packet(nullptr, 0));
  // An IHL pointing past the buffer.
  pkt[0] = 0x4f;
  EXPECT_FALSE(decode_packet(pkt.data(), 40));
}

TEST(Prefix, WhatTheRendererWritesParsesBack) {
  auto deny = parse_prefix(nft::audit_deny_prefix(nft::Direction::Egress, "x/a"));
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->verdict, Verdict::Deny);
  EXPECT_EQ(deny->direction, nft::Direction::Egress);
  EXPECT_EQ(deny->pod_hash.size(), 8u);
  auto allow = parse_prefix(nft::audit_allow_prefix(nft::Direction::Ingress, "x/a", "x/p", 12) +
                            std::string(1, '\0'));
  ASSERT_TRUE(allow);
  EXPECT_EQ(allow->verdict, Verdict::Allow);
  EXPECT_EQ(allow->direction, nft::Direction::Ingress);
  EXPECT_EQ(allow->pod_hash, deny->pod_hash);
  EXPECT_EQ(allow->rule_index, 12u);
  EXPECT_LE(nft::audit_allow_prefix(nft::Direction::Ingress, "x/a", "x/p", 4294967295u).size(),
            49u);
}

TEST(Prefix, ClusterNetworkPolicyRulesParseBackWithTheirTier) {
  auto admin = parse_prefix(
      nft::audit_tier_prefix(false, k8s::CnpTier::Admin, nft::Direction::Ingress, "x/a", "g", 7));
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->verdict, Verdict::Deny);
  EXPECT_EQ(admin->tier, k8s::CnpTier::Admin);
  EXPECT_EQ(admin->cnp_hash, short_hash("cnp/g"));
  EXPECT_EQ(admin->pod_hash, short_hash("x/a"));
  EXPECT_EQ(admin->rule_index, 7u);
  auto base = parse_prefix(
      nft::audit_tier_prefix(true, k8s::CnpTier::Baseline, nft::Direction::Egress, "x/a", "g", 0));
  ASSERT_TRUE(base);
  EXPECT_EQ(base->verdict, Verdict::Allow);
  EXPECT_EQ(base->direction, nft::Direction::Egress);
  EXPECT_EQ(base->tier, k8s::CnpTier::Baseline);
  // A NetworkPolicy prefix has no tier.
  EXPECT_FALSE(parse_prefix(nft::audit_deny_prefix(nft::Direction::Egress, "x/a"))->tier);
  EXPECT_FALSE(
      parse_prefix(nft::audit_allow_prefix(nft::Direction::Egress, "x/a", "x/p", 1))->tier);
  // The longest: a 253-byte pod key and CNP name still give 8-character hashes.
  std::string longest =
      nft::audit_tier_prefix(true, k8s::CnpTier::Baseline, nft::Direction::Ingress,
                             std::string(253, 'n'), std::string(253, 'c'), 4294967295u);
  EXPECT_EQ(longest.size(), 58u);
  EXPECT_TRUE(parse_prefix(longest));
}

TEST(Prefix, OtherPrefixesAreNotOurs) {
  for (const char* p :
       {"", "netpol", "netpol deny", "netpol deny sideways ABCDEFGH", "netpol deny ingress ABC",
        "netpol allow ingress ABCDEFGH ABCDEFGH", "netpol allow ingress ABCDEFGH ABCDEFGH x1",
        "calico deny ingress ABCDEFGH", "netpol deny ingress ABCDEFGH extra",
        "netpol deny ingress ABCDEFGH tenant ABCDEFGH 0",
        "netpol deny ingress ABCDEFGH admin ABC 0", "netpol allow ingress ABCDEFGH admin ABCDEFGH",
        "netpol deny ingress ABCDEFGH admin ABCDEFGH -1",
        "netpol deny ingress ABCDEFGH admin ABCDEFGH "}) {
    EXPECT_FALSE(parse_prefix(p)) << p;
  }
}

TEST(Json, StringsAreEscapedAndAlwaysValidUtf8) {
  EXPECT_EQ(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(json_string("\xff"), "\"\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace netpol::audit
