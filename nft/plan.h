// The planner: the smallest Transaction that moves the kernel's table from
// what it holds to what the IR asks for, and TableSync, which keeps a mirror of
// the kernel's table and applies one IR change after another through a Kernel.
//
// What "smallest" means (rules stay static, sets and maps carry the churn):
//   - set and map elements are added and deleted one by one;
//   - a chain whose rules changed is flushed and refilled, never patched;
//   - new chains and sets are created, vanished ones deleted after everything
//     that referred to them (dispatch map elements, rules) is gone;
//   - a chain or set whose declaration changed (hook, key type, comment) is
//     deleted and re-created in the same transaction, with whatever refers to it.
// The table itself is never deleted: reconciling a live kernel keeps every
// rule in force until the one atomic commit swaps in the new state. Every
// transaction is validated op by op (Transaction) before the kernel sees it.
//
// Pure functions, except TableSync which talks to its Kernel. Never throws.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir.h"
#include "nft/netlink.h"
#include "nft/objects.h"
#include "nft/render.h"
#include "nft/status.h"
#include "nft/transaction.h"

namespace netpol::nft {

// Reconcile: turns `current` (nullopt: the table is absent) into `desired`.
// Objects of the table that `desired` does not hold are removed (garbage
// collection of chains and sets nothing refers to any more). Fails if the
// table's own declaration differs (a comment cannot be changed in place): the
// caller then replaces the table atomically (Transaction::replace).
Result<Transaction> plan(std::optional<Ruleset> current, const Ruleset& desired);

// Incremental: the transaction for one IR change. `current` is the table as the
// kernel holds it before the change (moved into the transaction; its state()
// is the table after), `after` the whole IR after the change and `delta` the
// change (ir::diff(before, after) or what Compiler returned). Costs O(size of
// the change + local pods), not O(table). Fails when the change does not fit
// `current` (the mirror drifted from the kernel): reconcile instead. `audit`
// must be what `current` was rendered with (the agent's --audit-* flags).
Result<Transaction> plan(Ruleset current, const ir::RuleSet& after, const ir::Delta& delta,
                         const AuditOptions& audit = {});

struct SyncStats {
  size_t full_syncs = 0;   // reconciliations (read back + diff, or replace)
  size_t replaces = 0;     // of which fell back to an atomic replace
  size_t incremental = 0;  // incremental transactions applied
  size_t failures = 0;     // applies the kernel refused (next one is full)
  size_t last_ops = 0;     // ops in the last transaction sent
  std::string last_error;  // message of the last failure
};

// Keeps one table in step with the IR. Holds what the kernel has (the mirror)
// after each successful apply; any failure drops the mirror, so the next call
// reconciles from a fresh read-back (kube-proxy's needFullSync).
class TableSync {
 public:
  // `audit`: how the logging rules are rendered (NFLOG group, rate, burst).
  explicit TableSync(Kernel& kernel, AuditOptions audit = {}) : kernel_(kernel), audit_(audit) {}

  // Reconciles the kernel with render(rules): reads the table back and applies
  // plan(current, desired); falls back to an atomic replace when the table
  // cannot be read or diffed.
  Status full(const ir::RuleSet& rules);
  // One change: an incremental transaction, or full(after) while needs_full().
  Status update(const ir::RuleSet& after, const ir::Delta& delta);

  // True when the mirror is known to equal the kernel's table without reading
  // it: the namespace's ruleset generation is still the one our last commit
  // (or verified read-back) left, so nobody has committed anything since. One
  // GETGEN round trip. False whenever it cannot tell (a commit by someone else
  // in between, a failure, a Kernel without generations).
  bool unchanged_since_sync();

  bool needs_full() const { return !mirror_.has_value(); }
  const std::optional<Ruleset>& mirror() const { return mirror_; }
  const SyncStats& stats() const { return stats_; }

 private:
  // Applies tx, whose starting state the kernel held at generation `base`
  // (nullopt: unknown), and records the generation the mirror now matches.
  Status commit(Transaction tx, std::optional<uint32_t> base);

  Kernel& kernel_;
  AuditOptions audit_;
  std::optional<Ruleset> mirror_;
  std::optional<uint32_t> generation_;  // the kernel's generation when it equalled mirror_
  SyncStats stats_;
};

}  // namespace netpol::nft
