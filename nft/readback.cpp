#include "nft/readback.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "nft/netlink_wire.h"
#include "nft/nl_handles.h"

namespace netpol::nft {

namespace {

using nl::Ptr;

// Dumps of a busy ruleset can be interrupted or overtaken by a commit; give up
// after this many attempts rather than spin.
constexpr int kMaxAttempts = 10;
// Dumps of one set's elements until two agree (see elements_of).
constexpr int kMaxElementDumps = 12;

const char* family_name(uint32_t nfproto) {
  switch (nfproto) {
    case NFPROTO_INET:
      return "inet";
    case NFPROTO_IPV4:
      return "ip";
    case NFPROTO_IPV6:
      return "ip6";
    case NFPROTO_ARP:
      return "arp";
    case NFPROTO_BRIDGE:
      return "bridge";
    case NFPROTO_NETDEV:
      return "netdev";
    default:
      return "unknown";
  }
}

uint16_t nfproto(TableFamily f) {
  switch (f) {
    case TableFamily::Inet:
      return NFPROTO_INET;
  }
  return NFPROTO_UNSPEC;
}

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

// An anonymous set as a rule sees it: the port ranges it holds.
struct AnonSet {
  std::vector<PortRange> ports;
  bool valid = false;
};

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
  RuleParser(const std::vector<Raw>& xs, const std::map<std::string, AnonSet>& anon)
      : xs_(xs), anon_(anon) {}

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
      if (xs_[i_].get(NFTNL_EXPR_META_DREG) != NFT_REG_1 || !d || d->size() != 1) {
        return std::nullopt;
      }
      family = (*d)[0];
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
    if (fields.empty() || !lk || lk->get(NFTNL_EXPR_LOOKUP_SREG) != NFT_REG_1 ||
        lk->get(NFTNL_EXPR_LOOKUP_FLAGS).value_or(0) != 0) {
      return std::nullopt;
    }
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
      if (*dreg != NFT_REG_VERDICT || fields.size() != 1) return std::nullopt;
      return VmapLookup{fields[0], set->second};
    }
    if (auto a = anon_.find(set->second); a != anon_.end()) {
      if (fields != std::vector<Field>{Field::ThDport} || !a->second.valid) return std::nullopt;
      return DportMatch{a->second.ports};
    }
    return SetMatch{fields, set->second};
  }

  const std::vector<Raw>& xs_;
  const std::map<std::string, AnonSet>& anon_;
  size_t i_ = 0;
  uint8_t established_ = 0;  // nfproto a dependency has fixed for the rest of the rule
};

// --- set elements -> Element ----------------------------------------------------

struct RawElem {
  wire::Key key;
  bool end = false;
  std::optional<Verdict> verdict;

  friend bool operator==(const RawElem&, const RawElem&) = default;
  friend bool operator<(const RawElem& a, const RawElem& b) {
    if (a.key.len != b.key.len) return a.key.len < b.key.len;
    if (int c = std::memcmp(a.key.bytes.data(), b.key.bytes.data(), a.key.len); c != 0)
      return c < 0;
    if (a.end != b.end) return a.end;
    return a.verdict < b.verdict;
  }
};

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

}  // namespace

// --- the socket and the dumps ---------------------------------------------------

struct TableReader::Impl {
  Ptr<mnl_socket> sock;
  uint32_t portid = 0;
  uint32_t seq = 0;
  std::vector<char> buf = std::vector<char>(1u << 18);
  // Set when a dump failed in a way that reading again can fix (interrupted
  // by a concurrent commit, or an overrun receive buffer).
  bool retry = false;

