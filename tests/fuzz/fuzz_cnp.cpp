// libFuzzer target: bytes through the ClusterNetworkPolicy and Node decoder.
// Besides never crashing, hanging or leaking, every object that comes out must
// keep the promises of k8s/cnp.h (limits, one-of kinds, port ranges), which
// the compiler relies on without checking again. The input is decoded as
// given and, so that mutations spend their time inside the spec, also as the
// spec of a ClusterNetworkPolicy whose header is fixed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "k8s/cnp.h"
#include "k8s/decode.h"

namespace {

using namespace netpol::k8s;

void require(bool ok) {
  if (!ok) std::abort();
}

void check(const CnpRule& r, bool egress) {
  require(!r.peers.empty() && r.peers.size() <= kCnpMaxPeers);
  require(r.ports.size() <= kCnpMaxProtocols);
  require(r.name.size() <= kCnpMaxRuleName);
  bool ip_peer = false;
  for (const CnpPeer& p : r.peers) {
    if (!egress) {
      require(p.kind == CnpPeer::Kind::Namespaces || p.kind == CnpPeer::Kind::Pods ||
              p.kind == CnpPeer::Kind::Unknown);
    }
    if (p.kind == CnpPeer::Kind::Networks) {
      require(!p.networks.empty() && p.networks.size() <= kCnpMaxNetworks);
    } else {
      require(p.networks.empty());
    }
    require(p.unknown() == !p.unknown_field.empty());
    ip_peer |= p.kind == CnpPeer::Kind::Networks || p.kind == CnpPeer::Kind::Nodes;
  }
  for (const CnpPort& p : r.ports) {
    if (p.named()) {
      require(!p.protocol && p.port == 0 && p.end_port == 0 && !ip_peer);
    } else {
      require(p.protocol && p.port >= 1 && p.end_port >= p.port);
    }
  }
}

void check(const DecodeResult& r) {
  for (const auto& e : r.errors) (void)e.str();
  for (const ClusterNetworkPolicy& p : r.objects.cluster_policies) {
    require(!p.name.empty());
    require(p.priority >= 0 && p.priority <= kCnpMaxPriority);
    require(p.ingress.size() <= kCnpMaxRules && p.egress.size() <= kCnpMaxRules);
    if (p.subject.kind == CnpSubject::Kind::Namespaces) require(p.subject.pods.empty());
    for (const CnpRule& rule : p.ingress) check(rule, false);
    for (const CnpRule& rule : p.egress) check(rule, true);
  }
  for (const Node& n : r.objects.nodes) require(!n.name.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeResult r = decode_manifests(text, "fuzz.yaml");
  check(r);
  complete_snapshot(r);
  check(decode_json_object(text, "fuzz-watch"));
  // The input as a flow-style spec (`{tier: Admin, ...}` or JSON).
  std::string wrapped =
      "{\"apiVersion\":\"policy.networking.k8s.io/v1alpha2\",\"kind\":\"ClusterNetworkPolicy\","
      "\"metadata\":{\"name\":\"f\"},\"spec\":";
  wrapped.append(text);
  wrapped += "}\n";
  check(decode_manifests(wrapped, "fuzz-spec.yaml"));
  return 0;
}
