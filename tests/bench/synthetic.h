// A synthetic cluster for benchmarks: N pods in M namespaces with P policies
// that mix every selector form, ipBlocks and named ports, and a chosen number
// of pods on the benchmark's own node. Deterministic for a given Params, so
// runs compare.
#pragma once

#include <cstddef>
#include <string>

#include "k8s/model.h"

namespace netpol::bench {

struct Params {
  size_t pods = 100000;
  size_t namespaces = 1000;
  size_t policies = 10000;
  size_t local_pods = 110;
  std::string node = "bench-node";
};

k8s::Objects make_cluster(const Params& p);

// Pod number `i` of the cluster (same as make_cluster's), with its labels
// rotated by `generation`, for label-change benchmarks.
k8s::Pod make_pod(const Params& p, size_t i, size_t generation = 0);
k8s::NetworkPolicy make_policy(const Params& p, size_t i, size_t generation = 0);

// ClusterNetworkPolicy `i` of 25 rules (not part of make_cluster): Admin for
// even i, Baseline for odd; subjects one team's namespaces; peers rotate
// through namespaces (env), pods in a team (17 ingress rules) and networks
// (8 egress rules: the API allows networks peers in egress only); every
// third rule names a TCP port. `generation` shifts its priority and every rule's
// action, for change benchmarks.
k8s::ClusterNetworkPolicy make_cnp(size_t i, size_t generation = 0);

}  // namespace netpol::bench
