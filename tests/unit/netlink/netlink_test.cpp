// NetlinkBackend, read-back and KernelTable against the real kernel, each test in
// its own throwaway network namespace: check mode, a kernel error in the middle
// of a large batch (named, atomic, next sync full), foreign tables untouched,
// a batch spanning many pages in one send, and read-back of what netpol did
// not write.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "nft/readback.h"
#include "nft/render.h"
#include "nft/kernel_table.h"
#include "nft/transaction.h"
#include "tests/unit/netlink/support.h"
#include "tests/unit/nft/fixtures.h"

namespace netpol::nltest {
namespace {

using nft::Element;
using nft::Elements;
using nft::Ruleset;
using nft::Transaction;
using nft::Verb;

Ruleset rich() {
  return nft::render(nft::fx::rich_ir()).ruleset;
}

std::optional<Ruleset> read_back(Kernelspace& k) {
  auto r = k.backend->read(nft::TableFamily::Inet, nft::kTableName);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? r.value() : std::nullopt;
}

std::vector<std::string> tables(Kernelspace& k) {
  k.ns->enter();
  auto t = nft::list_tables();
  k.ns->leave();
  EXPECT_TRUE(t.ok()) << t.message();
  return t.ok() ? t.value() : std::vector<std::string>{};
}

void nft_cmd(Kernelspace& k, const std::vector<std::string>& argv, const std::string& in = "") {
  std::vector<std::string> full = {"nft"};
  full.insert(full.end(), argv.begin(), argv.end());
  Command c = k.ns->run(full, in);
  ASSERT_EQ(c.status, 0) << c.err;
}

IpAddr v4(uint32_t n) {
  return IpAddr::v4(n);
}

TEST(Netlink, ReadingAnAbsentTableGivesNothing) {
  NLTEST_KERNELSPACE(k);
  auto r = k.backend->read(nft::TableFamily::Inet, nft::kTableName);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(r.value().has_value());
}

TEST(Netlink, CheckModeValidatesWithoutApplying) {
  NLTEST_KERNELSPACE(k);
  auto tx = Transaction::replace(rich());
  ASSERT_TRUE(tx.ok());
  nft::Status s = k.backend->check(tx.value());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(k.backend->last_batch().acks, k.backend->last_batch().messages);
  EXPECT_TRUE(tables(k).empty()) << "check mode created something";
}

// The kernel refuses what our picture of it could not foresee: an element
// added behind our back makes `create element` fail with EEXIST.
TEST(Netlink, KernelErrorNamesTheOpAndLeavesTheTableAlone) {
  NLTEST_KERNELSPACE(k);
  auto full = Transaction::replace(rich());
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(k.backend->commit(full.value()).ok());
  nft_cmd(k, {"add", "element", "inet", "netpol", "pods-AAAAAAAA-v4", "{ 10.0.3.3 }"});
  const std::string listed = listing(k);

  Transaction tx(nft::TableFamily::Inet, nft::kTableName, rich());
  for (uint32_t i = 0; i < 20; ++i) {  // 2000 elements before the bad op
    std::set<Element> batch;
    for (uint32_t j = 0; j < 100; ++j)
      batch.insert(Element{{v4(0x0B000000u + i * 100 + j)}, {}, {}});
    tx.append(Verb::Add, Elements{"pods-BBBBBBBB-v4", batch});
  }
  const size_t bad = tx.ops().size();
  tx.append(Verb::Create,
            Elements{"pods-AAAAAAAA-v4", {Element{{nft::fx::ip("10.0.3.3")}, {}, {}}}});
  tx.append(
      Verb::Flush,
      nft::Chain{nft::pod_chain_name(nft::Direction::Ingress, "prod", "db-0"), {}, std::nullopt});
  ASSERT_TRUE(tx.ok()) << tx.status().message();

  for (bool commit : {false, true}) {
    SCOPED_TRACE(commit ? "apply" : "check");
    nft::Status s = commit ? k.backend->commit(tx) : k.backend->check(tx);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("create element pods-AAAAAAAA-v4"), std::string::npos)
        << s.message();
    EXPECT_EQ(k.backend->last_batch().failed_op, bad);
    EXPECT_EQ(s.errnum(), EEXIST);
    EXPECT_EQ(k.backend->last_batch().acks, k.backend->last_batch().messages);
    EXPECT_EQ(listing(k), listed) << "a refused batch changed the table";
  }
}

// The fault test: a kernel error in the middle of a large incremental
// batch is reported naming the object, the table stays exactly as it was, and
// the next sync is a full one that brings the kernel back in line.
TEST(Netlink, FailedSyncIsAtomicAndMakesTheNextOneFull) {
  NLTEST_KERNELSPACE(k);
  nft::KernelTable sync(*k.backend);
  const ir::RuleSet before = nft::fx::rich_ir();
  ASSERT_TRUE(sync.full(before).ok()) << sync.stats().last_error;
  // Behind the agent's back: a member vanishes from the kernel.
  nft_cmd(k, {"delete", "element", "inet", "netpol", "pods-AAAAAAAA-v4", "{ 10.0.2.7 }"});
  const std::string listed = listing(k);

  // A large change: 60 newly isolated pods, 3000 new peers, and 10.0.2.7 leaving.
  ir::RuleSet after = before;
  for (uint32_t i = 0; i < 60; ++i) {
    nft::fx::add(after, nft::fx::pod("bulk", "pod-" + std::to_string(i), {v4(0x0A050000u + i)},
                                     nft::fx::chain({"bulk/allow"},
                                                    {nft::fx::rule("bulk/allow", 0, "pods-BBBBBBBB",
                                                                   nft::fx::kTcp, {{80, 80}})}),
                                     std::nullopt));
  }
  for (uint32_t i = 0; i < 3000; ++i) {
    after.sets.at("pods-BBBBBBBB")
        .elements.insert(ir::Element{v4(0x0B000000u + i), v4(0x0B000000u + i)});
  }
  after.sets.at("pods-AAAAAAAA").elements.erase(nft::fx::host("10.0.2.7"));

  nft::Status s = sync.update(after, ir::diff(before, after));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("delete element pods-AAAAAAAA-v4"), std::string::npos) << s.message();
  const nft::BatchStats& b = k.backend->last_batch();
  EXPECT_EQ(s.errnum(), ENOENT);
  ASSERT_TRUE(b.failed_op.has_value());
  EXPECT_GT(*b.failed_op, 0u);
  EXPECT_LT(*b.failed_op + 100, b.ops) << "the error should sit in the middle of the batch";
  EXPECT_GT(b.messages, 150u);
  std::printf("failed batch: op %zu of %zu, %zu messages, %zu bytes: %s\n", *b.failed_op, b.ops,
              b.messages, b.bytes, s.message().c_str());
  EXPECT_EQ(listing(k), listed) << "a failed batch changed the table";
  EXPECT_TRUE(sync.needs_full());

