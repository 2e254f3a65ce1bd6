#include "nft/transaction.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace netpol::nft {

namespace {

// "add rule egress-X" / "delete set s-v4": the prefix of every message.
std::string what(Verb verb, const Object& obj) {
  std::string out = to_string(verb);
  std::visit(
      [&](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Table>) {
          out += " table " + o.name;
        } else if constexpr (std::is_same_v<T, Chain>) {
          out += " chain " + o.name;
        } else if constexpr (std::is_same_v<T, Set>) {
          out += (o.is_map() ? " map " : " set ") + o.name;
        } else if constexpr (std::is_same_v<T, Elements>) {
          out += " element " + o.set;
        } else {
          out += " rule " + o.chain;
        }
      },
      obj);
  return out;
}

Status check_comment(const std::string& comment) {
  if (comment != clean_comment(comment)) {
    return Error{"comment \"" + clean_comment(comment) +
                 "\" is too long or holds a quote, backslash or control character"};
  }
  return {};
}

Status check_name(const char* kind, const std::string& name) {
  if (!valid_name(name)) return Error{std::string("invalid ") + kind + " name \"" + name + "\""};
  return {};
}

bool value_fits(const Value& v, KeyType t) {
  switch (t) {
    case KeyType::Ipv4Addr:
      return std::holds_alternative<IpAddr>(v) && std::get<IpAddr>(v).is_v4();
    case KeyType::Ipv6Addr:
      return std::holds_alternative<IpAddr>(v) && !std::get<IpAddr>(v).is_v4();
    case KeyType::InetProto:
      return std::holds_alternative<Proto>(v);
    case KeyType::InetService:
      return std::holds_alternative<Port>(v);
    case KeyType::IfName:
      return std::holds_alternative<IfName>(v) && !std::get<IfName>(v).empty() &&
             !std::get<IfName>(v).too_long();
  }
  return false;
}

// A verdict may only target a regular chain that exists.
Status check_verdict(const Ruleset& rs, const Verdict& v, const std::string& from_chain) {
  if (v.kind != Verdict::Kind::Jump && v.kind != Verdict::Kind::Goto) {
    if (!v.chain.empty()) return Error{"only jump and goto name a chain"};
    return {};
  }
  auto it = rs.chains.find(v.chain);
  if (it == rs.chains.end()) return Error{"chain " + v.chain + " does not exist"};
  if (it->second.is_base()) return Error{"cannot jump to base chain " + v.chain};
  if (v.chain == from_chain) return Error{"chain " + v.chain + " jumps to itself"};
  return {};
}

Status check_element(const Ruleset& rs, const Set& set, const Element& e) {
  if (e.key.size() != set.key.size()) return Error{"element key has the wrong number of parts"};
  for (size_t i = 0; i < e.key.size(); ++i) {
    if (!value_fits(e.key[i], set.key[i])) {
      return Error{std::string("element key part ") + std::to_string(i) + " is not " +
                   to_string(set.key[i])};
    }
  }
  if (e.is_range()) {
    if (!set.interval) return Error{"range element in a set without flags interval"};
    if (e.key_end.size() != 1 || !value_fits(e.key_end[0], set.key[0])) {
      return Error{"range end is not " + std::string(to_string(set.key[0]))};
    }
    if (e.key_end[0] < e.key[0]) return Error{"range end is before its start"};
  }
  if (set.is_map() != e.verdict.has_value()) {
    return Error{set.is_map() ? "map element without a verdict" : "set element with a verdict"};
  }
  if (e.verdict) return check_verdict(rs, *e.verdict, "");
  return {};
}

// The inclusive interval an element of an interval set covers.
std::pair<Value, Value> span(const Element& e) {
  return {e.key[0], e.is_range() ? e.key_end[0] : e.key[0]};
}

// The element of `set` whose key equals `key`, or end().
ElementSet::const_iterator find_key(const Set& set, const KeyParts& key) {
  auto it = set.elements.lower_bound(Element{key, {}, std::nullopt});
  if (it != set.elements.end() && it->key == key) return it;
  return set.elements.end();
}

// For interval sets: the element of `set` overlapping `e`, or end() (sets are
// kept disjoint, so only the neighbours by start can overlap).
ElementSet::const_iterator find_overlap(const Set& set, const Element& e) {
  auto [lo, hi] = span(e);
  auto it = set.elements.lower_bound(Element{e.key, {}, std::nullopt});
  if (it != set.elements.end() && span(*it).first <= hi) return it;
  if (it != set.elements.begin()) {
    auto prev = std::prev(it);
    if (span(*prev).second >= lo) return prev;
  }
  return set.elements.end();
}

