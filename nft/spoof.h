// Anti-spoofing (docs/spoofing.md): a packet that arrives from a bound pod
// interface must carry one of the addresses bound to that interface.
//
//   table inet netpol   (routed pod networks: the pod's veth is the iifname)
//   table bridge netpol (bridged pod networks: only the bridge family sees the
//                        port a frame came in on; the inet hooks see the bridge)
//     set spoof-interfaces      ifname                  the bound pod interfaces
//     set spoof-bound-v4 / -v6  ipv4_addr . ifname, ... the bound (IP, interface) pairs
//     set spoof-exempt-v4 / -v6 unspecified and link-local sources (DHCP, NDP, DAD)
//     chain filter-prerouting   hook prerouting, priority -300 (before conntrack)
//
// Rules are static; bindings are set elements, so a pod coming or going is
// element adds and deletes. Pure: no I/O except BridgeGuard, which talks to
// the kernel only through the abstract Kernel.
#pragma once

#include <compare>
#include <optional>
#include <set>
#include <string>

#include "k8s/ip.h"
#include "nft/kernel.h"
#include "nft/objects.h"
#include "nft/render.h"
#include "nft/status.h"
#include "nft/transaction.h"

namespace netpol::nft {

inline constexpr const char* kGuardChain = "filter-prerouting";
// Before conntrack (-200): a spoofed packet never creates a conntrack entry.
inline constexpr int32_t kGuardPriority = -300;
inline constexpr const char* kGuardInterfaces = "spoof-interfaces";
// The NFLOG prefix of the guard's logging rules; the audit listener writes
// `"verdict":"deny","reason":"spoofed"` for it (docs/audit-log.md).
inline constexpr const char* kSpoofedPrefix = "netpol spoofed";

// "spoof-bound-v4", "spoof-exempt-v6", ...
std::string guard_bound_set(Family f);
std::string guard_exempt_set(Family f);

// One address bound to one host-side pod interface.
struct PortBinding {
  std::string interface;
  IpAddr ip;
  friend auto operator<=>(const PortBinding&, const PortBinding&) = default;
  friend bool operator==(const PortBinding&, const PortBinding&) = default;
};
using PortBindings = std::set<PortBinding>;

// Adds the guard (chain, sets with `bindings` as elements, rules) to `rs`.
// Bindings whose interface name the kernel could not hold are left out.
void add_guard(Ruleset& rs, const PortBindings& bindings, const AuditOptions& audit);
// The whole `table bridge netpol`: the guard alone.
Ruleset render_bridge_guard(const PortBindings& bindings, const AuditOptions& audit);

// Appends the element deletes and adds that turn the guard sets of
// tx.state() into those of `bindings`. Fails when tx.state() has no guard
// (the caller reconciles instead).
Status append_guard_changes(Transaction& tx, const PortBindings& bindings);

// Keeps `table bridge netpol` in step with the bridged bindings: created on
// the first sync, then element ops against a mirror; a failure drops the
// mirror and the next sync reconciles from a read-back. Not thread-safe.
class BridgeGuard {
 public:
  explicit BridgeGuard(Kernel& kernel, AuditOptions audit = {}) : kernel_(kernel), audit_(audit) {}
  Status sync(const PortBindings& bindings);
  // Deletes the table if it exists (anti-spoofing switched off).
  Status remove();
  bool needs_full() const { return !mirror_.has_value(); }
  // The next sync reads the table back (a drift check of its own).
  void forget() { mirror_.reset(); }

 private:
  Kernel& kernel_;
  AuditOptions audit_;
  std::optional<Ruleset> mirror_;
};

}  // namespace netpol::nft