  ir::RuleSet next = after;
  nft::fx::add(next, nft::fx::pod("bulk", "late", {v4(0x0A0600FFu)}, nft::fx::chain({"bulk/x"}, {}),
                                  std::nullopt));
  nft::Status s2 = sync.update(next, ir::diff(after, next));
  ASSERT_TRUE(s2.ok()) << s2.message();
  EXPECT_EQ(sync.stats().full_syncs, 2u);
  EXPECT_FALSE(sync.needs_full());
  auto back = read_back(k);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == nft::render(next).ruleset);
}

TEST(Netlink, ForeignTablesSurviveEverySyncPath) {
  NLTEST_KERNELSPACE(k);
  nft_cmd(k, {"-f", "-"},
          "table ip foreign {\n"
          "  chain input { type filter hook input priority 0; policy accept; counter; }\n"
          "}\n"
          "table inet other { set s { type ipv4_addr; elements = { 1.2.3.4 }; }; }\n"
          "table inet netpol { comment \"made by hand\"; }\n");
  const std::string foreign = k.ns->listing("ip foreign");
  const std::string other = k.ns->listing("inet other");

  nft::KernelTable sync(*k.backend);
  ir::RuleSet rules = nft::fx::rich_ir();
  ASSERT_TRUE(sync.full(rules).ok()) << sync.stats().last_error;  // replace path
  EXPECT_EQ(sync.stats().replaces, 1u);
  ir::RuleSet after = rules;
  after.pods.erase("prod/db-0");
  ASSERT_TRUE(sync.update(after, ir::diff(rules, after)).ok());  // incremental path
  ASSERT_TRUE(sync.full(rules).ok());                            // reconcile path
  EXPECT_EQ(sync.stats().replaces, 1u);

  EXPECT_EQ(tables(k), (std::vector<std::string>{"inet netpol", "inet other", "ip foreign"}));
  EXPECT_EQ(k.ns->listing("ip foreign"), foreign);
  EXPECT_EQ(k.ns->listing("inet other"), other);
  auto back = read_back(k);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == rich());
}

