#include "nft/kernel_table.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <utility>

#include "nft/plan.h"
#include "nft/transaction.h"

namespace netpol::nft {

namespace {

// The generation after one commit: the kernel skips 0 when it wraps.
uint32_t next_generation(uint32_t g) {
  return g + 1 == 0 ? 1 : g + 1;
}

std::optional<uint32_t> generation_of(Kernel& kernel) {
  auto g = kernel.generation();
  if (!g.ok()) return std::nullopt;
  return g.value();
}

bool referenced(const Ruleset& rs, const std::string& set) {
  for (const auto& [_, rules] : rs.rules) {
    for (const Rule& r : rules) {
      for (const Expr& x : r.exprs) {
        if (const auto* m = std::get_if<SetMatch>(&x); m && m->set == set) return true;
        if (const auto* v = std::get_if<VmapLookup>(&x); v && v->map == set) return true;
      }
    }
  }
  return false;
}

}  // namespace

Status KernelTable::prefill(const Set& decl, std::set<Element> elements,
                            const std::vector<Set>& declare) {
  if (!mirror_) return Error{"prefill of set " + decl.name + ": the table's state is unknown"};
  std::vector<const Set*> sets{&decl};
  for (const Set& s : declare) sets.push_back(&s);
  for (const Set* s : sets) {
    if (referenced(*mirror_, s->name)) {
      return Error{"prefill of set " + s->name + ": rules already use it (send it atomically)"};
    }
  }
  const std::optional<uint32_t> base = generation_;
  Ruleset current = std::move(*mirror_);
  mirror_.reset();
  const TableFamily family = current.table.family;
  const std::string name = current.table.name;
  std::vector<const Set*> undeclared;
  for (const Set* s : sets) {
    if (!current.sets.contains(s->name)) undeclared.push_back(s);
  }
  Transaction tx(family, name, std::move(current));
  for (const Set* s : undeclared)
    tx.append(Verb::Add, Set{s->name, s->key, s->interval, s->data, s->comment, {}});
  if (!elements.empty()) tx.append(Verb::Add, Elements{decl.name, std::move(elements)});
  if (!tx.ok()) {
    // Refused while built: nothing was sent, but the mirror moved into tx.
    stats_.last_error = tx.status().message();
    ++stats_.failures;
    return tx.status();
  }
  ++stats_.prefills;
  return commit(std::move(tx), base);
}

Status KernelTable::commit(Transaction tx, std::optional<uint32_t> base) {
  stats_.last_ops = tx.ops().size();
  generation_.reset();
  if (tx.empty()) {
    mirror_ = tx.take_state();
    // Nothing sent: still in step if nobody committed since `base`.
    if (base && generation_of(kernel_) == base) generation_ = base;
    return {};
  }
  Status s = kernel_.commit(tx);
  if (!s.ok()) {
    mirror_.reset();  // unknown until read back: the next sync is a full one
    ++stats_.failures;
    stats_.last_error = s.message();
    return s;
  }
  mirror_ = tx.take_state();
  // Exactly one commit since `base` (ours): the kernel holds the mirror.
  if (base) {
    const auto now = generation_of(kernel_);
    if (now == next_generation(*base)) generation_ = now;
  }
  return {};
}

bool KernelTable::unchanged_since_sync() {
  if (!mirror_ || !generation_) return false;
  return generation_of(kernel_) == generation_;
}

Status KernelTable::full(const ir::RuleSet& rules) {
  Status s = reconcile(rules);
#ifdef __GLIBC__
  // A reconcile frees millions of small objects (read-back, desired state,
  // the transaction); glibc keeps them as free heap (about 150 MiB at 100k
  // pods) and consolidates them on the next large allocation, which would
  // make the first incremental change after a reconcile tens of ms slow.
  // Give them back here, once every temporary of the reconcile is gone.
  malloc_trim(0);
#endif
  return s;
}

Status KernelTable::reconcile(const ir::RuleSet& rules) {
  ++stats_.full_syncs;
  mirror_.reset();
  generation_.reset();
  Ruleset desired = render(rules, audit_).ruleset;
  if (guard_) add_guard(desired, *guard_, audit_);
  // Read before the read-back: a commit by anyone after it makes the
  // generation check in commit() fail, never pass wrongly.
  const std::optional<uint32_t> base = generation_of(kernel_);
  auto current = kernel_.read(desired.table.family, desired.table.name);
  std::optional<Result<Transaction>> tx;
  if (current.ok()) tx.emplace(plan(std::move(current).value(), desired));
  if (!tx || !tx->ok()) {
    // Unreadable or undiffable (foreign content in our table): swap the whole
    // table in one transaction, which is just as atomic.
    ++stats_.replaces;
    tx.emplace(Transaction::replace(std::move(desired)));
    if (!tx->ok()) {
      stats_.last_error = tx->message();
      return tx->status();
    }
  }
  return commit(std::move(*tx).value(), base);
}

Status KernelTable::update(const ir::RuleSet& after, const ir::Delta& delta) {
  if (!mirror_) return full(after);
  Ruleset current = std::move(*mirror_);
  mirror_.reset();
  const std::optional<uint32_t> base = generation_;
  auto tx = plan(std::move(current), after, delta, audit_);
  if (!tx.ok()) return full(after);  // the mirror did not fit the change
  if (guard_ && !append_guard_changes(tx.value(), *guard_).ok()) return full(after);
  ++stats_.incremental;
  return commit(std::move(tx).value(), base);
}

}  // namespace netpol::nft