// `elements`: a std::set<Element> (an element op) or an ElementSet (a set op).
template <typename Elems>
Status add_elements(const Ruleset& rs, Set& set, const Elems& elements, bool create) {
  if (elements.empty()) return Error{"no elements"};
  // A copy: an ElementSet's iterator makes the element it points at.
  std::optional<Element> prev;
  for (const Element& e : elements) {
    if (Status s = check_element(rs, set, e); !s.ok()) return s;
    // Within one command, the same key twice is EEXIST even for `add`.
    if (prev && prev->key == e.key) return Error{"duplicate key in one command"};
    if (set.interval && prev && span(*prev).second >= span(e).first) {
      return Error{"elements overlap each other"};
    }
    prev = e;
    if (set.interval) {
      if (auto old = find_overlap(set, e); old != set.elements.end()) {
        if (*old == e && !create) continue;  // re-adding an element is fine
        return Error{*old == e ? "element exists" : "element overlaps an existing one"};
      }
    } else if (auto old = find_key(set, e.key); old != set.elements.end()) {
      if (*old == e && !create) continue;
      return Error{*old == e ? "element exists" : "key exists with a different value"};
    }
  }
  set.elements.insert(elements.begin(), elements.end());
  return {};
}

Status delete_elements(Set& set, const std::set<Element>& elements) {
  if (elements.empty()) return Error{"no elements"};
  std::vector<Element> victims;
  for (const Element& e : elements) {
    auto old = find_key(set, e.key);
    // Deletion identifies an element by its key (and range end), not its verdict.
    if (old == set.elements.end() || old->key_end != e.key_end) {
      return Error{"element does not exist"};
    }
    victims.push_back(*old);
  }
  for (const Element& v : victims) set.elements.erase(v);
  return {};
}

Status check_set_decl(const Set& set) {
  if (Status s = check_name("set", set.name); !s.ok()) return s;
  if (Status s = check_comment(set.comment); !s.ok()) return s;
  if (set.key.empty()) return Error{"set has no key type"};
  if (set.interval && set.key.size() != 1) {
    return Error{"interval sets with a concatenated key are not supported"};
  }
  return {};
}

bool references_set(const Rule& r, const std::string& name) {
  for (const Expr& x : r.exprs) {
    if (auto* m = std::get_if<SetMatch>(&x); m && m->set == name) return true;
    if (auto* v = std::get_if<VmapLookup>(&x); v && v->map == name) return true;
  }
  return false;
}

bool references_chain(const Rule& r, const std::string& name) {
  for (const Expr& x : r.exprs) {
    if (auto* v = std::get_if<Verdict>(&x); v && v->chain == name) return true;
  }
  return false;
}

Status check_rule(const Ruleset& rs, const Rule& r) {
  if (r.exprs.empty()) return Error{"rule has no expressions"};
  if (Status s = check_comment(r.comment); !s.ok()) return s;
  for (size_t i = 0; i < r.exprs.size(); ++i) {
    const Expr& x = r.exprs[i];
    bool last = i + 1 == r.exprs.size();
    Status s = std::visit(
        [&](const auto& e) -> Status {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, CtStateMatch>) {
            if (e.states == 0) return Error{"ct state match with no state"};
          } else if constexpr (std::is_same_v<T, DportMatch>) {
            if (e.ports.empty()) return Error{"port match with no port"};
            for (size_t k = 0; k < e.ports.size(); ++k) {
              if (e.ports[k].first > e.ports[k].last) return Error{"port range end before start"};
              if (k > 0 && e.ports[k - 1].last >= e.ports[k].first) {
                return Error{"port ranges unsorted or overlapping"};
              }
            }
          } else if constexpr (std::is_same_v<T, SetMatch>) {
            auto it = rs.sets.find(e.set);
            if (it == rs.sets.end()) return Error{"set @" + e.set + " does not exist"};
            if (it->second.is_map()) return Error{"@" + e.set + " is a map, not a set"};
            std::vector<KeyType> want;
            for (Field f : e.key) want.push_back(key_type(f));
            if (want != it->second.key) return Error{"key does not match set @" + e.set};
          } else if constexpr (std::is_same_v<T, VmapLookup>) {
            auto it = rs.sets.find(e.map);
            if (it == rs.sets.end()) return Error{"map @" + e.map + " does not exist"};
            if (it->second.data != DataType::Verdict) {
              return Error{"@" + e.map + " is not a verdict map"};
            }
            if (it->second.key != std::vector<KeyType>{key_type(e.key)}) {
              return Error{"key does not match map @" + e.map};
            }
            if (!last) return Error{"vmap must be the last expression"};
          } else if constexpr (std::is_same_v<T, Verdict>) {
            if (!last) return Error{"verdict must be the last expression"};
            return check_verdict(rs, e, r.chain);
          } else if constexpr (std::is_same_v<T, LimitMatch>) {
            if (e.rate == 0 || e.burst == 0) return Error{"limit needs a rate and a burst"};
          } else if constexpr (std::is_same_v<T, LogStmt>) {
            if (!valid_log_prefix(e.prefix)) {
              return Error{"log prefix \"" + clean_comment(e.prefix) + "\" is empty, too long " +
                           "or has characters other than [A-Za-z0-9 _:./-]"};
            }
          }
          return {};
        },
        x);
    if (!s.ok()) return s;
  }
  return {};
}

