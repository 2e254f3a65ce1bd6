#include "agent/audit/record.h"

#include <charconv>
#include <cstdio>
#include <ctime>

#include "k8s/rfc3339.h"

namespace netpol::audit {

namespace {

constexpr uint8_t kIcmp = 1;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kDccp = 33;
constexpr uint8_t kIcmpv6 = 58;
constexpr uint8_t kSctp = 132;
constexpr uint8_t kUdpLite = 136;

bool has_ports(uint8_t proto) {
  return proto == kTcp || proto == kUdp || proto == kSctp || proto == kUdpLite || proto == kDccp;
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// Fills the transport part from `l4` (len bytes; may be short).
void transport(Packet& p, const uint8_t* l4, size_t len, bool first_fragment) {
  if (!first_fragment) return;
  if (has_ports(p.proto) && len >= 4) {
    p.has_ports = true;
    p.sport = be16(l4);
    p.dport = be16(l4 + 2);
  } else if ((p.proto == kIcmp || p.proto == kIcmpv6) && len >= 2) {
    p.icmp_type = l4[0];
    p.icmp_code = l4[1];
  }
}

std::optional<Packet> decode_v4(const uint8_t* d, size_t len) {
  if (len < 20) return std::nullopt;
  const size_t ihl = static_cast<size_t>(d[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > len) return std::nullopt;
  Packet p;
  p.src.family = p.dst.family = Family::V4;
  for (int i = 0; i < 4; ++i) {
    p.src.bytes[i] = d[12 + i];
    p.dst.bytes[i] = d[16 + i];
  }
  p.proto = d[9];
  const bool first = (be16(d + 6) & 0x1fff) == 0;
  // The IP total length bounds the transport header when NFLOG copied more.
  size_t total = be16(d + 2);
  size_t end = total >= ihl && total < len ? total : len;
  transport(p, d + ihl, end - ihl, first);
  return p;
}

std::optional<Packet> decode_v6(const uint8_t* d, size_t len) {
  if (len < 40) return std::nullopt;
  Packet p;
  p.src.family = p.dst.family = Family::V6;
  for (int i = 0; i < 16; ++i) {
    p.src.bytes[i] = d[8 + i];
    p.dst.bytes[i] = d[24 + i];
  }
  uint8_t next = d[6];
  size_t off = 40;
  bool first = true;
  // A truncated extension header: the addresses are known, the transport is not.
  auto truncated = [&] {
    p.proto = next;
    return p;
  };
  // Extension headers before the transport header; a bounded walk.
  for (int hops = 0; hops < 8; ++hops) {
    if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
      if (off + 2 > len) return truncated();
      size_t ext = (static_cast<size_t>(d[off + 1]) + 1) * 8;
      next = d[off];
      off += ext;
    } else if (next == 44) {  // fragment
      if (off + 8 > len) return truncated();
      first = (be16(d + off + 2) >> 3) == 0;
      next = d[off];
      off += 8;
    } else if (next == 51) {  // authentication header
      if (off + 2 > len) return truncated();
      size_t ext = (static_cast<size_t>(d[off + 1]) + 2) * 4;
      next = d[off];
      off += ext;
    } else {
      break;
    }
  }
  p.proto = next;
  if (off <= len) transport(p, d + off, len - off, first);
  return p;
}

void append_u64(std::string& out, uint64_t v) {
  out += std::to_string(v);
}

void append_list(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += json_string(items[i]);
  }
  out += ']';
}

// ,"name": before a member's value; returns `out` for the value's writer.
std::string& json_key(std::string& out, const char* name) {
  out += ",\"";
  out += name;
  out += "\":";
  return out;
}

void append_head(std::string& out, const char* event, TimePoint t, const std::string& node) {
  out += "{\"schema_version\":";
  out += std::to_string(kSchemaVersion);
  out += ",\"event\":\"";
  out += event;
  out += "\",\"time\":\"";
  out += format_rfc3339_micros(t);
  out += "\",\"node\":";
  out += json_string(node);
}

void append_endpoint(std::string& out, const Endpoint& e) {
  out += "{\"ip\":\"" + e.ip.str() + "\",\"port\":";
  if (e.port) {
    append_u64(out, *e.port);
  } else {
    out += "null";
  }
  if (e.pod.empty()) {
    out += ",\"namespace\":null,\"pod\":null,\"kind\":\"external\"}";
  } else {
    out += ",\"namespace\":" + json_string(e.ns) + ",\"pod\":" + json_string(e.pod) +
           ",\"kind\":\"pod\"}";
  }
}

// "ns/name" -> {"namespace":..,"pod":..}
void append_pod_ref(std::string& out, const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) {
    out += "null";
    return;
  }
  out += "{\"namespace\":" + json_string(key.substr(0, slash)) +
         ",\"pod\":" + json_string(key.substr(slash + 1)) + "}";
}

void append_rule(std::string& out, const std::vector<std::string>& policies,
                 std::optional<uint32_t> index) {
  out += ",\"policies\":";
  append_list(out, policies);
  out += ",\"rule\":";
  if (index && !policies.empty()) {
    out += "{\"policy\":" + json_string(policies.front()) + ",\"index\":";
    append_u64(out, *index);
    out += "}";
  } else {
    out += "null";
  }
}

// The head of a connection-level record (Connection, Suppressed): the
// common head, then ,"verdict":…,"direction":….
template <typename Record>
void append_verdict_head(std::string& out, const char* event, const Record& r) {
  append_head(out, event, r.time, r.node);
  out += ",\"verdict\":\"";
  out += to_string(r.verdict);
  out += "\",\"direction\":\"";
  out += nft::to_string(r.direction);
  out += "\"";
}

// The rule (allow) and the isolating policies: what every connection-level
// record ends with.
void append_attribution(std::string& out, const std::vector<std::string>& policies,
                        std::optional<uint32_t> rule_index,
                        const std::vector<std::string>& isolated_by) {
  append_rule(out, policies, rule_index);
  out += ",\"isolated_by\":";
  append_list(out, isolated_by);
}

// ,"tier":…,"cnp":…: who decided (schema 2).
void append_decider(std::string& out, const std::optional<k8s::CnpTier>& tier,
                    const std::optional<CnpRuleRef>& cnp) {
  json_key(out, "tier") += json_string(tier_name(tier));
  json_key(out, "cnp");
  if (!cnp) {
    out += "null";
    return;
  }
  out += "{\"name\":" + json_string(cnp->name) + ",\"rule\":";
  out += cnp->rule.empty() ? std::string("null") : json_string(cnp->rule);
  out += ",\"index\":";
  append_u64(out, cnp->index);
  out += "}";
}

}  // namespace

