// IP literal parsing/printing and prefix arithmetic. Hand-written rather than
// inet_pton(): inet_pton accepts some forms the API server rejects (and vice
// versa, e.g. it has no notion of a CIDR), and we want exactly one definition
// of "valid" shared by the decoder, the compiler and the tests.
#include "k8s/ip.h"

#include <algorithm>
#include <cstdio>

namespace netpol {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Dotted quad into out[0..3]. Leading zeros are refused because other parsers
// read "010" as octal: an ambiguous address is worse than a rejected one.
bool parse_v4(std::string_view s, uint8_t* out) {
  int part = 0;
  size_t i = 0;
  while (true) {
    if (part == 4) return false;
    size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      value = value * 10 + unsigned(s[i] - '0');
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    out[part++] = uint8_t(value);
    if (i == s.size()) break;
    if (s[i] != '.') return false;
    ++i;
  }
  return part == 4;
}

// IPv6 text (RFC 4291 section 2.2, including an embedded IPv4 tail) into 16
// bytes. Zone ids ("%eth0") are not addresses and are refused.
bool parse_v6(std::string_view s, uint8_t* out) {
  std::array<uint16_t, 8> groups{};
  int n = 0;     // groups written so far
  int gap = -1;  // index in groups where "::" stood
  size_t i = 0;
  if (s.size() < 2) return false;
  if (s[0] == ':') {
    if (s[1] != ':') return false;  // a single leading ':' is junk
    gap = 0;
    i = 2;
    if (i == s.size()) {
      std::fill_n(out, 16, uint8_t{0});
      return true;
    }
  }
  while (i < s.size()) {
    if (n == 8) return false;
    // An IPv4 tail is recognised by a '.' before the next ':'.
    size_t end = s.find(':', i);
    std::string_view piece = s.substr(i, end == std::string_view::npos ? s.size() - i : end - i);
    if (piece.find('.') != std::string_view::npos) {
      if (end != std::string_view::npos || n > 6) return false;
      uint8_t v4[4];
      if (!parse_v4(piece, v4)) return false;
      groups[size_t(n++)] = uint16_t(v4[0] << 8 | v4[1]);
      groups[size_t(n++)] = uint16_t(v4[2] << 8 | v4[3]);
      i = s.size();
      break;
    }
    if (piece.empty() || piece.size() > 4) return false;
    unsigned value = 0;
    for (char c : piece) {
      int h = hex_value(c);
      if (h < 0) return false;
      value = value << 4 | unsigned(h);
    }
    groups[size_t(n++)] = uint16_t(value);
    if (end == std::string_view::npos) {
      i = s.size();
      break;
    }
    i = end + 1;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;  // only one "::"
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;  // trailing single ':'
    }
  }
  if (gap < 0) {
    if (n != 8) return false;
  } else {
    // "::" must stand for at least one zero group.
    if (n > 7) return false;
    int tail = n - gap;
    std::array<uint16_t, 8> full{};
    for (int k = 0; k < gap; ++k) full[size_t(k)] = groups[size_t(k)];
    for (int k = 0; k < tail; ++k) full[size_t(8 - tail + k)] = groups[size_t(gap + k)];
    groups = full;
  }
  for (size_t k = 0; k < 8; ++k) {
    out[2 * k] = uint8_t(groups[k] >> 8);
    out[2 * k + 1] = uint8_t(groups[k] & 0xff);
  }
  return true;
}

std::string v4_text(const uint8_t* b) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
  return buf;
}

}  // namespace

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  IpAddr ip;
  if (text.find(':') != std::string_view::npos) {
    ip.family = Family::V6;
    if (!parse_v6(text, ip.bytes.data())) return std::nullopt;
    return ip;
  }
  if (!parse_v4(text, ip.bytes.data())) return std::nullopt;
  return ip;
}

IpAddr IpAddr::v4(uint32_t host_order) {
  IpAddr ip;
  ip.bytes[0] = uint8_t(host_order >> 24);
  ip.bytes[1] = uint8_t(host_order >> 16);
  ip.bytes[2] = uint8_t(host_order >> 8);
  ip.bytes[3] = uint8_t(host_order);
  return ip;
}