Status apply_table(const Table& id, std::optional<Ruleset>& state, Verb verb, const Table& t) {
  if (t.family != id.family || t.name != id.name) {
    return Error{"transaction is on table " + id.name};
  }
  if (Status s = check_comment(t.comment); !s.ok()) return s;
  switch (verb) {
    case Verb::Add:
      // Like the kernel, an existing table keeps its comment.
      if (!state) state = Ruleset{t, {}, {}, {}};
      return {};
    case Verb::Create:
      if (state) return Error{"table exists"};
      state = Ruleset{t, {}, {}, {}};
      return {};
    case Verb::Delete:
      if (!state) return Error{"table does not exist"};
      state.reset();
      return {};
    case Verb::Flush:
      if (!state) return Error{"table does not exist"};
      state->rules.clear();
      return {};
  }
  return Error{"unknown verb"};
}

Status apply_chain(Ruleset& rs, Verb verb, const Chain& c) {
  auto it = rs.chains.find(c.name);
  switch (verb) {
    case Verb::Add:
    case Verb::Create:
      if (Status s = check_name("chain", c.name); !s.ok()) return s;
      if (Status s = check_comment(c.comment); !s.ok()) return s;
      if (it != rs.chains.end()) {
        if (verb == Verb::Create) return Error{"chain exists"};
        if (it->second.base != c.base) return Error{"chain exists with a different hook"};
        return {};
      }
      rs.chains.emplace(c.name, c);
      return {};
    case Verb::Delete:
      if (it == rs.chains.end()) return Error{"chain does not exist"};
      if (!rs.rules_of(c.name).empty()) return Error{"chain is not empty"};
      for (const auto& [_, rules] : rs.rules) {
        for (const Rule& r : rules) {
          if (references_chain(r, c.name))
            return Error{"chain is the target of a rule in " + r.chain};
        }
      }
      for (const auto& [_, set] : rs.sets) {
        // Only map elements carry verdicts; skipping plain sets keeps this
        // O(map elements), not O(every element of the table).
        if (!set.is_map()) continue;
        for (const Element& e : set.elements) {
          if (e.verdict && e.verdict->chain == c.name) {
            return Error{"chain is the target of an element of map " + set.name};
          }
        }
      }
      rs.chains.erase(it);
      return {};
    case Verb::Flush:
      if (it == rs.chains.end()) return Error{"chain does not exist"};
      rs.rules.erase(c.name);
      return {};
  }
  return Error{"unknown verb"};
}

Status apply_set(Ruleset& rs, Verb verb, const Set& s) {
  auto it = rs.sets.find(s.name);
  switch (verb) {
    case Verb::Add:
    case Verb::Create: {
      if (Status st = check_set_decl(s); !st.ok()) return st;
      if (it != rs.sets.end()) {
        if (verb == Verb::Create) return Error{"set exists"};
        if (!it->second.same_type(s)) return Error{"set exists with a different type"};
        if (s.elements.empty()) return {};
        return add_elements(rs, it->second, s.elements, false);
      }
      Set fresh{s.name, s.key, s.interval, s.data, s.comment, {}};
      if (!s.elements.empty()) {
        if (Status st = add_elements(rs, fresh, s.elements, true); !st.ok()) return st;
      }
      rs.sets.emplace(s.name, std::move(fresh));
      return {};
    }
    case Verb::Delete:
      if (it == rs.sets.end()) return Error{"set does not exist"};
      for (const auto& [_, rules] : rs.rules) {
        for (const Rule& r : rules) {
          if (references_set(r, s.name)) return Error{"set is used by a rule in " + r.chain};
        }
      }
      rs.sets.erase(it);
      return {};
    case Verb::Flush:
      if (it == rs.sets.end()) return Error{"set does not exist"};
      it->second.elements.clear();
      return {};
  }
  return Error{"unknown verb"};
}

