// A small cluster for the audit tests, as manifests: namespace x (no audit
// annotation) and y (netpol.io/audit: all), pods on node-1 and node-2, a
// default-deny ingress in x, an allow rule in x that opts in to allow-logging
// and one in y that inherits it from its namespace.
#pragma once

#include <string>

#include "compiler/compiler.h"
#include "k8s/decode.h"

namespace netpol::audit::testing {

inline constexpr const char* kClusterYaml = R"(
{apiVersion: v1, kind: Namespace, metadata: {name: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, annotations: {netpol.io/audit: all, other.io/ignored: "1"}}
---
{apiVersion: v1, kind: Pod, metadata: {name: a, namespace: x, labels: {app: client}},
 spec: {nodeName: node-1},
 status: {phase: Running, podIPs: [{ip: 10.244.1.11}, {ip: "fd00:10:244:1::11"}]}}
---
{apiVersion: v1, kind: Pod, metadata: {name: b, namespace: x, labels: {app: web}},
 spec: {nodeName: node-1}, status: {phase: Running, podIP: 10.244.1.12}}
---
{apiVersion: v1, kind: Pod, metadata: {name: a, namespace: y, labels: {app: api}},
 spec: {nodeName: node-2}, status: {phase: Running, podIP: 10.244.2.21}}
---
{apiVersion: v1, kind: Pod, metadata: {name: b, namespace: y, labels: {app: db}},
 spec: {nodeName: node-1}, status: {phase: Running, podIP: 10.244.1.22}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: x, annotations: {netpol.io/audit: all}}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: y}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: api}}}]}]
)";

// The same cluster plus ClusterNetworkPolicies: an Admin CNP "guardrails"
// that denies y/a's TCP 5432 to every pod of x (rule 0 "deny-db"), accepts
// DNS into y (rule 1 "accept-dns"; y logs allowed connections) and passes
// the rest; a Baseline CNP "default-deny" denies egress from x's pods to y
// (x's pods are not isolated for egress, so the Baseline tier decides).
inline constexpr const char* kCnpYaml = R"(
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guardrails}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress:
  - name: deny-db
    action: Deny
    from: [{pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}, podSelector: {matchLabels: {app: api}}}}]
    protocols: [{tcp: {destinationPort: {number: 5432}}}]
  - name: accept-dns
    action: Accept
    from: [{namespaces: {}}]
    protocols: [{udp: {destinationPort: {number: 53}}}]
  - name: pass-rest
    action: Pass
    from: [{namespaces: {}}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: default-deny}
spec:
  tier: Baseline
  priority: 100
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: x}}}
  egress:
  - name: deny-to-y
    action: Deny
    to: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: y}}}]
)";

inline k8s::Objects decode_cluster(const std::string& yaml) {
  k8s::DecodeResult d = k8s::decode_manifests(yaml, "cluster.yaml");
  k8s::complete_snapshot(d);
  return d.objects;
}

inline k8s::Objects cluster_objects() {
  return decode_cluster(kClusterYaml);
}

inline ir::RuleSet cluster_rules(const std::string& node = "node-1") {
  return compiler::compile(cluster_objects(), node);
}

inline k8s::Objects cnp_cluster_objects() {
  return decode_cluster(std::string(kClusterYaml) + kCnpYaml);
}

inline ir::RuleSet cnp_cluster_rules(const std::string& node = "node-1") {
  return compiler::compile(cnp_cluster_objects(), node);
}

}  // namespace netpol::audit::testing
