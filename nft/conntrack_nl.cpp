#include "nft/conntrack_nl.h"

#include <ifaddrs.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <sys/socket.h>

#include <cstring>

#include "nft/nl_socket.h"

namespace netpol::nft {

namespace {

struct CtPut {
  void operator()(nfnl_ct* ct) const { nfnl_ct_put(ct); }
};
struct MsgFree {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using CtPtr = std::unique_ptr<nfnl_ct, CtPut>;
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;

// Deletes go out this many bytes per sendmsg (a few hundred messages).
constexpr size_t kChunkBytes = 64 << 10;
constexpr int kAckTimeoutMs = 1000;

bool to_ip(const nl_addr* a, IpAddr& out) {
  if (!a) return false;
  const int fam = nl_addr_get_family(a);
  const unsigned len = nl_addr_get_len(a);
  const auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  if (fam == AF_INET && len == 4) {
    out = IpAddr{};
    out.family = Family::V4;
  } else if (fam == AF_INET6 && len == 16) {
    out = IpAddr{};
    out.family = Family::V6;
  } else {
    return false;
  }
  std::memcpy(out.bytes.data(), bytes, len);
  return true;
}

AddrPtr to_nl(const IpAddr& ip) {
  return AddrPtr(
      nl_addr_build(ip.is_v4() ? AF_INET : AF_INET6, ip.bytes.data(), ip.is_v4() ? 4 : 16));
}

bool has_ports(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

// This host's addresses (the ruleset's `fib saddr type local`).
std::set<IpAddr> host_addresses() {
  std::set<IpAddr> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    IpAddr ip;
    if (i->ifa_addr->sa_family == AF_INET) {
      ip.family = Family::V4;
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      ip.family = Family::V6;
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out.insert(ip);
  }
  freeifaddrs(list);
  return out;
}

// The source address of one tuple (CTA_TUPLE_ORIG or CTA_TUPLE_REPLY) read
// straight from the attributes: most entries of a dump concern no address
// asked for, and libnl's full parse allocates per entry.
bool tuple_src(const nlmsghdr* m, int tuple, IpAddr& out) {
  auto* nlh = const_cast<nlmsghdr*>(m);
  nlattr* t =
      nla_find(nlmsg_attrdata(nlh, sizeof(nfgenmsg)), nlmsg_attrlen(nlh, sizeof(nfgenmsg)), tuple);
  if (!t) return false;
  nlattr* ipa = nla_find(static_cast<nlattr*>(nla_data(t)), nla_len(t), CTA_TUPLE_IP);
  if (!ipa) return false;
  auto* head = static_cast<nlattr*>(nla_data(ipa));
  if (nlattr* v4 = nla_find(head, nla_len(ipa), CTA_IP_V4_SRC); v4 && nla_len(v4) == 4) {
    out = IpAddr{};
    std::memcpy(out.bytes.data(), nla_data(v4), 4);
    return true;
  }
  if (nlattr* v6 = nla_find(head, nla_len(ipa), CTA_IP_V6_SRC); v6 && nla_len(v6) == 16) {
    out = IpAddr{};
    out.family = Family::V6;
    std::memcpy(out.bytes.data(), nla_data(v6), 16);
    return true;
  }
  return false;
}

}  // namespace

struct NlConntrack::Impl {
  nl::Socket sock;
};

NlConntrack::NlConntrack(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NlConntrack::~NlConntrack() = default;

Result<std::unique_ptr<NlConntrack>> NlConntrack::open() {
  auto sock = nl::Socket::open(NETLINK_NETFILTER);
  if (!sock.ok()) return sock.status().context("conntrack");
  sock.value().grow_rcvbuf(4 << 20);
  // Success ACKs carry only the header; error ACKs need not echo the message.
  (void)sock.value().set_option(NETLINK_CAP_ACK, 1);
  return std::unique_ptr<NlConntrack>(
      new NlConntrack(std::make_unique<Impl>(Impl{std::move(sock.value())})));
}

Result<std::vector<Flow>> NlConntrack::list(const std::set<IpAddr>& addrs) {
  std::vector<Flow> out;
  if (addrs.empty()) return out;
  const std::set<IpAddr> host = host_addresses();
  MsgPtr msg(nfnlmsg_alloc_simple(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET,
                                  NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, 0));
  if (!msg) return StatusError{"conntrack: cannot allocate the dump request"};
  nlmsghdr* nlh = nlmsg_hdr(msg.get());
  nlh->nlmsg_seq = impl_->sock.next_seq();
  Status s = impl_->sock.request(nlh, [&](const nlmsghdr* m) {
    IpAddr osrc, rsrc;
    if (!tuple_src(m, CTA_TUPLE_ORIG, osrc) || !tuple_src(m, CTA_TUPLE_REPLY, rsrc) ||
        (!addrs.count(osrc) && !addrs.count(rsrc))) {
      return;
    }
    nfnl_ct* raw = nullptr;
    if (nfnlmsg_ct_parse(const_cast<nlmsghdr*>(m), &raw) < 0 || !raw) return;
    CtPtr ct(raw);
    Flow f;
    f.proto = nfnl_ct_get_proto(ct.get());
    if (!has_ports(f.proto)) return;  // TCP, UDP, SCTP: what policies name ports of
    IpAddr reply_src;
    if (!to_ip(nfnl_ct_get_src(ct.get(), 0), f.src) ||
        !to_ip(nfnl_ct_get_dst(ct.get(), 0), f.orig_dst) ||
        !to_ip(nfnl_ct_get_src(ct.get(), 1), reply_src)) {
      return;
    }
    f.sport = nfnl_ct_get_src_port(ct.get(), 0);
    f.orig_dport = nfnl_ct_get_dst_port(ct.get(), 0);
    // After DNAT the reply comes from the backend: that is the destination
    // the forward hook saw.
    f.dst = reply_src;
    f.dport = nfnl_ct_get_src_port(ct.get(), 1);
    if (nfnl_ct_test_zone(ct.get())) f.zone = nfnl_ct_get_zone(ct.get());
    if (nfnl_ct_test_id(ct.get())) f.id = nfnl_ct_get_id(ct.get());
    if (!addrs.count(f.src) && !addrs.count(f.dst)) return;
    f.from_host = host.count(f.src) != 0;
    out.push_back(f);
  });
  if (!s.ok()) return s.context("conntrack: listing entries");
  return out;
}

Result<size_t> NlConntrack::remove(const std::vector<Flow>& flows) {
  size_t deleted = 0;
  size_t next = 0;
  std::vector<char> buf;
  while (next < flows.size()) {
    buf.clear();
    const uint32_t first_seq = impl_->sock.next_seq();
    size_t count = 0;
    for (; next < flows.size() && buf.size() < kChunkBytes; ++next) {
      const Flow& f = flows[next];
      CtPtr ct(nfnl_ct_alloc());
      if (!ct) return StatusError{"conntrack: out of memory"};
      nfnl_ct_set_family(ct.get(), f.src.is_v4() ? AF_INET : AF_INET6);
      nfnl_ct_set_proto(ct.get(), f.proto);
      AddrPtr src = to_nl(f.src), dst = to_nl(f.orig_dst);
      if (!src || !dst) return StatusError{"conntrack: out of memory"};
      nfnl_ct_set_src(ct.get(), 0, src.get());
      nfnl_ct_set_dst(ct.get(), 0, dst.get());
      nfnl_ct_set_src_port(ct.get(), 0, f.sport);
      nfnl_ct_set_dst_port(ct.get(), 0, f.orig_dport);
      nfnl_ct_set_zone(ct.get(), f.zone);
      if (f.id) nfnl_ct_set_id(ct.get(), f.id);
      nl_msg* raw = nullptr;
      if (nfnl_ct_build_delete_request(ct.get(), NLM_F_REQUEST | NLM_F_ACK, &raw) < 0 || !raw) {
        return StatusError{"conntrack: cannot build a delete request for " + f.str()};
      }
      MsgPtr msg(raw);
      nlmsghdr* nlh = nlmsg_hdr(msg.get());
      nlh->nlmsg_seq = count == 0 ? first_seq : impl_->sock.next_seq();
      const size_t len = NLMSG_ALIGN(nlh->nlmsg_len);
      const size_t at = buf.size();
      buf.resize(at + len, 0);
      std::memcpy(buf.data() + at, nlh, nlh->nlmsg_len);
      ++count;
    }
    const iovec page{buf.data(), buf.size()};
    auto reply = impl_->sock.batch(std::span<const iovec>(&page, 1), first_seq, count, 0, count,
                                   kAckTimeoutMs);
    if (!reply.ok()) return reply.status().context("conntrack: deleting entries");
    size_t failed = 0;
    for (const nl::Nack& n : reply.value().errors) {
      if (n.error == ENOENT) {
        ++failed;  // gone already, or a new entry under the same tuple (id differs)
        continue;
      }
      return Status::FromErrno(n.error,
                               "conntrack: deleting " + flows[next - count + n.index].str());
    }
    if (reply.value().lost || reply.value().acked < count) {
      return StatusError{"conntrack: the kernel dropped delete answers; outcome unknown"};
    }
    deleted += count - failed;
  }
  return deleted;
}

}  // namespace netpol::nft