Status apply_elements(Ruleset& rs, Verb verb, const Elements& e) {
  auto it = rs.sets.find(e.set);
  if (it == rs.sets.end()) return Error{"set does not exist"};
  switch (verb) {
    case Verb::Add:
      return add_elements(rs, it->second, e.elements, false);
    case Verb::Create:
      return add_elements(rs, it->second, e.elements, true);
    case Verb::Delete:
      return delete_elements(it->second, e.elements);
    case Verb::Flush:
      return Error{"elements cannot be flushed; flush the set"};
  }
  return Error{"unknown verb"};
}

Status apply_rule(Ruleset& rs, Verb verb, const Rule& r) {
  if (verb != Verb::Add) {
    return Error{"rules are only added; flush the chain to remove them"};
  }
  if (!rs.chains.contains(r.chain)) return Error{"chain does not exist"};
  if (Status s = check_rule(rs, r); !s.ok()) return s;
  rs.append(r);
  return {};
}

}  // namespace

const char* to_string(Verb v) {
  switch (v) {
    case Verb::Add:
      return "add";
    case Verb::Create:
      return "create";
    case Verb::Delete:
      return "delete";
    case Verb::Flush:
      return "flush";
  }
  return "?";
}

Status simulate(const Table& id, std::optional<Ruleset>& state, const Op& op) {
  Status s;
  if (const auto* t = std::get_if<Table>(&op.object)) {
    s = apply_table(id, state, op.verb, *t);
  } else if (!state) {
    s = Error{"table " + id.name + " does not exist"};
  } else if (const auto* c = std::get_if<Chain>(&op.object)) {
    s = apply_chain(*state, op.verb, *c);
  } else if (const auto* set = std::get_if<Set>(&op.object)) {
    s = apply_set(*state, op.verb, *set);
  } else if (const auto* e = std::get_if<Elements>(&op.object)) {
    s = apply_elements(*state, op.verb, *e);
  } else {
    s = apply_rule(*state, op.verb, std::get<Rule>(op.object));
  }
  return s.context(what(op.verb, op.object));
}

Transaction::Transaction(TableFamily family, std::string name, std::optional<Ruleset> current)
    : family_(family), table_(std::move(name)), state_(std::move(current)) {}

void Transaction::append(Verb verb, Object object) {
  if (!status_.ok()) return;
  Op op{verb, std::move(object)};
  status_ = simulate(Table{family_, table_, {}}, state_, op);
  if (status_.ok()) ops_.push_back(std::move(op));
}

Result<Transaction> Transaction::replace(Ruleset desired) {
  Transaction tx(desired.table.family, desired.table.name);
  const Table bare{desired.table.family, desired.table.name, {}};
  tx.append(Verb::Add, bare);
  tx.append(Verb::Delete, bare);
  tx.append(Verb::Add, desired.table);
  // Chains first (map elements and rules jump to them), then sets with their
  // elements (rules look them up), then rules.
  // In listing order, so the table lists as policyc's script lists it.
  for (int rank = 0; rank < kListingRanks; ++rank)
    for (const auto& [_, chain] : desired.chains)
      if (listing_rank(chain) == rank) tx.append(Verb::Add, chain);
  for (const auto& [_, set] : desired.sets) tx.append(Verb::Add, set);
  for (const auto& [chain, rules] : desired.rules) {
    for (const Rule& r : rules) {
      if (r.chain != chain && tx.ok()) {
        return Error{"rule of chain " + r.chain + " filed under " + chain};
      }
      tx.append(Verb::Add, r);
    }
  }
  if (!tx.ok()) return tx.status();
  // The simulation must reproduce `desired` exactly, or the block rendering
  // (which prints `desired`) would not say what the ops do.
  if (tx.state_ != desired) return Error{"ruleset is not canonical (empty rule list?)"};
  tx.replaced_ = std::move(desired);
  tx.replace_ops_ = tx.ops_.size();
  return tx;
}

}  // namespace netpol::nft
