// Read-back: the content of one nftables table, dumped from the kernel through
// libnftnl and turned back into the value objects of nft/objects.h, so "what the
// kernel has" and "what we want" compare with == and diff with nft/plan.h.
//
// Reads the table, its chains, sets (with their elements) and rules in several
// netlink dumps and retries until the ruleset generation did not change in
// between, so the result is one consistent snapshot. Rule bytecode is matched
// against exactly the expression sequences the netlink backend writes; a rule
// netpol did not write (edited by hand, another tool) is returned as a Rule
// with NO expressions and a comment naming its handle, which never equals a
// desired rule, so the planner flushes and refills its chain. Anything else
// the value objects cannot hold (another chain type, set flags netpol never
// uses, a dormant table) makes read() fail, and the caller falls back to an
// atomic full replace.
//
// Only reads; never changes the kernel. No libnftnl/libmnl types here; nothing
// throws. The socket belongs to the network namespace open() ran in.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nft/objects.h"
#include "nft/status.h"

namespace netpol::nft {

class TableReader {
 public:
  static Result<std::unique_ptr<TableReader>> open();
  ~TableReader();
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  // The table `family name` (nullopt: no such table).
  Result<std::optional<Ruleset>> read(TableFamily family, const std::string& name);
  // Every table in the namespace as "family name" ("inet netpol"), sorted.
  Result<std::vector<std::string>> tables();
  // The namespace's ruleset generation (NFT_MSG_GETGEN): one more after every
  // committed transaction of any table.
  Result<uint32_t> generation();

 private:
  struct Impl;
  explicit TableReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One-shot read in the calling thread's network namespace.
Result<std::optional<Ruleset>> read_table(TableFamily family, const std::string& name);

// One-shot TableReader::tables() in the calling thread's network namespace.
Result<std::vector<std::string>> list_tables();

}  // namespace netpol::nft
