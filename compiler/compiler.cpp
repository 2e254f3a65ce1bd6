// Compiler and compile(): the public face of the incremental engine
// (compiler/engine/engine.h), one flush per change or one for a whole snapshot.
#include "compiler/compiler.h"

#include <memory>
#include <utility>

#include "compiler/engine/engine.h"

namespace netpol::compiler {

using engine::Engine;

struct Compiler::State : Engine {
  using Engine::Engine;
};

Compiler::Compiler(std::string node) : state_(std::make_unique<State>(std::move(node))) {}
Compiler::~Compiler() = default;

ir::Delta Compiler::upsert_namespace(const k8s::Namespace& ns) {
  state_->upsert_namespace(ns);
  return state_->flush(true);
}
ir::Delta Compiler::remove_namespace(const std::string& name) {
  state_->remove_namespace(name);
  return state_->flush(true);
}
ir::Delta Compiler::upsert_pod(const k8s::Pod& pod) {
  state_->upsert_pod(pod);
  return state_->flush(true);
}
ir::Delta Compiler::remove_pod(const std::string& ns, const std::string& name) {
  state_->remove_pod(ns + "/" + name);
  return state_->flush(true);
}
ir::Delta Compiler::upsert_policy(const k8s::NetworkPolicy& policy) {
  state_->upsert_policy(policy);
  return state_->flush(true);
}
ir::Delta Compiler::remove_policy(const std::string& ns, const std::string& name) {
  state_->remove_policy(ns + "/" + name);
  return state_->flush(true);
}
ir::Delta Compiler::upsert_cluster_policy(const k8s::ClusterNetworkPolicy& cnp) {
  state_->upsert_cnp(cnp);
  return state_->flush(true);
}
ir::Delta Compiler::remove_cluster_policy(const std::string& name) {
  state_->remove_cnp(name);
  return state_->flush(true);
}
ir::Delta Compiler::upsert_node(const k8s::Node& node) {
  state_->upsert_node(node);
  return state_->flush(true);
}
ir::Delta Compiler::remove_node(const std::string& name) {
  state_->remove_node(name);
  return state_->flush(true);
}
const ir::RuleSet& Compiler::rules() const {
  return state_->rules_;
}

ir::RuleSet compile(const k8s::Objects& objects, const std::string& node) {
  Engine s(node);
  s.reserve(objects.pods.size(), objects.namespaces.size());
  // One flush at the end: every set is materialized once, from the final state.
  for (const auto& ns : objects.namespaces) s.upsert_namespace(ns);
  for (const auto& pol : objects.policies) s.upsert_policy(pol);
  for (const auto& node : objects.nodes) s.upsert_node(node);
  for (const auto& cnp : objects.cluster_policies) s.upsert_cnp(cnp);
  for (const auto& pod : objects.pods) s.upsert_pod(pod);
  s.flush(false);
  return std::move(s.rules_);
}

}  // namespace netpol::compiler
