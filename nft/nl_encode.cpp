#include "nft/nl_encode.h"

#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <algorithm>
#include <deque>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "nft/netlink_wire.h"

namespace netpol::nft::nl {

namespace {

// Room for one user-data blob (nft's NFT_USERDATA_MAXLEN).
constexpr uint32_t kUdataMax = 256;
// A message may run past the end of a batch page by this much; set element
// lists stop near 64 KiB (their nest length is 16 bits), rules are far smaller.
constexpr uint32_t kPageOverrun = 256u << 10;
// Pages must hold the largest message (an element list just under 64 KiB).
constexpr uint32_t kMinPageBytes = 128u << 10;

uint16_t nfproto(TableFamily f) {
  switch (f) {
    case TableFamily::Inet:
      return NFPROTO_INET;
    case TableFamily::Bridge:
      return NFPROTO_BRIDGE;
  }
  return NFPROTO_UNSPEC;
}

int verdict_code(Verdict::Kind k) {
  switch (k) {
    case Verdict::Kind::Accept:
      return NF_ACCEPT;
    case Verdict::Kind::Drop:
      return NF_DROP;
    case Verdict::Kind::Return:
      return NFT_RETURN;
    case Verdict::Kind::Continue:
      return NFT_CONTINUE;
    case Verdict::Kind::Jump:
      return NFT_JUMP;
    case Verdict::Kind::Goto:
      return NFT_GOTO;
  }
  return NFT_CONTINUE;
}

// What a set looks like on the wire, enough to encode its elements.
struct SetDecl {
  std::vector<KeyType> key;
  bool interval = false;
  bool map = false;
};

SetDecl decl_of(const Set& s) {
  return SetDecl{s.key, s.interval, s.is_map()};
}

// One element as the kernel stores it: a key, and for interval sets the flag
// that makes it the (exclusive) end of the range before it.
struct WireElem {
  wire::Key key;
  bool end = false;
  bool open = false;  // start of a range that runs to the top of the key space
  const Verdict* verdict = nullptr;
};

// The wire elements of an interval set holding the sorted ranges
// [first_i, last_i]: a start at first, an end at last+1 (none when last is the
// maximum: nft marks that start "open"). `leading_end` adds nft's end element
// at zero in front of a first range that does not start at zero.
std::vector<WireElem> interval_elems(const std::vector<std::pair<wire::Key, wire::Key>>& ranges,
                                     bool leading_end) {
  std::vector<WireElem> out;
  if (leading_end && !ranges.empty() && !wire::is_zero(ranges.front().first)) {
    wire::Key zero;
    zero.len = ranges.front().first.len;
    out.push_back({zero, true, false, nullptr});
  }
  for (const auto& [first, last] : ranges) {
    auto after = wire::successor(last);
    out.push_back({first, false, !after.has_value(), nullptr});
    if (after) out.push_back({*after, true, false, nullptr});
  }
  return out;
}

// The order ops go into the batch: as recorded, except that the objects of a
// full replace are created in the order `nft -f` creates the block the script
// renderer prints (base chains, other chains, maps, sets, each by name; then
// the rules), because the kernel lists objects in creation order and a table
// loaded either way must list identically. Any order of a replace's
// declarations is valid: chains never depend on sets and sets only on chains.
std::vector<size_t> emit_order(const Transaction& tx) {
  std::vector<size_t> order;
  const size_t n = tx.ops().size();
  const size_t prefix = tx.replaced() ? tx.replace_ops() : 0;
  order.reserve(n);
  auto pass = [&](auto&& pick) {
    for (size_t i = 0; i < prefix; ++i) {
      if (pick(tx.ops()[i].object)) order.push_back(i);
    }
  };
  pass([](const Object& o) { return std::holds_alternative<Table>(o); });
  pass([](const Object& o) {
    const auto* c = std::get_if<Chain>(&o);
    return c && c->is_base();
  });
  pass([](const Object& o) {
    const auto* c = std::get_if<Chain>(&o);
    return c && !c->is_base();
  });
  pass([](const Object& o) {
    const auto* s = std::get_if<Set>(&o);
    return s && s->is_map();
  });
  pass([](const Object& o) {
    const auto* s = std::get_if<Set>(&o);
    return s && !s->is_map();
  });
  pass([](const Object& o) {
    return !std::holds_alternative<Table>(o) && !std::holds_alternative<Chain>(o) &&
           !std::holds_alternative<Set>(o);
  });
  for (size_t i = prefix; i < n; ++i) order.push_back(i);
  return order;
}

// Builds the batch for one transaction and remembers which op each message
// (sequence number) belongs to.
class Encoder {
 public:
  Encoder(const Transaction& tx, uint32_t page_bytes, uint32_t first_seq)
      : tx_(tx),
        batch_(nftnl_batch_alloc(std::max(page_bytes, kMinPageBytes), kPageOverrun)),
        family_(nfproto(tx.family())),
        first_seq_(first_seq),
        seq_(first_seq) {}

