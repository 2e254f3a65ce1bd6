// Builders for the agent tests: compact k8s objects (as the decoder makes
// them) and their JSON for the fake API server. Test-only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "k8s/model.h"

namespace netpol::agent::testing {

inline IpAddr ip(std::string_view text) {
  return *IpAddr::parse(text);
}

inline k8s::Namespace make_ns(const std::string& name, k8s::Labels labels = {}) {
  labels[k8s::kNamespaceNameLabel] = name;
  return k8s::Namespace{name, "uid-ns-" + name, "1", std::move(labels)};
}

inline k8s::Pod make_pod(const std::string& ns, const std::string& name, const std::string& node,
                         const std::string& addr, k8s::Labels labels = {},
                         const std::string& uid = "") {
  k8s::Pod p;
  p.ns = ns;
  p.name = name;
  p.uid = uid.empty() ? "uid-pod-" + ns + "-" + name : uid;
  p.resource_version = "1";
  p.node_name = node;
  p.labels = std::move(labels);
  p.ports = {{"http", 80, k8s::Protocol::TCP}};
  p.phase = k8s::PodPhase::Running;
  if (!addr.empty()) p.ips = {ip(addr)};
  return p;
}

// Ingress policy: pods matching `selector` in `ns` accept only from pods
// matching `from` (same namespace) on TCP 80; no `from` means deny all.
inline k8s::NetworkPolicy make_policy(const std::string& ns, const std::string& name,
                                      k8s::Labels selector,
                                      std::optional<k8s::Labels> from = std::nullopt) {
  k8s::NetworkPolicy np;
  np.ns = ns;
  np.name = name;
  np.uid = "uid-np-" + ns + "-" + name;
  np.resource_version = "1";
  np.pod_selector.match_labels = std::move(selector);
  np.affects_ingress = true;
  if (from) {
    k8s::PolicyRule r;
    k8s::Peer peer;
    peer.pod_selector = k8s::LabelSelector{*from, {}};
    r.peers.push_back(peer);
    r.ports.push_back(k8s::PolicyPort{k8s::Protocol::TCP, uint16_t{80}, std::nullopt});
    np.ingress.push_back(r);
  }
  return np;
}

using nlohmann::json;

inline json ns_json(const std::string& name, json labels = json::object()) {
  return json{{"apiVersion", "v1"},
              {"kind", "Namespace"},
              {"metadata", {{"name", name}, {"labels", labels}}}};
}

inline json pod_json(const std::string& ns, const std::string& name, const std::string& node,
                     const std::string& addr, json labels = json::object()) {
  return json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"namespace", ns}, {"name", name}, {"labels", labels}}},
      {"spec",
       {{"nodeName", node},
        {"containers", json::array({json{{"name", "c"},
                                         {"image", "x"},
                                         {"ports", json::array({json{{"name", "http"},
                                                                     {"containerPort", 80},
                                                                     {"protocol", "TCP"}}})}}})}}},
      {"status",
       {{"phase", "Running"}, {"podIP", addr}, {"podIPs", json::array({{{"ip", addr}}})}}}};
}

inline json policy_json(const std::string& ns, const std::string& name, json selector,
                        json ingress = json::array()) {
  return json{{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "NetworkPolicy"},
              {"metadata", {{"namespace", ns}, {"name", name}}},
              {"spec",
               {{"podSelector", {{"matchLabels", selector}}},
                {"policyTypes", json::array({"Ingress"})},
                {"ingress", ingress}}}};
}

inline json from_pods(json labels) {
  return json::array(
      {json{{"from", json::array({json{{"podSelector", {{"matchLabels", labels}}}}})},
            {"ports", json::array({json{{"port", 80}}})}}});
}

}  // namespace netpol::agent::testing
