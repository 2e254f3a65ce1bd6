// Transaction validation: what the kernel would refuse is refused while the
// transaction is built, as an error value: the op is not recorded, and the
// first refusal sticks (later appends are ignored).
#include "nft/transaction.h"

#include <gtest/gtest.h>

#include <string>

#include "fixtures.h"
#include "nft/render.h"

namespace netpol::nft {
namespace {

using fx::ip;

Set v4_set(std::string name, bool interval = false) {
  return Set{std::move(name), {KeyType::Ipv4Addr}, interval, std::nullopt, "", {}};
}
Set v4_map(std::string name) {
  return Set{std::move(name), {KeyType::Ipv4Addr}, false, DataType::Verdict, "", {}};
}
Element addr(const char* a) {
  return Element{{ip(a)}, {}, std::nullopt};
}
Element span(const char* a, const char* b) {
  return Element{{ip(a)}, {ip(b)}, std::nullopt};
}
Element to_chain(const char* a, std::string chain) {
  return Element{{ip(a)}, {}, Verdict::jump(std::move(chain))};
}
Rule lookup_rule(std::string chain, std::string set) {
  return Rule{std::move(chain), {SetMatch{{Field::IpSaddr}, std::move(set)}, Verdict::ret()}, ""};
}

// Appends to `tx` and returns its status (its first refusal, if any).
Status append(Transaction& tx, Verb verb, Object object) {
  tx.append(verb, std::move(object));
  return tx.status();
}

// What appending this one op to `tx` says, tried on a copy: a refusal fails a
// transaction for good, and the tests go on using `tx`.
Status try_append(Transaction tx, Verb verb, Object object) {
  tx.append(verb, std::move(object));
  return tx.status();
}

// A transaction on a fresh table with one regular chain "c".
Transaction fresh() {
  Transaction tx(TableFamily::Inet, "netpol");
  EXPECT_TRUE(append(tx, Verb::Add, Table{TableFamily::Inet, "netpol", "t"}).ok());
  EXPECT_TRUE(append(tx, Verb::Add, Chain{"c", "", std::nullopt}).ok());
  return tx;
}

void expect_error(const Status& s, const std::string& fragment) {
  ASSERT_FALSE(s.ok()) << "expected an error containing: " << fragment;
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(Transaction, RejectedOpIsNotRecordedAndStateIsUnchanged) {
  Transaction tx = fresh();
  size_t ops = tx.ops().size();
  auto before = tx.state();
  tx.append(Verb::Add, lookup_rule("c", "nope"));
  expect_error(tx.status(), "add rule c: set @nope does not exist");
  EXPECT_EQ(tx.ops().size(), ops);
  EXPECT_EQ(tx.state(), before);
}

TEST(Transaction, FirstRefusalSticksAndLaterAppendsAreIgnored) {
  Transaction tx = fresh();
  tx.append(Verb::Add, lookup_rule("c", "nope"));
  tx.append(Verb::Add, v4_set("s"));  // valid on its own
  tx.append(Verb::Add, Rule{"missing", {Verdict::drop()}, ""});
  EXPECT_FALSE(tx.ok());
  EXPECT_EQ(tx.status().message(), "add rule c: set @nope does not exist");
  EXPECT_EQ(tx.ops().size(), 2u);
  EXPECT_FALSE(tx.state()->sets.contains("s"));
}

TEST(Transaction, ObjectsNeedTheirTable) {
  Transaction tx(TableFamily::Inet, "netpol");
  expect_error(try_append(tx, Verb::Add, Chain{"c", "", std::nullopt}),
               "table netpol does not exist");
  expect_error(try_append(tx, Verb::Delete, Table{TableFamily::Inet, "netpol", ""}),
               "does not exist");
  expect_error(try_append(tx, Verb::Add, Table{TableFamily::Inet, "other", ""}), "on table netpol");
}

TEST(Transaction, RuleMayUseASetDeclaredEarlierInTheSameTransaction) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, v4_set("s")).ok());
  EXPECT_TRUE(append(tx, Verb::Add, lookup_rule("c", "s")).ok());
  EXPECT_EQ(tx.state()->rules_of("c").size(), 1u);
}

TEST(Transaction, RuleNeedsItsChain) {
  Transaction tx = fresh();
  expect_error(try_append(tx, Verb::Add, Rule{"missing", {Verdict::drop()}, ""}),
               "chain does not exist");
}

