// policyc diff --kubeconfig: the cluster's Namespaces, Pods and
// NetworkPolicies as one snapshot, listed through the agent's API client
// (k8s/api). A separate library (netpol_policyc_live) so that only the
// policyc binary, never compiler/, links the HTTP client and cpprestsdk.
#pragma once

#include <string>

#include "k8s/decode.h"

namespace netpol::policyc {

// Lists every Namespace, Pod and NetworkPolicy (all pages) and decodes them
// as the agent's informers do. `kubeconfig` and `context` as kubectl takes
// them (empty: $KUBECONFIG, in-cluster, ~/.kube/config). A failed request is
// one error naming the server; undecodable objects are errors too.
k8s::DecodeResult load_live(const std::string& kubeconfig, const std::string& context);

}  // namespace netpol::policyc
