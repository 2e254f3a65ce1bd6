// The audit log's records: what one NFLOG message says (decoded packet headers
// and the rule's prefix), and the JSON line each event becomes. The line
// format is the versioned contract of docs/audit-log.md; format_* are the only
// functions that write it, and the golden test in tests/unit/audit pins it.
//
// Pure: no I/O, no clock (times are passed in), no kernel types. Decoding never
// trusts the packet: truncated or malformed headers give std::nullopt, never a
// read past the buffer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/ip.h"
#include "nft/render.h"

namespace netpol::audit {

// 2: lines name the tier that decided and the ClusterNetworkPolicy rule
// (docs/audit-log.md, "Schema versions"); every field of 1 is still there.
inline constexpr int kSchemaVersion = 2;

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

enum class Verdict : uint8_t { Allow, Deny };
const char* to_string(Verdict v);  // "allow", "deny"

// The headers of one logged packet (the first packet of a connection attempt).
struct Packet {
  IpAddr src;
  IpAddr dst;
  uint8_t proto = 0;       // IPPROTO_*
  bool has_ports = false;  // TCP, UDP, SCTP (and UDP-Lite, DCCP)
  uint16_t sport = 0;
  uint16_t dport = 0;
  std::optional<uint8_t> icmp_type;  // ICMP / ICMPv6
  std::optional<uint8_t> icmp_code;

  friend bool operator==(const Packet&, const Packet&) = default;
};

// Decodes an IPv4 or IPv6 packet starting at its network header (what NFLOG
// hands over in NFULA_PAYLOAD). IPv6 extension headers (hop-by-hop, routing,
// destination options, fragment) are skipped; a non-first fragment has no ports.
std::optional<Packet> decode_packet(const uint8_t* data, size_t len);

// "TCP", "UDP", "SCTP", "ICMP", "ICMPv6", else the protocol number as text.
std::string protocol_name(uint8_t proto);

// What a logging rule's NFLOG prefix says (see nft::audit_deny_prefix).
struct LogId {
  Verdict verdict = Verdict::Deny;
  nft::Direction direction = nft::Direction::Ingress;
  std::string pod_hash;     // short_hash("ns/pod") of the chain's pod
  std::string policy_hash;  // NetworkPolicy allow: short_hash("ns/policy")
  uint32_t rule_index = 0;  // allow, CNP: index in the policy's ingress/egress list
  // A ClusterNetworkPolicy rule logged (nft::audit_tier_prefix): its tier and
  // short_hash("cnp/NAME"); nullopt: a NetworkPolicy chain did.
  std::optional<k8s::CnpTier> tier;
  std::string cnp_hash;
  // The anti-spoofing guard's prefix (nft::kSpoofedPrefix): a deny whose
  // source is not bound to the interface it came from (pod_hash empty).
  bool spoofed = false;

  friend bool operator==(const LogId&, const LogId&) = default;
};
std::optional<LogId> parse_prefix(std::string_view prefix);

// The ClusterNetworkPolicy rule that decided a verdict.
struct CnpRuleRef {
  std::string name;    // the CNP
  std::string rule;    // the rule's name; empty: unnamed
  uint32_t index = 0;  // its index in the CNP's ingress/egress list

  friend bool operator==(const CnpRuleRef&, const CnpRuleRef&) = default;
};

// "tier" of a line: "Admin", "Baseline", or "NetworkPolicy" (nullopt).
const char* tier_name(const std::optional<k8s::CnpTier>& tier);

// One end of a connection: a pod, or an address no pod holds ("external").
struct Endpoint {
  IpAddr ip;
  std::optional<uint16_t> port;  // absent for protocols without ports
  std::string ns;                // empty: external
  std::string pod;
};

// One logged connection attempt, enriched.
struct Connection {
  TimePoint time;
  std::string node;
  Verdict verdict = Verdict::Deny;
  nft::Direction direction = nft::Direction::Ingress;
  uint8_t proto = 0;
  Endpoint src;
  Endpoint dst;
  std::optional<uint8_t> icmp_type;
  std::optional<uint8_t> icmp_code;
  std::vector<std::string> policies;     // allow: the policy whose rule allowed it
  std::optional<uint32_t> rule_index;    // allow: that rule's index
  std::vector<std::string> isolated_by;  // policies isolating the chain's pod this way
  std::optional<k8s::CnpTier> tier;      // who decided; nullopt: NetworkPolicy
  std::optional<CnpRuleRef> cnp;         // the CNP rule that decided, if one did and is known
  // The chain's pod (the destination for ingress, the source for egress), for
  // when the packet's address no longer maps to it (the pod went away).
  std::string chain_pod;  // "ns/name"; empty when the id was not known
  // Why, when the verdict is not a policy's: "spoofed" (anti-spoofing); ""
  // for policy verdicts (the key is then left out of the line).
  std::string reason;
};

// Connection attempts a logging rule did not log because its rate limit was
// exhausted (read from the counter behind it).
struct Suppressed {
  TimePoint time;
  std::string node;
  Verdict verdict = Verdict::Deny;
  nft::Direction direction = nft::Direction::Ingress;
  std::string pod;  // "ns/name" of the chain's pod
  uint64_t count = 0;
  std::vector<std::string> policies;   // allow: the policy of the rule
  std::optional<uint32_t> rule_index;  // allow: its rule index
  std::vector<std::string> isolated_by;
  std::optional<k8s::CnpTier> tier;  // as for Connection
  std::optional<CnpRuleRef> cnp;
};

// Lines netpol could not write: the writer fell behind ("queue_full") or the
// kernel's NFLOG queue to the listener overflowed ("nflog_overflow").
struct Lost {
  TimePoint time;
  std::string node;
  uint64_t count = 0;
  std::string reason;
};

// Each returns one JSON line with its trailing newline.
std::string format(const Connection& c);
std::string format(const Suppressed& s);
std::string format(const Lost& l);

// Times are written with k8s/rfc3339.h: format_rfc3339_micros, e.g.
// "2026-01-02T03:04:05.678901Z"; parse_rfc3339_utc reads them back.

// A JSON string literal (with quotes) for any bytes; invalid UTF-8 becomes U+FFFD.
std::string json_string(std::string_view s);

}  // namespace netpol::audit
