// The nft script renderer: full replace as one atomic block, incremental
// transactions one command a line, byte-for-byte reproducible, safely quoted.
#include "nft/script.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "nft/render.h"

namespace netpol::nft {
namespace {

using fx::ip;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

Transaction replace_of(const ir::RuleSet& in) {
  auto tx = Transaction::replace(render(in).ruleset);
  EXPECT_TRUE(tx.ok()) << tx.message();
  return std::move(tx).value();
}

TEST(Script, FullReplaceSwapsTheTableInOneScript) {
  std::string script = to_script(replace_of(fx::rich_ir()));
  std::vector<std::string> l = lines(script);
  ASSERT_GE(l.size(), 4u);
  // Create-if-absent first so the delete cannot fail on a fresh node.
  EXPECT_EQ(l[0], "table inet netpol");
  EXPECT_EQ(l[1], "delete table inet netpol");
  EXPECT_EQ(l[2], "table inet netpol {");
  EXPECT_EQ(l[3], "\tcomment \"managed by netpol; do not edit\"");
  EXPECT_EQ(l.back(), "}");
  EXPECT_EQ(script.back(), '\n');
  // Exactly one block: nothing after the closing brace.
  EXPECT_EQ(std::count(l.begin(), l.end(), "}"), 1);
}

TEST(Script, BlockListsMapsSetsBaseChainThenPodChains) {
  std::string block = to_block(render(fx::rich_ir()).ruleset);
  auto at = [&](const std::string& needle) {
    size_t p = block.find(needle);
    EXPECT_NE(p, std::string::npos) << needle;
    return p;
  };
  size_t map = at("\tmap egress-v4 {\n");
  size_t set = at("\tset cidr-CCCCCCCC-v4 {\n");
  size_t base = at("\tchain filter-forward {\n");
  size_t pod = at("\tchain egress-");
  EXPECT_LT(map, set);
  EXPECT_LT(set, base);
  EXPECT_LT(base, pod);
  EXPECT_LT(at("\tmap egress-v4 {"), at("\tmap ingress-v4 {"));
}

TEST(Script, BlockSyntaxOfSetsAndChains) {
  std::string block = to_block(render(fx::rich_ir()).ruleset);
  EXPECT_NE(block.find("\tset cidr-CCCCCCCC-v4 {\n"
                       "\t\ttype ipv4_addr\n"
                       "\t\tflags interval\n"
                       "\t\tcomment \"ipBlock 10.0.0.0/8 except 10.1.0.0/16\"\n"
                       "\t\telements = { 10.0.0.0/16,\n"
                       "\t\t\t     10.2.0.0-10.255.255.255,\n"
                       "\t\t\t     172.16.0.1,\n"
                       "\t\t\t     192.168.1.1-192.168.1.9 }\n"
                       "\t}\n"),
            std::string::npos)
      << block;
  EXPECT_NE(block.find("\tset nport-DDDDDDDD-v6 {\n"
                       "\t\ttype ipv6_addr . inet_proto . inet_service\n"),
            std::string::npos);
  EXPECT_NE(block.find("\tmap ingress-v6 {\n\t\ttype ipv6_addr : verdict\n"), std::string::npos);
  EXPECT_NE(block.find("\tchain filter-forward {\n"
                       "\t\tcomment \""),
            std::string::npos);
  EXPECT_NE(block.find("\t\ttype filter hook forward priority filter; policy accept;\n"
                       "\t\tct state established,related accept comment \""),
            std::string::npos);
  // Empty sets are declared without an elements line.
  EXPECT_NE(block.find("\tset pods-BBBBBBBB-v4 {\n"
                       "\t\ttype ipv4_addr\n"
                       "\t\tcomment \"ns in {team=a} pods {}\"\n"
                       "\t}\n"),
            std::string::npos);
}

TEST(Script, SameTransactionSameBytes) {
  std::string a = to_script(replace_of(fx::rich_ir()));
  std::string b = to_script(replace_of(fx::rich_ir()));
  EXPECT_EQ(a, b);
  ir::RuleSet changed = fx::rich_ir();
  changed.sets.at("pods-AAAAAAAA").elements.insert(fx::host("10.0.3.3"));
  EXPECT_NE(a, to_script(replace_of(changed)));
}

TEST(Script, OpsAfterAFullReplaceFollowTheBlock) {
  Transaction tx = replace_of(fx::rich_ir());
  tx.append(Verb::Add, Elements{"pods-BBBBBBBB-v6", {{{ip("fd00::7")}, {}, {}}}});
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  std::vector<std::string> l = lines(to_script(tx));
  ASSERT_GE(l.size(), 2u);
  EXPECT_EQ(l[l.size() - 2], "}");
  EXPECT_EQ(l.back(), "add element inet netpol pods-BBBBBBBB-v6 { fd00::7 }");
}

TEST(Script, IncrementalTransactionIsOneCommandPerLine) {
  Ruleset current = render(fx::rich_ir()).ruleset;
  Transaction tx(TableFamily::Inet, "netpol", current);
  std::string pod = pod_chain_name(Direction::Ingress, "prod", "db-0");
  tx.append(Verb::Add, Elements{"pods-AAAAAAAA-v4", {{{ip("10.0.3.3")}, {}, {}}}});
  tx.append(Verb::Delete, Elements{"ingress-v4", {{{ip("10.0.1.9")}, {}, Verdict::jump(pod)}}});
  tx.append(Verb::Flush, Chain{pod, "", std::nullopt});
  tx.append(Verb::Delete, Chain{pod, "", std::nullopt});
  tx.append(Verb::Add, Set{"pods-NEW-v6",
                           {KeyType::Ipv6Addr},
                           false,
                           std::nullopt,
                           "new peers",
                           {{{ip("fd00::9")}, {}, {}}}});
  tx.append(Verb::Add, Chain{"egress-X-a/b", "egress of pod a/b", std::nullopt});
  tx.append(Verb::Add, Rule{"egress-X-a/b",
                            {SetMatch{{Field::Ip6Daddr}, "pods-NEW-v6"}, Verdict::ret()},
                            "a/p egress[0]"});
  tx.append(Verb::Add,
            Elements{"egress-v4", {{{ip("10.0.1.77")}, {}, Verdict::jump("egress-X-a/b")}}});
  tx.append(Verb::Flush, Set{"pods-BBBBBBBB-v4", {KeyType::Ipv4Addr}, false, {}, "", {}});
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  std::vector<std::string> want = {
      "add element inet netpol pods-AAAAAAAA-v4 { 10.0.3.3 }",
      // Deletion names only the key: nft rejects a verdict there.
      "delete element inet netpol ingress-v4 { 10.0.1.9 }",
      "flush chain inet netpol " + pod,
      "delete chain inet netpol " + pod,
      "add set inet netpol pods-NEW-v6 { type ipv6_addr; comment \"new peers\"; elements = { "
      "fd00::9 }; }",
      "add chain inet netpol egress-X-a/b { comment \"egress of pod a/b\"; }",
      "add rule inet netpol egress-X-a/b ip6 daddr @pods-NEW-v6 return comment \"a/p egress[0]\"",
      "add element inet netpol egress-v4 { 10.0.1.77 : jump egress-X-a/b }",
      "flush set inet netpol pods-BBBBBBBB-v4",
  };
  EXPECT_EQ(lines(to_script(tx)), want);
}

TEST(Script, DeclarationsOfTablesChainsAndMaps) {
  Transaction tx(TableFamily::Inet, "netpol");
  tx.append(Verb::Create, Table{TableFamily::Inet, "netpol", "c"});
  tx.append(Verb::Add, Chain{"filter-forward", "", BaseHook{}});
  tx.append(Verb::Add, Chain{"plain", "", std::nullopt});
  tx.append(Verb::Add, Set{"m", {KeyType::Ipv4Addr}, false, DataType::Verdict, "", {}});
  tx.append(Verb::Add, Set{"r", {KeyType::Ipv4Addr}, true, std::nullopt, "", {}});
  tx.append(Verb::Delete, Set{"m", {KeyType::Ipv4Addr}, false, DataType::Verdict, "", {}});
  tx.append(Verb::Delete, Table{TableFamily::Inet, "netpol", ""});
  ASSERT_TRUE(tx.ok()) << tx.status().message();
  std::vector<std::string> want = {
      "create table inet netpol { comment \"c\"; }",
      "add chain inet netpol filter-forward { type filter hook forward priority filter; policy "
      "accept; }",
      "add chain inet netpol plain",
      "add map inet netpol m { type ipv4_addr : verdict; }",
      "add set inet netpol r { type ipv4_addr; flags interval; }",
      "delete map inet netpol m",
      "delete table inet netpol",
  };
  EXPECT_EQ(lines(to_script(tx)), want);
  EXPECT_EQ(to_script(Transaction(TableFamily::Inet, "netpol")), "");
}

TEST(Script, CommentsCannotEscapeTheirQuotes) {
  // Objects built by hand can hold anything; the script still never breaks out.
  Rule r{"c", {Verdict::drop()}, "a\"b\\c\nd"};
  EXPECT_EQ(to_text(r), "drop comment \"a'b'c d\"");
  Ruleset rs;
  rs.table = Table{TableFamily::Inet, "netpol", "x\"; delete table ip filter; \""};
  EXPECT_EQ(lines(to_block(rs))[1], "\tcomment \"x'; delete table ip filter; '\"");
}

TEST(Script, CleanCommentIsIdempotentAndKeepsUtf8Whole) {
  std::string s = std::string(127, 'a') + "\xc3\xa9";  // 'é' straddles byte 128
  std::string c = clean_comment(s);
  EXPECT_EQ(c, std::string(127, 'a'));
  EXPECT_EQ(clean_comment(c), c);
  EXPECT_EQ(clean_comment("tab\there"), "tab here");
}

TEST(Script, ElementText) {
  EXPECT_EQ(to_text(Element{{ip("10.0.0.0")}, {ip("10.255.255.255")}, {}}), "10.0.0.0/8");
  EXPECT_EQ(to_text(Element{{ip("10.0.0.1")}, {ip("10.0.0.2")}, {}}), "10.0.0.1-10.0.0.2");
  EXPECT_EQ(to_text(Element{{ip("::")}, {ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}, {}}),
            "::/0");
  EXPECT_EQ(to_text(Element{{ip("2001:db8::1"), Proto{132}, Port{9}}, {}, {}}),
            "2001:db8::1 . sctp . 9");
  EXPECT_EQ(to_text(Element{{ip("10.0.0.1"), Proto{33}, Port{9}}, {}, {}}), "10.0.0.1 . 33 . 9");
  EXPECT_EQ(to_text(Element{{ip("10.0.0.1")}, {}, Verdict::go_to("x")}), "10.0.0.1 : goto x");
}

TEST(Script, RuleText) {
  Rule r{"c",
         {CtStateMatch{kCtNew | kCtInvalid}, FibSaddrLocal{}, L4ProtoMatch{17},
          DportMatch{{{53, 53}}}, Verdict::accept()},
         ""};
  EXPECT_EQ(to_text(r),
            "ct state invalid,new fib saddr type local meta l4proto udp th dport 53 accept");
  Rule v{"c", {VmapLookup{Field::Ip6Daddr, "m"}}, ""};
  EXPECT_EQ(to_text(v), "ip6 daddr vmap @m");
}

}  // namespace
}  // namespace netpol::nft
