#include "tests/bench/synthetic.h"

#include <cstdio>

#include "tests/support/builders.h"

namespace netpol::bench {
namespace {

using namespace testsupport;  // the builders read as the cluster's description

std::string ns_name(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ns-%04zu", i);
  return buf;
}

const char* const kTiers[] = {"web", "api", "db"};
const char* const kEnvs[] = {"prod", "staging", "dev"};

}  // namespace

k8s::Pod make_pod(const Params& p, size_t i, size_t generation) {
  const size_t per_ns = (p.pods + p.namespaces - 1) / p.namespaces;
  const size_t ns = i / per_ns, j = i % per_ns;
  char buf[32];
  std::snprintf(buf, sizeof buf, "pod-%06zu", i);
  const size_t stride = p.local_pods ? p.pods / p.local_pods : p.pods + 1;
  const size_t g = j + generation;
  std::vector<k8s::ContainerPort> ports = {
      {"http", 8080, k8s::Protocol::TCP},
      {"metrics", static_cast<uint16_t>(9090 + (i % 3)), k8s::Protocol::TCP}};
  if (i % 5 == 0) ports.push_back({"dns", 53, k8s::Protocol::UDP});
  k8s::Pod pod = testsupport::pod(ns_name(ns), buf,
                                  (p.local_pods && i % stride == 0 && i / stride < p.local_pods)
                                      ? p.node
                                      : "node-" + std::to_string(i % 997),
                                  {},
                                  {{"app", "app" + std::to_string(g % 10)},
                                   {"tier", kTiers[g % 3]},
                                   {"version", "v" + std::to_string(g % 4)},
                                   {"pod-template-hash", std::to_string(1000 + (g % 50))}},
                                  std::move(ports));
  pod.uid = "uid-" + std::to_string(i);  // short, as a benchmark's memory numbers assume
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
  const std::string app = "app" + std::to_string(g % 10);
  k8s::LabelSelector selector;
  std::vector<k8s::PolicyRule> ingress, egress;
  bool isolates_ingress = true, isolates_egress = false;
  switch (kind) {
    case 0:  // default deny ingress for the namespace
      break;
    case 1:  // same-namespace app -> web tier on 8080
      selector = sel({{"tier", "web"}});
      ingress.push_back(rule({pods(sel({{"app", app}}))}, {port(8080)}));
      break;
    case 2:  // team namespaces' pods of one app, named port
      selector = sel({{"tier", "api"}});
      ingress.push_back(
          rule({nss_pods(sel({{"team", "t" + std::to_string(g % 20)}}), sel({{"app", app}}))},
               {named("http")}));
      break;
    case 3: {  // ipBlock with except, a port and a range
      const std::string except = "10." + std::to_string(g % 256) + ".0.0/16";
      ingress.push_back(rule({block("10.0.0.0/8", {except})}, {port(443), port_range(8000, 8100)}));
      break;
    }
    case 4:  // egress to cluster DNS only
      isolates_egress = true;
      isolates_ingress = false;
      egress.push_back(
          rule({nss_pods(sel({{k8s::kNamespaceNameLabel, ns_name(0)}}), sel({{"app", "app0"}}))},
               {port(53, k8s::Protocol::UDP), port(53)}));
      break;
    case 5:  // egress to prod namespaces on a named port
      isolates_egress = true;
      selector = sel({{"tier", "web"}});
      egress.push_back(rule({nss(sel({{"env", kEnvs[g % 3]}}))}, {named("http")}));
      break;
    case 6:  // set-based expressions
      selector =
          sel({}, {req("tier", k8s::Requirement::Op::In, {"api", "web"}),
                   req("version", k8s::Requirement::Op::NotIn, {"v" + std::to_string(g % 4)})});
      ingress.push_back(rule({pods(sel())}));
      break;
    case 7:  // metrics from every namespace
      ingress.push_back(rule({nss(sel())}, {port(9090)}));
      break;
    case 8:  // egress to the internet, not the cluster
      isolates_egress = true;
      isolates_ingress = false;
      selector = sel({{"app", app}});
      egress.push_back(rule({block("0.0.0.0/0", {"10.0.0.0/8"})}));
      break;
    default:  // Exists on pods, In on namespaces
      ingress.push_back(
          rule({nss_pods(sel({}, {req("env", k8s::Requirement::Op::In, {"prod", "staging"})}),
                         sel({}, {req("app", k8s::Requirement::Op::Exists)}))}));
      break;
  }
  k8s::NetworkPolicy pol =
      policy(ns_name(ns), "policy-" + std::to_string(i), std::move(selector), std::move(ingress),
             isolates_ingress, std::move(egress), isolates_egress);
  pol.uid = "puid-" + std::to_string(i);  // short, as a benchmark's memory numbers assume
  return pol;
}

namespace {
bool peer_is_network(const k8s::CnpRule& r) {
  return r.peers.front().kind == k8s::CnpPeer::Kind::Networks;
}
}  // namespace

k8s::ClusterNetworkPolicy make_cnp(size_t i, size_t generation) {
  k8s::ClusterNetworkPolicy c;
  c.name = "cnp-" + std::to_string(i);
  c.tier = i % 2 ? k8s::CnpTier::Baseline : k8s::CnpTier::Admin;
  c.priority = static_cast<int32_t>((i + 7 * generation) % 1000);
  c.subject.kind = k8s::CnpSubject::Kind::Namespaces;
  c.subject.namespaces.match_labels = {{"team", "t" + std::to_string(i % 20)}};
  const char* envs[] = {"dev", "staging", "prod"};
  for (size_t r = 0; r < k8s::kCnpMaxRules; ++r) {
    k8s::CnpRule rule;
    rule.name = "r" + std::to_string(r);
    rule.action = static_cast<k8s::CnpAction>((i + r + generation) % 3);
    k8s::CnpPeer peer;
    switch (r % 3) {
      case 0:
        peer.kind = k8s::CnpPeer::Kind::Namespaces;
        peer.namespaces.match_labels = {{"env", envs[r % 3]}};
        break;
      case 1:
        peer.kind = k8s::CnpPeer::Kind::Pods;
        peer.namespaces.match_labels = {{"team", "t" + std::to_string((i + r) % 20)}};
        break;
      default:
        peer.kind = k8s::CnpPeer::Kind::Networks;
        peer.networks = {*Cidr::parse("10." + std::to_string(r) + ".0.0/16")};
        break;
    }
    rule.peers.push_back(std::move(peer));
    if (r % 3 == 0) {
      k8s::CnpPort port;
      port.protocol = k8s::Protocol::TCP;
      port.port = static_cast<uint16_t>(8000 + r);
      port.end_port = port.port;
      rule.ports.push_back(port);
    }
    // networks peers are egress-only (the API refuses them in ingress).
    (peer_is_network(rule) ? c.egress : c.ingress).push_back(std::move(rule));
  }
  return c;
}

k8s::Objects make_cluster(const Params& p) {
  k8s::Objects o;
  o.namespaces.reserve(p.namespaces);
  for (size_t i = 0; i < p.namespaces; ++i) {
    k8s::Namespace n =
        ns(ns_name(i), {{"team", "t" + std::to_string(i % 20)}, {"env", kEnvs[i % 3]}});
    n.uid = "nsuid-" + std::to_string(i);
    o.namespaces.push_back(std::move(n));
  }
  o.pods.reserve(p.pods);
  for (size_t i = 0; i < p.pods; ++i) o.pods.push_back(make_pod(p, i));
  o.policies.reserve(p.policies);
  for (size_t i = 0; i < p.policies; ++i) o.policies.push_back(make_policy(p, i));
  return o;
}

}  // namespace netpol::bench
