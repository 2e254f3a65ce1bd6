#include "tests/bench/synthetic.h"

#include <cstdio>

namespace netpol::bench {
namespace {

std::string ns_name(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ns-%04zu", i);
  return buf;
}

const char* const kTiers[] = {"web", "api", "db"};
const char* const kEnvs[] = {"prod", "staging", "dev"};

k8s::LabelSelector sel(std::initializer_list<std::pair<const char*, const char*>> kv) {
  k8s::LabelSelector s;
  for (auto& [k, v] : kv) s.match_labels[k] = v;
  return s;
}

k8s::PolicyPort tcp(uint16_t port) {
  k8s::PolicyPort p;
  p.port = port;
  return p;
}

}  // namespace

k8s::Pod make_pod(const Params& p, size_t i, size_t generation) {
  const size_t per_ns = (p.pods + p.namespaces - 1) / p.namespaces;
  const size_t ns = i / per_ns, j = i % per_ns;
  k8s::Pod pod;
  pod.ns = ns_name(ns);
  char buf[32];
  std::snprintf(buf, sizeof buf, "pod-%06zu", i);
  pod.name = buf;
  pod.uid = "uid-" + std::to_string(i);
  const size_t stride = p.local_pods ? p.pods / p.local_pods : p.pods + 1;
  pod.node_name = (p.local_pods && i % stride == 0 && i / stride < p.local_pods)
                      ? p.node
                      : "node-" + std::to_string(i % 997);
  const size_t g = j + generation;
  pod.labels["app"] = "app" + std::to_string(g % 10);
  pod.labels["tier"] = kTiers[g % 3];
  pod.labels["version"] = "v" + std::to_string(g % 4);
  pod.labels["pod-template-hash"] = std::to_string(1000 + (g % 50));
  pod.ports.push_back({"http", 8080, k8s::Protocol::TCP});
  pod.ports.push_back({"metrics", static_cast<uint16_t>(9090 + (i % 3)), k8s::Protocol::TCP});
  if (i % 5 == 0) pod.ports.push_back({"dns", 53, k8s::Protocol::UDP});
  pod.phase = k8s::PodPhase::Running;
  // 10.64.0.0/10 holds up to 4M pods; every 10th pod is dual-stack.
  pod.ips.push_back(IpAddr::v4(0x0A400000u + static_cast<uint32_t>(i) + 1));
  if (i % 10 == 0) {
    IpAddr v6;
    v6.family = Family::V6;
    v6.bytes = {0xfd, 0x00, 0x10, 0x64};
    for (int b = 0; b < 4; ++b) v6.bytes[15 - b] = static_cast<uint8_t>((i + 1) >> (8 * b));
    pod.ips.push_back(v6);
  }
  return pod;
}

k8s::NetworkPolicy make_policy(const Params& p, size_t i, size_t generation) {
  const size_t per_ns = (p.policies + p.namespaces - 1) / p.namespaces;
  const size_t ns = i / per_ns, kind = i % 10, g = i + generation;
  k8s::NetworkPolicy pol;
  pol.ns = ns_name(ns);
  pol.name = "policy-" + std::to_string(i);
  pol.uid = "puid-" + std::to_string(i);
  auto from_ns = [&](k8s::LabelSelector nss, std::optional<k8s::LabelSelector> pods) {
    k8s::Peer peer;
    peer.namespace_selector = std::move(nss);
    peer.pod_selector = std::move(pods);
    return peer;
  };
  switch (kind) {
    case 0:  // default deny ingress for the namespace
      break;
    case 1: {  // same-namespace app -> web tier on 8080
      pol.pod_selector = sel({{"tier", "web"}});
      k8s::PolicyRule r;
      k8s::Peer peer;
      peer.pod_selector = k8s::LabelSelector{};
      peer.pod_selector->match_labels["app"] = "app" + std::to_string(g % 10);
      r.peers.push_back(peer);
      r.ports.push_back(tcp(8080));
      pol.ingress.push_back(r);
      break;
    }
    case 2: {  // team namespaces' pods of one app, named port
      pol.pod_selector = sel({{"tier", "api"}});
      k8s::PolicyRule r;
      k8s::LabelSelector team;
      team.match_labels["team"] = "t" + std::to_string(g % 20);
      k8s::LabelSelector app;
      app.match_labels["app"] = "app" + std::to_string(g % 10);
      r.peers.push_back(from_ns(team, app));
      k8s::PolicyPort named;
      named.port = std::string("http");
      r.ports.push_back(named);
      pol.ingress.push_back(r);
      break;
    }
    case 3: {  // ipBlock with except, a port and a range
      k8s::PolicyRule r;
      k8s::Peer peer;
      k8s::IpBlock b;
      b.cidr = *Cidr::parse("10.0.0.0/8");
      b.except.push_back(*Cidr::parse("10." + std::to_string(g % 256) + ".0.0/16"));
      peer.ip_block = b;
      r.peers.push_back(peer);
      r.ports.push_back(tcp(443));
      k8s::PolicyPort range = tcp(8000);
      range.end_port = 8100;
      r.ports.push_back(range);
      pol.ingress.push_back(r);
      break;
    }
    case 4: {  // egress to cluster DNS only
      pol.affects_egress = true;
      pol.affects_ingress = false;
      k8s::PolicyRule r;
      k8s::LabelSelector dns_ns;
      dns_ns.match_labels[k8s::kNamespaceNameLabel] = ns_name(0);
      r.peers.push_back(from_ns(dns_ns, sel({{"app", "app0"}})));
      k8s::PolicyPort udp = tcp(53);
      udp.protocol = k8s::Protocol::UDP;
      r.ports.push_back(udp);
      r.ports.push_back(tcp(53));
      pol.egress.push_back(r);
      break;
    }
    case 5: {  // egress to prod namespaces on a named port
      pol.affects_egress = true;
      pol.pod_selector = sel({{"tier", "web"}});
      k8s::PolicyRule r;
      k8s::LabelSelector prod;
      prod.match_labels["env"] = kEnvs[g % 3];
      r.peers.push_back(from_ns(prod, std::nullopt));
      k8s::PolicyPort named;
      named.port = std::string("http");
      r.ports.push_back(named);
      pol.egress.push_back(r);
      break;
    }
    case 6: {  // set-based expressions
      pol.pod_selector.match_expressions.push_back(
          {"tier", k8s::Requirement::Op::In, {"api", "web"}});
      pol.pod_selector.match_expressions.push_back(
          {"version", k8s::Requirement::Op::NotIn, {"v" + std::to_string(g % 4)}});
      k8s::PolicyRule r;
      k8s::Peer peer;
      peer.pod_selector = k8s::LabelSelector{};
      r.peers.push_back(peer);
      pol.ingress.push_back(r);
      break;
    }
    case 7: {  // metrics from every namespace
      k8s::PolicyRule r;
      r.peers.push_back(from_ns(k8s::LabelSelector{}, std::nullopt));
      r.ports.push_back(tcp(9090));
      pol.ingress.push_back(r);
      break;
    }
    case 8: {  // egress to the internet, not the cluster
      pol.affects_egress = true;
      pol.affects_ingress = false;
      pol.pod_selector.match_labels["app"] = "app" + std::to_string(g % 10);
      k8s::PolicyRule r;
      k8s::Peer peer;
      k8s::IpBlock b;
      b.cidr = *Cidr::parse("0.0.0.0/0");
      b.except.push_back(*Cidr::parse("10.0.0.0/8"));
      peer.ip_block = b;
      r.peers.push_back(peer);
      pol.egress.push_back(r);
      break;
    }
    default: {  // Exists on pods, In on namespaces
      k8s::PolicyRule r;
      k8s::LabelSelector nss;
      nss.match_expressions.push_back({"env", k8s::Requirement::Op::In, {"prod", "staging"}});
      k8s::LabelSelector pods;
      pods.match_expressions.push_back({"app", k8s::Requirement::Op::Exists, {}});
      r.peers.push_back(from_ns(nss, pods));
      pol.ingress.push_back(r);
      break;
    }
  }
  return pol;
}

k8s::Objects make_cluster(const Params& p) {
  k8s::Objects o;
  o.namespaces.reserve(p.namespaces);
  for (size_t i = 0; i < p.namespaces; ++i) {
    k8s::Namespace ns;
    ns.name = ns_name(i);
    ns.uid = "nsuid-" + std::to_string(i);
    ns.labels[k8s::kNamespaceNameLabel] = ns.name;
    ns.labels["team"] = "t" + std::to_string(i % 20);
    ns.labels["env"] = kEnvs[i % 3];
    o.namespaces.push_back(std::move(ns));
  }
  o.pods.reserve(p.pods);
  for (size_t i = 0; i < p.pods; ++i) o.pods.push_back(make_pod(p, i));
  o.policies.reserve(p.policies);
  for (size_t i = 0; i < p.policies; ++i) o.policies.push_back(make_policy(p, i));
  return o;
}

}  // namespace netpol::bench