TEST(Transaction, RuleKeyMustMatchTheSetType) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, v4_set("s")).ok());
  Rule r{"c", {SetMatch{{Field::Ip6Saddr}, "s"}, Verdict::ret()}, ""};
  expect_error(try_append(tx, Verb::Add, r), "key does not match set @s");
  ASSERT_TRUE(append(tx, Verb::Add, v4_map("m")).ok());
  expect_error(try_append(tx, Verb::Add, lookup_rule("c", "m")), "is a map");
  Rule vm{"c", {VmapLookup{Field::IpDaddr, "s"}}, ""};
  expect_error(try_append(tx, Verb::Add, vm), "not a verdict map");
}

TEST(Transaction, VerdictEndsARule) {
  Transaction tx = fresh();
  Rule r{"c", {Verdict::accept(), L4ProtoMatch{6}}, ""};
  expect_error(try_append(tx, Verb::Add, r), "verdict must be the last");
  expect_error(try_append(tx, Verb::Add, Rule{"c", {}, ""}), "no expressions");
}

TEST(Transaction, JumpsNeedAnExistingRegularChain) {
  Transaction tx = fresh();
  expect_error(try_append(tx, Verb::Add, Rule{"c", {Verdict::jump("d")}, ""}),
               "chain d does not exist");
  ASSERT_TRUE(append(tx, Verb::Add, Chain{"base", "", BaseHook{}}).ok());
  expect_error(try_append(tx, Verb::Add, Rule{"c", {Verdict::jump("base")}, ""}), "base chain");
  expect_error(try_append(tx, Verb::Add, Rule{"c", {Verdict::go_to("c")}, ""}), "jumps to itself");
}

TEST(Transaction, PortMatchMustBeSortedAndDisjoint) {
  Transaction tx = fresh();
  Rule overlap{"c", {DportMatch{{{80, 90}, {85, 100}}}, Verdict::ret()}, ""};
  expect_error(try_append(tx, Verb::Add, overlap), "overlapping");
  Rule backwards{"c", {DportMatch{{{90, 80}}}, Verdict::ret()}, ""};
  expect_error(try_append(tx, Verb::Add, backwards), "end before start");
  Rule ok{"c", {L4ProtoMatch{6}, DportMatch{{{80, 80}, {443, 443}}}, Verdict::ret()}, ""};
  EXPECT_TRUE(append(tx, Verb::Add, ok).ok());
}

TEST(Transaction, ElementsMustFitTheirSet) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, v4_set("s")).ok());
  expect_error(try_append(tx, Verb::Add, Elements{"s", {addr("fd00::1")}}), "is not ipv4_addr");
  expect_error(try_append(tx, Verb::Add, Elements{"s", {span("10.0.0.1", "10.0.0.9")}}),
               "without flags interval");
  expect_error(try_append(tx, Verb::Add, Elements{"s", {to_chain("10.0.0.1", "c")}}),
               "with a verdict");
  expect_error(try_append(tx, Verb::Add, Elements{"s", {}}), "no elements");
  expect_error(try_append(tx, Verb::Add, Elements{"nope", {addr("10.0.0.1")}}),
               "set does not exist");
  EXPECT_TRUE(append(tx, Verb::Add, Elements{"s", {addr("10.0.0.1")}}).ok());
}

TEST(Transaction, ConcatenatedKeysCheckEveryPart) {
  Transaction tx = fresh();
  Set np{"np", {KeyType::Ipv4Addr, KeyType::InetProto, KeyType::InetService}, false, {}, "", {}};
  ASSERT_TRUE(append(tx, Verb::Add, np).ok());
  Element good{{ip("10.0.0.1"), Proto{6}, Port{80}}, {}, std::nullopt};
  Element swapped{{ip("10.0.0.1"), Port{80}, Proto{6}}, {}, std::nullopt};
  Element short_key{{ip("10.0.0.1")}, {}, std::nullopt};
  EXPECT_TRUE(append(tx, Verb::Add, Elements{"np", {good}}).ok());
  expect_error(try_append(tx, Verb::Add, Elements{"np", {swapped}}), "part 1 is not inet_proto");
  expect_error(try_append(tx, Verb::Add, Elements{"np", {short_key}}), "wrong number of parts");
  Rule r{"c",
         {SetMatch{{Field::IpDaddr, Field::MetaL4Proto, Field::ThDport}, "np"}, Verdict::ret()},
         ""};
  EXPECT_TRUE(append(tx, Verb::Add, r).ok());
}

