// The same table through netlink and through policyc's script: for every
// golden input, every lab case phase (the recipes of policies/ included; both lab
// nodes; both lab topologies use the same addresses, so the tables are the
// same on either) and the nft tests' rich fixture, the full-replace
// Transaction is loaded once with `nft -f` (the script policyc prints) and
// once with NetlinkBackend, each into its own throwaway namespace, and
// `nft -j list table inet netpol` must be identical (handles ignored). Both
// tables must also read back (TableReader) as exactly the rendered Ruleset.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "nft/readback.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"
#include "tests/unit/netlink/support.h"
#include "tests/unit/nft/fixtures.h"

namespace netpol::nltest {
namespace {

namespace fs = std::filesystem;

// `diff -u` of two listings (first lines only), for readable failures.
std::string text_diff(const std::string& a, const std::string& b) {
  const std::string pa = fs::temp_directory_path() / ("nl-a-" + std::to_string(getpid()));
  const std::string pb = fs::temp_directory_path() / ("nl-b-" + std::to_string(getpid()));
  FILE* fa = std::fopen(pa.c_str(), "w");
  FILE* fb = std::fopen(pb.c_str(), "w");
  if (fa) std::fputs(a.c_str(), fa), std::fclose(fa);
  if (fb) std::fputs(b.c_str(), fb), std::fclose(fb);
  std::string out = "script (-) vs netlink (+):\n";
  if (FILE* d = popen(("diff -u " + pa + " " + pb + " | head -80").c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, d)) out.append(buf, n);
    pclose(d);
  }
  std::remove(pa.c_str());
  std::remove(pb.c_str());
  return out;
}

struct Pair {
  Kernelspace script;   // loaded with nft -f
  Kernelspace netlink;  // loaded with NetlinkBackend
};

// Loads `rs` both ways and compares; returns false (with failures recorded)
// on any difference.
void expect_equivalent(Pair& p, const nft::Ruleset& rs, const std::string& what) {
  SCOPED_TRACE(what);
  auto tx = nft::Transaction::replace(rs);
  ASSERT_TRUE(tx.ok()) << tx.message();
  Command c = p.script.ns->run({"nft", "-f", "-"}, nft::to_script(tx.value()));
  ASSERT_EQ(c.status, 0) << c.err;
  nft::Status s = p.netlink.backend->commit(tx.value());
  ASSERT_TRUE(s.ok()) << s.message();

  const std::string by_script = listing(p.script);
  const std::string by_netlink = listing(p.netlink);
  EXPECT_TRUE(by_netlink == by_script) << text_diff(by_script, by_netlink);
  EXPECT_NE(by_script.find("\"netpol\""), std::string::npos) << by_script;

  auto back = p.netlink.backend->read(nft::TableFamily::Inet, nft::kTableName);
  ASSERT_TRUE(back.ok()) << back.message();
  ASSERT_TRUE(back.value().has_value());
  EXPECT_TRUE(*back.value() == rs) << "netlink-loaded table reads back differently";

  // The reader must also understand what nft itself wrote.
  p.script.ns->enter();
  auto back2 = nft::read_table(nft::TableFamily::Inet, nft::kTableName);
  p.script.ns->leave();
  ASSERT_TRUE(back2.ok()) << back2.message();
  ASSERT_TRUE(back2.value().has_value());
  EXPECT_TRUE(*back2.value() == rs) << "script-loaded table reads back differently";
}

std::optional<Pair> make_pair(std::string* why) {
  auto a = make_kernelspace(why);
  if (!a) return std::nullopt;
  auto b = make_kernelspace(why);
  if (!b) return std::nullopt;
  return Pair{std::move(*a), std::move(*b)};
}

#define NLTEST_PAIR(var)                                                 \
  std::string var##_why;                                                 \
  auto var##_opt = make_pair(&var##_why);                                \
  if (!var##_opt) GTEST_SKIP() << "no network namespace: " << var##_why; \
  Pair& var = *var##_opt

// Compiles `dir` for each node its pods name and checks each table.
size_t check_dir(Pair& p, const std::string& dir, const std::string& label) {
  auto objects = load(dir);
  if (!objects) return 0;  // invalid input: policyc prints no table either
  size_t n = 0;
  for (const std::string& node : nodes_of(*objects)) {
    ir::RuleSet ir = compiler::compile(*objects, node);
    expect_equivalent(p, nft::render(ir).ruleset, label + " @" + node);
    ++n;
  }
  return n;
}

TEST(Equivalence, RichFixture) {
  NLTEST_PAIR(p);
  expect_equivalent(p, nft::render(nft::fx::rich_ir()).ruleset, "rich fixture");
}

TEST(Equivalence, GoldenInputs) {
  NLTEST_PAIR(p);
  size_t tables = 0;
  std::vector<fs::path> inputs;
  for (const auto& e : fs::directory_iterator(source_dir() + "/tests/golden")) {
    if (fs::exists(e.path() / "input.yaml")) inputs.push_back(e.path() / "input.yaml");
  }
  std::sort(inputs.begin(), inputs.end());
  for (const fs::path& in : inputs) {
    tables += check_dir(p, in.string(), in.parent_path().filename().string());
  }
  std::printf("golden: %zu inputs, %zu tables compared\n", inputs.size(), tables);
  EXPECT_GE(tables, 10u) << "golden inputs went missing";
}

TEST(Equivalence, LabCases) {
  const std::string out = fs::temp_directory_path() / ("netpol-lab-" + std::to_string(getpid()));
  fs::create_directories(out);
  const std::string cmd = "python3 " + source_dir() + "/tests/unit/netlink/export_lab_inputs.py " +
                          out + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    fs::remove_all(out);
    GTEST_SKIP() << "could not export the lab's cases (python3 and tests/e2e/netlab needed)";
  }
  NLTEST_PAIR(p);
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(out)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  size_t tables = 0;
  for (const fs::path& d : dirs) tables += check_dir(p, d.string(), d.filename().string());
  fs::remove_all(out);
  std::printf("lab: %zu case phases, %zu tables compared\n", dirs.size(), tables);
  EXPECT_GE(dirs.size(), 40u) << "lab case export shrank";
  EXPECT_EQ(tables, 2 * dirs.size()) << "every phase compiles for both lab nodes";
}

}  // namespace
}  // namespace netpol::nltest
