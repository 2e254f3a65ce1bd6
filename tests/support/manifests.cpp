#include "tests/support/manifests.h"

#include <cctype>

namespace netpol::testsupport {

namespace {

json rule_json(const k8s::PolicyRule& r, const char* peers_key) {
  json out = json::object();
  json peers = json::array();
  for (const auto& peer : r.peers) {
    json pj = json::object();
    if (peer.pod_selector) pj["podSelector"] = selector_json(*peer.pod_selector);
    if (peer.namespace_selector) pj["namespaceSelector"] = selector_json(*peer.namespace_selector);
    if (peer.ip_block) {
      json except = json::array();
      for (const auto& c : peer.ip_block->except) except.push_back(c.str());
      pj["ipBlock"] = json{{"cidr", peer.ip_block->cidr.str()}};
      if (!except.empty()) pj["ipBlock"]["except"] = except;
    }
    peers.push_back(pj);
  }
  if (!peers.empty()) out[peers_key] = peers;
  json ports = json::array();
  for (const auto& port : r.ports) {
    json pj{{"protocol", k8s::to_string(port.protocol)}};
    if (auto* n = std::get_if<uint16_t>(&port.port)) pj["port"] = *n;
    if (auto* s = std::get_if<std::string>(&port.port)) pj["port"] = *s;
    if (port.end_port) pj["endPort"] = *port.end_port;
    ports.push_back(pj);
  }
  if (!ports.empty()) out["ports"] = ports;
  return out;
}

json namespaced_pod_json(const k8s::LabelSelector& namespaces, const k8s::LabelSelector& pods) {
  return json{{"namespaceSelector", selector_json(namespaces)},
              {"podSelector", selector_json(pods)}};
}

json cnp_rule_json(const k8s::CnpRule& r, const char* peers_key) {
  json out{{"action", k8s::to_string(r.action)}};
  if (!r.name.empty()) out["name"] = r.name;
  json peers = json::array();
  for (const auto& p : r.peers) {
    switch (p.kind) {
      case k8s::CnpPeer::Kind::Namespaces:
        peers.push_back(json{{"namespaces", selector_json(p.namespaces)}});
        break;
      case k8s::CnpPeer::Kind::Pods:
        peers.push_back(json{{"pods", namespaced_pod_json(p.namespaces, p.pods)}});
        break;
      case k8s::CnpPeer::Kind::Nodes:
        peers.push_back(json{{"nodes", selector_json(p.nodes)}});
        break;
      case k8s::CnpPeer::Kind::Networks: {
        json nets = json::array();
        for (const auto& c : p.networks) nets.push_back(c.str());
        peers.push_back(json{{"networks", nets}});
        break;
      }
      case k8s::CnpPeer::Kind::Unknown:
        peers.push_back(json{{p.unknown_field, json::object()}});
        break;
    }
  }
  out[peers_key] = peers;
  json protocols = json::array();
  for (const auto& port : r.ports) {
    if (port.named()) {
      protocols.push_back(json{{"destinationNamedPort", port.named_port}});
      continue;
    }
    json dest = port.end_port > port.port
                    ? json{{"range", {{"start", port.port}, {"end", port.end_port}}}}
                    : json{{"number", port.port}};
    std::string proto = k8s::to_string(*port.protocol);
    for (auto& ch : proto) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    protocols.push_back(json{{proto, {{"destinationPort", dest}}}});
  }
  if (!protocols.empty()) out["protocols"] = protocols;
  return out;
}

}  // namespace

json selector_json(const k8s::LabelSelector& s) {
  json out = json::object();
  if (!s.match_labels.empty()) out["matchLabels"] = s.match_labels;
  if (!s.match_expressions.empty()) {
    json exprs = json::array();
    for (const auto& r : s.match_expressions) {
      json e{{"key", r.key}, {"operator", k8s::to_string(r.op)}};
      if (!r.values.empty()) e["values"] = r.values;
      exprs.push_back(e);
    }
    out["matchExpressions"] = exprs;
  }
  return out;
}

json manifest(const k8s::Namespace& ns) {
  json meta{{"name", ns.name}, {"labels", ns.labels}};
  if (!ns.annotations.empty()) meta["annotations"] = ns.annotations;
  return json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", meta}};
}

json manifest(const k8s::Pod& p) {
  json ports = json::array();
  for (const auto& cp : p.ports) {
    json port{{"containerPort", cp.port}, {"protocol", k8s::to_string(cp.protocol)}};
    if (!cp.name.empty()) port["name"] = cp.name;
    ports.push_back(port);
  }
  json spec{
      {"nodeName", p.node_name},
      {"containers", json::array({json{{"name", "app"}, {"image", "app:1"}, {"ports", ports}}})}};
  if (p.host_network) spec["hostNetwork"] = true;
  json out{{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"namespace", p.ns}, {"name", p.name}, {"labels", p.labels}}},
           {"spec", spec}};
  if (p.phase != k8s::PodPhase::Pending || !p.ips.empty()) {
    json status{{"phase", k8s::to_string(p.phase)}};
    if (!p.ips.empty()) {
      json ips = json::array();
      for (const auto& ip : p.ips) ips.push_back(json{{"ip", ip.str()}});
      status["podIP"] = p.ips.front().str();
      status["podIPs"] = ips;
    }
    out["status"] = status;
  }
  return out;
}

