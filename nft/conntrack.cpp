#include "nft/conntrack.h"

#include <netinet/in.h>

namespace netpol::nft {

std::string proto_text(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_SCTP:
      return "sctp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    default:
      return std::to_string(proto);
  }
}

std::string Flow::str() const {
  auto end = [](const IpAddr& a, uint16_t port) {
    return (a.is_v4() ? a.str() : "[" + a.str() + "]") + ":" + std::to_string(port);
  };
  return proto_text(proto) + " " + end(src, sport) + " -> " + end(dst, dport);
}

}  // namespace netpol::nft
