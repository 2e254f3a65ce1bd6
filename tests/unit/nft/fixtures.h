// Hand-built IR values for the nft tests: small builders, and one "rich" IR
// that uses every construct the renderer can emit (both families, every set
// kind, ports, ranges, named ports, Any peers, long names).
//
// Test-only. Never depends on the decoder or the compiler implementation.
#pragma once

#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir.h"
#include "k8s/ip.h"

namespace netpol::nft::fx {

inline IpAddr ip(const char* text) {
  auto a = IpAddr::parse(text);
  if (!a) std::abort();  // a typo in a test, not a behaviour under test
  return *a;
}

inline ir::Element host(const char* text) {
  return ir::Element{ip(text), ip(text), 0, 0};
}
inline ir::Element range(const char* first, const char* last) {
  return ir::Element{ip(first), ip(last), 0, 0};
}
inline ir::Element nport(const char* text, uint8_t proto, uint16_t port) {
  return ir::Element{ip(text), ip(text), proto, port};
}

inline ir::Set set(std::string name, ir::SetKind kind, std::string comment,
                   std::initializer_list<ir::Element> elements) {
  ir::Set s;
  s.name = std::move(name);
  s.kind = kind;
  s.comment = std::move(comment);
  s.elements.insert(elements.begin(), elements.end());
  return s;
}

inline ir::Rule rule(std::string policy, uint32_t index, std::optional<std::string> peer_set,
                     std::optional<uint8_t> proto = std::nullopt,
                     std::vector<ir::PortRange> ports = {}, std::string named_port_set = {}) {
  ir::Rule r;
  r.policy = std::move(policy);
  r.rule_index = index;
  if (peer_set) {
    r.peer.kind = ir::PeerMatch::Kind::Set;
    r.peer.set = *peer_set;
  }
  r.proto = proto;
  r.ports = std::move(ports);
  r.named_port_set = std::move(named_port_set);
  return r;
}

inline ir::Chain chain(std::vector<std::string> policies, std::vector<ir::Rule> rules) {
  return ir::Chain{std::move(policies), std::move(rules)};
}

inline ir::LocalPod pod(std::string ns, std::string name, std::vector<IpAddr> ips,
                        std::optional<ir::Chain> ingress, std::optional<ir::Chain> egress) {
  return ir::LocalPod{std::move(ns), std::move(name), std::move(ips), std::move(ingress),
                      std::move(egress)};
}

inline void add(ir::RuleSet& rs, ir::LocalPod p) {
  rs.pods[p.key()] = std::move(p);
}
inline void add(ir::RuleSet& rs, ir::Set s) {
  rs.sets[s.name] = std::move(s);
}

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kSctp = 132;

// Every construct at least once; loads into nft as a whole (see nft_sample.cpp).
inline ir::RuleSet rich_ir() {
  ir::RuleSet rs;
  rs.node = "node-1";
  add(rs, set("pods-AAAAAAAA", ir::SetKind::Pods, "ns prod pods {app=web}",
              {host("10.0.1.5"), host("10.0.2.7"), host("fd00::1:5")}));
  add(rs, set("pods-BBBBBBBB", ir::SetKind::Pods, "ns in {team=a} pods {}", {}));
  add(rs, set("cidr-CCCCCCCC", ir::SetKind::Cidr, "ipBlock 10.0.0.0/8 except 10.1.0.0/16",
              {range("10.0.0.0", "10.0.255.255"), range("10.2.0.0", "10.255.255.255"),
               range("192.168.1.1", "192.168.1.9"), range("fd00::", "fd00::ffff"),
               host("172.16.0.1")}));
  add(rs, set("nport-DDDDDDDD", ir::SetKind::NamedPort, "port name \"http\" (TCP)",
              {nport("10.0.1.5", kTcp, 8080), nport("10.0.2.7", kTcp, 80),
               nport("fd00::1:5", kTcp, 8080)}));

  add(rs,
      pod("prod", "web-1", {ip("10.0.1.5"), ip("fd00::1:5")},
          chain({"prod/allow-frontend", "prod/deny-all"},
                {rule("prod/allow-frontend", 0, "pods-AAAAAAAA", kTcp, {{80, 80}}),
                 rule("prod/allow-frontend", 1, "cidr-CCCCCCCC", kUdp, {{53, 53}, {8000, 8080}}),
                 rule("prod/allow-frontend", 2, std::nullopt, kSctp, {{9000, 9100}})}),
          chain({"prod/egress"}, {rule("prod/egress", 0, "pods-BBBBBBBB"),
                                  rule("prod/egress", 1, std::nullopt, kTcp, {}, "nport-DDDDDDDD"),
                                  rule("prod/egress", 2, std::nullopt)})));
  add(rs, pod("prod", "db-0", {ip("10.0.1.9")}, chain({"prod/deny-all"}, {}), std::nullopt));
  add(rs, pod("prod", std::string(240, 'x'), {ip("10.0.1.10")}, std::nullopt,
              chain({"prod/egress"}, {rule("prod/egress", 2, std::nullopt)})));
  return rs;
}

}  // namespace netpol::nft::fx