TEST(Netlink, LargeBatchSpansManyPagesInOneSend) {
  nft::NetlinkOptions small;
  small.page_bytes = 128u << 10;
  std::string why;
  auto k = make_kernelspace(&why, small);
  if (!k) GTEST_SKIP() << why;
  Ruleset rs = rich();
  nft::Set& big = rs.sets.at("pods-BBBBBBBB-v4");
  for (uint32_t i = 0; i < 100000; ++i) big.elements.insert(Element{{v4(0x0C000000u + i)}, {}, {}});
  nft::Set& ranges = rs.sets.at("cidr-CCCCCCCC-v4");
  for (uint32_t i = 0; i < 5000; ++i) {
    ranges.elements.insert(Element{{v4(0x0D000000u + i * 16)}, {v4(0x0D000000u + i * 16 + 7)}, {}});
  }
  auto tx = Transaction::replace(rs);
  ASSERT_TRUE(tx.ok()) << tx.message();
  nft::Status s = k->backend->commit(tx.value());
  ASSERT_TRUE(s.ok()) << s.message();
  const nft::BatchStats& b = k->backend->last_batch();
  std::printf("large batch: %zu ops, %zu messages, %zu bytes in %zu pages, sndbuf %d, rcvbuf %d\n",
              b.ops, b.messages, b.bytes, b.iovecs, b.sndbuf, b.rcvbuf);
  EXPECT_GT(b.iovecs, 10u);
  EXPECT_EQ(b.acks, b.messages);
  EXPECT_GE(static_cast<size_t>(b.sndbuf), b.bytes);
  auto back = read_back(*k);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->sets.at("pods-BBBBBBBB-v4").elements.size(), big.elements.size());
  EXPECT_EQ(back->sets.at("cidr-CCCCCCCC-v4").elements.size(), ranges.elements.size());
  EXPECT_TRUE(*back == rs);
}

TEST(Netlink, ForeignRuleInOurTableIsReadAsUnknownAndReconciledAway) {
  NLTEST_KERNELSPACE(k);
  nft::KernelTable sync(*k.backend);
  ASSERT_TRUE(sync.full(nft::fx::rich_ir()).ok());
  const std::string clean = listing(k);
  const std::string chain = nft::pod_chain_name(nft::Direction::Ingress, "prod", "db-0");
  // (Not `counter accept`: counters are among the expressions netpol writes.)
  nft_cmd(k, {"insert", "rule", "inet", "netpol", chain, "meta", "mark", "0x1", "accept"});
  auto back = read_back(k);
  ASSERT_TRUE(back.has_value());
  const auto& rules = back->rules_of(chain);
  ASSERT_FALSE(rules.empty());
  EXPECT_TRUE(rules.front().exprs.empty()) << "a rule netpol never writes must not parse";

  ASSERT_TRUE(sync.full(nft::fx::rich_ir()).ok()) << sync.stats().last_error;
  EXPECT_EQ(sync.stats().replaces, 0u) << "a foreign rule needs a refill, not a replace";
  EXPECT_EQ(listing(k), clean);
}

