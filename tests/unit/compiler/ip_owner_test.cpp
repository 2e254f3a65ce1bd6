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

TEST(IpOwner, ATerminatingClaimRanksLastAndPendingBeforeUnknown) {
  const IpClaim old_pod{"ns/a", true, false, true};  // Running, deletionTimestamp set
  const IpClaim new_pod{"ns/z", true};
  EXPECT_TRUE(outranks(new_pod, old_pod));
  EXPECT_FALSE(outranks(old_pod, new_pod));
  // Even a Pending or Unknown pod (say, bound by netpol-cni) keeps an address
  // a terminating pod still lists.
  EXPECT_TRUE(outranks({"ns/z", false, true}, old_pod));
  EXPECT_TRUE(outranks({"ns/z"}, old_pod));
  EXPECT_TRUE(outranks({"ns/z", false, true}, {"ns/a"}));
  // But never one a live Running pod holds.
  EXPECT_TRUE(outranks({"ns/z", true}, {"ns/a", false, true}));
}

// IP reuse by UID (issue 10 item 4) through the incremental compiler: the old
// pod is terminating, a new Running pod gets its address. From the new pod's
// event on the address is the new pod's, whether the old pod's DELETED comes
// before or after; a finished pod holds no address.
struct Reuse : ::testing::Test {
  Compiler c{"n1"};
  // The old pod has the smaller key: key order alone would keep it the owner.
  k8s::Pod old_pod = testsupport::pod("ns", "a", "n1", {"10.0.0.5"}, {{"app", "old"}});
  k8s::Pod new_pod = testsupport::pod("ns", "b", "n1", {"10.0.0.5"}, {{"app", "new"}});

  void SetUp() override {
    c.upsert_namespace(testsupport::ns("ns"));
    c.upsert_policy(testsupport::ingress_policy("ns", "deny", testsupport::sel(), {}));
    c.upsert_pod(old_pod);
    ASSERT_EQ(owner(), "ns/a");
  }
  std::string owner() {
    const ir::LocalPod* p = ip_owner(c.rules(), ip("10.0.0.5"), true);
    return p ? p->key() : "";
  }
  // The incremental result equals a compile from scratch of the same objects.
  void same_as_scratch(std::vector<k8s::Pod> pods) {
    k8s::Objects o;
    o.namespaces.push_back(testsupport::ns("ns"));
    o.policies.push_back(testsupport::ingress_policy("ns", "deny", testsupport::sel(), {}));
    o.pods = std::move(pods);
    EXPECT_EQ(c.rules(), compile(o, "n1"));
  }
};

TEST_F(Reuse, OldPodDeletedBeforeTheNewOneIsAdded) {
  old_pod.terminating = true;
  c.upsert_pod(old_pod);
  EXPECT_EQ(owner(), "ns/a");  // alone, it still holds it
  c.remove_pod("ns", "a");
  EXPECT_EQ(owner(), "");
  c.upsert_pod(new_pod);
  EXPECT_EQ(owner(), "ns/b");
  same_as_scratch({new_pod});
}

TEST_F(Reuse, OldPodDeletedAfterTheNewOneIsAdded) {
  old_pod.terminating = true;
  c.upsert_pod(old_pod);  // the old pod's deletionTimestamp
  c.upsert_pod(new_pod);  // the new pod, Running, with the same address
  EXPECT_EQ(owner(), "ns/b");
  EXPECT_TRUE(c.rules().pods.at("ns/a").ips.empty());
  EXPECT_EQ(c.rules().pods.at("ns/b").ips, (std::vector<IpAddr>{ip("10.0.0.5")}));
  same_as_scratch({old_pod, new_pod});
  c.remove_pod("ns", "a");  // the old pod's DELETED, later
  EXPECT_EQ(owner(), "ns/b");
  same_as_scratch({new_pod});
}

TEST_F(Reuse, TheNewPodGetsTheAddressOnTheEventThatMarksTheOldOneTerminating) {
  c.upsert_pod(new_pod);
  EXPECT_EQ(owner(), "ns/a");  // both live and Running: the smaller key
  old_pod.terminating = true;
  c.upsert_pod(old_pod);
  EXPECT_EQ(owner(), "ns/b");
  same_as_scratch({old_pod, new_pod});
}

TEST_F(Reuse, FinishedPodsHoldNoAddress) {
  old_pod.phase = k8s::PodPhase::Succeeded;
  c.upsert_pod(old_pod);
  EXPECT_EQ(owner(), "");
  c.upsert_pod(new_pod);
  EXPECT_EQ(owner(), "ns/b");
  old_pod.phase = k8s::PodPhase::Failed;
  c.upsert_pod(old_pod);
  EXPECT_EQ(owner(), "ns/b");
  same_as_scratch({old_pod, new_pod});
}

}  // namespace
}  // namespace netpol::compiler
