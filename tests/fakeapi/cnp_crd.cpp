// The CustomResourceDefinition of ClusterNetworkPolicy
// (policy.networking.k8s.io/v1alpha2, network-policy-api v0.2.0, standard
// channel plus the experimental `nodes` peer and `destinationNamedPort`),
// written for the fake from the API's documented schema: names, scope,
// printer columns, the status subresource, and an OpenAPI v3 schema with the
// limits the API documents. The fake itself validates with netpol's own
// decoder (k8s/decode_cnp.cpp); this object is what clients read and install.
#include "tests/fakeapi/fake_apiserver.h"

namespace netpol::fakeapi {

namespace {

constexpr const char* kCrd = R"json({
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {
    "name": "clusternetworkpolicies.policy.networking.k8s.io",
    "annotations": {"policy.networking.k8s.io/bundle-version": "v0.2.0",
                    "policy.networking.k8s.io/channel": "experimental",
                    "netpol.io/written-by": "fake-apiserver"}
  },
  "spec": {
    "group": "policy.networking.k8s.io",
    "names": {"kind": "ClusterNetworkPolicy", "listKind": "ClusterNetworkPolicyList",
              "plural": "clusternetworkpolicies", "singular": "clusternetworkpolicy",
              "shortNames": ["cnp"]},
    "scope": "Cluster",
    "versions": [{
      "name": "v1alpha2", "served": true, "storage": true,
      "subresources": {"status": {}},
      "additionalPrinterColumns": [
        {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
        {"name": "Priority", "type": "string", "jsonPath": ".spec.priority"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
      ],
      "schema": {"openAPIV3Schema": {
        "type": "object", "required": ["metadata", "spec"],
        "description": "ClusterNetworkPolicy is a cluster-wide network policy resource.",
        "properties": {
          "apiVersion": {"type": "string"}, "kind": {"type": "string"},
          "metadata": {"type": "object"},
          "spec": {
            "type": "object", "required": ["priority", "subject", "tier"],
            "properties": {
              "tier": {"type": "string", "enum": ["Admin", "Baseline"],
                       "description": "Admin is evaluated before NetworkPolicy, Baseline after it."},
              "priority": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000,
                           "description": "Lower values are evaluated first within the tier."},
              "subject": {"$ref": "subject"},
              "ingress": {"type": "array", "maxItems": 25, "items": {"$ref": "ingressRule"}},
              "egress": {"type": "array", "maxItems": 25, "items": {"$ref": "egressRule"}}
            }
          },
          "status": {"type": "object", "properties": {
            "conditions": {"type": "array", "items": {"type": "object"},
                           "x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["type"]}}}
        }
      }}
    }]
  }
})json";

json selector_schema() {
  return json::parse(R"json({"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {
      "type": "object", "required": ["key", "operator"], "properties": {
        "key": {"type": "string"}, "operator": {"type": "string"},
        "values": {"type": "array", "items": {"type": "string"}}}}}}})json");
}

json one_of(json properties) {
  return json{{"type", "object"},
              {"minProperties", 1},
              {"maxProperties", 1},
              {"properties", std::move(properties)}};
}

// The "$ref" placeholders of kCrd filled in: CRD schemas may not use $ref.
void resolve(json& v, const json& defs) {
  if (v.is_object()) {
    if (auto r = v.find("$ref"); r != v.end() && r->is_string()) {
      v = defs.at(r->get<std::string>());
      return;
    }
    for (auto& [k, child] : v.items()) resolve(child, defs);
  } else if (v.is_array()) {
    for (auto& child : v) resolve(child, defs);
  }
}

}  // namespace

json cnp_crd_object() {
  const json sel = selector_schema();
  const json namespaced_pod = {{"type", "object"},
                               {"required", {"podSelector"}},
                               {"properties", {{"namespaceSelector", sel}, {"podSelector", sel}}}};
  const json port = {
      {"type", "object"},
      {"minProperties", 1},
      {"maxProperties", 1},
      {"properties",
       {{"number", {{"type", "integer"}, {"format", "int32"}, {"minimum", 1}, {"maximum", 65535}}},
        {"range",
         {{"type", "object"},
          {"required", {"start", "end"}},
          {"x-kubernetes-validations",
           {{{"rule", "self.start < self.end"},
             {"message", "Start port must be less than End port"}}}},
          {"properties",
           {{"start", {{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}}},
            {"end", {{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}}}}}}}}}};
  const json l4 = {
      {"type", "object"}, {"minProperties", 1}, {"properties", {{"destinationPort", port}}}};
  const json protocols = {{"type", "array"},
                          {"minItems", 1},
                          {"maxItems", 25},
                          {"items", one_of({{"tcp", l4},
                                            {"udp", l4},
                                            {"sctp", l4},
                                            {"destinationNamedPort", {{"type", "string"}}}})}};
  const json cidr = {{"type", "string"},
                     {"maxLength", 43},
                     {"x-kubernetes-validations",
                      {{{"rule", "isCIDR(self)"}, {"message", "Invalid CIDR format provided"}}}}};
  const json peers_base = {{"namespaces", sel}, {"pods", namespaced_pod}};
  json egress_peers = peers_base;
  egress_peers["nodes"] = sel;
  egress_peers["networks"] = {{"type", "array"},
                              {"minItems", 1},
                              {"maxItems", 25},
                              {"x-kubernetes-list-type", "set"},
                              {"items", cidr}};
  auto rule = [&](const char* peers_key, const json& peer_props) {
    return json{
        {"type", "object"},
        {"required", {"action", peers_key}},
        {"properties",
         {{"name", {{"type", "string"}, {"maxLength", 100}}},
          {"action", {{"type", "string"}, {"enum", {"Accept", "Deny", "Pass"}}}},
          {peers_key,
           {{"type", "array"}, {"minItems", 1}, {"maxItems", 25}, {"items", one_of(peer_props)}}},
          {"protocols", protocols}}}};
  };
  json egress_rule = rule("to", egress_peers);
  egress_rule["x-kubernetes-validations"] = {
      {{"rule",
        "!(self.to.exists(peer, has(peer.networks) || has(peer.nodes)) && has(self.protocols) && "
        "self.protocols.exists(protocol, has(protocol.destinationNamedPort)))"},
       {"message",
        "networks/nodes peer cannot be set with namedPorts since there are no namedPorts for "
        "networks/nodes"}}};
  const json defs = {
      {"subject", one_of({{"namespaces", sel}, {"pods", namespaced_pod}})},
      {"ingressRule", rule("from", peers_base)},
      {"egressRule", egress_rule},
  };
  json crd = json::parse(kCrd);
  resolve(crd, defs);
  return crd;
}

}  // namespace netpol::fakeapi
