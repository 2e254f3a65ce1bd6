// An in-memory Kernel for unit tests of the planner and KernelTable (and for the
// agent's tests): one table held as a value, transactions applied all or
// nothing with the same checks Transaction uses (nft::simulate), and a switch to
// make the kernel refuse an op, as a real one does when the caller's picture of
// it is stale. Counts what it was asked to do. Keeps a ruleset generation like
// the kernel's (one more per committed transaction); a test that changes
// `table` behind KernelTable's back plays another writer and should call
// external_commit(). Test-only.
#pragma once

#include <optional>
#include <string>

#include "nft/kernel.h"
#include "nft/transaction.h"

namespace netpol::testsupport {

class FakeKernel : public nft::Kernel {
 public:
  nft::Status commit(const nft::Transaction& tx) override {
    ++applies;
    last_ops = tx.ops().size();
    // As NetlinkBackend does: a transaction that failed while it was built
    // never reaches the kernel.
    if (!tx.ok()) {
      ++refused;
      return tx.status();
    }
    std::optional<nft::Ruleset>& target = of(tx.family());
    std::optional<nft::Ruleset> next = target;
    const nft::Table id{tx.family(), tx.table(), {}};
    for (size_t i = 0; i < tx.ops().size(); ++i) {
      if (fail_op && *fail_op == i) {
        fail_op.reset();
        ++refused;
        return nft::Error{"fake kernel refused op " + std::to_string(i)};
      }
      if (nft::Status s = nft::simulate(id, next, tx.ops()[i]); !s.ok()) {
        ++refused;
        return nft::Error{"fake kernel: " + s.message()};
      }
    }
    target = std::move(next);  // commit
    ++gen;
    return {};
  }

  nft::Result<uint32_t> generation() override {
    ++generation_reads;
    if (!has_generation) return nft::Error{"fake kernel without generations"};
    return gen;
  }

  // Another writer committed something (to our table or any other).
  void external_commit() { ++gen; }

  nft::Result<std::optional<nft::Ruleset>> read(nft::TableFamily family,
                                                const std::string&) override {
    ++reads;
    return of(family);
  }

  std::optional<nft::Ruleset>& of(nft::TableFamily family) {
    return family == nft::TableFamily::Bridge ? bridge : table;
  }

  std::optional<nft::Ruleset> table;   // inet netpol
  std::optional<nft::Ruleset> bridge;  // bridge netpol (the anti-spoofing guard)
  std::optional<size_t> fail_op;       // refuse this op index of the next apply
  size_t applies = 0, refused = 0, reads = 0, last_ops = 0, generation_reads = 0;
  uint32_t gen = 7;
  bool has_generation = true;
};

}  // namespace netpol::testsupport
