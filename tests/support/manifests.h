// Objects as the API server serves them (JSON manifests), for tests and
// benchmarks that feed the fake API server (tests/fakeapi) or the decoder.
// Two kinds: manifest() writes the manifest of a compact object made with
// builders.h, so a test can compare what the agent got through the API with
// what it compiles itself; the *_json builders write small fixed manifests
// that API tests edit field by field (also into invalid ones). Test code only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "k8s/model.h"

namespace netpol::testsupport {

using nlohmann::json;

json manifest(const k8s::Namespace& ns);
// With status (phase, podIP, podIPs) when the pod has a phase other than
// Pending or an IP.
json manifest(const k8s::Pod& pod);
json manifest(const k8s::NetworkPolicy& np);
json manifest(const k8s::ClusterNetworkPolicy& cnp);  // policy.networking.k8s.io/v1alpha2
json manifest(const k8s::Node& node);                 // status.addresses as InternalIP
json selector_json(const k8s::LabelSelector& s);

json ns_json(const std::string& name, json labels = json::object());
// One container "main" serving "http" on 8080; no status.
json pod_json(const std::string& ns, const std::string& name, json labels = json::object(),
              const std::string& node = "node1");
json pod_status(const std::string& ip, const std::string& phase = "Running");
// Ingress from pods labelled role=client of the same namespace.
json policy_json(const std::string& ns, const std::string& name,
                 json pod_selector = json::object());

}  // namespace netpol::testsupport