// The kernel's ruleset generation moves with every commit in the namespace,
// ours and anyone else's; KernelTable trusts its mirror only while the last
// commit was its own.
TEST(Netlink, RulesetGenerationShowsAnyoneElsesCommit) {
  NLTEST_KERNELSPACE(k);
  auto g0 = k.backend->generation();
  ASSERT_TRUE(g0.ok()) << g0.message();
  nft::KernelTable sync(*k.backend);
  ir::RuleSet rules = nft::fx::rich_ir();
  ASSERT_TRUE(sync.full(rules).ok()) << sync.stats().last_error;
  auto g1 = k.backend->generation();
  ASSERT_TRUE(g1.ok());
  EXPECT_EQ(g1.value(), g0.value() + 1) << "one transaction, one generation";
  EXPECT_TRUE(sync.unchanged_since_sync());

  ir::RuleSet after = rules;
  after.pods.erase("prod/db-0");
  ASSERT_TRUE(sync.update(after, ir::diff(rules, after)).ok());
  EXPECT_TRUE(sync.unchanged_since_sync());

  // Another tool changes a table of its own: nothing of ours changed, but we
  // cannot know that without reading.
  nft_cmd(k, {"add", "table", "inet", "other"});
  EXPECT_FALSE(sync.unchanged_since_sync());
  ASSERT_TRUE(sync.full(after).ok());
  EXPECT_EQ(sync.stats().last_ops, 0u);
  EXPECT_TRUE(sync.unchanged_since_sync()) << "a clean read-back re-establishes it";

  // Someone flushes our table: seen, and the read-back repairs it.
  const std::string clean = listing(k);
  nft_cmd(k, {"flush", "table", "inet", "netpol"});
  EXPECT_FALSE(sync.unchanged_since_sync());
  ASSERT_TRUE(sync.full(after).ok());
  EXPECT_GT(sync.stats().last_ops, 0u);
  EXPECT_EQ(listing(k), clean);
  EXPECT_TRUE(sync.unchanged_since_sync());
}

// Fault injection: a receive buffer far too small for the batch's ACKs. The
// kernel runs and commits the whole batch but drops most ACKs (ENOBUFS): the
// apply must say the outcome is unknown, KernelTable must not trust its mirror,
// and the next sync reads the table back and finds it already as desired.
TEST(Netlink, LostAcksMakeTheOutcomeUnknownAndTheNextSyncReadsBack) {
  nft::NetlinkOptions tiny;
  tiny.rcvbuf_bytes = 2048;
  std::string why;
  auto k = make_kernelspace(&why, tiny);
  if (!k) GTEST_SKIP() << why;
  ir::RuleSet rules = nft::fx::rich_ir();
  nft::KernelTable sync(*k->backend);
  nft::Status s = sync.full(rules);
  ASSERT_FALSE(s.ok()) << "expected lost ACKs with a " << k->backend->last_batch().rcvbuf
                       << "-byte receive buffer for " << k->backend->last_batch().messages
                       << " messages";
  EXPECT_NE(s.message().find("lost (ENOBUFS)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("outcome of the batch unknown"), std::string::npos) << s.message();
  EXPECT_EQ(s.errnum(), ENOBUFS);
  EXPECT_LT(k->backend->last_batch().acks, k->backend->last_batch().messages);
  EXPECT_TRUE(sync.needs_full());
  EXPECT_FALSE(sync.unchanged_since_sync());

  // The batch did land (the kernel only dropped its answers): the resync reads
  // it back and has nothing to send, so no ACK can be lost this time.
  ASSERT_TRUE(sync.full(rules).ok()) << sync.stats().last_error;
  EXPECT_EQ(sync.stats().last_ops, 0u);
  EXPECT_EQ(sync.stats().replaces, 0u);
  auto back = read_back(*k);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == rich());
  EXPECT_TRUE(sync.unchanged_since_sync());
}

TEST(Netlink, SetNetpolCannotRepresentForcesAnAtomicReplace) {
  NLTEST_KERNELSPACE(k);
  nft::KernelTable sync(*k.backend);
  ASSERT_TRUE(sync.full(nft::fx::rich_ir()).ok());
  const std::string clean = listing(k);
  nft_cmd(k, {"add", "set", "inet", "netpol", "weird", "{ type ipv4_addr; flags timeout; }"});
  EXPECT_FALSE(k.backend->read(nft::TableFamily::Inet, nft::kTableName).ok());
  ASSERT_TRUE(sync.full(nft::fx::rich_ir()).ok()) << sync.stats().last_error;
  EXPECT_EQ(sync.stats().replaces, 1u);
  EXPECT_EQ(listing(k), clean);
}

}  // namespace
}  // namespace netpol::nltest
