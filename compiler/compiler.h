// NetworkPolicy semantics: cluster objects in, the IR for one node out.
//
// Pure: no I/O, no clock, no threads. Incremental: each change returns the
// IR delta it causes, and only the selectors/pods/policies that the change can
// touch are re-evaluated (label-key index), so one pod update on a 100k-pod
// cluster costs microseconds, not a full recompile.
#pragma once

#include <memory>
#include <string>

#include "compiler/ir.h"
#include "k8s/model.h"

namespace netpol::compiler {

class Compiler {
 public:
  explicit Compiler(std::string node);
  ~Compiler();
  Compiler(const Compiler&) = delete;
  Compiler& operator=(const Compiler&) = delete;

  // Each call returns the change it made to rules(). Upserts replace an object
  // with the same key (namespace name, pod "ns/name", policy "ns/name").
  ir::Delta upsert_namespace(const k8s::Namespace& ns);
  ir::Delta remove_namespace(const std::string& name);
  ir::Delta upsert_pod(const k8s::Pod& pod);
  ir::Delta remove_pod(const std::string& ns, const std::string& name);
  ir::Delta upsert_policy(const k8s::NetworkPolicy& policy);
  ir::Delta remove_policy(const std::string& ns, const std::string& name);
  // Cluster-scoped: keyed by name.
  ir::Delta upsert_cluster_policy(const k8s::ClusterNetworkPolicy& cnp);
  ir::Delta remove_cluster_policy(const std::string& name);
  ir::Delta upsert_node(const k8s::Node& node);
  ir::Delta remove_node(const std::string& name);

  const ir::RuleSet& rules() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Full compile of a snapshot (feeds a fresh Compiler). Namespaces that pods or
// policies refer to but that are absent are treated as existing with only the
// kubernetes.io/metadata.name label.
ir::RuleSet compile(const k8s::Objects& objects, const std::string& node);

}  // namespace netpol::compiler
