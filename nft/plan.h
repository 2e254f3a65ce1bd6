// The planner: the smallest Transaction that moves the kernel's table from
// what it holds to what the IR asks for. (KernelTable, nft/kernel_table.h, keeps a
// mirror of the kernel's table and applies one plan after another.)
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
// Pure functions: no I/O, no kernel, never throw. A plan that cannot be built
// returns the first op the Transaction refused, with its message.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir.h"
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

}  // namespace netpol::nft
