// KernelTable: keeps one table in step with the IR through a Kernel. It holds
// a mirror of what the kernel has after each successful apply, turns each IR
// change into the smallest transaction (nft/plan.h) and applies it; any
// failure drops the mirror, so the next call reconciles from a fresh read-back
// (kube-proxy's needFullSync). The kernel's ruleset generation tells it
// cheaply whether anyone else committed since.
//
// Pure logic over the abstract Kernel (nft/kernel.h): links no libnftnl or
// libmnl. Not thread-safe; never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "compiler/ir.h"
#include "nft/kernel.h"
#include "nft/objects.h"
#include "nft/render.h"
#include "nft/spoof.h"
#include "nft/status.h"

namespace netpol::nft {

struct KernelTableStats {
  size_t full_syncs = 0;   // reconciliations (read back + diff, or replace)
  size_t replaces = 0;     // of which fell back to an atomic replace
  size_t incremental = 0;  // incremental transactions applied
  size_t failures = 0;     // applies the kernel refused (next one is full)
  size_t last_ops = 0;     // ops in the last transaction sent
  size_t prefills = 0;     // chunks of big new sets sent ahead of their rules (prefill)
  std::string last_error;  // message of the last failure
};

// Keeps one table in step with the IR. Holds what the kernel has (the mirror)
// after each successful apply; any failure drops the mirror, so the next call
// reconciles from a fresh read-back (kube-proxy's needFullSync).
class KernelTable {
 public:
  // `audit`: how the logging rules are rendered (NFLOG group, rate, burst).
  explicit KernelTable(Kernel& kernel, AuditOptions audit = {}) : kernel_(kernel), audit_(audit) {}

  // Reconciles the kernel with render(rules): reads the table back and applies
  // plan(current, desired); falls back to an atomic replace when the table
  // cannot be read or diffed.
  Status full(const ir::RuleSet& rules);
  // One change: an incremental transaction, or full(after) while needs_full().
  Status update(const ir::RuleSet& after, const ir::Delta& delta);

  // Adds `elements` to the set declared by `decl` (created empty first if the
  // table lacks it) in a transaction of its own, with nothing else in it: one
  // chunk of a big new set sent ahead of the rules that will use it
  // (docs/architecture.md, "Big new sets"). Refused, with nothing sent, when
  // the mirror is unknown or any rule of the table refers to the set: an
  // unreferenced set changes no verdict, so a packet meets exactly the rules
  // it met before. A kernel failure drops the mirror like any other apply.
  // `declare`: more sets (without elements) to create empty in the same
  // transaction if the table lacks them (a big set's empty other family).
  Status prefill(const Set& decl, std::set<Element> elements, const std::vector<Set>& declare = {});

  // True when the mirror is known to equal the kernel's table without reading
  // it: the namespace's ruleset generation is still the one our last commit
  // (or verified read-back) left, so nobody has committed anything since. One
  // GETGEN round trip. False whenever it cannot tell (a commit by someone else
  // in between, a failure, a Kernel without generations).
  bool unchanged_since_sync();

  // The anti-spoofing guard of the table (nft/spoof.h) and the bindings it
  // holds; nullopt (the default): no guard, and a reconcile removes one left
  // by an earlier run. Takes effect with the next full() or update(), in the
  // same transaction as the IR change.
  void set_guard(std::optional<PortBindings> guard) { guard_ = std::move(guard); }
  const std::optional<PortBindings>& guard() const { return guard_; }

  bool needs_full() const { return !mirror_.has_value(); }
  const std::optional<Ruleset>& mirror() const { return mirror_; }
  const KernelTableStats& stats() const { return stats_; }

 private:
  Status reconcile(const ir::RuleSet& rules);  // full() without the heap trim
  // Applies tx, whose starting state the kernel held at generation `base`
  // (nullopt: unknown), and records the generation the mirror now matches.
  Status commit(Transaction tx, std::optional<uint32_t> base);

  Kernel& kernel_;
  AuditOptions audit_;
  std::optional<PortBindings> guard_;
  std::optional<Ruleset> mirror_;
  std::optional<uint32_t> generation_;  // the kernel's generation when it equalled mirror_
  KernelTableStats stats_;
};

}  // namespace netpol::nft
