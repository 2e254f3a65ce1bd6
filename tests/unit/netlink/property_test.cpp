// The property test, in the kernel: long random histories (pods come
// and go, labels change, addresses are reused, policies change) applied
// incrementally through KernelTable + NetlinkBackend in one namespace, and after
// every step the same IR loaded as a full replace into a second namespace. The
// two kernels must list the same table (order of creation aside), and the
// incremental one must read back as exactly the rendered IR.
#include <gtest/gtest.h>

#include <cstdio>

#include "nft/render.h"
#include "nft/kernel_table.h"
#include "nft/transaction.h"
#include "tests/unit/netlink/support.h"
#include "tests/unit/netlink/world.h"

namespace netpol::nltest {
namespace {

TEST(KernelProperty, IncrementalEqualsFullReplaceAfterEveryStep) {
  NLTEST_KERNELSPACE(inc);
  NLTEST_KERNELSPACE(ref);
  for (uint32_t seed : {7u, 8u}) {
    World w(seed);
    nft::KernelTable sync(*inc.backend);
    ASSERT_TRUE(sync.full(w.rules()).ok()) << sync.stats().last_error;
    size_t changed = 0, ops = 0;
    for (int i = 0; i < 150; ++i) {
      const std::string what = w.step();
      SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(i) + ": " + what);
      nft::Status s = sync.update(w.rules(), w.delta());
      ASSERT_TRUE(s.ok()) << s.message();
      const nft::Ruleset desired = nft::render(w.rules()).ruleset;
      auto full = nft::Transaction::replace(desired);
      ASSERT_TRUE(full.ok()) << full.message();
      ASSERT_TRUE(ref.backend->commit(full.value()).ok());

      auto back = inc.backend->read(nft::TableFamily::Inet, nft::kTableName);
      ASSERT_TRUE(back.ok()) << back.message();
      ASSERT_TRUE(back.value() == desired) << "incremental table reads back differently";
      ASSERT_EQ(inc.ns->canonical_listing(), ref.ns->canonical_listing());
      changed += !w.delta().empty();
      ops += sync.stats().last_ops;
    }
    EXPECT_EQ(sync.stats().full_syncs, 1u) << "every step went incrementally";
    EXPECT_EQ(sync.stats().failures, 0u);
    std::printf("seed %u: 150 steps, %zu changed the IR, %zu ops sent incrementally\n", seed,
                changed, ops);
  }
}

}  // namespace
}  // namespace netpol::nltest
