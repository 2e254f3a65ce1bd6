#include "nft/spoof.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "nft/family.h"
#include "nft/plan.h"

namespace netpol::nft {

namespace {

bool usable(const PortBinding& b) {
  return !b.interface.empty() && b.interface.size() <= kMaxIfNameBytes;
}

// The elements of the three sets that change with the bindings.
std::map<std::string, std::set<Element>> guard_elements(const PortBindings& bindings) {
  std::map<std::string, std::set<Element>> out;
  out[kGuardInterfaces];
  for (Family f : kFamilies) out[guard_bound_set(f)];
  for (const PortBinding& b : bindings) {
    if (!usable(b)) continue;
    out[kGuardInterfaces].insert(Element{{IfName{b.interface}}, {}, std::nullopt});
    out[guard_bound_set(b.ip.family)].insert(
        Element{{b.ip, IfName{b.interface}}, {}, std::nullopt});
  }
  return out;
}

IpAddr addr(const char* text) {
  return *IpAddr::parse(text);
}

Rule rule(std::vector<Expr> exprs, std::string_view comment) {
  return Rule{kGuardChain, std::move(exprs), clean_comment(comment)};
}

}  // namespace

std::string guard_bound_set(Family f) {
  return std::string("spoof-bound-") + family_suffix(f);
}
std::string guard_exempt_set(Family f) {
  return std::string("spoof-exempt-") + family_suffix(f);
}

void add_guard(Ruleset& rs, const PortBindings& bindings, const AuditOptions& audit) {
  rs.chains.emplace(
      kGuardChain,
      Chain{kGuardChain,
            clean_comment("netpol anti-spoofing: a bound pod interface sends only its pod's "
                          "addresses"),
            BaseHook{ChainType::Filter, Hook::Prerouting, kGuardPriority, ChainPolicy::Accept}});
  auto elements = guard_elements(bindings);
  rs.sets.emplace(kGuardInterfaces, Set{kGuardInterfaces,
                                        {KeyType::IfName},
                                        false,
                                        std::nullopt,
                                        clean_comment("host-side interfaces of bound local pods"),
                                        std::move(elements[kGuardInterfaces])});
  for (Family f : kFamilies) {
    const std::string bound = guard_bound_set(f);
    rs.sets.emplace(bound, Set{bound,
                               {addr_type(f), KeyType::IfName},
                               false,
                               std::nullopt,
                               clean_comment(std::string("local pod ") + family_text(f) +
                                             " . the interface it is bound to"),
                               std::move(elements[bound])});
    Set exempt{guard_exempt_set(f),
               {addr_type(f)},
               true,
               std::nullopt,
               clean_comment(std::string(family_text(f)) +
                             " sources any interface may use (unspecified, link-local)"),
               {}};
    if (f == Family::V4) {
      exempt.elements.insert(Element{{addr("0.0.0.0")}, {}, std::nullopt});
    } else {
      exempt.elements.insert(Element{{addr("::")}, {}, std::nullopt});
      exempt.elements.insert(
          Element{{addr("fe80::")}, {addr("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}, {}});
    }
    rs.sets.emplace(exempt.name, std::move(exempt));
  }

  rs.append(rule({SetMatch{{Field::IifName}, kGuardInterfaces, true}, Verdict::accept()},
                 "not from a bound pod interface"));
  for (Family f : kFamilies) {
    rs.append(rule({SetMatch{{saddr(f)}, guard_exempt_set(f)}, Verdict::accept()},
                   std::string(family_text(f)) + " unspecified or link-local source"));
  }
  for (Family f : kFamilies) {
    const std::vector<Field> key = {saddr(f), Field::IifName};
    const std::string what =
        std::string("source not bound to this pod interface: spoofed (") + family_text(f) + ")";
    rs.append(rule({SetMatch{key, guard_bound_set(f), true}, LimitMatch{audit.rate, audit.burst},
                    LogStmt{audit.group, kSpoofedPrefix}, Verdict::drop()},
                   what));
    rs.append(rule({SetMatch{key, guard_bound_set(f), true}, CounterStmt{}, Verdict::drop()},
                   what + " over the audit log rate"));
  }
}

Ruleset render_bridge_guard(const PortBindings& bindings, const AuditOptions& audit) {
  Ruleset rs;
  rs.table = Table{TableFamily::Bridge, kTableName, kTableComment};
  add_guard(rs, bindings, audit);
  return rs;
}

Status append_guard_changes(Transaction& tx, const PortBindings& bindings) {
  if (!tx.state()) return Error{"anti-spoofing: table " + tx.table() + " does not exist"};
  std::map<std::string, std::set<Element>> add, del;
  for (auto& [name, want] : guard_elements(bindings)) {
    auto have = tx.state()->sets.find(name);
    if (have == tx.state()->sets.end()) {
      return Error{"anti-spoofing: set " + name + " missing from table " + tx.table()};
    }
    const auto& h = have->second.elements;
    std::set_difference(h.begin(), h.end(), want.begin(), want.end(),
                        std::inserter(del[name], del[name].end()));
    std::set_difference(want.begin(), want.end(), h.begin(), h.end(),
                        std::inserter(add[name], add[name].end()));
  }
  for (auto& [name, els] : del) {
    if (!els.empty()) tx.append(Verb::Delete, Elements{name, std::move(els)});
  }
  for (auto& [name, els] : add) {
    if (!els.empty()) tx.append(Verb::Add, Elements{name, std::move(els)});
  }
  return tx.status();
}

Status BridgeGuard::sync(const PortBindings& bindings) {
  std::optional<Transaction> tx;
  if (mirror_) {
    Transaction t(TableFamily::Bridge, kTableName, std::move(*mirror_));
    mirror_.reset();
    if (append_guard_changes(t, bindings).ok()) tx.emplace(std::move(t));
  }
  if (!tx) {
    Ruleset desired = render_bridge_guard(bindings, audit_);
    auto current = kernel_.read(TableFamily::Bridge, kTableName);
    std::optional<Result<Transaction>> planned;
    if (current.ok()) planned.emplace(plan(std::move(current).value(), desired));
    if (!planned || !planned->ok()) planned.emplace(Transaction::replace(std::move(desired)));
    if (!planned->ok()) return planned->status();
    tx.emplace(std::move(*planned).value());
  }
  if (!tx->empty()) {
    if (Status s = kernel_.commit(*tx); !s.ok()) return s;
  }
  mirror_ = tx->take_state();
  return {};
}

Status BridgeGuard::remove() {
  mirror_.reset();
  auto current = kernel_.read(TableFamily::Bridge, kTableName);
  if (!current.ok()) return current.status();
  if (!current.value()) return {};
  Transaction tx(TableFamily::Bridge, kTableName, std::move(current).value());
  tx.append(Verb::Delete, Table{TableFamily::Bridge, kTableName, {}});
  if (!tx.ok()) return tx.status();
  return kernel_.commit(tx);
}

}  // namespace netpol::nft