json manifest(const k8s::NetworkPolicy& np) {
  json types = json::array();
  if (np.affects_ingress) types.push_back("Ingress");
  if (np.affects_egress) types.push_back("Egress");
  json spec{{"podSelector", selector_json(np.pod_selector)}, {"policyTypes", types}};
  if (np.affects_ingress) {
    spec["ingress"] = json::array();
    for (const auto& r : np.ingress) spec["ingress"].push_back(rule_json(r, "from"));
  }
  if (np.affects_egress) {
    spec["egress"] = json::array();
    for (const auto& r : np.egress) spec["egress"].push_back(rule_json(r, "to"));
  }
  return json{{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "NetworkPolicy"},
              {"metadata", {{"namespace", np.ns}, {"name", np.name}}},
              {"spec", spec}};
}

json manifest(const k8s::ClusterNetworkPolicy& c) {
  json subject = c.subject.kind == k8s::CnpSubject::Kind::Namespaces
                     ? json{{"namespaces", selector_json(c.subject.namespaces)}}
                     : json{{"pods", namespaced_pod_json(c.subject.namespaces, c.subject.pods)}};
  json spec{{"tier", k8s::to_string(c.tier)}, {"priority", c.priority}, {"subject", subject}};
  if (!c.ingress.empty()) {
    spec["ingress"] = json::array();
    for (const auto& r : c.ingress) spec["ingress"].push_back(cnp_rule_json(r, "from"));
  }
  if (!c.egress.empty()) {
    spec["egress"] = json::array();
    for (const auto& r : c.egress) spec["egress"].push_back(cnp_rule_json(r, "to"));
  }
  json meta{{"name", c.name}};
  if (!c.labels.empty()) meta["labels"] = c.labels;
  return json{{"apiVersion", "policy.networking.k8s.io/v1alpha2"},
              {"kind", "ClusterNetworkPolicy"},
              {"metadata", meta},
              {"spec", spec}};
}

json manifest(const k8s::Node& n) {
  json addresses = json::array();
  for (const auto& a : n.addresses)
    addresses.push_back(json{{"type", "InternalIP"}, {"address", a.str()}});
  json meta{{"name", n.name}};
  if (!n.labels.empty()) meta["labels"] = n.labels;
  return json{{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata", meta},
              {"status", {{"addresses", addresses}}}};
}

json ns_json(const std::string& name, json labels) {
  return json{{"apiVersion", "v1"},
              {"kind", "Namespace"},
              {"metadata", {{"name", name}, {"labels", labels}}}};
}

json pod_json(const std::string& ns, const std::string& name, json labels,
              const std::string& node) {
  json port = {{"name", "http"}, {"containerPort", 8080}};
  json container = {
      {"name", "main"}, {"image", "registry.example/app:1.0"}, {"ports", json::array({port})}};
  return json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
              {"spec", {{"nodeName", node}, {"containers", json::array({container})}}}};
}

json pod_status(const std::string& ip, const std::string& phase) {
  return json{{"phase", phase}, {"podIP", ip}, {"podIPs", json::array({json{{"ip", ip}}})}};
}

json policy_json(const std::string& ns, const std::string& name, json pod_selector) {
  json peer = {{"podSelector", {{"matchLabels", {{"role", "client"}}}}}};
  json rule = {{"from", json::array({peer})}};
  json spec = {{"podSelector", pod_selector}, {"ingress", json::array({rule})}};
  return json{{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "NetworkPolicy"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", spec}};
}

}  // namespace netpol::testsupport