  // Sends `nlh` and feeds every answer to `each` until the dump (or the ACK)
  // ends. ENOENT comes back as an error value with that errno in `err`.
  Status talk(nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& each, int* err) {
    if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0) {
      if (err) *err = errno;
      return Error{std::string("netlink: sending a dump request failed: ") + std::strerror(errno)};
    }
    const uint32_t want = nlh->nlmsg_seq;
    struct Ctx {
      const std::function<void(const nlmsghdr*)>* each;
    } ctx{&each};
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (err) *err = errno;
        if (errno == ENOBUFS) retry = true;
        return Error{std::string("netlink: dump failed: ") + std::strerror(errno)};
      }
      int r = mnl_cb_run(
          buf.data(), static_cast<size_t>(n), want, portid,
          [](const nlmsghdr* m, void* p) -> int {
            (*static_cast<Ctx*>(p)->each)(m);
            return MNL_CB_OK;
          },
          &ctx);
      if (r == MNL_CB_STOP) return {};
      if (r < 0) {
        if (errno == EINTR) retry = true;  // NLM_F_DUMP_INTR: the ruleset changed mid-dump
        if (err) *err = errno;
        return Error{std::string("netlink: dump failed: ") + std::strerror(errno)};
      }
    }
  }

  nlmsghdr* request(uint16_t type, uint16_t family, uint16_t flags) {
    return nftnl_nlmsg_build_hdr(buf.data(), type, family, flags, ++seq);
  }

  Result<uint32_t> generation() {
    Ptr<nftnl_gen> gen(nftnl_gen_alloc());
    nlmsghdr* nlh = request(NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK);
    bool got = false;
    Status s = talk(
        nlh,
        [&](const nlmsghdr* m) {
          if (nftnl_gen_nlmsg_parse(m, gen.get()) >= 0) got = true;
        },
        nullptr);
    if (!s.ok()) return s;
    if (!got) return Error{"netlink: no ruleset generation in the answer"};
    return nftnl_gen_get_u32(gen.get(), NFTNL_GEN_ID);
  }

  Result<std::optional<Ruleset>> read_once(TableFamily family, const std::string& name);

  // The elements of one set, consistently. A dump that takes several messages
  // resumes by position, and the kernel resizes a growing hash set in the
  // background: a dump running across a resize silently misses elements
  // (seen: 10% of a 100k set read right after it was filled). So a dump of
  // several messages is repeated until two in a row agree.
  Result<std::vector<RawElem>> elements_of(uint16_t family, const std::string& table,
                                           const std::string& set) {
    std::optional<std::vector<RawElem>> previous;
    auto pause = std::chrono::milliseconds(1);
    for (int attempt = 0; attempt < kMaxElementDumps; ++attempt) {
      Ptr<nftnl_set> into(nftnl_set_alloc());
      nftnl_set_set_str(into.get(), NFTNL_SET_TABLE, table.c_str());
      nftnl_set_set_str(into.get(), NFTNL_SET_NAME, set.c_str());
      nlmsghdr* req = request(NFT_MSG_GETSETELEM, family, NLM_F_DUMP);
      nftnl_set_elems_nlmsg_build_payload(req, into.get());
      size_t messages = 0;
      Status s = talk(
          req,
          [&](const nlmsghdr* m) {
            ++messages;
            nftnl_set_elems_nlmsg_parse(m, into.get());
          },
          nullptr);
      if (!s.ok()) return s;
      std::vector<RawElem> raw = raw_elems(into.get());
      std::sort(raw.begin(), raw.end());
      if (messages <= 1 || (previous && *previous == raw)) return raw;
      if (previous) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(64));
      }
      previous = std::move(raw);
    }
    return Error{"elements of " + set + " differed in every dump"};
  }
};

TableReader::TableReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TableReader::~TableReader() = default;

Result<std::unique_ptr<TableReader>> TableReader::open() {
  auto impl = std::make_unique<Impl>();
  impl->sock.reset(mnl_socket_open(NETLINK_NETFILTER));
  if (!impl->sock) {
    return Error{std::string("netlink: cannot open socket: ") + std::strerror(errno)};
  }
  if (mnl_socket_bind(impl->sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return Error{std::string("netlink: cannot bind socket: ") + std::strerror(errno)};
  }
  impl->portid = mnl_socket_get_portid(impl->sock.get());
  impl->seq = static_cast<uint32_t>(std::time(nullptr));
  return std::unique_ptr<TableReader>(new TableReader(std::move(impl)));
}

Result<uint32_t> TableReader::generation() {
  return impl_->generation();
}

Result<std::optional<Ruleset>> TableReader::read(TableFamily family, const std::string& name) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    impl_->retry = false;
    auto before = impl_->generation();
    if (!before.ok()) return before.status();
    auto rs = impl_->read_once(family, name);
    if (!rs.ok() && impl_->retry) continue;
    auto after = impl_->generation();
    if (!after.ok()) return after.status();
    if (before.value() == after.value()) return rs;
  }
  return Error{"netlink: table " + name + " kept changing while being read"};
}

