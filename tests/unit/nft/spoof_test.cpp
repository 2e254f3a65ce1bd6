// The anti-spoofing guard as objects (nft/spoof.h) and the links' bindings
// (nft/links.h): what the chain does, that bindings are set elements only,
// that the bridge table holds the guard alone, and how routes, neighbours and
// the FDB place an address behind an interface.
#include "nft/spoof.h"

#include <gtest/gtest.h>

#include "nft/links.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"
#include "tests/unit/nft/fixtures.h"

namespace netpol::nft {
namespace {

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

Element bound(const char* a, const char* ifc) {
  return Element{{ip(a), IfName{ifc}}, {}, std::nullopt};
}

TEST(SpoofGuard, DropsUnboundSourcesFromBoundInterfacesOnly) {
  Ruleset rs = render(fx::rich_ir()).ruleset;
  add_guard(rs, {{"veth1", ip("10.0.0.1")}, {"veth1", ip("fd00::1")}, {"veth2", ip("10.0.0.2")}},
            AuditOptions{});
  auto tx = Transaction::replace(rs);
  ASSERT_TRUE(tx.ok()) << tx.message();
  const Chain& c = rs.chains.at(kGuardChain);
  ASSERT_TRUE(c.base);
  EXPECT_EQ(c.base->hook, Hook::Prerouting);
  EXPECT_EQ(c.base->priority, kGuardPriority);
  EXPECT_EQ(c.base->policy, ChainPolicy::Accept);
  const std::string text = to_script(tx.value());
  EXPECT_NE(text.find("iifname != @spoof-interfaces accept"), std::string::npos) << text;
  EXPECT_NE(text.find("ip saddr . iifname != @spoof-bound-v4 limit rate 10/second burst 20 "
                      "packets log prefix \"netpol spoofed\" group 100 drop"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ip6 saddr . iifname != @spoof-bound-v6 counter drop"), std::string::npos);
  EXPECT_EQ(rs.sets.at(kGuardInterfaces).elements.size(), 2u);
  EXPECT_EQ(rs.sets.at("spoof-bound-v4").elements,
            (std::set<Element>{bound("10.0.0.1", "veth1"), bound("10.0.0.2", "veth2")}));
  EXPECT_EQ(rs.sets.at("spoof-bound-v6").elements, (std::set<Element>{bound("fd00::1", "veth1")}));
  // The policy part of the table is what render() alone gives.
  EXPECT_TRUE(rs.rules_of(kForwardChain) == render(fx::rich_ir()).ruleset.rules_of(kForwardChain));
}

TEST(SpoofGuard, ANameTheKernelCannotHoldIsLeftOut) {
  Ruleset rs = render(ir::RuleSet{}).ruleset;
  add_guard(rs, {{"a-name-longer-than-15", ip("10.0.0.1")}}, AuditOptions{});
  EXPECT_TRUE(rs.sets.at(kGuardInterfaces).elements.empty());
  EXPECT_TRUE(Transaction::replace(rs).ok());
}

TEST(SpoofGuard, BindingChangesAreElementOpsOnly) {
  Ruleset rs = render(ir::RuleSet{}).ruleset;
  const PortBindings before = {{"veth1", ip("10.0.0.1")}, {"veth2", ip("10.0.0.2")}};
  add_guard(rs, before, AuditOptions{});
  Transaction tx(TableFamily::Inet, kTableName, rs);
  // veth2 goes, veth3 comes, veth1 keeps its address.
  const PortBindings after = {{"veth1", ip("10.0.0.1")}, {"veth3", ip("fd00::3")}};
  ASSERT_TRUE(append_guard_changes(tx, after).ok()) << tx.status().message();
  for (const Op& op : tx.ops()) {
    EXPECT_TRUE(std::holds_alternative<Elements>(op.object));
  }
  EXPECT_EQ(tx.ops().size(), 4u);  // del interfaces+v4, add interfaces+v6
  Ruleset want = render(ir::RuleSet{}).ruleset;
  add_guard(want, after, AuditOptions{});
  EXPECT_TRUE(*tx.state() == want);
  // A table without a guard cannot take element changes.
  Transaction bare(TableFamily::Inet, kTableName, render(ir::RuleSet{}).ruleset);
  EXPECT_FALSE(append_guard_changes(bare, after).ok());
}

TEST(SpoofGuard, TheBridgeTableHoldsTheGuardAlone) {
  Ruleset rs = render_bridge_guard({{"vethb", ip("10.0.0.9")}}, AuditOptions{});
  EXPECT_EQ(rs.table.family, TableFamily::Bridge);
  EXPECT_EQ(rs.table.name, kTableName);
  EXPECT_EQ(rs.chains.size(), 1u);
  EXPECT_TRUE(rs.chains.count(kGuardChain));
  auto tx = Transaction::replace(rs);
  ASSERT_TRUE(tx.ok()) << tx.message();
  EXPECT_NE(to_script(tx.value()).find("table bridge netpol"), std::string::npos);
}

TEST(Links, RoutesNeighboursAndTheFdbPlaceAddresses) {
  LinkState st;
  st.links[2] = Link{2, "cali1", 0, false};
  st.links[3] = Link{3, "cni0", 0, true};
  st.links[4] = Link{4, "veth4", 3, false};
  st.links[5] = Link{5, "veth5", 3, false};
  st.links[6] = Link{6, "cali6", 0, false};
  const Mac m4{2, 0, 0, 0, 0, 4}, m5{2, 0, 0, 0, 0, 5};
  st.routes = {{ip("10.1.0.1"), 2}, {ip("fd01::1"), 2}, {ip("10.2.0.1"), 3}};
  st.neighbours = {{ip("10.2.0.4"), 3, m4}, {ip("10.2.0.5"), 3, m5}, {ip("10.9.0.9"), 2, m4}};
  st.fdb = {{m4, 4, false}, {m5, 5, true}};
  std::vector<LinkBinding> got = derive_bindings(st);
  EXPECT_EQ(got, (std::vector<LinkBinding>{{"cali1", ip("10.1.0.1"), false},
                                           {"veth4", ip("10.2.0.4"), true},
                                           {"cali1", ip("fd01::1"), false}}))
      << "a route to the bridge itself, the port's own (local) MAC and a neighbour "
         "off any bridge place nothing";
  EXPECT_EQ(bridge_ports(st), (std::set<std::string>{"veth4", "veth5"}));

  // Two interfaces claiming one address: neither gets it.
  st.routes.push_back({ip("10.1.0.1"), 6});
  got = derive_bindings(st);
  for (const LinkBinding& b : got) EXPECT_NE(b.ip, ip("10.1.0.1"));
}

}  // namespace
}  // namespace netpol::nft