TEST(Transaction, InterfaceNamesMustFitIfnamsiz) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, Set{"ifs", {KeyType::IfName}, false, {}, "", {}}).ok());
  auto name = [](std::string n) { return Element{{IfName{n}}, {}, std::nullopt}; };
  EXPECT_TRUE(append(tx, Verb::Add, Elements{"ifs", {name("veth0123456789a")}}).ok());  // 15
  expect_error(try_append(tx, Verb::Add, Elements{"ifs", {name("veth0123456789ab")}}),
               "part 0 is not ifname");  // 16: the kernel's IFNAMSIZ has no room
  expect_error(try_append(tx, Verb::Add, Elements{"ifs", {name(std::string(40, 'x'))}}),
               "part 0 is not ifname");
  expect_error(try_append(tx, Verb::Add, Elements{"ifs", {name("")}}), "part 0 is not ifname");
}

// Element keys, names and verdicts are held inline or boxed (objects.h), and
// order like the strings and optionals they replaced: the listing order of
// `policyc` output and the planner's diffs depend on it.
TEST(Element, OrdersLikeItsValues) {
  EXPECT_LT(IfName{"eth"}, IfName{"eth0"});
  EXPECT_LT(IfName{"eth0"}, IfName{"eth1"});
  EXPECT_LT(IfName{"a1234567890123z"}, IfName{"b"});
  EXPECT_EQ(IfName{"veth1"}.name(), "veth1");
  Element one{{ip("10.0.0.1")}, {}, std::nullopt};
  Element two{{ip("10.0.0.1"), Proto{6}}, {}, std::nullopt};
  Element jump = to_chain("10.0.0.1", "pod-a");
  EXPECT_LT(one, two);   // a key that is a prefix orders first
  EXPECT_LT(one, jump);  // no verdict before a verdict
  EXPECT_LT(to_chain("10.0.0.1", "pod-a"), to_chain("10.0.0.1", "pod-b"));
  EXPECT_EQ(jump, to_chain("10.0.0.1", "pod-a"));
  EXPECT_NE(jump, one);
  Element copy = jump;  // a deep copy: changing it leaves the original
  copy.verdict->chain = "pod-c";
  EXPECT_EQ(jump.verdict->chain, "pod-a");
  copy.verdict = std::nullopt;
  EXPECT_EQ(copy, one);
}

TEST(Transaction, IntervalElementsMayNotOverlap) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, v4_set("s", true)).ok());
  ASSERT_TRUE(append(tx, Verb::Add, Elements{"s", {span("10.0.0.0", "10.0.0.255")}}).ok());
  expect_error(try_append(tx, Verb::Add, Elements{"s", {span("10.0.0.128", "10.0.1.0")}}),
               "overlaps an existing one");
  expect_error(try_append(tx, Verb::Add, Elements{"s", {addr("10.0.0.7")}}), "overlaps");
  expect_error(try_append(tx, Verb::Add, Elements{"s", {span("9.0.0.0", "10.0.0.0")}}), "overlaps");
  expect_error(
      try_append(tx, Verb::Add,
                 Elements{"s", {span("11.0.0.0", "11.0.0.9"), span("11.0.0.5", "11.0.0.20")}}),
      "overlap each other");
  expect_error(try_append(tx, Verb::Add, Elements{"s", {span("10.0.0.9", "10.0.0.1")}}),
               "before its start");
  // Adjacent is fine, and re-adding the same element is fine with add, not with create.
  EXPECT_TRUE(append(tx, Verb::Add, Elements{"s", {span("10.0.1.0", "10.0.1.255")}}).ok());
  EXPECT_TRUE(append(tx, Verb::Add, Elements{"s", {span("10.0.0.0", "10.0.0.255")}}).ok());
  expect_error(try_append(tx, Verb::Create, Elements{"s", {span("10.0.0.0", "10.0.0.255")}}),
               "element exists");
  EXPECT_EQ(tx.state()->sets.at("s").elements.size(), 2u);
}

