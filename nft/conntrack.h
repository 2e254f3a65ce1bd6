// Conntrack: the kernel's connection tracking table of this network
// namespace, as far as netpol touches it: list the entries of given
// addresses, delete given entries. What agent/flows.h cuts flows through
// when a policy tightens (docs/flows.md).
//
// A pure interface: the libnl-nf implementation is NlConntrack
// (nft/conntrack_nl.h, the only place that sees libnl); tests use a fake.
// Implementations never throw and never touch an entry they were not given.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "k8s/ip.h"
#include "k8s/status.h"

namespace netpol::nft {

// One conntrack entry, as the filter-forward hook judged its first packet:
// `src` the original source, `dst`/`dport` the original destination after
// DNAT (the reply tuple's source: a Service VIP is already the backend pod
// there), `proto` IPPROTO_*. `orig_dst`/`orig_dport`, `zone` and `id` name
// the entry for delete (the id makes sure a reused tuple is not deleted).
struct Flow {
  uint8_t proto = 0;
  IpAddr src;
  IpAddr dst;
  uint16_t sport = 0;
  uint16_t dport = 0;  // 0 for protocols without ports
  IpAddr orig_dst;
  uint16_t orig_dport = 0;
  uint16_t zone = 0;
  uint32_t id = 0;
  // The original source is an address of this host: the ruleset accepts such
  // packets before any pod chain (fib saddr type local), so no policy applies.
  bool from_host = false;

  std::string str() const;  // "tcp 10.0.0.1:4242 -> 10.0.0.2:80"
  friend bool operator==(const Flow&, const Flow&) = default;
};

class Conntrack {
 public:
  virtual ~Conntrack() = default;
  // Every entry whose `src` or `dst` is one of `addrs` (both families).
  virtual Result<std::vector<Flow>> list(const std::set<IpAddr>& addrs) = 0;
  // Deletes these entries; the count deleted. An entry already gone (it
  // timed out, or its id no longer matches) is not an error and not counted.
  virtual Result<size_t> remove(const std::vector<Flow>& flows) = 0;
};

// "tcp", "udp", "sctp", "icmp", ... or the number.
std::string proto_text(uint8_t proto);

}  // namespace netpol::nft
