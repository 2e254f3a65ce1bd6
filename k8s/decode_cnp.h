// Private to k8s/: the decoder of the cluster-scoped kinds ClusterNetworkPolicy
// (policy.networking.k8s.io/v1alpha2) and Node (v1), called by the kind
// dispatcher in decode.cpp on a parsed tree. Kept apart from the namespaced
// kinds' decoder so the CRD's rules (k8s/cnp.h) live in one file.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "k8s/decode.h"

namespace netpol::k8s {

// When `kind` is "ClusterNetworkPolicy" or "Node": checks apiVersion, decodes
// and validates `obj`, appends the object (or its errors, labelled with
// `file` and, for list items without a name, `prefix`) to `out`, and returns
// true. Any other kind: returns false and touches nothing.
bool decode_cluster_kind(const nlohmann::json& obj, const std::string& kind,
                         const std::string& prefix, std::string_view file, DecodeResult& out);

}  // namespace netpol::k8s