TEST(Transaction, MapKeysAreUnique) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, Chain{"d", "", std::nullopt}).ok());
  ASSERT_TRUE(append(tx, Verb::Add, v4_map("m")).ok());
  expect_error(try_append(tx, Verb::Add, Elements{"m", {addr("10.0.0.1")}}), "without a verdict");
  expect_error(try_append(tx, Verb::Add, Elements{"m", {to_chain("10.0.0.1", "x")}}),
               "chain x does not exist");
  expect_error(try_append(tx, Verb::Add,
                          Elements{"m", {to_chain("10.0.0.1", "c"), to_chain("10.0.0.1", "d")}}),
               "duplicate key");
  ASSERT_TRUE(append(tx, Verb::Add, Elements{"m", {to_chain("10.0.0.1", "c")}}).ok());
  expect_error(try_append(tx, Verb::Add, Elements{"m", {to_chain("10.0.0.1", "d")}}),
               "different value");
  EXPECT_TRUE(append(tx, Verb::Add, Elements{"m", {to_chain("10.0.0.1", "c")}}).ok());
}

TEST(Transaction, DeleteElementsThatExist) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, v4_map("m")).ok());
  ASSERT_TRUE(append(tx, Verb::Add, Elements{"m", {to_chain("10.0.0.1", "c")}}).ok());
  expect_error(try_append(tx, Verb::Delete, Elements{"m", {to_chain("10.0.0.2", "c")}}),
               "element does not exist");
  EXPECT_TRUE(append(tx, Verb::Delete, Elements{"m", {to_chain("10.0.0.1", "c")}}).ok());
  EXPECT_TRUE(tx.state()->sets.at("m").elements.empty());
  expect_error(try_append(tx, Verb::Flush, Elements{"m", {to_chain("10.0.0.1", "c")}}),
               "flush the set");
}

TEST(Transaction, ReferencedChainCannotBeDeleted) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, Chain{"pod", "", std::nullopt}).ok());
  ASSERT_TRUE(append(tx, Verb::Add, v4_map("m")).ok());
  ASSERT_TRUE(append(tx, Verb::Add, Elements{"m", {to_chain("10.0.0.1", "pod")}}).ok());
  expect_error(try_append(tx, Verb::Delete, Chain{"pod", "", std::nullopt}),
               "target of an element of map m");
  ASSERT_TRUE(append(tx, Verb::Delete, Elements{"m", {to_chain("10.0.0.1", "pod")}}).ok());
  ASSERT_TRUE(append(tx, Verb::Add, Rule{"pod", {Verdict::drop()}, ""}).ok());
  expect_error(try_append(tx, Verb::Delete, Chain{"pod", "", std::nullopt}), "not empty");
  ASSERT_TRUE(append(tx, Verb::Flush, Chain{"pod", "", std::nullopt}).ok());
  EXPECT_TRUE(append(tx, Verb::Delete, Chain{"pod", "", std::nullopt}).ok());
  EXPECT_FALSE(tx.state()->chains.contains("pod"));
}

TEST(Transaction, SetInUseCannotBeDeleted) {
  Transaction tx = fresh();
  ASSERT_TRUE(append(tx, Verb::Add, v4_set("s")).ok());
  ASSERT_TRUE(append(tx, Verb::Add, lookup_rule("c", "s")).ok());
  expect_error(try_append(tx, Verb::Delete, v4_set("s")), "used by a rule in c");
  ASSERT_TRUE(append(tx, Verb::Flush, Table{TableFamily::Inet, "netpol", ""}).ok());
  EXPECT_TRUE(append(tx, Verb::Delete, v4_set("s")).ok());
}

TEST(Transaction, AddExistingObjectMustAgreeCreateMustBeNew) {
  Transaction tx = fresh();
  EXPECT_TRUE(append(tx, Verb::Add, Chain{"c", "", std::nullopt}).ok());
  expect_error(try_append(tx, Verb::Add, Chain{"c", "", BaseHook{}}), "different hook");
  expect_error(try_append(tx, Verb::Create, Chain{"c", "", std::nullopt}), "chain exists");
  ASSERT_TRUE(append(tx, Verb::Add, v4_set("s")).ok());
  expect_error(try_append(tx, Verb::Add, v4_set("s", true)), "different type");
  expect_error(try_append(tx, Verb::Create, v4_set("s")), "set exists");
  expect_error(try_append(tx, Verb::Create, Table{TableFamily::Inet, "netpol", ""}),
               "table exists");
  // add table on an existing table keeps it (and its comment), like the kernel.
  EXPECT_TRUE(append(tx, Verb::Add, Table{TableFamily::Inet, "netpol", "other"}).ok());
  EXPECT_EQ(tx.state()->table.comment, "t");
}

