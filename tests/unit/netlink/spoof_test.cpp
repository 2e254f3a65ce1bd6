// Anti-spoofing against the kernel: the guard (nft/spoof.h) of the inet and
// the bridge table goes through the netlink encoder, is listed by nft as the
// rules docs/spoofing.md shows, reads back as the same objects (so drift
// checks stay clean) and changes by element ops only; and NlLinks sees a
// veth's host route and a bridge port's neighbour/FDB entry, and reports the
// event when the route moves. Label netns; skipped without root.
#include "nft/spoof.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "nft/kernel_table.h"
#include "nft/links_nl.h"
#include "nft/render.h"
#include "nft/transaction.h"
#include "tests/unit/netlink/support.h"
#include "tests/unit/nft/fixtures.h"

namespace netpol::nft {
namespace {

using nltest::Kernelspace;
using testsupport::Command;

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

PortBindings some_bindings() {
  return {{"vethpod1", ip("10.1.0.2")}, {"vethpod1", ip("fd00::2")}, {"vethpod2", ip("10.1.0.3")}};
}

std::string list(Kernelspace& k, const std::string& table) {
  Command c = k.ns->run({"nft", "list", "table", "bridge", table});
  return c.out + c.err;
}

TEST(SpoofKernel, InetGuardRoundTripsAndNftListsIt) {
  NLTEST_KERNELSPACE(k);
  Ruleset want = render(fx::rich_ir()).ruleset;
  add_guard(want, some_bindings(), AuditOptions{});
  auto tx = Transaction::replace(want);
  ASSERT_TRUE(tx.ok()) << tx.message();
  ASSERT_TRUE(k.backend->commit(tx.value()).ok());
  auto back = k.backend->read(TableFamily::Inet, kTableName);
  ASSERT_TRUE(back.ok()) << back.message();
  ASSERT_TRUE(back.value().has_value());
  EXPECT_TRUE(*back.value() == want);
  Command c = k.ns->run({"nft", "list", "chain", "inet", "netpol", kGuardChain});
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("type filter hook prerouting priority raw"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("iifname != @spoof-interfaces accept"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ip saddr . iifname != @spoof-bound-v4"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("ip6 saddr . iifname != @spoof-bound-v6"), std::string::npos) << c.out;
  c = k.ns->run({"nft", "list", "set", "inet", "netpol", "spoof-bound-v4"});
  EXPECT_NE(c.out.find("10.1.0.2 . \"vethpod1\""), std::string::npos) << c.out;
}

TEST(SpoofKernel, BridgeGuardRoundTripsWithEthertypeDependencies) {
  NLTEST_KERNELSPACE(k);
  BridgeGuard guard(*k.backend);
  ASSERT_TRUE(guard.sync(some_bindings()).ok());
  auto back = k.backend->read(TableFamily::Bridge, kTableName);
  ASSERT_TRUE(back.ok()) << back.message();
  ASSERT_TRUE(back.value().has_value());
  EXPECT_TRUE(*back.value() == render_bridge_guard(some_bindings(), AuditOptions{}));
  const std::string text = list(k, kTableName);
  EXPECT_NE(text.find("table bridge netpol"), std::string::npos) << text;
  EXPECT_NE(text.find("ip saddr . iifname != @spoof-bound-v4"), std::string::npos) << text;
  // The inet table is not created by the bridge guard.
  auto inet = k.backend->read(TableFamily::Inet, kTableName);
  ASSERT_TRUE(inet.ok());
  EXPECT_FALSE(inet.value().has_value());

  // A binding goes, another comes: the kernel follows, the rules stay.
  PortBindings next = some_bindings();
  next.erase(next.begin());
  next.insert({"vethpod3", ip("10.1.0.9")});
  ASSERT_TRUE(guard.sync(next).ok());
  back = k.backend->read(TableFamily::Bridge, kTableName);
  ASSERT_TRUE(back.ok() && back.value().has_value());
  EXPECT_TRUE(*back.value() == render_bridge_guard(next, AuditOptions{}));
  ASSERT_TRUE(guard.remove().ok());
  back = k.backend->read(TableFamily::Bridge, kTableName);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back.value().has_value());
}

TEST(SpoofKernel, GuardChangesAreElementOpsInTheSameTransaction) {
  NLTEST_KERNELSPACE(k);
  KernelTable table(*k.backend);
  table.set_guard(some_bindings());
  ASSERT_TRUE(table.full(fx::rich_ir()).ok());
  PortBindings next = some_bindings();
  next.insert({"vethpod4", ip("10.1.0.4")});
  table.set_guard(next);
  ASSERT_TRUE(table.update(fx::rich_ir(), ir::Delta{}).ok());
  // One element into spoof-interfaces, one into spoof-bound-v4.
  EXPECT_EQ(table.stats().last_ops, 2u);
  EXPECT_EQ(table.stats().incremental, 1u);
  Ruleset want = render(fx::rich_ir()).ruleset;
  add_guard(want, next, AuditOptions{});
  auto back = k.backend->read(TableFamily::Inet, kTableName);
  ASSERT_TRUE(back.ok() && back.value().has_value());
  EXPECT_TRUE(*back.value() == want);
  // Switched off: the next reconcile removes the guard.
  table.set_guard(std::nullopt);
  ASSERT_TRUE(table.full(fx::rich_ir()).ok());
  back = k.backend->read(TableFamily::Inet, kTableName);
  ASSERT_TRUE(back.ok() && back.value().has_value());
  EXPECT_TRUE(*back.value() == render(fx::rich_ir()).ruleset);
}

bool has(const std::vector<LinkBinding>& v, const LinkBinding& b) {
  return std::find(v.begin(), v.end(), b) != v.end();
}

TEST(LinksKernel, RoutesAndBridgePortsBecomeBindingsAndEventsFollowThem) {
  NLTEST_KERNELSPACE(k);
  auto sh = [&](const std::string& cmd) {
    Command c = k.ns->run({"sh", "-c", cmd});
    ASSERT_EQ(c.status, 0) << cmd << ": " << c.err;
  };
  ASSERT_TRUE(k.ns->enter());
  auto opened = NlLinks::open();
  ASSERT_TRUE(k.ns->leave());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  NlLinks& links = *opened.value();

  sh("ip link add vh1 type veth peer name vp1 && ip link add vh2 type veth peer name vp2 && "
     "ip link set vh1 up && ip link set vp1 up && ip link set vh2 up && ip link set vp2 up && "
     "ip route add 10.7.0.5/32 dev vh1 && ip -6 route add fd07::5/128 dev vh1 && "
     "ip route add 10.7.1.0/24 dev vh2");
  sh("ip link add br0 type bridge && ip link add vh3 type veth peer name vp3 && "
     "ip link set vh3 master br0 && ip link set br0 up && ip link set vh3 up && "
     "ip link set vp3 up && ip addr add 10.8.0.1/24 dev br0 && "
     "ip neigh add 10.8.0.7 lladdr 02:00:00:00:00:07 dev br0 && "
     "bridge fdb add 02:00:00:00:00:07 dev vh3 master dynamic");
  auto st = links.read();
  ASSERT_TRUE(st.ok()) << st.status().message();
  std::vector<LinkBinding> got = derive_bindings(st.value());
  EXPECT_TRUE(has(got, {"vh1", ip("10.7.0.5"), false}));
  EXPECT_TRUE(has(got, {"vh1", ip("fd07::5"), false}));
  EXPECT_TRUE(has(got, {"vh3", ip("10.8.0.7"), true}));
  // A /24 is not a pod route.
  for (const LinkBinding& b : got) EXPECT_NE(b.interface, "vh2");
  EXPECT_TRUE(bridge_ports(st.value()).count("vh3"));

  // Drain what the setup announced, then move the route: an event, and the
  // binding follows.
  for (auto w = links.wait(std::chrono::milliseconds(50)); w.ok() && w.value();
       w = links.wait(std::chrono::milliseconds(50))) {
  }
  sh("ip route replace 10.7.0.5/32 dev vh2");
  auto ev = links.wait(std::chrono::milliseconds(2000));
  ASSERT_TRUE(ev.ok()) << ev.status().message();
  EXPECT_TRUE(ev.value());
  st = links.read();
  ASSERT_TRUE(st.ok());
  got = derive_bindings(st.value());
  EXPECT_TRUE(has(got, {"vh2", ip("10.7.0.5"), false}));
  EXPECT_FALSE(has(got, {"vh1", ip("10.7.0.5"), false}));
}

}  // namespace
}  // namespace netpol::nft