std::string IpAddr::str() const {
  if (is_v4()) return v4_text(bytes.data());
  std::array<unsigned, 8> g{};
  for (size_t k = 0; k < 8; ++k) g[k] = unsigned(bytes[2 * k]) << 8 | bytes[2 * k + 1];
  // RFC 5952 section 5: IPv4-mapped addresses keep their dotted tail.
  bool mapped = g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xffff;
  if (mapped) return "::ffff:" + v4_text(bytes.data() + 12);
  // RFC 5952 section 4.2: compress the longest run (first on a tie) of at
  // least two zero groups.
  int best = -1, best_len = 0;
  for (int k = 0; k < 8;) {
    if (g[size_t(k)] != 0) {
      ++k;
      continue;
    }
    int start = k;
    while (k < 8 && g[size_t(k)] == 0) ++k;
    if (k - start > best_len) {
      best = start;
      best_len = k - start;
    }
  }
  if (best_len < 2) best = -1;
  std::string out;
  char buf[8];
  for (int k = 0; k < 8; ++k) {
    if (k == best) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[size_t(k)]);
    out += buf;
  }
  return out;
}

IpAddr IpAddr::masked(int prefix) const {
  IpAddr r = *this;
  prefix = std::clamp(prefix, 0, bits());
  for (int k = 0; k < bits() / 8; ++k) {
    int keep = std::clamp(prefix - 8 * k, 0, 8);
    uint8_t mask = keep == 0 ? 0 : uint8_t(0xff << (8 - keep));
    r.bytes[size_t(k)] &= mask;
  }
  return r;
}

IpAddr IpAddr::last_in(int prefix) const {
  IpAddr r = *this;
  prefix = std::clamp(prefix, 0, bits());
  for (int k = 0; k < bits() / 8; ++k) {
    int keep = std::clamp(prefix - 8 * k, 0, 8);
    uint8_t host = keep == 8 ? 0 : uint8_t(0xff >> keep);
    r.bytes[size_t(k)] |= host;
  }
  return r;
}

std::optional<IpAddr> IpAddr::next() const {
  IpAddr r = *this;
  for (int k = bits() / 8 - 1; k >= 0; --k) {
    if (++r.bytes[size_t(k)] != 0) return r;
  }
  return std::nullopt;  // wrapped: this was the all-ones address
}

std::optional<IpAddr> IpAddr::prev() const {
  IpAddr r = *this;
  for (int k = bits() / 8 - 1; k >= 0; --k) {
    if (r.bytes[size_t(k)]-- != 0) return r;
  }
  return std::nullopt;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  std::string_view p = text.substr(slash + 1);
  if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return std::nullopt;
  int prefix = 0;
  for (char c : p) {
    if (!is_digit(c)) return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > addr->bits()) return std::nullopt;
  return Cidr{addr->masked(prefix), prefix};
}

std::string Cidr::str() const {
  return addr.str() + "/" + std::to_string(prefix);
}

bool Cidr::contains(const IpAddr& ip) const {
  return ip.family == addr.family && ip.masked(prefix) == addr;
}

bool Cidr::contains(const Cidr& other) const {
  return other.addr.family == addr.family && other.prefix >= prefix && contains(other.addr);
}

std::vector<IpRange> carve(const Cidr& cidr, const std::vector<Cidr>& excepts) {
  IpRange whole{cidr.addr, cidr.last()};
  std::vector<IpRange> holes;
  for (const Cidr& e : excepts) {
    if (e.addr.family != cidr.addr.family) continue;
    // Two prefixes are either nested or disjoint, so the intersection of a
    // hole with the whole is the hole or the whole (or nothing).
    if (cidr.contains(e)) {
      holes.push_back({e.addr, e.last()});
    } else if (e.contains(cidr)) {
      return {};
    }
  }
  std::sort(holes.begin(), holes.end());
  std::vector<IpRange> out;
  std::optional<IpAddr> cursor = whole.first;  // first address not yet decided
  for (const IpRange& h : holes) {
    if (!cursor) break;
    if (h.last < *cursor) continue;  // nested in an earlier hole
    if (h.first > *cursor) out.push_back({*cursor, *h.first.prev()});
    cursor = h.last.next();
  }
  if (cursor && *cursor <= whole.last) out.push_back({*cursor, whole.last});
  return out;
}

std::vector<Cidr> range_to_cidrs(const IpRange& range) {
  std::vector<Cidr> out;
  if (range.first.family != range.last.family || range.last < range.first) return out;
  const int bits = range.first.bits();
  std::optional<IpAddr> cur = range.first;
  while (cur && *cur <= range.last) {
    // Widest prefix that starts at cur and ends inside the range.
    int prefix = 0;
    while (prefix < bits && (cur->masked(prefix) != *cur || cur->last_in(prefix) > range.last)) {
      ++prefix;
    }
    out.push_back({*cur, prefix});
    cur = cur->last_in(prefix).next();
  }
  return out;
}

}  // namespace netpol