  Status encode(bool commit) {
    if (!batch_) return Error{"netlink: cannot allocate the batch buffer"};
    nftnl_batch_begin(static_cast<char*>(nftnl_batch_buffer(batch_.get())), seq_++);
    next();
    for (size_t index : emit_order(tx_)) {
      op_ = index;
      const Op& op = tx_.ops()[op_];
      Status s = std::visit([&](const auto& o) { return encode(op.verb, o); }, op.object);
      if (!s.ok()) return s.context(describe(op));
    }
    // Without END the kernel validates every message, then aborts (check mode).
    if (commit) {
      nftnl_batch_end(static_cast<char*>(nftnl_batch_buffer(batch_.get())), seq_++);
      next();
    }
    return {};
  }

  Batch take() { return Batch{std::move(batch_), first_seq_, seq_, std::move(op_of_msg_), built_}; }

 private:
  nlmsghdr* header(uint16_t type, uint16_t flags) {
    op_of_msg_.push_back(op_);
    return nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(batch_.get())), type,
                                 family_, flags | NLM_F_ACK, seq_++);
  }
  // Closes the message just built. A message must fit one page: libnftnl
  // moves a message that overflows its page to a fresh one, and one larger
  // than a page would silently fall out of the batch (the sum check in run()
  // catches that).
  void next() {
    built_ += static_cast<const nlmsghdr*>(nftnl_batch_buffer(batch_.get()))->nlmsg_len;
    nftnl_batch_update(batch_.get());
  }

  static uint16_t create_flags(Verb verb) {
    return verb == Verb::Create ? NLM_F_CREATE | NLM_F_EXCL : NLM_F_CREATE;
  }

