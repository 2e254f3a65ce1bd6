#include "nft/plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "nft/family.h"
#include "nft/render.h"

namespace netpol::nft {

namespace {

constexpr Direction kDirections[] = {Direction::Ingress, Direction::Egress};

struct ChainWant {
  Chain chain;
  std::vector<Rule> rules;
};

// What a change must reach, for the objects it touches; everything else in
// the table is taken to be right already.
struct Target {
  std::map<std::string, std::optional<ChainWant>> chains;  // nullopt: must not exist
  std::map<std::string, std::optional<Set>> sets;          // nullopt: must not exist
  // Element changes of sets that stay (in addition to what `sets` implies).
  std::map<std::string, std::set<Element>> add, del;
};

// The ops that reach a Target, grouped in the order they must run.
struct Changes {
  std::vector<Chain> new_chains;
  std::vector<Set> new_sets;
  std::map<std::string, std::set<Element>> del, add;
  std::set<std::string> flush;                   // chains whose current rules go
  std::set<std::string> drop_chains, drop_sets;  // deleted (re-created if in readd_*)
  std::vector<Chain> readd_chains;
  std::vector<Set> readd_sets;
  std::map<std::string, std::vector<Rule>> fill;  // chains (re)filled with these rules
};

Set declaration_of(const Set& s) {
  return Set{s.name, s.key, s.interval, s.data, s.comment, {}};
}

bool uses_set(const std::vector<Rule>& rules, const std::set<std::string>& sets) {
  for (const Rule& r : rules) {
    for (const Expr& x : r.exprs) {
      if (const auto* m = std::get_if<SetMatch>(&x); m && sets.contains(m->set)) return true;
      if (const auto* v = std::get_if<VmapLookup>(&x); v && sets.contains(v->map)) return true;
    }
  }
  return false;
}

bool jumps_to(const std::vector<Rule>& rules, const std::set<std::string>& chains) {
  for (const Rule& r : rules) {
    for (const Expr& x : r.exprs) {
      if (const auto* v = std::get_if<Verdict>(&x); v && chains.contains(v->chain)) return true;
    }
  }
  return false;
}

Changes diff(const Ruleset& cur, const Target& t) {
  Changes c;
  std::set<std::string> gone_chains;  // deleted or re-created: nothing may point at them
  std::set<std::string> recreated_chains;
  for (const auto& [name, want] : t.chains) {
    auto have = cur.chains.find(name);
    if (have == cur.chains.end()) {
      if (!want) continue;
      c.new_chains.push_back(want->chain);
      c.fill[name] = want->rules;
    } else if (!want) {
      gone_chains.insert(name);
      c.drop_chains.insert(name);
    } else if (have->second != want->chain) {
      gone_chains.insert(name);
      recreated_chains.insert(name);
      c.drop_chains.insert(name);
      c.readd_chains.push_back(want->chain);
      c.fill[name] = want->rules;
    } else if (cur.rules_of(name) != want->rules) {
      c.fill[name] = want->rules;
    }
  }

  std::set<std::string> gone_sets;
  c.del = t.del;
  c.add = t.add;
  for (const auto& [name, want] : t.sets) {
    auto have = cur.sets.find(name);
    if (have == cur.sets.end()) {
      if (want) c.new_sets.push_back(*want);
    } else if (!want) {
      gone_sets.insert(name);
      c.drop_sets.insert(name);
    } else if (!have->second.same_type(*want) || have->second.comment != want->comment) {
      gone_sets.insert(name);
      c.drop_sets.insert(name);
      c.readd_sets.push_back(*want);
    } else {
      const auto& a = have->second.elements;
      const auto& b = want->elements;
      std::set_difference(a.begin(), a.end(), b.begin(), b.end(),
                          std::inserter(c.del[name], c.del[name].end()));
      std::set_difference(b.begin(), b.end(), a.begin(), a.end(),
                          std::inserter(c.add[name], c.add[name].end()));
    }
  }

  // Map elements jumping to a chain that goes away must go first; if the
  // chain comes back, so do they (unless the change removes them anyway).
  if (!gone_chains.empty()) {
    for (const auto& [name, set] : cur.sets) {
      if (!set.is_map() || gone_sets.contains(name)) continue;
      for (const Element& e : set.elements) {
        if (!e.verdict || !gone_chains.contains(e.verdict->chain)) continue;
        auto& del = c.del[name];
        bool removed_anyway = del.contains(e);
        del.insert(e);
        if (recreated_chains.contains(e.verdict->chain) && !removed_anyway) c.add[name].insert(e);
      }
    }
  }
  // Chains whose rules refer to a chain or set that goes away are refilled
  // (with what they should hold; an untouched chain with what it holds now).
  if (!gone_chains.empty() || !gone_sets.empty()) {
    for (const auto& [chain, rules] : cur.rules) {
      if (c.fill.contains(chain) || c.drop_chains.contains(chain)) continue;
      if (!jumps_to(rules, gone_chains) && !uses_set(rules, gone_sets)) continue;
      auto want = t.chains.find(chain);
      c.fill[chain] = want != t.chains.end() && want->second ? want->second->rules : rules;
    }
  }
  for (const auto& [chain, _] : c.fill) {
    if (!cur.rules_of(chain).empty()) c.flush.insert(chain);
  }
  for (const std::string& chain : c.drop_chains) {
    if (!cur.rules_of(chain).empty()) c.flush.insert(chain);
  }
  // Elements of dropped sets go with them; empty lists are no ops.
  for (auto* m : {&c.del, &c.add}) {
    for (auto it = m->begin(); it != m->end();) {
      if (it->second.empty() || gone_sets.contains(it->first)) {
        it = m->erase(it);
      } else {
        ++it;
      }
    }
  }
  return c;
}

// Appends the ops of `c` in the order they must run; a refused op fails `tx`.
void emit(Transaction& tx, const Ruleset& cur, Changes c) {
  for (Chain& ch : c.new_chains) tx.append(Verb::Add, std::move(ch));
  for (auto& [set, elements] : c.del) tx.append(Verb::Delete, Elements{set, std::move(elements)});
  for (const std::string& chain : c.flush) {
    tx.append(Verb::Flush, Chain{chain, {}, cur.chains.at(chain).base});
  }
  for (const std::string& chain : c.drop_chains) {
    tx.append(Verb::Delete, Chain{chain, {}, cur.chains.at(chain).base});
  }
  for (const std::string& set : c.drop_sets) {
    tx.append(Verb::Delete, declaration_of(cur.sets.at(set)));
  }
  for (Chain& ch : c.readd_chains) tx.append(Verb::Add, std::move(ch));
  for (Set& set : c.new_sets) tx.append(Verb::Add, std::move(set));
  for (Set& set : c.readd_sets) tx.append(Verb::Add, std::move(set));
  for (auto& [set, elements] : c.add) tx.append(Verb::Add, Elements{set, std::move(elements)});
  for (auto& [_, rules] : c.fill) {
    for (Rule& r : rules) tx.append(Verb::Add, std::move(r));
  }
}

// Elements of `m` whose (single-part) key is one of `ips`.
std::set<Element> elements_for(const Set& m, const std::set<IpAddr>& ips) {
  std::set<Element> out;
  for (const IpAddr& ip : ips) {
    auto it = m.elements.lower_bound(Element{{ip}, {}, std::nullopt});
    for (; it != m.elements.end() && it->key.size() == 1 && it->key[0] == Value(ip); ++it) {
      out.insert(*it);
    }
  }
  return out;
}

}  // namespace

Result<Transaction> plan(std::optional<Ruleset> current, const Ruleset& desired) {
  Target t;
  for (const auto& [name, chain] : desired.chains) {
    t.chains[name] = ChainWant{chain, desired.rules_of(name)};
  }
  for (const auto& [name, set] : desired.sets) t.sets[name] = set;
  if (!current) {
    // Created in the order `nft -f` creates policyc's block (base chains,
    // chains, maps, sets, rules), so the kernel lists the table exactly as it
    // lists one loaded from the script.
    Transaction tx(desired.table.family, desired.table.name);
    tx.append(Verb::Add, desired.table);
    for (int rank = 0; rank < kListingRanks; ++rank) {
      for (const auto& [_, chain] : desired.chains) {
        if (listing_rank(chain) == rank) tx.append(Verb::Add, chain);
      }
    }
    for (bool map : {true, false}) {
      for (const auto& [_, set] : desired.sets) {
        if (set.is_map() == map) tx.append(Verb::Add, set);
      }
    }
    for (const auto& [_, rules] : desired.rules) {
      for (const Rule& r : rules) tx.append(Verb::Add, r);
    }
    if (!tx.ok()) return tx.status();
    return tx;
  }
  if (current->table != desired.table) {
    return Error{"table " + desired.table.name + " differs in its own declaration (comment)"};
  }
  for (const auto& [name, _] : current->chains) t.chains.try_emplace(name, std::nullopt);
  for (const auto& [name, _] : current->sets) t.sets.try_emplace(name, std::nullopt);
  Changes c = diff(*current, t);
  Transaction tx(desired.table.family, desired.table.name, std::move(current));
  // Changes holds copies, so it can be emitted against the moved state.
  emit(tx, *tx.state(), std::move(c));
  if (!tx.ok()) return tx.status();
  return tx;
}

Result<Transaction> plan(Ruleset current, const ir::RuleSet& after, const ir::Delta& delta,
                         const AuditOptions& audit) {
  Target t;

  // Shared sets: created and removed whole, otherwise element by element.
  for (const ir::SetDelta& sd : delta.sets) {
    if (sd.created) {
      ir::RuleSet one;
      one.sets[sd.name] = *sd.created;
      Ruleset r = render(one, audit).ruleset;
      for (Family f : kFamilies) {
        const std::string n = family_set_name(sd.name, f);
        t.sets[n] = std::move(r.sets.at(n));
      }
      continue;
    }
    if (sd.removed) {
      for (Family f : kFamilies) t.sets[family_set_name(sd.name, f)] = std::nullopt;
      continue;
    }
    auto kind = after.sets.find(sd.name);
    if (kind == after.sets.end())
      return Error{"plan: changed set " + sd.name + " is not in the IR"};
    // The renderer turns IR elements into nft elements (ranges, concatenations).
    for (auto [list, target] : {std::pair{&sd.add, &t.add}, std::pair{&sd.del, &t.del}}) {
      if (list->empty()) continue;
      // The set's identity only: copying its members would cost O(set).
      ir::RuleSet one;
      const ir::Set& whole = kind->second;
      one.sets[sd.name] = ir::Set{whole.name, whole.kind, whole.comment,
                                  SortedBlocks<ir::Element>(list->begin(), list->end())};
      Ruleset r = render(one, audit).ruleset;
      for (Family f : kFamilies) {
        const std::string n = family_set_name(sd.name, f);
        auto& els = r.sets.at(n).elements;
        if (!els.empty()) (*target)[n].insert(els.begin(), els.end());
      }
    }
  }

  // Pod chains: what the changed pods had and what they get now.
  ir::RuleSet before_pods, after_pods;
  std::set<IpAddr> touched;
  for (const ir::PodDelta& pd : delta.pods) {
    if (pd.before) {
      before_pods.pods[pd.key] = *pd.before;
      touched.insert(pd.before->ips.begin(), pd.before->ips.end());
    }
    if (pd.after) {
      after_pods.pods[pd.key] = *pd.after;
      touched.insert(pd.after->ips.begin(), pd.after->ips.end());
    }
  }
  if (!delta.pods.empty()) {
    Ruleset rb = render(before_pods, audit).ruleset;
    Ruleset ra = render(after_pods, audit).ruleset;
    for (const auto& [name, _] : rb.chains) {
      if (name != kForwardChain) t.chains[name] = std::nullopt;
    }
    for (auto& [name, chain] : ra.chains) {
      if (name != kForwardChain) t.chains[name] = ChainWant{chain, ra.rules_of(name)};
    }
  }

  // Dispatch map elements of every address a changed pod had or has: who
  // owns it now is decided by the renderer over all pods holding it (two
  // pods may claim one address; the first by key keeps it).
  if (!touched.empty()) {
    ir::RuleSet holders;
    for (const auto& [key, pod] : after.pods) {
      bool holds = std::any_of(pod.ips.begin(), pod.ips.end(),
                               [&](const IpAddr& ip) { return touched.contains(ip); });
      if (!holds) continue;
      ir::LocalPod p = pod;
      if (p.ingress) p.ingress->rules.clear();
      if (p.egress) p.egress->rules.clear();
      holders.pods[key] = std::move(p);
    }
    Ruleset rd = render(holders, audit).ruleset;
    for (Direction d : kDirections) {
      for (Family f : kFamilies) {
        const std::string m = dispatch_map_name(d, f);
        auto have_set = current.sets.find(m);
        if (have_set == current.sets.end()) return Error{"plan: dispatch map " + m + " missing"};
        std::set<Element> want = elements_for(rd.sets.at(m), touched);
        std::set<Element> have = elements_for(have_set->second, touched);
        std::set_difference(have.begin(), have.end(), want.begin(), want.end(),
                            std::inserter(t.del[m], t.del[m].end()));
        std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                            std::inserter(t.add[m], t.add[m].end()));
      }
    }
  }

  Changes c = diff(current, t);
  const TableFamily family = current.table.family;
  const std::string name = current.table.name;
  Transaction tx(family, name, std::move(current));
  emit(tx, *tx.state(), std::move(c));
  if (!tx.ok()) return tx.status();
  return tx;
}

}  // namespace netpol::nft
