// The two address families as the renderers spell them: names, comments,
// set key types and source-address fields. One home for render.cpp,
// spoof.cpp and plan.cpp.
#pragma once
#include "compiler/ir.h"
#include "nft/objects.h"

namespace netpol::nft {

inline constexpr Family kFamilies[] = {Family::V4, Family::V6};

inline const char* family_suffix(Family f) {
  return f == Family::V4 ? "v4" : "v6";
}
inline const char* family_text(Family f) {
  return f == Family::V4 ? "IPv4" : "IPv6";
}
inline KeyType addr_type(Family f) {
  return f == Family::V4 ? KeyType::Ipv4Addr : KeyType::Ipv6Addr;
}
inline Field saddr(Family f) {
  return f == Family::V4 ? Field::IpSaddr : Field::Ip6Saddr;
}

}  // namespace netpol::nft
