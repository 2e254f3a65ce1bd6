#include "nft/nl_decode.h"

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

namespace netpol::nft::nl {

namespace {

// --- rule bytecode -> Expr ------------------------------------------------------

// One kernel expression with the attributes netpol's expressions use.
struct Raw {
  std::string name;
  std::map<uint16_t, uint32_t> u32;
  std::map<uint16_t, std::vector<uint8_t>> data;
  std::map<uint16_t, std::string> str;
  std::map<uint16_t, uint64_t> u64;

  bool is(const char* n) const { return name == n; }
  std::optional<uint32_t> get(uint16_t a) const {
    auto it = u32.find(a);
    if (it == u32.end()) return std::nullopt;
    return it->second;
  }
  bool has(uint16_t a) const { return u32.contains(a) || data.contains(a) || str.contains(a); }
};

Raw raw_of(nftnl_expr* e) {
  Raw r;
  r.name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
  auto u32 = [&](uint16_t a) {
    if (nftnl_expr_is_set(e, a)) r.u32[a] = nftnl_expr_get_u32(e, a);
  };
  auto bytes = [&](uint16_t a) {
    if (!nftnl_expr_is_set(e, a)) return;
    uint32_t len = 0;
    const auto* p = static_cast<const uint8_t*>(nftnl_expr_get(e, a, &len));
    r.data[a] = std::vector<uint8_t>(p, p + len);
  };
  auto str = [&](uint16_t a) {
    if (nftnl_expr_is_set(e, a)) r.str[a] = nftnl_expr_get_str(e, a);
  };
  if (r.is("meta")) {
    u32(NFTNL_EXPR_META_KEY), u32(NFTNL_EXPR_META_DREG), u32(NFTNL_EXPR_META_SREG);
  } else if (r.is("cmp")) {
    u32(NFTNL_EXPR_CMP_SREG), u32(NFTNL_EXPR_CMP_OP), bytes(NFTNL_EXPR_CMP_DATA);
  } else if (r.is("payload")) {
    u32(NFTNL_EXPR_PAYLOAD_DREG), u32(NFTNL_EXPR_PAYLOAD_BASE), u32(NFTNL_EXPR_PAYLOAD_OFFSET),
        u32(NFTNL_EXPR_PAYLOAD_LEN), u32(NFTNL_EXPR_PAYLOAD_SREG);
  } else if (r.is("lookup")) {
    u32(NFTNL_EXPR_LOOKUP_SREG), u32(NFTNL_EXPR_LOOKUP_DREG), str(NFTNL_EXPR_LOOKUP_SET),
        u32(NFTNL_EXPR_LOOKUP_FLAGS);
  } else if (r.is("immediate")) {
    u32(NFTNL_EXPR_IMM_DREG), u32(NFTNL_EXPR_IMM_VERDICT), str(NFTNL_EXPR_IMM_CHAIN);
    bytes(NFTNL_EXPR_IMM_DATA);
  } else if (r.is("ct")) {
    u32(NFTNL_EXPR_CT_KEY), u32(NFTNL_EXPR_CT_DREG), u32(NFTNL_EXPR_CT_DIR),
        u32(NFTNL_EXPR_CT_SREG);
  } else if (r.is("bitwise")) {
    u32(NFTNL_EXPR_BITWISE_SREG), u32(NFTNL_EXPR_BITWISE_DREG), u32(NFTNL_EXPR_BITWISE_LEN),
        bytes(NFTNL_EXPR_BITWISE_MASK), bytes(NFTNL_EXPR_BITWISE_XOR), u32(NFTNL_EXPR_BITWISE_OP);
  } else if (r.is("fib")) {
    u32(NFTNL_EXPR_FIB_DREG), u32(NFTNL_EXPR_FIB_RESULT), u32(NFTNL_EXPR_FIB_FLAGS);
  } else if (r.is("limit")) {
    for (uint16_t a : {NFTNL_EXPR_LIMIT_RATE, NFTNL_EXPR_LIMIT_UNIT}) {
      if (nftnl_expr_is_set(e, a)) r.u64[a] = nftnl_expr_get_u64(e, a);
    }
    u32(NFTNL_EXPR_LIMIT_BURST), u32(NFTNL_EXPR_LIMIT_TYPE), u32(NFTNL_EXPR_LIMIT_FLAGS);
  } else if (r.is("log")) {
    str(NFTNL_EXPR_LOG_PREFIX);
    if (nftnl_expr_is_set(e, NFTNL_EXPR_LOG_GROUP)) {
      r.u32[NFTNL_EXPR_LOG_GROUP] = nftnl_expr_get_u16(e, NFTNL_EXPR_LOG_GROUP);
    }
    // Attributes netpol never writes: their presence makes the rule foreign.
    for (uint16_t a : {NFTNL_EXPR_LOG_SNAPLEN, NFTNL_EXPR_LOG_QTHRESHOLD, NFTNL_EXPR_LOG_LEVEL,
                       NFTNL_EXPR_LOG_FLAGS}) {
      if (nftnl_expr_is_set(e, a)) r.u32[a] = 1;
    }
  }
  return r;
}

uint16_t be16(const std::vector<uint8_t>& b) {
  return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

std::vector<uint8_t> u32_bytes(uint32_t v) {
  std::vector<uint8_t> out(4);
  std::memcpy(out.data(), &v, 4);
  return out;
}

std::optional<Verdict> verdict_of(int32_t code, const std::string& chain) {
  switch (code) {
    case NF_ACCEPT:
      return Verdict::accept();
    case NF_DROP:
      return Verdict::drop();
    case NFT_RETURN:
      return Verdict::ret();
    case NFT_CONTINUE:
      return Verdict{Verdict::Kind::Continue, {}};
    case NFT_JUMP:
      return Verdict::jump(chain);
    case NFT_GOTO:
      return Verdict::go_to(chain);
    default:
      return std::nullopt;
  }
}

// Matches the expression list against the sequences netlink.cpp writes.
class RuleParser {
 public:
  RuleParser(const std::vector<Raw>& xs, const AnonSets& anon) : xs_(xs), anon_(anon) {}

  std::optional<std::vector<Expr>> parse() {
    std::vector<Expr> out;
    while (i_ < xs_.size()) {
      std::optional<Expr> e = next();
      if (!e) return std::nullopt;
      out.push_back(std::move(*e));
    }
    return out;
  }

 private:
  const Raw* at(size_t k) const { return i_ + k < xs_.size() ? &xs_[i_ + k] : nullptr; }

  static bool cmp_is(const Raw* x, uint32_t op, const std::vector<uint8_t>& data) {
    if (!x || !x->is("cmp") || x->get(NFTNL_EXPR_CMP_SREG) != NFT_REG_1) return false;
    if (x->get(NFTNL_EXPR_CMP_OP) != op) return false;
    auto it = x->data.find(NFTNL_EXPR_CMP_DATA);
    return it != x->data.end() && it->second == data;
  }
  static std::optional<std::vector<uint8_t>> cmp_data(const Raw* x, uint32_t op) {
    if (!x || !x->is("cmp") || x->get(NFTNL_EXPR_CMP_SREG) != NFT_REG_1) return std::nullopt;
    if (x->get(NFTNL_EXPR_CMP_OP) != op) return std::nullopt;
    auto it = x->data.find(NFTNL_EXPR_CMP_DATA);
    if (it == x->data.end()) return std::nullopt;
    return it->second;
  }

  // A payload/meta load of a Field into `reg`.
  static std::optional<Field> load_field(const Raw* x, uint32_t reg) {
    if (!x) return std::nullopt;
    wire::Load l;
    if (x->is("meta")) {
      if (x->get(NFTNL_EXPR_META_DREG) != reg || !x->get(NFTNL_EXPR_META_KEY)) return std::nullopt;
      l.meta = true;
      l.meta_key = *x->get(NFTNL_EXPR_META_KEY);
    } else if (x->is("payload")) {
      if (x->get(NFTNL_EXPR_PAYLOAD_DREG) != reg || x->has(NFTNL_EXPR_PAYLOAD_SREG)) {
        return std::nullopt;
      }
      l.base = x->get(NFTNL_EXPR_PAYLOAD_BASE).value_or(~0u);
      l.offset = x->get(NFTNL_EXPR_PAYLOAD_OFFSET).value_or(~0u);
      l.len = x->get(NFTNL_EXPR_PAYLOAD_LEN).value_or(~0u);
    } else {
      return std::nullopt;
    }
    return wire::field_of(l);
  }

  std::optional<Expr> next() {
    const Raw& x = xs_[i_];
    if (x.is("ct")) return ct_state();
    if (x.is("fib")) return fib();
    if (x.is("immediate")) return verdict();
    if (x.is("limit")) return limit();
    if (x.is("log")) return log();
    if (x.is("counter")) {
      ++i_;
      return CounterStmt{};
    }
    // meta nfproto dependency, then an address-keyed lookup.
    if (x.is("meta") && x.get(NFTNL_EXPR_META_KEY) == wire::kMetaNfproto) return keyed(true);
    // ... or its bridge-table form, `meta protocol ip|ip6`.
    if (x.is("meta") && x.get(NFTNL_EXPR_META_KEY) == wire::kMetaProtocol) return keyed(true);
    // meta l4proto P (a comparison, not the start of a key).
    if (x.is("meta") && x.get(NFTNL_EXPR_META_KEY) == wire::kMetaL4proto && at(1) &&
        at(1)->is("cmp")) {
      auto d = cmp_data(at(1), NFT_CMP_EQ);
      if (!d || d->size() != 1 || x.get(NFTNL_EXPR_META_DREG) != NFT_REG_1) return std::nullopt;
      i_ += 2;
      return L4ProtoMatch{(*d)[0]};
    }
    if (load_field(&x, NFT_REG_1) == Field::ThDport && at(1) && at(1)->is("cmp")) return dport();
    return keyed(false);
  }

  std::optional<Expr> ct_state() {
    const Raw& ct = xs_[i_];
    const Raw* bw = at(1);
    if (ct.get(NFTNL_EXPR_CT_KEY) != NFT_CT_STATE || ct.get(NFTNL_EXPR_CT_DREG) != NFT_REG_1 ||
        ct.has(NFTNL_EXPR_CT_DIR) || !bw || !bw->is("bitwise")) {
      return std::nullopt;
    }
    if (bw->get(NFTNL_EXPR_BITWISE_SREG) != NFT_REG_1 ||
        bw->get(NFTNL_EXPR_BITWISE_DREG) != NFT_REG_1 || bw->get(NFTNL_EXPR_BITWISE_LEN) != 4u ||
        bw->get(NFTNL_EXPR_BITWISE_OP).value_or(0) != 0) {
      return std::nullopt;
    }
    auto mask = bw->data.find(NFTNL_EXPR_BITWISE_MASK);
    auto xr = bw->data.find(NFTNL_EXPR_BITWISE_XOR);
    if (mask == bw->data.end() || mask->second.size() != 4 || xr == bw->data.end() ||
        xr->second != u32_bytes(0)) {
      return std::nullopt;
    }
    uint32_t states = 0;
    std::memcpy(&states, mask->second.data(), 4);
    if (states == 0 || states > 0xff || !cmp_is(at(2), NFT_CMP_NEQ, u32_bytes(0))) {
      return std::nullopt;
    }
    i_ += 3;
    return CtStateMatch{static_cast<uint8_t>(states)};
  }

  std::optional<Expr> fib() {
    const Raw& f = xs_[i_];
    if (f.get(NFTNL_EXPR_FIB_FLAGS) != NFTA_FIB_F_SADDR ||
        f.get(NFTNL_EXPR_FIB_RESULT) != NFT_FIB_RESULT_ADDRTYPE ||
        f.get(NFTNL_EXPR_FIB_DREG) != NFT_REG_1 || !cmp_is(at(1), NFT_CMP_EQ, u32_bytes(2))) {
      return std::nullopt;
    }
    i_ += 2;
    return FibSaddrLocal{};
  }

  std::optional<Expr> verdict() {
    const Raw& v = xs_[i_];
    if (v.get(NFTNL_EXPR_IMM_DREG) != NFT_REG_VERDICT || !v.get(NFTNL_EXPR_IMM_VERDICT)) {
      return std::nullopt;
    }
    auto chain = v.str.find(NFTNL_EXPR_IMM_CHAIN);
    auto out = verdict_of(static_cast<int32_t>(*v.get(NFTNL_EXPR_IMM_VERDICT)),
                          chain == v.str.end() ? std::string() : chain->second);
    if (!out) return std::nullopt;
    if ((out->kind == Verdict::Kind::Jump || out->kind == Verdict::Kind::Goto) !=
        (chain != v.str.end())) {
      return std::nullopt;
    }
    ++i_;
    return *out;
  }

  std::optional<Expr> limit() {
    const Raw& x = xs_[i_];
    auto rate = x.u64.find(NFTNL_EXPR_LIMIT_RATE);
    auto unit = x.u64.find(NFTNL_EXPR_LIMIT_UNIT);
    auto burst = x.get(NFTNL_EXPR_LIMIT_BURST);
    if (rate == x.u64.end() || unit == x.u64.end() || unit->second != 1 || !burst ||
        rate->second == 0 || rate->second > UINT32_MAX || *burst == 0 ||
        x.get(NFTNL_EXPR_LIMIT_TYPE).value_or(NFT_LIMIT_PKTS) != NFT_LIMIT_PKTS ||
        x.get(NFTNL_EXPR_LIMIT_FLAGS).value_or(0) != 0) {
      return std::nullopt;
    }
    ++i_;
    return LimitMatch{static_cast<uint32_t>(rate->second), *burst};
  }

  std::optional<Expr> log() {
    const Raw& x = xs_[i_];
    auto prefix = x.str.find(NFTNL_EXPR_LOG_PREFIX);
    auto group = x.get(NFTNL_EXPR_LOG_GROUP);
    if (prefix == x.str.end() || !group || x.u32.size() != 1) return std::nullopt;
    ++i_;
    return LogStmt{static_cast<uint16_t>(*group), prefix->second};
  }

  std::optional<Expr> dport() {
    const Raw* c1 = at(1);
    if (auto eq = cmp_data(c1, NFT_CMP_EQ); eq && eq->size() == 2) {
      uint16_t p = be16(*eq);
      i_ += 2;
      return DportMatch{{PortRange{p, p}}};
    }
    auto lo = cmp_data(c1, NFT_CMP_GTE);
    auto hi = cmp_data(at(2), NFT_CMP_LTE);
    if (!lo || !hi || lo->size() != 2 || hi->size() != 2) return std::nullopt;
    i_ += 3;
    return DportMatch{{PortRange{be16(*lo), be16(*hi)}}};
  }

  // [meta nfproto dependency] key loads, then a lookup: a set match, a vmap,
  // or `th dport { ... }` through an anonymous set.
  std::optional<Expr> keyed(bool dependency) {
    std::optional<uint8_t> family;
    if (dependency) {
      auto d = cmp_data(at(1), NFT_CMP_EQ);
      if (xs_[i_].get(NFTNL_EXPR_META_DREG) != NFT_REG_1 || !d) return std::nullopt;
      if (xs_[i_].get(NFTNL_EXPR_META_KEY) == wire::kMetaProtocol) {
        if (d->size() != 2) return std::nullopt;
        const uint16_t type = static_cast<uint16_t>(((*d)[0] << 8) | (*d)[1]);
        if (type == wire::kEthertypeIpv4) {
          family = wire::kNfprotoIpv4;
        } else if (type == wire::kEthertypeIpv6) {
          family = wire::kNfprotoIpv6;
        } else {
          return std::nullopt;
        }
      } else {
        if (d->size() != 1) return std::nullopt;
        family = (*d)[0];
      }
      i_ += 2;
    }
    std::vector<Field> fields;
    // Loads until the lookup; the key length decides whether it is a concatenation,
    // so collect first and check the registers after.
    std::vector<uint32_t> regs;
    while (at(0) && !at(0)->is("lookup")) {
      const Raw* x = at(0);
      uint32_t reg = x->is("meta") ? x->get(NFTNL_EXPR_META_DREG).value_or(~0u)
                                   : x->get(NFTNL_EXPR_PAYLOAD_DREG).value_or(~0u);
      auto f = load_field(x, reg);
      if (!f) return std::nullopt;
      fields.push_back(*f);
      regs.push_back(reg);
      ++i_;
    }
    const Raw* lk = at(0);
    const uint32_t flags = lk ? lk->get(NFTNL_EXPR_LOOKUP_FLAGS).value_or(0) : 0;
    if (fields.empty() || !lk || lk->get(NFTNL_EXPR_LOOKUP_SREG) != NFT_REG_1 ||
        (flags & ~static_cast<uint32_t>(NFT_LOOKUP_F_INV)) != 0) {
      return std::nullopt;
    }
    const bool negate = (flags & NFT_LOOKUP_F_INV) != 0;
    // Registers exactly as nft (and netlink.cpp) lay a key out.
    uint32_t slot = 0;
    for (size_t k = 0; k < fields.size(); ++k) {
      if (regs[k] != wire::register_of_slot(slot)) return std::nullopt;
      slot += (wire::padded_len(key_type(fields[k]), fields.size() > 1) + 3) / 4;
    }
    // The dependency is there exactly when the key starts with an address,
    // and names that address's family.
    uint8_t need = 0;
    for (Field f : fields) {
      if (wire::load_of(f).nfproto) {
        need = wire::load_of(f).nfproto;
        break;
      }
    }
    // nft (and netlink.cpp) emit the dependency only before the first address.
    const bool expected = need != 0 && established_ != need;
    if (family.has_value() != expected || (family && *family != need)) return std::nullopt;
    if (need) established_ = need;
    auto set = lk->str.find(NFTNL_EXPR_LOOKUP_SET);
    if (set == lk->str.end()) return std::nullopt;
    ++i_;
    auto dreg = lk->get(NFTNL_EXPR_LOOKUP_DREG);
    if (dreg) {
      if (*dreg != NFT_REG_VERDICT || fields.size() != 1 || negate) return std::nullopt;
      return VmapLookup{fields[0], set->second};
    }
    if (auto a = anon_.find(set->second); a != anon_.end()) {
      if (fields != std::vector<Field>{Field::ThDport} || !a->second.valid || negate) {
        return std::nullopt;
      }
      return DportMatch{a->second.ports};
    }
    return SetMatch{fields, set->second, negate};
  }

  const std::vector<Raw>& xs_;
  const AnonSets& anon_;
  size_t i_ = 0;
  uint8_t established_ = 0;  // nfproto a dependency has fixed for the rest of the rule
};

}  // namespace

std::string udata_comment(const void* data, uint32_t len, uint8_t type) {
  std::string out;
  if (!data) return out;
  struct Ctx {
    uint8_t type;
    std::string* out;
  } ctx{type, &out};
  nftnl_udata_parse(
      data, len,
      [](const nftnl_udata* attr, void* p) -> int {
        auto* c = static_cast<Ctx*>(p);
        if (nftnl_udata_type(attr) == c->type && nftnl_udata_len(attr) > 0) {
          const char* s = static_cast<const char*>(nftnl_udata_get(attr));
          *c->out = std::string(s, strnlen(s, nftnl_udata_len(attr)));
        }
        return MNL_CB_OK;
      },
      &ctx);
  return out;
}

// --- set elements -> Element ----------------------------------------------------

// Interval elements (start, end = last+1) back into inclusive ranges; an end
// without a start (nft's leading end at zero) carries no range.
std::optional<std::vector<std::pair<wire::Key, wire::Key>>> ranges_of(std::vector<RawElem> elems) {
  std::sort(elems.begin(), elems.end(), [](const RawElem& a, const RawElem& b) {
    int c = std::memcmp(a.key.bytes.data(), b.key.bytes.data(), a.key.len);
    if (c != 0) return c < 0;
    return a.end && !b.end;  // an end closes the range before a start opens the next
  });
  std::vector<std::pair<wire::Key, wire::Key>> out;
  std::optional<wire::Key> start;
  for (const RawElem& e : elems) {
    if (e.end) {
      if (!start) continue;
      auto last = wire::predecessor(e.key);
      if (!last) return std::nullopt;
      out.emplace_back(*start, *last);
      start.reset();
    } else {
      if (start) return std::nullopt;  // two starts in a row: only the last range may be open
      start = e.key;
    }
  }
  if (start) {
    wire::Key top = *start;
    for (uint32_t i = 0; i < top.len; ++i) top.bytes[i] = 0xff;
    out.emplace_back(*start, top);
  }
  return out;
}

std::vector<RawElem> raw_elems(nftnl_set* s) {
  std::vector<RawElem> out;
  nftnl_set_elems_iter* it = nftnl_set_elems_iter_create(s);
  if (!it) return out;
  for (nftnl_set_elem* e = nftnl_set_elems_iter_next(it); e; e = nftnl_set_elems_iter_next(it)) {
    RawElem r;
    uint32_t len = 0;
    const auto* key = static_cast<const uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
    if (key && len <= r.key.bytes.size()) {
      std::memcpy(r.key.bytes.data(), key, len);
      r.key.len = len;
    }
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)) {
      r.end = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END;
    }
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
      const char* chain = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)
                              ? nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN)
                              : "";
      r.verdict = verdict_of(
          static_cast<int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT)), chain);
      if (!r.verdict) r.verdict = Verdict{Verdict::Kind::Continue, "?"};
    }
    out.push_back(std::move(r));
  }
  nftnl_set_elems_iter_destroy(it);
  return out;
}

std::optional<std::vector<Expr>> decode_exprs(nftnl_rule* r, const AnonSets& anon) {
  std::vector<Raw> xs;
  nftnl_expr_iter* it = nftnl_expr_iter_create(r);
  for (nftnl_expr* e = it ? nftnl_expr_iter_next(it) : nullptr; e; e = nftnl_expr_iter_next(it)) {
    xs.push_back(raw_of(e));
  }
  if (it) nftnl_expr_iter_destroy(it);
  return RuleParser(xs, anon).parse();
}

}  // namespace netpol::nft::nl
