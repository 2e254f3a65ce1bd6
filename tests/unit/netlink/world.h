// A small random cluster that changes one object at a time, for the planner's
// property tests: pods come and go on the local node and elsewhere, labels
// change, addresses are reused (a small pool, so one pod's IP soon belongs to
// another), policies with every peer and port form appear, change and vanish (and
// ClusterNetworkPolicies of both tiers, with Nodes for their nodes peers),
// namespace labels flip. Each step goes through compiler::Compiler, so the
// test gets the IR after the change and the IR delta of the change.
//
// Deterministic for a seed. Test-only.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "compiler/compiler.h"
#include "compiler/ir.h"
#include "k8s/model.h"

namespace netpol::nltest {

class World {
 public:
  static constexpr const char* kNode = "node-1";

  explicit World(uint32_t seed);

  // Applies one random change; returns what it did ("add pod ns1/p7") and
  // stores the IR delta it caused in delta().
  std::string step();

  const ir::RuleSet& rules() const { return compiler_.rules(); }
  const ir::Delta& delta() const { return delta_; }

 private:
  k8s::Pod random_pod(const std::string& ns, const std::string& name);
  k8s::NetworkPolicy random_policy(const std::string& ns, const std::string& name);
  k8s::LabelSelector random_selector(bool allow_empty);
  k8s::ClusterNetworkPolicy random_cnp(const std::string& name);
  std::string cluster_step(size_t what);
  k8s::Peer random_peer();
  k8s::PolicyPort random_port();
  IpAddr random_ip(bool v6);
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < static_cast<size_t>(percent); }

  std::mt19937 rng_;
  compiler::Compiler compiler_;
  ir::Delta delta_;
  std::map<std::string, k8s::Pod> pods_;                // key ns/name
  std::map<std::string, k8s::NetworkPolicy> policies_;  // key ns/name
  std::map<std::string, k8s::Namespace> namespaces_;
  std::map<std::string, k8s::ClusterNetworkPolicy> cnps_;  // key name
  size_t next_ = 0;
};

}  // namespace netpol::nltest
