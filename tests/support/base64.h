// Standard base64 (RFC 4648, with padding) for test code: kubeconfig *-data
// fields in the config tests and the fake API server's continue tokens.
// Deliberately independent of the product's decoder, which the tests check.
// Header-only, test code only.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace netpol::testsupport {

inline constexpr const char* kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

inline std::string base64(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kBase64Alphabet[(acc << (6 - bits)) & 63];
  while (out.size() % 4) out += '=';
  return out;
}

// nullopt on a character outside the alphabet; stops at the first '='.
inline std::optional<std::string> unbase64(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const char* p = std::strchr(kBase64Alphabet, c);
    if (!p || !c) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(p - kBase64Alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace netpol::testsupport
