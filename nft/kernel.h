// Kernel: the seam between the sync logic and the kernel's nftables. The
// netlink backend (nft/netlink.h) implements it in production, an in-memory
// fake in tests (tests/support/fake_kernel.h). Pure interface: no
// libnftnl, no libmnl, no I/O of its own; implementations never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "nft/objects.h"
#include "nft/status.h"
#include "nft/transaction.h"

namespace netpol::nft {

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Commits every op of `tx`, all or nothing. On error the table is unchanged
  // and the message names the op the kernel refused; the Status carries the
  // kernel's errno where there is one.
  virtual Status commit(const Transaction& tx) = 0;
  // The table `family name` as the kernel holds it now (nullopt: absent).
  virtual Result<std::optional<Ruleset>> read(TableFamily family, const std::string& name) = 0;
  // The network namespace's ruleset generation: the kernel bumps it by one on
  // every committed transaction, of any table, by anyone. A kernel that cannot
  // tell returns an error, and callers assume the table may have changed.
  virtual Result<uint32_t> generation() {
    return Error{"this kernel has no ruleset generation", Code::Unsupported};
  }
};

}  // namespace netpol::nft