Result<std::optional<Ruleset>> TableReader::Impl::read_once(TableFamily family,
                                                            const std::string& name) {
  const uint16_t fam = nfproto(family);
  const std::string where = std::string("read table ") + to_string(family) + " " + name;

  // The table itself (ENOENT: absent).
  Ruleset rs;
  rs.table.family = family;
  rs.table.name = name;
  {
    Ptr<nftnl_table> t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
    nlmsghdr* nlh = request(NFT_MSG_GETTABLE, fam, NLM_F_ACK);
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    Ptr<nftnl_table> got(nftnl_table_alloc());
    int err = 0;
    Status s = talk(
        nlh, [&](const nlmsghdr* m) { nftnl_table_nlmsg_parse(m, got.get()); }, &err);
    if (!s.ok()) {
      if (err == ENOENT) return std::optional<Ruleset>();
      return s.context(where);
    }
    if (nftnl_table_is_set(got.get(), NFTNL_TABLE_FLAGS) &&
        nftnl_table_get_u32(got.get(), NFTNL_TABLE_FLAGS) != 0) {
      return Error{where + ": the table has flags (dormant or owned) netpol never sets"};
    }
    if (nftnl_table_is_set(got.get(), NFTNL_TABLE_USERDATA)) {
      uint32_t len = 0;
      const void* ud = nftnl_table_get_data(got.get(), NFTNL_TABLE_USERDATA, &len);
      rs.table.comment = udata_comment(ud, len, NFTNL_UDATA_TABLE_COMMENT);
    }
  }

  // Chains.
  std::string problem;
  {
    Ptr<nftnl_chain> filter(nftnl_chain_alloc());
    nftnl_chain_set_str(filter.get(), NFTNL_CHAIN_TABLE, name.c_str());
    nlmsghdr* nlh = request(NFT_MSG_GETCHAIN, fam, NLM_F_DUMP);
    nftnl_chain_nlmsg_build_payload(nlh, filter.get());
    Status s = talk(
        nlh,
        [&](const nlmsghdr* m) {
          Ptr<nftnl_chain> c(nftnl_chain_alloc());
          if (nftnl_chain_nlmsg_parse(m, c.get()) < 0) return;
          if (name != nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE)) return;
          Chain chain;
          chain.name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
          if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_USERDATA)) {
            uint32_t len = 0;
            const void* ud = nftnl_chain_get_data(c.get(), NFTNL_CHAIN_USERDATA, &len);
            chain.comment = udata_comment(ud, len, NFTNL_UDATA_CHAIN_COMMENT);
          }
          if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) {
            BaseHook b;
            uint32_t hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
            const char* type = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_TYPE)
                                   ? nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TYPE)
                                   : "";
            uint32_t policy = nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY)
                                  ? nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY)
                                  : NF_ACCEPT;
            if (hook > static_cast<uint32_t>(Hook::Postrouting) || std::strcmp(type, "filter") ||
                (policy != NF_ACCEPT && policy != NF_DROP)) {
              problem = "chain " + chain.name + " has a type, hook or policy netpol never uses";
              return;
            }
            b.hook = static_cast<Hook>(hook);
            b.priority = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO);
            b.policy = policy == NF_ACCEPT ? ChainPolicy::Accept : ChainPolicy::Drop;
            chain.base = b;
          }
          rs.chains.emplace(chain.name, std::move(chain));
        },
        nullptr);
    if (!s.ok()) return s.context(where);
    if (!problem.empty()) return Error{where + ": " + problem};
  }

  // Sets and maps (named and anonymous), with their elements.
  std::map<std::string, AnonSet> anon;
  {
    std::vector<Ptr<nftnl_set>> sets;
    Ptr<nftnl_set> filter(nftnl_set_alloc());
    nftnl_set_set_str(filter.get(), NFTNL_SET_TABLE, name.c_str());
    nlmsghdr* nlh = request(NFT_MSG_GETSET, fam, NLM_F_DUMP);
    nftnl_set_nlmsg_build_payload(nlh, filter.get());
    Status s = talk(
        nlh,
        [&](const nlmsghdr* m) {
          Ptr<nftnl_set> set(nftnl_set_alloc());
          if (nftnl_set_nlmsg_parse(m, set.get()) < 0) return;
          if (name != nftnl_set_get_str(set.get(), NFTNL_SET_TABLE)) return;
          sets.push_back(std::move(set));
        },
        nullptr);
    if (!s.ok()) return s.context(where);

    for (Ptr<nftnl_set>& set : sets) {
      const std::string sname = nftnl_set_get_str(set.get(), NFTNL_SET_NAME);
      auto elems = elements_of(fam, name, sname);
      if (!elems.ok()) return elems.status().context(where + ": elements of " + sname);

      const uint32_t flags = nftnl_set_get_u32(set.get(), NFTNL_SET_FLAGS);
      const uint32_t key_type = nftnl_set_get_u32(set.get(), NFTNL_SET_KEY_TYPE);
      const uint32_t key_len = nftnl_set_get_u32(set.get(), NFTNL_SET_KEY_LEN);
      std::vector<RawElem> raw = std::move(elems).value();

      if (flags & NFT_SET_ANONYMOUS) {
        AnonSet a;
        a.valid = key_type == wire::kTypeInetService && key_len == 2 &&
                  !(flags & ~(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL));
        if (a.valid && (flags & NFT_SET_INTERVAL)) {
          auto ranges = ranges_of(raw);
          if (!ranges) a.valid = false;
          for (const auto& [lo, hi] : ranges.value_or(decltype(ranges)::value_type{})) {
            a.ports.push_back({static_cast<uint16_t>((lo.bytes[0] << 8) | lo.bytes[1]),
                               static_cast<uint16_t>((hi.bytes[0] << 8) | hi.bytes[1])});
          }
        } else if (a.valid) {
          std::vector<uint16_t> ports;
          for (const RawElem& e : raw) {
            ports.push_back(static_cast<uint16_t>((e.key.bytes[0] << 8) | e.key.bytes[1]));
          }
          std::sort(ports.begin(), ports.end());
          for (uint16_t p : ports) a.ports.push_back({p, p});
        }
        anon[sname] = std::move(a);
        continue;
      }

      if (flags & ~(NFT_SET_INTERVAL | NFT_SET_MAP)) {
        return Error{where + ": set " + sname + " has flags netpol never uses"};
      }
      // Count the 6-bit type groups to know how many key parts there are.
      size_t parts = 0;
      for (uint32_t id = key_type; id != 0; id >>= wire::kTypeBits) ++parts;
      auto types = wire::split_type(key_type, parts);
      if (!types || types->empty() || wire::key_len(*types) != key_len) {
        return Error{where + ": set " + sname + " has a key type netpol never uses"};
      }
      Set out;
      out.name = sname;
      out.key = *types;
      out.interval = flags & NFT_SET_INTERVAL;
      if (flags & NFT_SET_MAP) {
        if (nftnl_set_get_u32(set.get(), NFTNL_SET_DATA_TYPE) != NFT_DATA_VERDICT) {
          return Error{where + ": map " + sname + " does not map to verdicts"};
        }
        out.data = DataType::Verdict;
      }
      if (nftnl_set_is_set(set.get(), NFTNL_SET_USERDATA)) {
        uint32_t len = 0;
        const void* ud = nftnl_set_get_data(set.get(), NFTNL_SET_USERDATA, &len);
        out.comment = udata_comment(ud, len, NFTNL_UDATA_SET_COMMENT);
      }
      if (out.interval) {
        if (out.key.size() != 1)
          return Error{where + ": set " + sname + ": concatenated intervals"};
        auto ranges = ranges_of(raw);
        if (!ranges) return Error{where + ": set " + sname + ": malformed intervals"};
        for (const auto& [lo, hi] : *ranges) {
          auto first = wire::decode_key(out.key, lo.bytes.data(), lo.len);
          auto last = wire::decode_key(out.key, hi.bytes.data(), hi.len);
          if (!first || !last) return Error{where + ": set " + sname + ": bad key length"};
          Element e;
          e.key = *first;
          if (*last != *first) e.key_end = *last;
          out.elements.insert(std::move(e));
        }
      } else {
        for (RawElem& r : raw) {
          auto key = wire::decode_key(out.key, r.key.bytes.data(), r.key.len);
          if (!key) return Error{where + ": set " + sname + ": bad key length"};
          Element e;
          e.key = std::move(*key);
          if (out.is_map()) e.verdict = r.verdict.value_or(Verdict{Verdict::Kind::Continue, "?"});
          out.elements.insert(std::move(e));
        }
      }
      rs.sets.emplace(out.name, std::move(out));
    }
  }

  // Rules, in chain order.
  {
    Ptr<nftnl_rule> filter(nftnl_rule_alloc());
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, name.c_str());
    nlmsghdr* nlh = request(NFT_MSG_GETRULE, fam, NLM_F_DUMP);
    nftnl_rule_nlmsg_build_payload(nlh, filter.get());
    Status s = talk(
        nlh,
        [&](const nlmsghdr* m) {
          Ptr<nftnl_rule> r(nftnl_rule_alloc());
          if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) return;
          if (name != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE)) return;
          Rule rule;
          rule.chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
          std::vector<Raw> xs;
          nftnl_expr_iter* it = nftnl_expr_iter_create(r.get());
          for (nftnl_expr* e = it ? nftnl_expr_iter_next(it) : nullptr; e;
               e = nftnl_expr_iter_next(it)) {
            xs.push_back(raw_of(e));
          }
          if (it) nftnl_expr_iter_destroy(it);
          auto exprs = RuleParser(xs, anon).parse();
          if (exprs && !exprs->empty()) {
            rule.exprs = std::move(*exprs);
            if (nftnl_rule_is_set(r.get(), NFTNL_RULE_USERDATA)) {
              uint32_t len = 0;
              const void* ud = nftnl_rule_get_data(r.get(), NFTNL_RULE_USERDATA, &len);
              rule.comment = udata_comment(ud, len, NFTNL_UDATA_RULE_COMMENT);
            }
          } else {
            // Not ours: no expressions, so it never equals a rule netpol wants.
            rule.comment = "unrecognized rule, handle " +
                           std::to_string(nftnl_rule_get_u64(r.get(), NFTNL_RULE_HANDLE));
          }
          rs.append(std::move(rule));
        },
        nullptr);
    if (!s.ok()) return s.context(where);
  }
  return std::optional<Ruleset>(std::move(rs));
}

