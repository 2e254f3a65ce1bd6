// The one rule for which pod owns an address several pods claim
// (compiler/ip_owner.h), as the compiler, the renderer and policyc explain
// apply it.
#include "compiler/ip_owner.h"

#include <gtest/gtest.h>

#include "compiler/compiler.h"
#include "tests/support/builders.h"

namespace netpol::compiler {
namespace {

using testsupport::ip;

TEST(IpOwner, RunningBeatsNotRunningThenTheSmallerKeyWins) {
  EXPECT_TRUE(outranks({"ns/b", true}, {"ns/a", false}));
  EXPECT_FALSE(outranks({"ns/a", false}, {"ns/b", true}));
  EXPECT_TRUE(outranks({"ns/a", true}, {"ns/b", true}));
  EXPECT_FALSE(outranks({"ns/b", true}, {"ns/a", true}));
  EXPECT_TRUE(outranks({"ns/a", false}, {"ns/b", false}));
  // Strict: a claim never outranks itself.
  EXPECT_FALSE(outranks({"ns/a", true}, {"ns/a", true}));
}

ir::LocalPod local(std::string ns, std::string name, std::vector<IpAddr> ips, bool ingress,
                   bool egress) {
  ir::LocalPod p;
  p.ns = std::move(ns);
  p.name = std::move(name);
  p.ips = std::move(ips);
  if (ingress) p.ingress.emplace();
  if (egress) p.egress.emplace();
  return p;
}

TEST(IpOwner, OnTheIrThePodWithTheChainAndTheSmallestKeyOwnsTheAddress) {
  ir::RuleSet rs;
  // x/a has only an egress chain; x/b and x/c both list 10.0.0.5 with ingress.
  for (ir::LocalPod p : {local("x", "c", {ip("10.0.0.5")}, true, true),
                         local("x", "a", {ip("10.0.0.5")}, false, true),
                         local("x", "b", {ip("10.0.0.9"), ip("10.0.0.5")}, true, false)}) {
    rs.pods.emplace(p.key(), p);
  }
  ASSERT_NE(ip_owner(rs, ip("10.0.0.5"), true), nullptr);
  EXPECT_EQ(ip_owner(rs, ip("10.0.0.5"), true)->key(), "x/b");
  EXPECT_EQ(ip_owner(rs, ip("10.0.0.5"), false)->key(), "x/a");
  EXPECT_EQ(ip_owner(rs, ip("10.0.0.9"), true)->key(), "x/b");
  // Nobody with an egress chain holds 10.0.0.9; nobody at all holds .7.
  EXPECT_EQ(ip_owner(rs, ip("10.0.0.9"), false), nullptr);
  EXPECT_EQ(ip_owner(rs, ip("10.0.0.7"), true), nullptr);
}

TEST(IpOwner, TheCompilerGivesAContestedAddressToItsOwnerOnly) {
  k8s::Objects o;
  o.pods.push_back(testsupport::pod("ns", "a", "n1", {"10.0.0.5"}, {}, {}, k8s::PodPhase::Pending));
  o.pods.push_back(testsupport::pod("ns", "b", "n1", {"10.0.0.5"}));
  o.pods.push_back(testsupport::pod("ns", "c", "n1", {"10.0.0.5"}));
  o.policies.push_back(testsupport::ingress_policy("ns", "deny", testsupport::sel(), {}));
  ir::RuleSet rs = compile(o, "n1");
  // Running ns/b and ns/c outrank pending ns/a; ns/b has the smaller key.
  EXPECT_EQ(rs.pods.at("ns/b").ips, (std::vector<IpAddr>{ip("10.0.0.5")}));
  EXPECT_TRUE(rs.pods.at("ns/a").ips.empty());
  EXPECT_TRUE(rs.pods.at("ns/c").ips.empty());
  ASSERT_NE(ip_owner(rs, ip("10.0.0.5"), true), nullptr);
  EXPECT_EQ(ip_owner(rs, ip("10.0.0.5"), true)->key(), "ns/b");
}

}  // namespace
}  // namespace netpol::compiler