  // --- tables ---------------------------------------------------------------
  Status encode(Verb verb, const Table& t) {
    if (verb == Verb::Flush) return flush_rules(t.name, nullptr);
    Ptr<nftnl_table> nt(nftnl_table_alloc());
    nftnl_table_set_str(nt.get(), NFTNL_TABLE_NAME, t.name.c_str());
    if (verb == Verb::Delete) {
      nftnl_table_nlmsg_build_payload(header(NFT_MSG_DELTABLE, 0), nt.get());
      next();
      return {};
    }
    nftnl_table_set_u32(nt.get(), NFTNL_TABLE_FLAGS, 0);
    Ptr<nftnl_udata_buf> ud;
    if (!t.comment.empty()) {
      ud = comment_udata(NFTNL_UDATA_TABLE_COMMENT, t.comment);
      nftnl_table_set_data(nt.get(), NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud.get()),
                           nftnl_udata_buf_len(ud.get()));
    }
    nftnl_table_nlmsg_build_payload(header(NFT_MSG_NEWTABLE, create_flags(verb)), nt.get());
    next();
    return {};
  }

  Status flush_rules(const std::string& table, const std::string* chain) {
    Ptr<nftnl_rule> r(nftnl_rule_alloc());
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
    if (chain) nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain->c_str());
    nftnl_rule_nlmsg_build_payload(header(NFT_MSG_DELRULE, 0), r.get());
    next();
    return {};
  }

  static Ptr<nftnl_udata_buf> comment_udata(uint8_t type, const std::string& comment) {
    Ptr<nftnl_udata_buf> ud(nftnl_udata_buf_alloc(kUdataMax));
    nftnl_udata_put_strz(ud.get(), type, clean_comment(comment).c_str());
    return ud;
  }

  // --- chains ---------------------------------------------------------------
  Status encode(Verb verb, const Chain& c) {
    if (verb == Verb::Flush) return flush_rules(tx_.table(), &c.name);
    Ptr<nftnl_chain> nc(nftnl_chain_alloc());
    nftnl_chain_set_str(nc.get(), NFTNL_CHAIN_TABLE, tx_.table().c_str());
    nftnl_chain_set_str(nc.get(), NFTNL_CHAIN_NAME, c.name.c_str());
    if (verb == Verb::Delete) {
      nftnl_chain_nlmsg_build_payload(header(NFT_MSG_DELCHAIN, 0), nc.get());
      next();
      return {};
    }
    if (c.base) {
      // Hook numbers follow NF_INET_PRE_ROUTING.. in Hook's declaration order.
      nftnl_chain_set_u32(nc.get(), NFTNL_CHAIN_HOOKNUM, static_cast<uint32_t>(c.base->hook));
      nftnl_chain_set_s32(nc.get(), NFTNL_CHAIN_PRIO, c.base->priority);
      nftnl_chain_set_str(nc.get(), NFTNL_CHAIN_TYPE, "filter");
      nftnl_chain_set_u32(nc.get(), NFTNL_CHAIN_POLICY,
                          c.base->policy == ChainPolicy::Accept ? NF_ACCEPT : NF_DROP);
    }
    Ptr<nftnl_udata_buf> ud;
    if (!c.comment.empty()) {
      ud = comment_udata(NFTNL_UDATA_CHAIN_COMMENT, c.comment);
      nftnl_chain_set_data(nc.get(), NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud.get()),
                           nftnl_udata_buf_len(ud.get()));
    }
    nftnl_chain_nlmsg_build_payload(header(NFT_MSG_NEWCHAIN, create_flags(verb)), nc.get());
    next();
    return {};
  }

  // --- sets and elements ------------------------------------------------------
  // The declaration of `name` at this point of the transaction: declared by an
  // earlier op, or (for sets that existed before) as the final state has it.
  const SetDecl* find_decl(const std::string& name) {
    if (auto it = decls_.find(name); it != decls_.end()) return &it->second;
    if (const auto& st = tx_.state()) {
      if (auto it = st->sets.find(name); it != st->sets.end()) {
        return &decls_.emplace(name, decl_of(it->second)).first->second;
      }
    }
    return nullptr;
  }

  Ptr<nftnl_set> set_ref(const std::string& name) {
    Ptr<nftnl_set> ns(nftnl_set_alloc());
    nftnl_set_set_str(ns.get(), NFTNL_SET_TABLE, tx_.table().c_str());
    nftnl_set_set_str(ns.get(), NFTNL_SET_NAME, name.c_str());
    if (auto it = set_ids_.find(name); it != set_ids_.end()) {
      nftnl_set_set_u32(ns.get(), NFTNL_SET_ID, it->second);
    }
    return ns;
  }

  Status encode(Verb verb, const Set& s) {
    if (verb == Verb::Flush) {
      // DELSETELEM without elements empties the set.
      Ptr<nftnl_set> ns = set_ref(s.name);
      nftnl_set_elems_nlmsg_build_payload(header(NFT_MSG_DELSETELEM, 0), ns.get());
      next();
      return {};
    }
    if (verb == Verb::Delete) {
      Ptr<nftnl_set> ns = set_ref(s.name);
      nftnl_set_nlmsg_build_payload(header(NFT_MSG_DELSET, 0), ns.get());
      next();
      decls_.erase(s.name);
      set_ids_.erase(s.name);
      return {};
    }
    const bool concat = s.key.size() > 1;
    uint32_t id = next_set_id_++;
    Ptr<nftnl_set> ns(nftnl_set_alloc());
    nftnl_set_set_str(ns.get(), NFTNL_SET_TABLE, tx_.table().c_str());
    nftnl_set_set_str(ns.get(), NFTNL_SET_NAME, s.name.c_str());
    uint32_t flags = 0;
    if (s.interval) flags |= NFT_SET_INTERVAL;
    if (s.is_map()) flags |= NFT_SET_MAP;
    nftnl_set_set_u32(ns.get(), NFTNL_SET_FLAGS, flags);
    nftnl_set_set_u32(ns.get(), NFTNL_SET_KEY_TYPE, wire::concat_type(s.key));
    nftnl_set_set_u32(ns.get(), NFTNL_SET_KEY_LEN, wire::key_len(s.key));
    if (s.is_map()) {
      nftnl_set_set_u32(ns.get(), NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
      nftnl_set_set_u32(ns.get(), NFTNL_SET_DATA_LEN, 0);
    }
    nftnl_set_set_u32(ns.get(), NFTNL_SET_ID, id);
    // User data as nft writes it: key byte order (big endian, or "invalid" for
    // a concatenation, whose typeof nft records as a bare concat), data byte
    // order for maps, then the comment.
    Ptr<nftnl_udata_buf> ud(nftnl_udata_buf_alloc(kUdataMax));
    nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_KEYBYTEORDER,
                        concat                        ? wire::kByteorderInvalid
                        : s.key[0] == KeyType::IfName ? wire::kByteorderHostEndian
                                                      : wire::kByteorderBigEndian);
    if (s.is_map()) nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_DATABYTEORDER, 0);
    if (concat) {
      constexpr uint32_t kExprConcat = 13;
      nftnl_udata* nest = nftnl_udata_nest_start(ud.get(), NFTNL_UDATA_SET_KEY_TYPEOF);
      nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_TYPEOF_EXPR, kExprConcat);
      nftnl_udata* data = nftnl_udata_nest_start(ud.get(), NFTNL_UDATA_SET_TYPEOF_DATA);
      nftnl_udata_nest_end(ud.get(), data);
      nftnl_udata_nest_end(ud.get(), nest);
    }
    if (!s.comment.empty()) {
      nftnl_udata_put_strz(ud.get(), NFTNL_UDATA_SET_COMMENT, clean_comment(s.comment).c_str());
    }
    nftnl_set_set_data(ns.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud.get()),
                       nftnl_udata_buf_len(ud.get()));
    nftnl_set_nlmsg_build_payload(header(NFT_MSG_NEWSET, create_flags(verb)), ns.get());
    next();

    // Later messages name the set and carry its id, as nft does (the kernel
    // resolves the name first, the id only for sets without one).
    decls_[s.name] = decl_of(s);
    set_ids_[s.name] = id;
    if (s.elements.empty()) return {};
    return elements(s.name, decls_[s.name], s.elements, NFT_MSG_NEWSETELEM, create_flags(verb),
                    /*leading_end=*/true);
  }

  Status encode(Verb verb, const Elements& e) {
    const SetDecl* decl = find_decl(e.set);
    if (!decl) return Error{"netlink: set " + e.set + " is not known to this transaction"};
    switch (verb) {
      case Verb::Add:
      case Verb::Create:
        return elements(e.set, *decl, e.elements, NFT_MSG_NEWSETELEM, create_flags(verb), false);
      case Verb::Delete:
        return elements(e.set, *decl, e.elements, NFT_MSG_DELSETELEM, 0, false);
      case Verb::Flush:
        break;
    }
    return Error{"netlink: elements cannot be flushed"};
  }

  // Elements of one set, as many NEWSETELEM/DELSETELEM messages as needed
  // (libnftnl stops a message before its element list outgrows 64 KiB).
  // `elems`: a std::set<Element> (an element op) or an ElementSet (a set op,
  // whose iterators hand out copies: the verdicts are kept in `verdicts`).
  template <typename Elems>
  Status elements(const std::string& set, const SetDecl& decl, const Elems& elems, uint16_t type,
                  uint16_t flags, bool leading_end) {
    std::vector<WireElem> wire_elems;
    std::deque<Verdict> verdicts;
    if (decl.interval) {
      std::vector<std::pair<wire::Key, wire::Key>> ranges;
      for (const Element& e : elems) {
        if (e.key.size() != 1) return Error{"netlink: interval element with a concatenated key"};
        ranges.emplace_back(wire::encode_key(e.key),
                            e.is_range() ? wire::encode_key(e.key_end) : wire::encode_key(e.key));
      }
      wire_elems = interval_elems(ranges, leading_end);
    } else {
      for (const Element& e : elems) {
        WireElem w{wire::encode_key(e.key), false, false, nullptr};
        // Deletion names keys only; the kernel finds the element by its key.
        if (decl.map && e.verdict && type == NFT_MSG_NEWSETELEM) {
          w.verdict = &verdicts.emplace_back(*e.verdict);
        }
        wire_elems.push_back(w);
      }
    }
    return send_elems(set_ref(set), wire_elems, type, flags);
  }

  Status send_elems(Ptr<nftnl_set> ns, const std::vector<WireElem>& elems, uint16_t type,
                    uint16_t flags) {
    Ptr<nftnl_udata_buf> open_ud;
    for (const WireElem& w : elems) {
      nftnl_set_elem* e = nftnl_set_elem_alloc();
      if (!e) return Error{"netlink: out of memory"};
      nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, w.key.bytes.data(), w.key.len);
      if (w.end) nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
      if (w.open) {
        if (!open_ud) {
          open_ud.reset(nftnl_udata_buf_alloc(kUdataMax));
          nftnl_udata_put_u32(open_ud.get(), NFTNL_UDATA_SET_ELEM_FLAGS,
                              NFTNL_SET_ELEM_F_INTERVAL_OPEN);
        }
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(open_ud.get()),
                           nftnl_udata_buf_len(open_ud.get()));
      }
      if (w.verdict) {
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT,
                               static_cast<uint32_t>(verdict_code(w.verdict->kind)));
        if (!w.verdict->chain.empty()) {
          nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, w.verdict->chain.c_str());
        }
      }
      nftnl_set_elem_add(ns.get(), e);  // the set owns it from here
    }
    nftnl_set_elems_iter* iter = nftnl_set_elems_iter_create(ns.get());
    if (!iter) return Error{"netlink: out of memory"};
    while (nftnl_set_elems_iter_cur(iter)) {
      int more = nftnl_set_elems_nlmsg_build_payload_iter(header(type, flags), iter);
      next();
      if (more <= 0) break;
    }
    nftnl_set_elems_iter_destroy(iter);
    return {};
  }

  // --- rules ----------------------------------------------------------------
  Status encode(Verb verb, const Rule& r) {
    if (verb != Verb::Add) return Error{"netlink: rules are only added"};
    Ptr<nftnl_rule> nr(nftnl_rule_alloc());
    nftnl_rule_set_str(nr.get(), NFTNL_RULE_TABLE, tx_.table().c_str());
    nftnl_rule_set_str(nr.get(), NFTNL_RULE_CHAIN, r.chain.c_str());
    rule_nfproto_ = 0;
    for (const Expr& x : r.exprs) {
      Status s = std::visit([&](const auto& e) { return add(nr.get(), e); }, x);
      if (!s.ok()) return s;
    }
    Ptr<nftnl_udata_buf> ud;
    if (!r.comment.empty()) {
      ud = comment_udata(NFTNL_UDATA_RULE_COMMENT, r.comment);
      nftnl_rule_set_data(nr.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud.get()),
                          nftnl_udata_buf_len(ud.get()));
    }
    nftnl_rule_nlmsg_build_payload(header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), nr.get());
    next();
    return {};
  }

  static void push(nftnl_rule* r, nftnl_expr* e) { nftnl_rule_add_expr(r, e); }

  static nftnl_expr* meta(uint32_t key, uint32_t dreg) {
    nftnl_expr* e = nftnl_expr_alloc("meta");
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
    return e;
  }
  static nftnl_expr* cmp(uint32_t sreg, uint32_t op, const void* data, uint32_t len) {
    nftnl_expr* e = nftnl_expr_alloc("cmp");
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
    return e;
  }
  static nftnl_expr* payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
    nftnl_expr* e = nftnl_expr_alloc("payload");
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    return e;
  }
  static nftnl_expr* lookup(uint32_t sreg, const std::string& set, std::optional<uint32_t> id,
                            std::optional<uint32_t> dreg) {
    nftnl_expr* e = nftnl_expr_alloc("lookup");
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set.c_str());
    if (id) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, *id);
    if (dreg) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, *dreg);
    return e;
  }

  // Loads `f` into register slot `slot`; with its `meta nfproto` dependency
  // first when `dependency`.
  static void load(nftnl_rule* r, Field f, uint32_t slot) {
    const wire::Load l = wire::load_of(f);
    const uint32_t reg = wire::register_of_slot(slot);
    push(r, l.meta ? meta(l.meta_key, reg) : payload(l.base, l.offset, l.len, reg));
  }
  // `meta nfproto` before the first address a rule loads; like nft, once per
  // rule (the family is then known for the rest of it).
  void nfproto_dependency(nftnl_rule* r, const std::vector<Field>& fields) {
    for (Field f : fields) {
      const uint8_t p = wire::load_of(f).nfproto;
      if (p == 0 || p == rule_nfproto_) continue;
      if (family_ == NFPROTO_BRIDGE) {
        // nfproto is NFPROTO_BRIDGE for every frame: test the ethertype.
        const uint16_t type = p == wire::kNfprotoIpv4 ? wire::kEthertypeIpv4 : wire::kEthertypeIpv6;
        const uint8_t be[2] = {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type & 0xff)};
        push(r, meta(wire::kMetaProtocol, NFT_REG_1));
        push(r, cmp(NFT_REG_1, NFT_CMP_EQ, be, sizeof be));
      } else {
        push(r, meta(wire::kMetaNfproto, NFT_REG_1));
        push(r, cmp(NFT_REG_1, NFT_CMP_EQ, &p, sizeof p));
      }
      rule_nfproto_ = p;
      return;
    }
  }
  // Loads a (concatenated) key from slot 0 on, as nft lays it out.
  void load_key(nftnl_rule* r, const std::vector<Field>& fields) {
    nfproto_dependency(r, fields);
    uint32_t slot = 0;
    const bool concat = fields.size() > 1;
    for (Field f : fields) {
      load(r, f, slot);
      slot += (wire::padded_len(key_type(f), concat) + 3) / 4;
    }
  }

  std::optional<uint32_t> id_of(const std::string& set) const {
    auto it = set_ids_.find(set);
    if (it == set_ids_.end()) return std::nullopt;
    return it->second;
  }

  Status add(nftnl_rule* r, const CtStateMatch& m) {
    nftnl_expr* ct = nftnl_expr_alloc("ct");
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
    nftnl_expr_set_u32(ct, NFTNL_EXPR_CT_DREG, NFT_REG_1);
    push(r, ct);
    // `ct state a,b` is a flag test: (state & mask) != 0, in host byte order.
    const uint32_t mask = m.states, zero = 0;
    nftnl_expr* bw = nftnl_expr_alloc("bitwise");
    nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_LEN, sizeof mask);
    nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof mask);
    nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof zero);
    push(r, bw);
    push(r, cmp(NFT_REG_1, NFT_CMP_NEQ, &zero, sizeof zero));
    return {};
  }

  Status add(nftnl_rule* r, const FibSaddrLocal&) {
    nftnl_expr* fib = nftnl_expr_alloc("fib");
    nftnl_expr_set_u32(fib, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
    nftnl_expr_set_u32(fib, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    nftnl_expr_set_u32(fib, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
    push(r, fib);
    const uint32_t local = wire::kRtnLocal;
    push(r, cmp(NFT_REG_1, NFT_CMP_EQ, &local, sizeof local));
    return {};
  }

  Status add(nftnl_rule* r, const L4ProtoMatch& m) {
    push(r, meta(wire::kMetaL4proto, NFT_REG_1));
    push(r, cmp(NFT_REG_1, NFT_CMP_EQ, &m.proto, sizeof m.proto));
    return {};
  }

  Status add(nftnl_rule* r, const DportMatch& m) {
    if (m.ports.empty()) return Error{"netlink: port match without ports"};
    load(r, Field::ThDport, 0);
    // Adjacent ranges merge, as nft's automerge does for anonymous sets.
    std::vector<PortRange> ranges;
    for (const PortRange& p : m.ports) {
      if (!ranges.empty() && ranges.back().last + 1 == p.first) {
        ranges.back().last = p.last;
      } else {
        ranges.push_back(p);
      }
    }
    if (ranges.size() == 1) {
      const wire::Key lo = wire::port_key(ranges[0].first), hi = wire::port_key(ranges[0].last);
      if (ranges[0].first == ranges[0].last) {
        push(r, cmp(NFT_REG_1, NFT_CMP_EQ, lo.bytes.data(), lo.len));
      } else {
        // Big-endian bytes compare like the numbers they encode.
        push(r, cmp(NFT_REG_1, NFT_CMP_GTE, lo.bytes.data(), lo.len));
        push(r, cmp(NFT_REG_1, NFT_CMP_LTE, hi.bytes.data(), hi.len));
      }
      return {};
    }
    uint32_t id = 0;
    if (Status s = anonymous_port_set(ranges, id); !s.ok()) return s;
    push(r, lookup(NFT_REG_1, "__set%d", id, std::nullopt));
    return {};
  }

  // `th dport { ... }`: an anonymous constant set bound to the rule, declared
  // (and filled) in front of it; an interval set only if a range needs it.
  Status anonymous_port_set(const std::vector<PortRange>& ranges, uint32_t& id) {
    bool interval = false;
    for (const PortRange& p : ranges) interval |= p.first != p.last;
    std::vector<WireElem> elems;
    uint32_t size = 0;
    if (interval) {
      std::vector<std::pair<wire::Key, wire::Key>> keys;
      for (const PortRange& p : ranges) {
        keys.emplace_back(wire::port_key(p.first), wire::port_key(p.last));
      }
      elems = interval_elems(keys, true);
      // nft sizes it as if every range had its end element.
      size = static_cast<uint32_t>(2 * ranges.size() + (ranges.front().first != 0 ? 1 : 0));
    } else {
      for (const PortRange& p : ranges)
        elems.push_back({wire::port_key(p.first), false, false, {}});
      size = static_cast<uint32_t>(elems.size());
    }
    id = next_set_id_++;
    Ptr<nftnl_set> ns(nftnl_set_alloc());
    nftnl_set_set_str(ns.get(), NFTNL_SET_TABLE, tx_.table().c_str());
    nftnl_set_set_str(ns.get(), NFTNL_SET_NAME, "__set%d");
    nftnl_set_set_u32(ns.get(), NFTNL_SET_FLAGS,
                      NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | (interval ? NFT_SET_INTERVAL : 0));
    nftnl_set_set_u32(ns.get(), NFTNL_SET_KEY_TYPE, wire::kTypeInetService);
    nftnl_set_set_u32(ns.get(), NFTNL_SET_KEY_LEN, 2);
    nftnl_set_set_u32(ns.get(), NFTNL_SET_ID, id);
    nftnl_set_set_u32(ns.get(), NFTNL_SET_DESC_SIZE, size);
    Ptr<nftnl_udata_buf> ud(nftnl_udata_buf_alloc(kUdataMax));
    nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_KEYBYTEORDER, wire::kByteorderBigEndian);
    if (interval) nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_MERGE_ELEMENTS, 1);
    nftnl_udata* typeof_nest = nftnl_udata_nest_start(ud.get(), NFTNL_UDATA_SET_KEY_TYPEOF);
    nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_TYPEOF_EXPR, wire::kTypeofExprPayload);
    nftnl_udata* data = nftnl_udata_nest_start(ud.get(), NFTNL_UDATA_SET_TYPEOF_DATA);
    nftnl_udata_put_u32(ud.get(), 0, wire::kTypeofProtoTh);
    nftnl_udata_put_u32(ud.get(), 1, wire::kTypeofThDport);
    nftnl_udata_nest_end(ud.get(), data);
    nftnl_udata_nest_end(ud.get(), typeof_nest);
    nftnl_set_set_data(ns.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud.get()),
                       nftnl_udata_buf_len(ud.get()));
    nftnl_set_nlmsg_build_payload(header(NFT_MSG_NEWSET, NLM_F_CREATE), ns.get());
    next();
    // The same object (table, name "__set%d", id) heads the element messages.
    return send_elems(std::move(ns), elems, NFT_MSG_NEWSETELEM, NLM_F_CREATE);
  }

  Status add(nftnl_rule* r, const SetMatch& m) {
    if (m.key.empty()) return Error{"netlink: set match without a key"};
    load_key(r, m.key);
    nftnl_expr* e = lookup(NFT_REG_1, m.set, id_of(m.set), std::nullopt);
    if (m.negate) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
    push(r, e);
    return {};
  }

  Status add(nftnl_rule* r, const VmapLookup& m) {
    load_key(r, {m.key});
    push(r, lookup(NFT_REG_1, m.map, id_of(m.map), NFT_REG_VERDICT));
    return {};
  }

  Status add(nftnl_rule* r, const Verdict& v) {
    nftnl_expr* e = nftnl_expr_alloc("immediate");
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(verdict_code(v.kind)));
    if (!v.chain.empty()) nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, v.chain.c_str());
    push(r, e);
    return {};
  }

  // As nft writes `limit rate R/second burst B packets`: rate per unit, the
  // unit in seconds, the burst, type packets and no flags.
  Status add(nftnl_rule* r, const LimitMatch& m) {
    nftnl_expr* e = nftnl_expr_alloc("limit");
    nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, m.rate);
    nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, m.burst);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
    push(r, e);
    return {};
  }

  // As nft writes `log prefix "P" group G`: prefix and group only (snaplen and
  // queue threshold are left to the listener's NFLOG configuration).
  Status add(nftnl_rule* r, const LogStmt& m) {
    nftnl_expr* e = nftnl_expr_alloc("log");
    nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, m.prefix.c_str());
    nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, m.group);
    push(r, e);
    return {};
  }

  // A fresh counter: nft sends no attributes for zero packets and bytes.
  Status add(nftnl_rule* r, const CounterStmt&) {
    push(r, nftnl_expr_alloc("counter"));
    return {};
  }

  // As nft lays out `tcp flags & M != V` in an inet table: its `meta l4proto
  // tcp` dependency, the flags byte, masked, compared.
  Status add(nftnl_rule* r, const TcpFlagsMatch& m) {
    const uint8_t tcp = wire::kProtoTcp, zero = 0;
    push(r, meta(wire::kMetaL4proto, NFT_REG_1));
    push(r, cmp(NFT_REG_1, NFT_CMP_EQ, &tcp, sizeof tcp));
    push(r, payload(wire::kTransportHeader, wire::kTcpFlagsOffset, 1, NFT_REG_1));
    nftnl_expr* bw = nftnl_expr_alloc("bitwise");
    nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(bw, NFTNL_EXPR_BITWISE_LEN, 1);
    nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_MASK, &m.mask, 1);
    nftnl_expr_set(bw, NFTNL_EXPR_BITWISE_XOR, &zero, 1);
    push(r, bw);
    push(r, cmp(NFT_REG_1, NFT_CMP_NEQ, &m.value, 1));
    return {};
  }

  const Transaction& tx_;
  Ptr<nftnl_batch> batch_;
  uint16_t family_;
  uint32_t first_seq_;
  uint32_t seq_;
  size_t built_ = 0;
  size_t op_ = 0;
  std::vector<size_t> op_of_msg_;
  uint32_t next_set_id_ = 1;
  uint8_t rule_nfproto_ = 0;  // family the current rule has established
  std::map<std::string, SetDecl> decls_;
  std::map<std::string, uint32_t> set_ids_;
};

}  // namespace

