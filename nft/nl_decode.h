// The netlink decoder (nftables' netlink_delinearize.c): libnftnl objects
// back into the value objects of nft/objects.h. Rule bytecode is matched
// against exactly the expression sequences the encoder (nl_encode.h) writes;
// anything else does not decode. Parses only: no socket, no I/O.
//
// Private to nft/'s netlink .cpp files: it pulls in libnftnl through
// nl_handles.h, which must never reach a public header.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nft/netlink_wire.h"
#include "nft/nl_handles.h"
#include "nft/objects.h"

namespace netpol::nft::nl {

// An anonymous set as a rule sees it: the port ranges it holds.
struct AnonSet {
  std::vector<PortRange> ports;
  bool valid = false;
};

using AnonSets = std::map<std::string, AnonSet>;

// One set element as the kernel stores it.
struct RawElem {
  wire::Key key;
  bool end = false;
  std::optional<Verdict> verdict;

  friend bool operator==(const RawElem&, const RawElem&) = default;
  friend bool operator<(const RawElem& a, const RawElem& b) {
    if (a.key.len != b.key.len) return a.key.len < b.key.len;
    if (int c = std::memcmp(a.key.bytes.data(), b.key.bytes.data(), a.key.len); c != 0)
      return c < 0;
    if (a.end != b.end) return a.end;
    return a.verdict < b.verdict;
  }
};

// The comment of type `type` in a user-data blob ("" if none).
std::string udata_comment(const void* data, uint32_t len, uint8_t type);

// The expressions of a rule netpol wrote; nullopt for anything else (a rule
// edited by hand or written by another tool). `anon`: the table's anonymous
// sets, which `th dport { ... }` refers to.
std::optional<std::vector<Expr>> decode_exprs(nftnl_rule* r, const AnonSets& anon);

// The elements of a set dumped into `s`.
std::vector<RawElem> raw_elems(nftnl_set* s);

// Interval elements (start, end = last+1) back into inclusive ranges; nullopt
// for a layout the encoder never writes.
std::optional<std::vector<std::pair<wire::Key, wire::Key>>> ranges_of(std::vector<RawElem> elems);

}  // namespace netpol::nft::nl
