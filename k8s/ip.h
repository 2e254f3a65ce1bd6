// IP addresses, CIDR prefixes and address ranges for both families.
//
// Plain value types with a total order, so they can key std::map/std::set and
// make every output of the compiler deterministic. Parsing never throws: it
// returns std::nullopt for anything that is not a valid literal.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netpol {

enum class Family : uint8_t { V4 = 4, V6 = 6 };

struct IpAddr {
  Family family = Family::V4;
  // Network byte order. IPv4 uses bytes[0..3], the rest stays zero.
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddr> parse(std::string_view text);
  static IpAddr v4(uint32_t host_order);
  std::string str() const;  // canonical text (RFC 5952 for IPv6)
  int bits() const { return family == Family::V4 ? 32 : 128; }
  bool is_v4() const { return family == Family::V4; }

  // Address arithmetic used by interval carving; saturating at the ends.
  IpAddr masked(int prefix) const;      // host bits cleared
  IpAddr last_in(int prefix) const;     // host bits set
  std::optional<IpAddr> next() const;   // nullopt past the last address
  std::optional<IpAddr> prev() const;   // nullopt before the first address

  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
  friend bool operator==(const IpAddr&, const IpAddr&) = default;
};

struct Cidr {
  IpAddr addr;  // host bits are always zero
  int prefix = 0;

  // Accepts "a.b.c.d/n" and "x::y/n"; host bits set below the prefix are
  // cleared (the API server accepts such values too). A bare address is not a CIDR.
  static std::optional<Cidr> parse(std::string_view text);
  std::string str() const;
  IpAddr last() const { return addr.last_in(prefix); }
  bool contains(const IpAddr& ip) const;
  bool contains(const Cidr& other) const;

  friend auto operator<=>(const Cidr&, const Cidr&) = default;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// Inclusive range [first, last] of one family.
struct IpRange {
  IpAddr first;
  IpAddr last;

  friend auto operator<=>(const IpRange&, const IpRange&) = default;
  friend bool operator==(const IpRange&, const IpRange&) = default;
};

// cidr minus every except, as sorted disjoint ranges (excepts of the other
// family or outside cidr are ignored).
std::vector<IpRange> carve(const Cidr& cidr, const std::vector<Cidr>& excepts);

// The smallest list of prefixes covering exactly [first, last].
std::vector<Cidr> range_to_cidrs(const IpRange& range);

}  // namespace netpol