// "add rule ingress-X (comment ...)": how an op is named in error messages.
std::string describe(const Op& op) {
  std::string out = to_string(op.verb);
  std::visit(
      [&](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Table>) {
          out += std::string(" table ") + to_string(o.family) + " " + o.name;
        } else if constexpr (std::is_same_v<T, Chain>) {
          out += " chain " + o.name;
        } else if constexpr (std::is_same_v<T, Set>) {
          out += (o.is_map() ? " map " : " set ") + o.name;
        } else if constexpr (std::is_same_v<T, Elements>) {
          out += " element " + o.set + " (" + std::to_string(o.elements.size()) + " element" +
                 (o.elements.size() == 1 ? "" : "s") + ")";
        } else {
          out += " rule " + o.chain;
          if (!o.comment.empty()) out += " \"" + o.comment + "\"";
        }
      },
      op.object);
  return out;
}

// A page size for `tx`: small transactions (the incremental common case) get
// a small buffer, so a one-element change does not allocate a megabyte.
uint32_t page_bytes_for(const Transaction& tx) {
  size_t estimate = 4096;
  for (const Op& op : tx.ops()) {
    estimate += 512;
    if (const auto* s = std::get_if<Set>(&op.object)) estimate += 96 * s->elements.size();
    if (const auto* e = std::get_if<Elements>(&op.object)) estimate += 96 * e->elements.size();
    if (estimate >= (1u << 30)) break;
  }
  return static_cast<uint32_t>(std::min<size_t>(estimate, 1u << 30));
}

std::optional<size_t> Batch::op_at(size_t index) const {
  if (index == 0 || index > op_of_msg.size()) return std::nullopt;
  return op_of_msg[index - 1];
}

std::vector<iovec> Batch::pages() const {
  std::vector<iovec> iov(static_cast<size_t>(nftnl_batch_iovec_len(batch.get())));
  nftnl_batch_iovec(batch.get(), iov.data(), static_cast<uint32_t>(iov.size()));
  return iov;
}

size_t Batch::page_count() const {
  return static_cast<size_t>(nftnl_batch_iovec_len(batch.get()));
}

Result<Batch> encode(const Transaction& tx, uint32_t page_bytes, uint32_t first_seq, bool commit) {
  Encoder enc(tx, page_bytes, first_seq);
  if (Status s = enc.encode(commit); !s.ok()) return s;
  return enc.take();
}

}  // namespace netpol::nft::nl
