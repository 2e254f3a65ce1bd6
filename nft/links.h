// Links: the node's network links, host routes, neighbours and bridge FDB,
// as far as anti-spoofing needs them (docs/spoofing.md): which host-side
// interface each local pod address lives behind, for pods netpol-cni did not
// bind (started before the agent, or on a node without the plugin).
//
//   routed  (Calico-style): a /32 or /128 route to the pod IP names its veth;
//   bridged (Weave/bridge-plugin style): the neighbour entry of the pod IP on
//           the bridge gives its MAC, the bridge FDB the port that MAC is behind.
//
// A pure interface: the libnl-route implementation is NlLinks
// (nft/links_nl.h, the only place that sees libnl-route); tests use a fake.
// Implementations never throw and never change a link, route or neighbour.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "k8s/ip.h"
#include "k8s/status.h"

namespace netpol::nft {

using Mac = std::array<uint8_t, 6>;

struct Link {
  int index = 0;
  std::string name;
  int master = 0;       // ifindex of the bridge (or bond) it is enslaved to; 0: none
  bool bridge = false;  // a bridge device (kind "bridge")
  friend bool operator==(const Link&, const Link&) = default;
};

// A main-table unicast route to exactly one address, through `oif`, no gateway.
struct HostRoute {
  IpAddr dst;
  int oif = 0;
  friend bool operator==(const HostRoute&, const HostRoute&) = default;
};

// An IPv4 (ARP) or IPv6 (NDP) neighbour entry with a link-layer address.
struct Neighbour {
  IpAddr ip;
  int ifindex = 0;
  Mac mac{};
  friend bool operator==(const Neighbour&, const Neighbour&) = default;
};

// A bridge FDB entry: frames to `mac` leave through port `port`.
struct FdbEntry {
  Mac mac{};
  int port = 0;
  bool local = false;  // the port's own address (permanent), not a learned station
  friend bool operator==(const FdbEntry&, const FdbEntry&) = default;
};

struct LinkState {
  std::map<int, Link> links;  // by ifindex
  std::vector<HostRoute> routes;
  std::vector<Neighbour> neighbours;
  std::vector<FdbEntry> fdb;
  friend bool operator==(const LinkState&, const LinkState&) = default;
};

class Links {
 public:
  virtual ~Links() = default;
  // A consistent-enough snapshot (one dump of each table).
  virtual Result<LinkState> read() = 0;
  // Waits up to `timeout` for a link, address, route or neighbour event
  // (RTNLGRP_LINK, _IPV4_ROUTE, _IPV6_ROUTE, _NEIGH, _IPV4_IFADDR,
  // _IPV6_IFADDR); true if at least one came (all pending are consumed).
  virtual Result<bool> wait(std::chrono::milliseconds timeout) = 0;
};

// Where the links say one address lives.
struct LinkBinding {
  std::string interface;  // host-side interface (routed: the route's; bridged: the port)
  IpAddr ip;
  bool bridged = false;  // the interface is a bridge port
  friend auto operator<=>(const LinkBinding&, const LinkBinding&) = default;
  friend bool operator==(const LinkBinding&, const LinkBinding&) = default;
};

// Every address the state places behind one interface: host routes through a
// link that is not a bridge, and neighbours on a bridge whose MAC a port of
// that bridge has learned. An address placed behind two interfaces is left
// out (ambiguous: a binding must never hand one pod's address to another).
std::vector<LinkBinding> derive_bindings(const LinkState& state);

// Names of the interfaces enslaved to a bridge.
std::set<std::string> bridge_ports(const LinkState& state);

}  // namespace netpol::nft
