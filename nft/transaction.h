// Transaction: an ordered list of {verb, object} on one table, validated as it
// is built, applied by the kernel all or nothing.
//
// Every op is checked against a simulated copy of the table (the state before
// the transaction, then each accepted op applied in turn), with the kernel's
// rules: a rule may only reference chains and sets that exist at that point,
// element keys must fit their set, a chain or set still referenced cannot be
// deleted, interval elements must not overlap, map keys are unique, names and
// comments must be writable. The first rejected op is not recorded and makes
// the transaction failed (knftables' sticky error): status() names it, every
// later append is ignored, and no backend applies a failed transaction. So a
// builder is a list of appends and one check, and a caller never holds a
// transaction the kernel would refuse for reasons we could have known. The
// simulation doubles as the fake backend for unit tests (state() is the table
// after commit).
//
// A Transaction never touches the kernel and never renders text: the script
// renderer (script.h) and the netlink backend turn the SAME ops into bytes.
//
// Supported verbs (anything else is rejected with an error):
//   table    add (create if absent), create (fails if present), delete, flush (all rules)
//   chain    add (no-op if present with the same hook), create, delete, flush (its rules)
//   set/map  add (declares, or checks the declaration; adds its elements), create,
//            delete, flush (its elements)
//   element  add (present ones are kept), create (fails if one is present), delete
//   rule     add (appends to its chain). Rules are never edited or deleted one by
//            one: flush the chain and add them again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "nft/objects.h"
#include "nft/status.h"

namespace netpol::nft {

enum class Verb : uint8_t { Add, Create, Delete, Flush };
const char* to_string(Verb v);  // "add", "create", "delete", "flush"

// Elements of one set or map, for element ops (one command per op).
struct Elements {
  std::string set;
  std::set<Element> elements;

  friend auto operator<=>(const Elements&, const Elements&) = default;
  friend bool operator==(const Elements&, const Elements&) = default;
};

using Object = std::variant<Table, Chain, Set, Elements, Rule>;

struct Op {
  Verb verb = Verb::Add;
  Object object;

  friend bool operator==(const Op&, const Op&) = default;
};

class Transaction {
 public:
  // A transaction on table `family name`, checked against `current`, the
  // table's content before the transaction (nullopt: the table does not exist).
  Transaction(TableFamily family, std::string name, std::optional<Ruleset> current = std::nullopt);

  // Full replace of desired.table with `desired`, whatever the table holds now:
  // add table (so the delete cannot fail), delete table, then add the table,
  // its chains, its sets and maps with their elements, and its rules. Fails if
  // `desired` is not self-consistent (e.g. a rule references a missing set).
  static Result<Transaction> replace(Ruleset desired);

  // Validates the op against state() and records it. A rejected op changes
  // nothing but status(); once failed, appends are ignored.
  void append(Verb verb, Object object);
  void append(Op op) { append(op.verb, std::move(op.object)); }
  // Ok, or why the first rejected append was rejected ("add rule c: set @s
  // does not exist").
  const Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }

  TableFamily family() const { return family_; }
  const std::string& table() const { return table_; }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  // The table after every recorded op (nullopt: deleted or never created).
  const std::optional<Ruleset>& state() const { return state_; }
  // Moves that table out, for a caller that keeps it as its picture of the
  // kernel once the transaction is applied (nft/plan.h) instead of copying it.
  // state() is nullopt afterwards; the ops stay, so the transaction can still
  // be rendered, but not applied by the netlink backend (it reads declarations
  // of pre-existing sets from state()).
  std::optional<Ruleset> take_state() { return std::exchange(state_, std::nullopt); }

  // For renderers: when built by replace(), the first replace_ops() ops are the
  // full replace of replaced() (further appended ops follow them).
  const std::optional<Ruleset>& replaced() const { return replaced_; }
  size_t replace_ops() const { return replace_ops_; }

 private:
  TableFamily family_;
  std::string table_;
  std::optional<Ruleset> state_;
  std::vector<Op> ops_;
  std::optional<Ruleset> replaced_;
  size_t replace_ops_ = 0;
  Status status_;
};

// Applies one op to a simulated table (nullopt: absent) with the checks
// described above. On error `state` is unchanged. Exposed for fakes and tests.
Status simulate(const Table& id, std::optional<Ruleset>& state, const Op& op);

}  // namespace netpol::nft
