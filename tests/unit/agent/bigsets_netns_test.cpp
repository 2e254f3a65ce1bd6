// Big new sets against the real kernel (label netns; skipped without root):
// the Enforcer drives a NetlinkBackend in a throwaway network namespace, and
// after every flush the table is read back from the kernel. A new local pod
// under a policy whose peer set is new (3,000 members, chunks of 1,000) meets
// no rules of its own and no rule refers to the half-sent set until the
// transaction after the last chunk; an isolated pod relabelled under such a
// policy keeps the chain it had (it still drops what it dropped) until then;
// and the kernel ends equal to a full render of the IR.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "agent/sync.h"
#include "nft/netlink.h"
#include "nft/render.h"
#include "tests/support/builders.h"
#include "tests/support/netns.h"

namespace netpol::agent {
namespace {

using namespace testsupport;

Event upsert(ResourceKind kind, EventObject obj) {
  return Event{Event::Op::Upsert, kind, std::move(obj), {}};
}

struct Kernel {
  std::unique_ptr<Netns> ns;
  std::unique_ptr<nft::NetlinkBackend> backend;
};

constexpr int kPeers = 3000;

class BigSetNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    k_.ns = Netns::create(&why);
    if (!k_.ns) GTEST_SKIP() << "no network namespace: " << why;
    auto b = nft::NetlinkBackend::open();
    k_.ns->leave();
    if (!b.ok()) GTEST_SKIP() << "no netlink: " << b.message();
    k_.backend = std::move(b).value();
    core_ = std::make_unique<Enforcer>(*k_.backend, "node1", nullptr, nullptr);
    core_->set_chunking(2000, 1000);
    core_->feed(upsert(ResourceKind::Namespace, ns("x")));
    for (int i = 0; i < kPeers; ++i) {
      core_->feed(upsert(ResourceKind::Pod, pod("x", "r" + std::to_string(i), "node2",
                                                {"10.2." + std::to_string(i / 250) + "." +
                                                 std::to_string(i % 250 + 1)},
                                                {{"app", "peer"}})));
    }
    // x/old is isolated (no ingress at all) from the start.
    core_->feed(
        upsert(ResourceKind::Pod, pod("x", "old", "node1", {"10.0.1.5"}, {{"app", "shut"}})));
    core_->feed(
        upsert(ResourceKind::NetworkPolicy, ingress_only_from("x", "shut", {{"app", "shut"}})));
    core_->feed(
        upsert(ResourceKind::NetworkPolicy,
               ingress_only_from("x", "big", {{"app", "a"}}, k8s::Labels{{"app", "peer"}})));
    for (auto k : {ResourceKind::Namespace, ResourceKind::Pod, ResourceKind::NetworkPolicy}) {
      core_->feed(Event{Event::Op::Synced, k, {}, {}});
    }
    ASSERT_TRUE(core_->flush().ok());
  }

  nft::Ruleset kernel_table() {
    auto r = k_.backend->read(nft::TableFamily::Inet, nft::kTableName);
    EXPECT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(r.ok() && r.value().has_value());
    return r.ok() && r.value() ? *r.value() : nft::Ruleset{};
  }
  static bool referenced(const nft::Ruleset& t, const std::string& set) {
    for (const auto& [_, rules] : t.rules) {
      for (const auto& r : rules) {
        for (const auto& x : r.exprs) {
          if (const auto* m = std::get_if<nft::SetMatch>(&x); m && m->set == set) return true;
        }
      }
    }
    return false;
  }
  // The chain the ingress dispatch map sends `addr` to, or "".
  static std::string dispatch(const nft::Ruleset& t, const char* addr) {
    for (const auto& el : t.sets.at("ingress-v4").elements) {
      if (el.key[0] == nft::Value(ip(addr)) && el.verdict) return el.verdict->chain;
    }
    return "";
  }
  std::string peer_set() const {
    for (const auto& [name, s] : core_->rules().sets) {
      if (s.elements.size() == kPeers) return nft::family_set_name(name, netpol::Family::V4);
    }
    return "";
  }
  // Flushes until the held change committed; checks `during` after every
  // flush that left it held. Returns the number of flushes.
  template <class F>
  int drive(F during) {
    int flushes = 0;
    do {
      EXPECT_TRUE(core_->flush().ok());
      ++flushes;
      if (core_->busy()) during(kernel_table());
    } while (core_->busy() && flushes < 100);
    return flushes;
  }

  Kernel k_;
  std::unique_ptr<Enforcer> core_;
};

TEST_F(BigSetNetns, ANewPodMeetsNoRulesOfItsOwnUntilItsPeerSetIsComplete) {
  core_->feed(upsert(ResourceKind::Pod, pod("x", "a", "node1", {"10.0.1.1"}, {{"app", "a"}})));
  const std::string set = peer_set();
  ASSERT_FALSE(set.empty());
  size_t last = 0;
  const int flushes = drive([&](const nft::Ruleset& t) {
    ASSERT_TRUE(t.sets.contains(set));
    EXPECT_GT(t.sets.at(set).elements.size(), last) << "the kernel took another chunk";
    last = t.sets.at(set).elements.size();
    EXPECT_LT(last, static_cast<size_t>(kPeers));
    EXPECT_FALSE(referenced(t, set));
    EXPECT_EQ(dispatch(t, "10.0.1.1"), "");
  });
  EXPECT_EQ(flushes, 3) << "3,000 members in chunks of 1,000";
  const nft::Ruleset t = kernel_table();
  EXPECT_TRUE(referenced(t, set));
  EXPECT_NE(dispatch(t, "10.0.1.1"), "");
  EXPECT_EQ(t, nft::render(core_->rules()).ruleset);
}

TEST_F(BigSetNetns, AnIsolatedPodRelabelledKeepsItsDenyingChainUntilTheSetIsComplete) {
  const std::string shut = dispatch(kernel_table(), "10.0.1.5");
  ASSERT_NE(shut, "");
  const std::vector<nft::Rule> deny = kernel_table().rules_of(shut);
  core_->feed(upsert(ResourceKind::Pod, pod("x", "old", "node1", {"10.0.1.5"}, {{"app", "a"}})));
  const std::string set = peer_set();
  ASSERT_FALSE(set.empty());
  drive([&](const nft::Ruleset& t) {
    EXPECT_EQ(dispatch(t, "10.0.1.5"), shut);
    EXPECT_EQ(t.rules_of(shut), deny) << "still the rules that admit nobody";
    EXPECT_FALSE(referenced(t, set));
  });
  const nft::Ruleset t = kernel_table();
  EXPECT_TRUE(referenced(t, set));
  EXPECT_EQ(t, nft::render(core_->rules()).ruleset);
}

}  // namespace
}  // namespace netpol::agent