const char* tier_name(const std::optional<k8s::CnpTier>& tier) {
  return tier ? k8s::to_string(*tier) : "NetworkPolicy";
}

const char* to_string(Verdict v) {
  return v == Verdict::Allow ? "allow" : "deny";
}

std::optional<Packet> decode_packet(const uint8_t* data, size_t len) {
  if (!data || len < 1) return std::nullopt;
  switch (data[0] >> 4) {
    case 4:
      return decode_v4(data, len);
    case 6:
      return decode_v6(data, len);
    default:
      return std::nullopt;
  }
}

std::string protocol_name(uint8_t proto) {
  switch (proto) {
    case kTcp:
      return "TCP";
    case kUdp:
      return "UDP";
    case kSctp:
      return "SCTP";
    case kIcmp:
      return "ICMP";
    case kIcmpv6:
      return "ICMPv6";
    default:
      return std::to_string(proto);
  }
}

std::optional<LogId> parse_prefix(std::string_view prefix) {
  // The kernel hands the prefix over with its terminating NUL.
  while (!prefix.empty() && prefix.back() == '\0') prefix.remove_suffix(1);
  std::vector<std::string_view> words;
  size_t pos = 0;
  while (pos <= prefix.size()) {
    size_t sp = prefix.find(' ', pos);
    if (sp == std::string_view::npos) sp = prefix.size();
    words.push_back(prefix.substr(pos, sp - pos));
    pos = sp + 1;
  }
  if (words.size() == 2 && words[0] == nft::kAuditPrefixTag && words[1] == "spoofed") {
    // The sender's egress: its packet never reached a policy.
    LogId id;
    id.verdict = Verdict::Deny;
    id.direction = nft::Direction::Egress;
    id.spoofed = true;
    return id;
  }
  if (words.size() < 4 || words[0] != nft::kAuditPrefixTag) return std::nullopt;
  LogId id;
  // "netpol VERDICT DIR POD TIER CNP N": a ClusterNetworkPolicy rule.
  const bool tier_rule = words.size() == 7;
  if (words[1] == "deny") {
    id.verdict = Verdict::Deny;
    if (words.size() != 4 && !tier_rule) return std::nullopt;
  } else if (words[1] == "allow") {
    id.verdict = Verdict::Allow;
    if (words.size() != 6 && !tier_rule) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (words[2] == "ingress") {
    id.direction = nft::Direction::Ingress;
  } else if (words[2] == "egress") {
    id.direction = nft::Direction::Egress;
  } else {
    return std::nullopt;
  }
  if (words[3].size() != 8) return std::nullopt;
  id.pod_hash = std::string(words[3]);
  auto index = [&](std::string_view w) {
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), id.rule_index);
    return !w.empty() && ec == std::errc() && end == w.data() + w.size();
  };
  if (tier_rule) {
    if (words[4] == nft::audit_tier_word(k8s::CnpTier::Admin)) {
      id.tier = k8s::CnpTier::Admin;
    } else if (words[4] == nft::audit_tier_word(k8s::CnpTier::Baseline)) {
      id.tier = k8s::CnpTier::Baseline;
    } else {
      return std::nullopt;
    }
    if (words[5].size() != 8 || !index(words[6])) return std::nullopt;
    id.cnp_hash = std::string(words[5]);
  } else if (id.verdict == Verdict::Allow) {
    if (words[4].size() != 8 || !index(words[5])) return std::nullopt;
    id.policy_hash = std::string(words[4]);
  }
  return id;
}