Result<std::vector<std::string>> TableReader::tables() {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    impl_->retry = false;
    std::vector<std::string> out;
    nlmsghdr* nlh = impl_->request(NFT_MSG_GETTABLE, NFPROTO_UNSPEC, NLM_F_DUMP);
    Status s = impl_->talk(
        nlh,
        [&](const nlmsghdr* m) {
          Ptr<nftnl_table> t(nftnl_table_alloc());
          if (nftnl_table_nlmsg_parse(m, t.get()) < 0) return;
          out.push_back(std::string(family_name(nftnl_table_get_u32(t.get(), NFTNL_TABLE_FAMILY))) +
                        " " + nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME));
        },
        nullptr);
    if (!s.ok() && impl_->retry) continue;
    if (!s.ok()) return s;
    std::sort(out.begin(), out.end());
    return out;
  }
  return Error{"netlink: tables kept changing while being listed"};
}

Result<std::optional<Ruleset>> read_table(TableFamily family, const std::string& name) {
  auto reader = TableReader::open();
  if (!reader.ok()) return reader.status();
  return reader.value()->read(family, name);
}

Result<std::vector<std::string>> list_tables() {
  auto reader = TableReader::open();
  if (!reader.ok()) return reader.status();
  return reader.value()->tables();
}

}  // namespace netpol::nft
