#include "tests/unit/netlink/world.h"

#include <iterator>

#include "tests/support/builders.h"

namespace netpol::nltest {

namespace {

const char* const kNamespaces[] = {"ns0", "ns1", "ns2"};
const char* const kApps[] = {"web", "db", "api"};
const char* const kTiers[] = {"front", "back"};
const char* const kPortNames[] = {"http", "dns", "metrics"};

template <typename Map>
auto nth(Map& m, size_t i) {
  auto it = m.begin();
  std::advance(it, static_cast<long>(i));
  return it;
}

}  // namespace

World::World(uint32_t seed) : rng_(seed), compiler_(kNode) {
  for (const char* name : kNamespaces) {
    const k8s::Namespace ns = testsupport::ns(name, {{"team", chance(50) ? "a" : "b"}});
    namespaces_[name] = ns;
    compiler_.upsert_namespace(ns);
  }
}

IpAddr World::random_ip(bool v6) {
  // 24 addresses per family: reuse across pods is frequent.
  const uint32_t host = static_cast<uint32_t>(pick(24)) + 1;
  if (!v6) return IpAddr::v4(0x0A090000u + host);
  IpAddr ip;
  ip.family = Family::V6;
  ip.bytes = {0xfd, 0x00, 0x00, 0x09};
  ip.bytes[15] = static_cast<uint8_t>(host);
  return ip;
}

k8s::Pod World::random_pod(const std::string& ns, const std::string& name) {
  // One draw per statement: the sequence of a seed does not depend on the
  // compiler's order of evaluating arguments.
  const std::string node = chance(60) ? kNode : "node-2";
  const k8s::PodPhase phase = chance(90) ? k8s::PodPhase::Running : k8s::PodPhase::Pending;
  k8s::Labels labels{{"app", kApps[pick(3)]}};
  if (chance(60)) labels["tier"] = kTiers[pick(2)];
  k8s::Pod p = testsupport::pod(ns, name, node, {}, std::move(labels), {}, phase);
  p.ips.push_back(random_ip(false));
  if (chance(40)) p.ips.push_back(random_ip(true));
  for (size_t i = 0, n = pick(3); i < n; ++i) {
    k8s::ContainerPort cp;
    cp.name = kPortNames[pick(3)];
    cp.port = static_cast<uint16_t>(chance(50) ? 8080 : 53 + pick(3));
    cp.protocol = chance(70) ? k8s::Protocol::TCP : k8s::Protocol::UDP;
    bool dup = false;
    for (const auto& q : p.ports) dup |= q.name == cp.name;
    if (!dup) p.ports.push_back(cp);
  }
  return p;
}

k8s::LabelSelector World::random_selector(bool allow_empty) {
  k8s::LabelSelector s;
  if (allow_empty && chance(25)) return s;
  if (chance(70)) s.match_labels["app"] = kApps[pick(3)];
  if (chance(30)) {
    k8s::Requirement r;
    r.key = "tier";
    r.op = chance(50) ? k8s::Requirement::Op::In : k8s::Requirement::Op::Exists;
    if (r.op == k8s::Requirement::Op::In) r.values = {kTiers[pick(2)]};
    s.match_expressions.push_back(r);
  }
  return s;
}

k8s::Peer World::random_peer() {
  k8s::Peer peer;
  switch (pick(4)) {
    case 0:
      peer.pod_selector = random_selector(true);
      break;
    case 1: {
      k8s::LabelSelector nss;
      if (chance(60)) nss.match_labels["team"] = chance(50) ? "a" : "b";
      peer.namespace_selector = nss;
      if (chance(50)) peer.pod_selector = random_selector(true);
      break;
    }
    case 2:
      if (chance(70)) {
        const char* c = chance(50) ? "10.9.0.0/16" : "10.0.0.0/8";
        peer = chance(60) ? testsupport::block(c, {"10.9.0.0/28"}) : testsupport::block(c);
      } else {
        peer = chance(50) ? testsupport::block("fd00::/16", {"fd00:0:0:9::/64"})
                          : testsupport::block("fd00::/16");
      }
      break;
    default:
      peer.pod_selector = random_selector(false);
      break;
  }
  return peer;
}

k8s::PolicyPort World::random_port() {
  k8s::PolicyPort p;
  p.protocol =
      chance(60) ? k8s::Protocol::TCP : (chance(70) ? k8s::Protocol::UDP : k8s::Protocol::SCTP);
  switch (pick(4)) {
    case 0:
      break;  // every port of the protocol
    case 1:
      p.port = static_cast<uint16_t>(chance(50) ? 80 : 53);
      break;
    case 2:
      p.port = static_cast<uint16_t>(8000);
      p.end_port = static_cast<uint16_t>(8000 + pick(100));
      break;
    default:
      p.port = std::string(kPortNames[pick(3)]);
      break;
  }
  return p;
}

k8s::NetworkPolicy World::random_policy(const std::string& ns, const std::string& name) {
  k8s::LabelSelector selector = random_selector(true);
  const bool ingress = chance(80);
  const bool egress = !ingress || chance(40);
  k8s::NetworkPolicy pol =
      testsupport::policy(ns, name, std::move(selector), {}, ingress, {}, egress);
  auto rules = [&](std::vector<k8s::PolicyRule>& out) {
    for (size_t i = 0, n = pick(3); i < n; ++i) {
      k8s::PolicyRule r;
      for (size_t k = 0, m = pick(3); k < m; ++k) r.peers.push_back(random_peer());
      for (size_t k = 0, m = pick(3); k < m; ++k) r.ports.push_back(random_port());
      out.push_back(std::move(r));
    }
  };
  if (pol.affects_ingress) rules(pol.ingress);
  if (pol.affects_egress) rules(pol.egress);
  return pol;
}

std::string World::step() {
  const size_t what = pick(115);
  if (what >= 100) return cluster_step(what - 100);
  const std::string ns = kNamespaces[pick(3)];
  if (what < 25 || pods_.empty()) {
    const std::string name = "p" + std::to_string(next_++);
    k8s::Pod p = random_pod(ns, name);
    pods_[p.key()] = p;
    delta_ = compiler_.upsert_pod(p);
    return "add pod " + p.key();
  }
  if (what < 35) {
    auto it = nth(pods_, pick(pods_.size()));
    std::string key = it->first;
    k8s::Pod p = it->second;
    pods_.erase(it);
    delta_ = compiler_.remove_pod(p.ns, p.name);
    return "remove pod " + key;
  }
  if (what < 50) {
    auto it = nth(pods_, pick(pods_.size()));
    it->second.labels["app"] = kApps[pick(3)];
    if (chance(50)) it->second.labels.erase("tier");
    delta_ = compiler_.upsert_pod(it->second);
    return "relabel pod " + it->first;
  }
  if (what < 60) {
    auto it = nth(pods_, pick(pods_.size()));
    it->second.ips = {random_ip(false)};
    if (chance(50)) it->second.ips.push_back(random_ip(true));
    delta_ = compiler_.upsert_pod(it->second);
    return "new IPs for pod " + it->first;
  }
  if (what < 65) {
    auto it = nth(pods_, pick(pods_.size()));
    it->second.phase = it->second.phase == k8s::PodPhase::Running ? k8s::PodPhase::Succeeded
                                                                  : k8s::PodPhase::Running;
    delta_ = compiler_.upsert_pod(it->second);
    return "phase flip of pod " + it->first;
  }
  if (what < 80 || policies_.empty()) {
    const std::string name = "pol" + std::to_string(next_++);
    k8s::NetworkPolicy pol = random_policy(ns, name);
    policies_[pol.key()] = pol;
    delta_ = compiler_.upsert_policy(pol);
    return "add policy " + pol.key();
  }
  if (what < 90) {
    auto it = nth(policies_, pick(policies_.size()));
    k8s::NetworkPolicy pol = random_policy(it->second.ns, it->second.name);
    it->second = pol;
    delta_ = compiler_.upsert_policy(pol);
    return "change policy " + pol.key();
  }
  if (what < 95) {
    auto it = nth(policies_, pick(policies_.size()));
    std::string key = it->first;
    k8s::NetworkPolicy pol = it->second;
    policies_.erase(it);
    delta_ = compiler_.remove_policy(pol.ns, pol.name);
    return "remove policy " + key;
  }
  k8s::Namespace& n = namespaces_[ns];
  n.labels["team"] = n.labels["team"] == "a" ? "b" : "a";
  delta_ = compiler_.upsert_namespace(n);
  return "relabel namespace " + ns;
}

k8s::ClusterNetworkPolicy World::random_cnp(const std::string& name) {
  k8s::ClusterNetworkPolicy c;
  c.name = name;
  c.tier = chance(60) ? k8s::CnpTier::Admin : k8s::CnpTier::Baseline;
  c.priority = static_cast<int32_t>(pick(3) * 10);
  c.subject.kind = chance(50) ? k8s::CnpSubject::Kind::Namespaces : k8s::CnpSubject::Kind::Pods;
  c.subject.namespaces = random_selector(true);
  if (c.subject.kind == k8s::CnpSubject::Kind::Pods) c.subject.pods = random_selector(true);
  auto rules = [&](std::vector<k8s::CnpRule>& out, bool egress) {
    size_t n = pick(3);
    for (size_t i = 0; i < n; ++i) {
      k8s::CnpRule r;
      r.name = "r" + std::to_string(i);
      r.action = static_cast<k8s::CnpAction>(pick(3));
      size_t np = 1 + pick(2);
      for (size_t j = 0; j < np; ++j) {
        k8s::CnpPeer peer;
        switch (pick(egress ? 5 : 3)) {
          case 0:
            peer.kind = k8s::CnpPeer::Kind::Namespaces;
            peer.namespaces = random_selector(true);
            break;
          case 1:
            peer.kind = k8s::CnpPeer::Kind::Pods;
            peer.namespaces = random_selector(true);
            peer.pods = random_selector(true);
            break;
          case 2:
            peer.kind = k8s::CnpPeer::Kind::Unknown;
            peer.unknown_field = "domainNames";
            break;
          case 3:
            peer.kind = k8s::CnpPeer::Kind::Networks;
            peer.networks = {*Cidr::parse("10.0.0.0/24"), *Cidr::parse("fd00::/120")};
            if (chance(50)) peer.networks.insert(peer.networks.begin(), *Cidr::parse("10.0.0.0/8"));
            break;
          default:
            peer.kind = k8s::CnpPeer::Kind::Nodes;
            peer.nodes = random_selector(true);
            break;
        }
        r.peers.push_back(std::move(peer));
      }
      size_t nports = pick(3);
      for (size_t j = 0; j < nports; ++j) {
        k8s::CnpPort port;
        if (chance(30)) {
          port.named_port = chance(50) ? "http" : "dns";
        } else {
          port.protocol = static_cast<k8s::Protocol>(std::vector<int>{6, 17, 132}[pick(3)]);
          port.port = static_cast<uint16_t>(80 + pick(3));
          port.end_port = static_cast<uint16_t>(port.port + (chance(30) ? 10 : 0));
        }
        r.ports.push_back(std::move(port));
      }
      out.push_back(std::move(r));
    }
  };
  rules(c.ingress, false);
  rules(c.egress, true);
  return c;
}

std::string World::cluster_step(size_t what) {
  if (what < 3) {
    k8s::Node n;
    n.name = "n" + std::to_string(pick(2));
    n.labels["app"] = kApps[pick(3)];
    n.addresses = {random_ip(false)};
    if (chance(50)) n.addresses.push_back(random_ip(true));
    delta_ = compiler_.upsert_node(n);
    return "node " + n.name;
  }
  if (what < 10 || cnps_.empty()) {
    const std::string name = "cnp" + std::to_string(pick(4));
    k8s::ClusterNetworkPolicy c = random_cnp(name);
    cnps_[name] = c;
    delta_ = compiler_.upsert_cluster_policy(c);
    return "upsert cnp " + name;
  }
  auto it = nth(cnps_, pick(cnps_.size()));
  std::string name = it->first;
  cnps_.erase(it);
  delta_ = compiler_.remove_cluster_policy(name);
  return "remove cnp " + name;
}

}  // namespace netpol::nltest