std::string format(const Connection& c) {
  std::string out;
  out.reserve(512);
  append_verdict_head(out, "connection", c);
  json_key(out, "protocol") += json_string(protocol_name(c.proto));
  append_endpoint(json_key(out, "src"), c.src);
  append_endpoint(json_key(out, "dst"), c.dst);
  append_attribution(out, c.policies, c.rule_index, c.isolated_by);
  if (!c.reason.empty()) json_key(out, "reason") += json_string(c.reason);
  json_key(out, "icmp");
  if (c.icmp_type) {
    out += "{\"type\":";
    append_u64(out, *c.icmp_type);
    out += ",\"code\":";
    append_u64(out, c.icmp_code.value_or(0));
    out += "}";
  } else {
    out += "null";
  }
  if (c.reason.empty()) {
    append_decider(out, c.tier, c.cnp);
  } else {
    out += ",\"tier\":null,\"cnp\":null";  // no policy decided (anti-spoofing)
  }
  out += "}\n";
  return out;
}

std::string format(const Suppressed& s) {
  std::string out;
  append_verdict_head(out, "suppressed", s);
  append_pod_ref(json_key(out, "pod"), s.pod);
  append_u64(json_key(out, "count"), s.count);
  append_attribution(out, s.policies, s.rule_index, s.isolated_by);
  append_decider(out, s.tier, s.cnp);
  out += "}\n";
  return out;
}

std::string format(const Lost& l) {
  std::string out;
  append_head(out, "lost", l.time, l.node);
  out += ",\"count\":";
  append_u64(out, l.count);
  out += ",\"reason\":" + json_string(l.reason) + "}\n";
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Copy a well-formed UTF-8 sequence; anything else becomes U+FFFD.
      size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
      bool ok = n > 0 && i + n <= s.size();
      for (size_t k = 1; ok && k < n; ++k) {
        ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      }
      if (ok) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += "\xef\xbf\xbd";
        ++i;
      }
    }
  }
  out += '"';
  return out;
}

}  // namespace netpol::audit
