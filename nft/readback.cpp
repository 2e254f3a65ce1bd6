#include "nft/readback.h"

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
#include <sys/socket.h>

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
#include "nft/nl_decode.h"
#include "nft/nl_handles.h"
#include "nft/nl_socket.h"

namespace netpol::nft {

namespace {

using nl::AnonSet;
using nl::Ptr;
using nl::ranges_of;
using nl::raw_elems;
using nl::RawElem;
using nl::udata_comment;

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
    case TableFamily::Bridge:
      return NFPROTO_BRIDGE;
  }
  return NFPROTO_UNSPEC;
}

}  // namespace

// --- the socket and the dumps ---------------------------------------------------

struct TableReader::Impl {
  explicit Impl(netpol::nl::Socket s) : sock(std::move(s)) {}

  netpol::nl::Socket sock;
  std::vector<char> req = std::vector<char>(1u << 13);  // one request at a time
  // Set when a dump failed in a way that reading again can fix (interrupted
  // by a concurrent commit, or an overrun receive buffer).
  bool retry = false;

  // Sends `nlh` and feeds every answer to `each` until the dump (or the ACK)
  // ends. ENOENT comes back as an error with that errnum.
  Status talk(const nlmsghdr* nlh, const netpol::nl::Each& each) {
    Status s = sock.request(nlh, each);
    if (s.errnum() == EINTR || s.errnum() == ENOBUFS) retry = true;
    return s;
  }

  nlmsghdr* request(uint16_t type, uint16_t family, uint16_t flags) {
    return nftnl_nlmsg_build_hdr(req.data(), type, family, flags, sock.next_seq());
  }

  Result<uint32_t> generation() {
    Ptr<nftnl_gen> gen(nftnl_gen_alloc());
    nlmsghdr* nlh = request(NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK);
    bool got = false;
    Status s = talk(nlh, [&](const nlmsghdr* m) {
      if (nftnl_gen_nlmsg_parse(m, gen.get()) >= 0) got = true;
    });
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
      Status s = talk(req, [&](const nlmsghdr* m) {
        ++messages;
        nftnl_set_elems_nlmsg_parse(m, into.get());
      });
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
  auto sock = netpol::nl::Socket::open(NETLINK_NETFILTER);
  if (!sock.ok()) return sock.status();
  return std::unique_ptr<TableReader>(
      new TableReader(std::make_unique<Impl>(std::move(sock).value())));
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
    Status s = talk(nlh, [&](const nlmsghdr* m) { nftnl_table_nlmsg_parse(m, got.get()); });
    if (!s.ok()) {
      if (s.errnum() == ENOENT) return std::optional<Ruleset>();
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
    Status s = talk(nlh, [&](const nlmsghdr* m) {
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
    });
    if (!s.ok()) return s.context(where);
    if (!problem.empty()) return Error{where + ": " + problem};
  }

  // Sets and maps (named and anonymous), with their elements.
  nl::AnonSets anon;
  {
    std::vector<Ptr<nftnl_set>> sets;
    Ptr<nftnl_set> filter(nftnl_set_alloc());
    nftnl_set_set_str(filter.get(), NFTNL_SET_TABLE, name.c_str());
    nlmsghdr* nlh = request(NFT_MSG_GETSET, fam, NLM_F_DUMP);
    nftnl_set_nlmsg_build_payload(nlh, filter.get());
    Status s = talk(nlh, [&](const nlmsghdr* m) {
      Ptr<nftnl_set> set(nftnl_set_alloc());
      if (nftnl_set_nlmsg_parse(m, set.get()) < 0) return;
      if (name != nftnl_set_get_str(set.get(), NFTNL_SET_TABLE)) return;
      sets.push_back(std::move(set));
    });
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
          if (*last != *first) e.key_end.assign(last->begin(), last->end());
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
    Status s = talk(nlh, [&](const nlmsghdr* m) {
      Ptr<nftnl_rule> r(nftnl_rule_alloc());
      if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) return;
      if (name != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE)) return;
      Rule rule;
      rule.chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
      auto exprs = nl::decode_exprs(r.get(), anon);
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
    });
    if (!s.ok()) return s.context(where);
  }
  return std::optional<Ruleset>(std::move(rs));
}

Result<std::vector<std::string>> TableReader::tables() {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    impl_->retry = false;
    std::vector<std::string> out;
    nlmsghdr* nlh = impl_->request(NFT_MSG_GETTABLE, NFPROTO_UNSPEC, NLM_F_DUMP);
    Status s = impl_->talk(nlh, [&](const nlmsghdr* m) {
      Ptr<nftnl_table> t(nftnl_table_alloc());
      if (nftnl_table_nlmsg_parse(m, t.get()) < 0) return;
      out.push_back(std::string(family_name(nftnl_table_get_u32(t.get(), NFTNL_TABLE_FAMILY))) +
                    " " + nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME));
    });
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
