#include "nft/links_nl.h"

#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/object.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <cstring>

#include "nft/nl_socket.h"

namespace netpol::nft {

namespace {

struct MsgFree {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;

bool to_ip(nl_addr* a, IpAddr& out) {
  if (!a) return false;
  const int fam = nl_addr_get_family(a);
  const unsigned len = nl_addr_get_len(a);
  out = IpAddr{};
  if (fam == AF_INET && len == 4) {
    out.family = Family::V4;
  } else if (fam == AF_INET6 && len == 16) {
    out.family = Family::V6;
  } else {
    return false;
  }
  std::memcpy(out.bytes.data(), nl_addr_get_binary_addr(a), len);
  return true;
}

bool to_mac(nl_addr* a, Mac& out) {
  if (!a || nl_addr_get_len(a) != out.size()) return false;
  std::memcpy(out.data(), nl_addr_get_binary_addr(a), out.size());
  return true;
}

// One object of a dump answer, parsed by libnl's cache operations for its
// message type (link, route, neighbour).
template <typename Fn>
void parse(const nlmsghdr* m, Fn&& fn) {
  MsgPtr msg(nlmsg_convert(const_cast<nlmsghdr*>(m)));
  if (!msg) return;
  // libnl finds the parser by protocol and message type.
  nlmsg_set_proto(msg.get(), NETLINK_ROUTE);
  auto cb = [](nl_object* obj, void* arg) { (*static_cast<Fn*>(arg))(obj); };
  nl_msg_parse(msg.get(), cb, &fn);
}

}  // namespace

struct NlLinks::Impl {
  nl::Socket dumps;
  nl::Socket events;
  uint64_t overflows = 0;

  // A dump of `type` for `family`, every answer message to `each`.
  template <typename Header>
  Status dump(int type, uint8_t family, const nl::Each& each) {
    MsgPtr msg(nlmsg_alloc_simple(type, NLM_F_REQUEST | NLM_F_DUMP));
    if (!msg) return StatusError{"links: cannot allocate a dump request"};
    Header h{};
    std::memcpy(&h, &family, 1);  // every rtnetlink header starts with its family
    if (nlmsg_append(msg.get(), &h, sizeof h, NLMSG_ALIGNTO) < 0) {
      return StatusError{"links: cannot build a dump request"};
    }
    nlmsghdr* nlh = nlmsg_hdr(msg.get());
    nlh->nlmsg_seq = dumps.next_seq();
    return dumps.request(nlh, each);
  }
};

NlLinks::NlLinks(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NlLinks::~NlLinks() = default;

Result<std::unique_ptr<NlLinks>> NlLinks::open() {
  auto d = nl::Socket::open(NETLINK_ROUTE);
  if (!d.ok()) return d.status().context("links");
  auto e = nl::Socket::open(NETLINK_ROUTE);
  if (!e.ok()) return e.status().context("links events");
  for (int group : {RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEIGH,
                    RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}) {
    if (Status s = e.value().set_option(NETLINK_ADD_MEMBERSHIP, group); !s.ok()) {
      return s.context("links: subscribe to rtnetlink group " + std::to_string(group));
    }
  }
  // A burst of events (a node starting many pods) must not overflow.
  e.value().grow_rcvbuf(4u << 20);
  auto impl = std::make_unique<Impl>(Impl{std::move(d).value(), std::move(e).value(), 0});
  return std::unique_ptr<NlLinks>(new NlLinks(std::move(impl)));
}

Result<LinkState> NlLinks::read() {
  LinkState st;
  Status s = impl_->dump<ifinfomsg>(RTM_GETLINK, AF_UNSPEC, [&](const nlmsghdr* m) {
    parse(m, [&](nl_object* obj) {
      auto* l = reinterpret_cast<rtnl_link*>(obj);
      Link link;
      link.index = rtnl_link_get_ifindex(l);
      if (const char* n = rtnl_link_get_name(l)) link.name = n;
      link.master = rtnl_link_get_master(l);
      const char* kind = rtnl_link_get_type(l);
      link.bridge = kind && std::strcmp(kind, "bridge") == 0;
      st.links[link.index] = std::move(link);
    });
  });
  if (!s.ok()) return s.context("links: dump links");
  s = impl_->dump<rtmsg>(RTM_GETROUTE, AF_UNSPEC, [&](const nlmsghdr* m) {
    parse(m, [&](nl_object* obj) {
      auto* r = reinterpret_cast<rtnl_route*>(obj);
      if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) {
        return;
      }
      HostRoute hr;
      nl_addr* dst = rtnl_route_get_dst(r);
      if (!to_ip(dst, hr.dst) || nl_addr_get_prefixlen(dst) != static_cast<unsigned>(hr.dst.bits()))
        return;
      if (rtnl_route_get_nnexthops(r) != 1) return;
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      if (rtnl_route_nh_get_gateway(nh)) return;  // a remote pod behind a gateway
      hr.oif = rtnl_route_nh_get_ifindex(nh);
      st.routes.push_back(hr);
    });
  });
  if (!s.ok()) return s.context("links: dump routes");
  for (uint8_t family : {static_cast<uint8_t>(AF_UNSPEC), static_cast<uint8_t>(AF_BRIDGE)}) {
    s = impl_->dump<ndmsg>(RTM_GETNEIGH, family, [&](const nlmsghdr* m) {
      parse(m, [&](nl_object* obj) {
        auto* n = reinterpret_cast<rtnl_neigh*>(obj);
        if (rtnl_neigh_get_family(n) == AF_BRIDGE) {
          FdbEntry f;
          if (!to_mac(rtnl_neigh_get_lladdr(n), f.mac)) return;
          f.port = rtnl_neigh_get_ifindex(n);
          f.local = (rtnl_neigh_get_state(n) & NUD_PERMANENT) != 0;
          st.fdb.push_back(f);
          return;
        }
        const int state = rtnl_neigh_get_state(n);
        if (state & (NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP)) return;
        Neighbour nb;
        if (!to_ip(rtnl_neigh_get_dst(n), nb.ip) || !to_mac(rtnl_neigh_get_lladdr(n), nb.mac)) {
          return;
        }
        nb.ifindex = rtnl_neigh_get_ifindex(n);
        st.neighbours.push_back(nb);
      });
    });
    if (!s.ok()) return s.context("links: dump neighbours");
  }
  return st;
}

Result<bool> NlLinks::wait(std::chrono::milliseconds timeout) {
  size_t seen = 0;
  const uint64_t before = impl_->overflows;
  Status s = impl_->events.receive(
      static_cast<int>(timeout.count()), [&](const nlmsghdr*) { ++seen; }, impl_->overflows);
  if (!s.ok()) return s.context("links: events");
  // Lost events (ENOBUFS) mean something changed that we did not see.
  return seen > 0 || impl_->overflows != before;
}

}  // namespace netpol::nft
