// Short stable hashes for generated nftables names ("pods-ULMVA6XW").
//
// Stable across runs, hosts and versions: the same definition always gives the
// same name, so a restarted agent recognises its own objects and the script
// output of policyc is byte-for-byte reproducible. Never use std::hash here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace netpol {

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// 8 characters of RFC 4648 base32 (A-Z, 2-7) from the top 40 bits of FNV-1a-64.
inline std::string short_hash(std::string_view s) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  uint64_t h = fnv1a64(s);
  std::string out(8, 'A');
  for (int i = 0; i < 8; ++i) out[i] = kAlphabet[(h >> (59 - 5 * i)) & 31];
  return out;
}

}  // namespace netpol
