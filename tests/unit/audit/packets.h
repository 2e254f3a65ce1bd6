// Hand-built IPv4/IPv6 packets as NFLOG hands them over (network header on),
// for the decoder and pipeline tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "k8s/ip.h"

namespace netpol::audit::testing {

inline std::vector<uint8_t> l4_ports(uint16_t sport, uint16_t dport, size_t len) {
  std::vector<uint8_t> l4(len, 0);
  l4[0] = static_cast<uint8_t>(sport >> 8);
  l4[1] = static_cast<uint8_t>(sport);
  l4[2] = static_cast<uint8_t>(dport >> 8);
  l4[3] = static_cast<uint8_t>(dport);
  return l4;
}

// IPv4 header (no options unless `options` > 0 words) followed by `l4`.
inline std::vector<uint8_t> ipv4(const std::string& src, const std::string& dst, uint8_t proto,
                                 const std::vector<uint8_t>& l4, int options = 0,
                                 uint16_t frag = 0) {
  const size_t ihl = 20 + 4 * static_cast<size_t>(options);
  std::vector<uint8_t> p(ihl, 0);
  p[0] = static_cast<uint8_t>(0x40 | (ihl / 4));
  const size_t total = ihl + l4.size();
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[6] = static_cast<uint8_t>(frag >> 8);
  p[7] = static_cast<uint8_t>(frag);
  p[8] = 64;
  p[9] = proto;
  IpAddr s = *IpAddr::parse(src), d = *IpAddr::parse(dst);
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = s.bytes[i];
    p[16 + i] = d.bytes[i];
  }
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

// IPv6 header, optional extension headers (already encoded), then `l4`.
inline std::vector<uint8_t> ipv6(const std::string& src, const std::string& dst, uint8_t next,
                                 const std::vector<uint8_t>& rest) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>(rest.size() >> 8);
  p[5] = static_cast<uint8_t>(rest.size());
  p[6] = next;
  p[7] = 64;
  IpAddr s = *IpAddr::parse(src), d = *IpAddr::parse(dst);
  for (int i = 0; i < 16; ++i) {
    p[8 + i] = s.bytes[i];
    p[24 + i] = d.bytes[i];
  }
  p.insert(p.end(), rest.begin(), rest.end());
  return p;
}

inline std::vector<uint8_t> tcp4(const std::string& src, uint16_t sport, const std::string& dst,
                                 uint16_t dport) {
  return ipv4(src, dst, 6, l4_ports(sport, dport, 20));
}

}  // namespace netpol::audit::testing