TEST(Transaction, FlushSetEmptiesIt) {
  Transaction tx = fresh();
  Set s = v4_set("s");
  s.elements = {addr("10.0.0.1"), addr("10.0.0.2")};
  ASSERT_TRUE(append(tx, Verb::Add, s).ok());
  EXPECT_EQ(tx.state()->sets.at("s").elements.size(), 2u);
  ASSERT_TRUE(append(tx, Verb::Flush, v4_set("s")).ok());
  EXPECT_TRUE(tx.state()->sets.at("s").elements.empty());
}

TEST(Transaction, RulesAreOnlyAdded) {
  Transaction tx = fresh();
  Rule r{"c", {Verdict::drop()}, ""};
  ASSERT_TRUE(append(tx, Verb::Add, r).ok());
  expect_error(try_append(tx, Verb::Delete, r), "flush the chain");
  expect_error(try_append(tx, Verb::Create, r), "flush the chain");
}

TEST(Transaction, NamesAndCommentsMustBeWritable) {
  Transaction tx = fresh();
  expect_error(try_append(tx, Verb::Add, Chain{"bad name", "", std::nullopt}),
               "invalid chain name");
  expect_error(try_append(tx, Verb::Add, Chain{"9lives", "", std::nullopt}), "invalid chain name");
  expect_error(try_append(tx, Verb::Add, Chain{std::string(256, 'a'), "", std::nullopt}),
               "invalid chain name");
  EXPECT_TRUE(append(tx, Verb::Add, Chain{std::string(255, 'a'), "", std::nullopt}).ok());
  expect_error(try_append(tx, Verb::Add, Chain{"x", "say \"hi\"", std::nullopt}), "comment");
  expect_error(try_append(tx, Verb::Add, Rule{"c", {Verdict::drop()}, std::string(129, 'c')}),
               "comment");
  EXPECT_TRUE(append(tx, Verb::Add, Rule{"c", {Verdict::drop()}, std::string(128, 'c')}).ok());
}

TEST(Transaction, ChecksAgainstTheCurrentTable) {
  Ruleset current;
  current.table = Table{TableFamily::Inet, "netpol", "t"};
  current.chains["c"] = Chain{"c", "", std::nullopt};
  current.sets["s"] = v4_set("s");
  current.sets["s"].elements = {addr("10.0.0.1")};
  Transaction tx(TableFamily::Inet, "netpol", current);
  EXPECT_TRUE(append(tx, Verb::Add, lookup_rule("c", "s")).ok());
  EXPECT_TRUE(append(tx, Verb::Delete, Elements{"s", {addr("10.0.0.1")}}).ok());
  expect_error(try_append(tx, Verb::Delete, Elements{"s", {addr("10.0.0.1")}}), "does not exist");
}

TEST(Transaction, ReplaceWorksWhateverTheTableHeld) {
  Ruleset desired = render(fx::rich_ir()).ruleset;
  auto tx = Transaction::replace(desired);
  ASSERT_TRUE(tx.ok()) << tx.message();
  const auto& ops = tx.value().ops();
  ASSERT_GE(ops.size(), 3u);
  EXPECT_EQ(ops[0].verb, Verb::Add);
  EXPECT_TRUE(std::holds_alternative<Table>(ops[0].object));
  EXPECT_EQ(ops[1].verb, Verb::Delete);
  EXPECT_TRUE(std::holds_alternative<Table>(ops[1].object));
  EXPECT_EQ(ops[2], (Op{Verb::Add, desired.table}));
  EXPECT_EQ(tx.value().replace_ops(), ops.size());
  EXPECT_EQ(tx.value().state(), desired);
  // Applying the same ops over an existing, different table gives the same result.
  std::optional<Ruleset> other = render(ir::RuleSet{}).ruleset;
  for (const Op& op : ops) ASSERT_TRUE(simulate(desired.table, other, op).ok());
  EXPECT_EQ(other, desired);
}

TEST(Transaction, ReplaceRefusesANonCanonicalRuleset) {
  Ruleset desired = render(ir::RuleSet{}).ruleset;
  desired.rules["filter-forward"].push_back(Rule{"elsewhere", {Verdict::drop()}, ""});
  EXPECT_FALSE(Transaction::replace(desired).ok());
  Ruleset empty_list = render(ir::RuleSet{}).ruleset;
  empty_list.chains["x"] = Chain{"x", "", std::nullopt};
  empty_list.rules["x"];
  EXPECT_FALSE(Transaction::replace(empty_list).ok());
}

}  // namespace
}  // namespace netpol::nft
