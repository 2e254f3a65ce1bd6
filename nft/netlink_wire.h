// The byte-level conventions netpol shares with nft 1.0.6 on the netlink wire:
// nft's datatype numbers, key lengths and padding, which packet bytes each
// Field loads, and how nft numbers registers. netlink.cpp (encoding) and
// readback.cpp (decoding) both use this, so the two directions cannot drift.
//
// Private to nft/: plain C++, no libnftnl or libmnl types, never I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "nft/objects.h"

namespace netpol::nft::wire {

// nft's datatype ids (nftables src/datatype.h), stored by the kernel as the set
// key type; a concatenation packs one id per 6 bits, first part highest.
inline constexpr uint32_t kTypeVerdict = 1;
inline constexpr uint32_t kTypeIpv4Addr = 7;
inline constexpr uint32_t kTypeIpv6Addr = 8;
inline constexpr uint32_t kTypeInetProto = 12;
inline constexpr uint32_t kTypeInetService = 13;
inline constexpr uint32_t kTypeIfName = 41;
inline constexpr uint32_t kTypeBits = 6;

// nft's enum byteorder, kept in set user data so `nft list` prints keys right.
inline constexpr uint32_t kByteorderInvalid = 0;
inline constexpr uint32_t kByteorderHostEndian = 1;
inline constexpr uint32_t kByteorderBigEndian = 2;

// Ids nft records in an anonymous set's "typeof" user data for `th dport`
// (expression type payload, protocol th, field dport).
inline constexpr uint32_t kTypeofExprPayload = 7;
inline constexpr uint32_t kTypeofProtoTh = 11;
inline constexpr uint32_t kTypeofThDport = 2;

// Payload bases (NFT_PAYLOAD_NETWORK_HEADER / _TRANSPORT_HEADER).
inline constexpr uint32_t kNetworkHeader = 1;
inline constexpr uint32_t kTransportHeader = 2;

// `tcp flags`: one byte at offset 13 of the TCP header, after its
// `meta l4proto tcp` dependency.
inline constexpr uint32_t kTcpFlagsOffset = 13;
inline constexpr uint8_t kProtoTcp = 6;

// nfproto values the `meta nfproto` dependency compares with.
inline constexpr uint8_t kNfprotoIpv4 = 2;
inline constexpr uint8_t kNfprotoIpv6 = 10;
// What stands in for `meta nfproto` in a bridge table, where nfproto is always
// NFPROTO_BRIDGE: `meta protocol` (the frame's ethertype, network byte order).
inline constexpr uint16_t kEthertypeIpv4 = 0x0800;
inline constexpr uint16_t kEthertypeIpv6 = 0x86dd;

// RTN_LOCAL: what `fib saddr type` yields for an address of this host.
inline constexpr uint32_t kRtnLocal = 2;

inline uint32_t type_id(KeyType t) {
  switch (t) {
    case KeyType::Ipv4Addr:
      return kTypeIpv4Addr;
    case KeyType::Ipv6Addr:
      return kTypeIpv6Addr;
    case KeyType::InetProto:
      return kTypeInetProto;
    case KeyType::InetService:
      return kTypeInetService;
    case KeyType::IfName:
      return kTypeIfName;
  }
  return 0;
}

inline std::optional<KeyType> key_type_of(uint32_t id) {
  switch (id) {
    case kTypeIpv4Addr:
      return KeyType::Ipv4Addr;
    case kTypeIpv6Addr:
      return KeyType::Ipv6Addr;
    case kTypeInetProto:
      return KeyType::InetProto;
    case kTypeInetService:
      return KeyType::InetService;
    case kTypeIfName:
      return KeyType::IfName;
    default:
      return std::nullopt;
  }
}

inline uint32_t concat_type(const std::vector<KeyType>& key) {
  uint32_t id = 0;
  for (KeyType t : key) id = (id << kTypeBits) | type_id(t);
  return id;
}

// Inverse of concat_type for `parts` parts (the kernel also stores the key
// length, which tells a caller how many parts to expect).
inline std::optional<std::vector<KeyType>> split_type(uint32_t id, size_t parts) {
  std::vector<KeyType> out(parts);
  for (size_t i = parts; i-- > 0;) {
    auto t = key_type_of(id & ((1u << kTypeBits) - 1));
    if (!t) return std::nullopt;
    out[i] = *t;
    id >>= kTypeBits;
  }
  if (id != 0) return std::nullopt;
  return out;
}

inline uint32_t part_len(KeyType t) {
  switch (t) {
    case KeyType::Ipv4Addr:
      return 4;
    case KeyType::Ipv6Addr:
      return 16;
    case KeyType::InetProto:
      return 1;
    case KeyType::InetService:
      return 2;
    case KeyType::IfName:
      return 16;  // IFNAMSIZ
  }
  return 0;
}

// A concatenation pads every part to a 32-bit register; a single key does not.
inline uint32_t padded_len(KeyType t, bool concat) {
  uint32_t n = part_len(t);
  return concat ? (n + 3) / 4 * 4 : n;
}

inline uint32_t key_len(const std::vector<KeyType>& key) {
  uint32_t n = 0;
  for (KeyType t : key) n += padded_len(t, key.size() > 1);
  return n;
}

// Set key bytes as the kernel stores them: network byte order, parts padded.
struct Key {
  std::array<uint8_t, 64> bytes{};
  uint32_t len = 0;
  friend bool operator==(const Key&, const Key&) = default;
};

inline KeyType type_of(const Value& v) {
  if (const auto* ip = std::get_if<IpAddr>(&v)) {
    return ip->is_v4() ? KeyType::Ipv4Addr : KeyType::Ipv6Addr;
  }
  if (std::holds_alternative<Proto>(v)) return KeyType::InetProto;
  if (std::holds_alternative<IfName>(v)) return KeyType::IfName;
  return KeyType::InetService;
}

inline void put_value(Key& k, const Value& v, bool concat) {
  const KeyType t = type_of(v);
  uint8_t* p = k.bytes.data() + k.len;
  if (const auto* ip = std::get_if<IpAddr>(&v)) {
    for (uint32_t i = 0; i < part_len(t); ++i) p[i] = ip->bytes[i];
  } else if (const auto* proto = std::get_if<Proto>(&v)) {
    p[0] = proto->num;
  } else if (const auto* n = std::get_if<IfName>(&v)) {
    const std::string_view name = n->name();
    for (size_t i = 0; i < name.size() && i < part_len(t) - 1; ++i) {
      p[i] = static_cast<uint8_t>(name[i]);
    }
  } else {
    const uint16_t port = std::get<Port>(v).num;
    p[0] = static_cast<uint8_t>(port >> 8);
    p[1] = static_cast<uint8_t>(port & 0xff);
  }
  k.len += padded_len(t, concat);
}

template <typename Parts>  // KeyParts or std::vector<Value>
Key encode_key(const Parts& parts) {
  Key k;
  for (const Value& v : parts) put_value(k, v, parts.size() > 1);
  return k;
}

inline Key port_key(uint16_t port) {
  return encode_key(KeyParts{Port{port}});
}

// The key one above `k` (big-endian increment); nullopt past the maximum.
inline std::optional<Key> successor(Key k) {
  for (uint32_t i = k.len; i-- > 0;) {
    if (++k.bytes[i] != 0) return k;
  }
  return std::nullopt;
}

inline bool is_zero(const Key& k) {
  for (uint32_t i = 0; i < k.len; ++i) {
    if (k.bytes[i] != 0) return false;
  }
  return true;
}

// The key one below `k`; nullopt below zero.
inline std::optional<Key> predecessor(Key k) {
  if (is_zero(k)) return std::nullopt;
  for (uint32_t i = k.len; i-- > 0;) {
    if (k.bytes[i]-- != 0) return k;
  }
  return k;
}

// Decodes `len` bytes as values of `types` (nullopt if the length disagrees
// or there are more parts than an element key holds).
inline std::optional<KeyParts> decode_key(const std::vector<KeyType>& types, const uint8_t* data,
                                          uint32_t len) {
  const bool concat = types.size() > 1;
  if (len != key_len(types) || types.size() > kMaxKeyParts) return std::nullopt;
  KeyParts out;
  uint32_t off = 0;
  for (KeyType t : types) {
    const uint8_t* p = data + off;
    switch (t) {
      case KeyType::Ipv4Addr:
      case KeyType::Ipv6Addr: {
        IpAddr ip;
        ip.family = t == KeyType::Ipv4Addr ? Family::V4 : Family::V6;
        for (uint32_t i = 0; i < part_len(t); ++i) ip.bytes[i] = p[i];
        out.push_back(ip);
        break;
      }
      case KeyType::InetProto:
        out.push_back(Proto{p[0]});
        break;
      case KeyType::InetService:
        out.push_back(Port{static_cast<uint16_t>((p[0] << 8) | p[1])});
        break;
      case KeyType::IfName: {
        size_t n = 0;
        while (n < part_len(t) && p[n] != 0) ++n;
        out.push_back(IfName{std::string_view(reinterpret_cast<const char*>(p), n)});
        break;
      }
    }
    off += padded_len(t, concat);
  }
  return out;
}

// Where a Field's bytes come from.
struct Load {
  bool meta = false;      // meta expression (else payload)
  uint32_t meta_key = 0;  // NFT_META_* when meta
  uint32_t base = 0;      // payload base when !meta
  uint32_t offset = 0;
  uint32_t len = 0;
  uint8_t nfproto = 0;  // family the field needs (`meta nfproto` dependency), 0: any
};

inline constexpr uint32_t kMetaProtocol = 1;  // NFT_META_PROTOCOL
inline constexpr uint32_t kMetaIifname = 6;   // NFT_META_IIFNAME
inline constexpr uint32_t kMetaNfproto = 15;  // NFT_META_NFPROTO
inline constexpr uint32_t kMetaL4proto = 16;  // NFT_META_L4PROTO

inline Load load_of(Field f) {
  switch (f) {
    case Field::IpSaddr:
      return {false, 0, kNetworkHeader, 12, 4, kNfprotoIpv4};
    case Field::IpDaddr:
      return {false, 0, kNetworkHeader, 16, 4, kNfprotoIpv4};
    case Field::Ip6Saddr:
      return {false, 0, kNetworkHeader, 8, 16, kNfprotoIpv6};
    case Field::Ip6Daddr:
      return {false, 0, kNetworkHeader, 24, 16, kNfprotoIpv6};
    case Field::MetaL4Proto:
      return {true, kMetaL4proto, 0, 0, 1, 0};
    case Field::ThDport:
      return {false, 0, kTransportHeader, 2, 2, 0};
    case Field::IifName:
      return {true, kMetaIifname, 0, 0, 16, 0};
  }
  return {};
}

inline std::optional<Field> field_of(const Load& l) {
  for (Field f : {Field::IpSaddr, Field::IpDaddr, Field::Ip6Saddr, Field::Ip6Daddr,
                  Field::MetaL4Proto, Field::ThDport, Field::IifName}) {
    Load w = load_of(f);
    if (w.meta != l.meta) continue;
    if (l.meta ? w.meta_key == l.meta_key
               : (w.base == l.base && w.offset == l.offset && w.len == l.len)) {
      return f;
    }
  }
  return std::nullopt;
}

// nft numbers data registers in 32-bit slots and names a slot that starts a
// 16-byte register by that register (NFT_REG_1..4), any other by NFT_REG32_xx.
inline uint32_t register_of_slot(uint32_t slot) {
  constexpr uint32_t kReg1 = 1, kReg32First = 8;
  return slot % 4 == 0 ? kReg1 + slot / 4 : kReg32First + slot;
}

}  // namespace netpol::nft::wire
