// nft script rendering (`nft -f`): what policyc prints, what golden tests
// compare, and what logs show of a transaction.
//
// A transaction built by Transaction::replace renders as
//     table inet netpol
//     delete table inet netpol
//     table inet netpol { ...the whole table in block syntax... }
// so that `nft -f` swaps the table in one kernel transaction (there is never a
// moment without rules), followed by any op appended after the replace; every
// other transaction renders one command per line. Same transaction, same bytes:
// everything is printed in a fixed order (block: maps, sets, base chains, other
// chains, each by name). Comments are re-cleaned on output so no object content
// can break out of its quotes.
//
// Pure text: never talks to the kernel, never fails (the Transaction already
// validated what it holds).
#pragma once

#include <string>

#include "nft/objects.h"
#include "nft/transaction.h"

namespace netpol::nft {

// The whole script of a transaction, one trailing newline; "" if it is empty.
std::string to_script(const Transaction& tx);

// `table <family> <name> { ... }` block syntax with a trailing newline, as
// `nft list table` would print it (modulo nft's own abbreviations).
std::string to_block(const Ruleset& rs);

// Rule body as written after `add rule <family> <table> <chain> `.
std::string to_text(const Rule& rule);
// An element as written inside `{ }`: "10.0.0.0/8", "a . tcp . 80", "ip : jump c".
std::string to_text(const Element& element);

}  // namespace netpol::nft
