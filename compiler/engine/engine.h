// The incremental engine behind compiler::Compiler and compiler::compile().
//
// Every change first updates records and indexes, marks the local pods whose
// LocalPod may change as dirty and records element changes of materialized
// sets (Pending); flush() then rebuilds the dirty pods, materializes or drops
// sets by reference count and emits the Delta. compile() runs the same code
// with a single flush at the end, so the incremental and the full path cannot
// drift apart in what they compute, only in which work they skip.
//
// Where the work lives:
//  * records.h: what is kept per namespace, pod, policy and set;
//  * set_registry.*: sets interned by definition; templates.*: policy rules
//    -> RuleTemplates; chains.*: a pod's chains from its policies' templates;
//  * ip_index.*: pods by IP, contested addresses and their owners;
//  * membership.cpp: namespaces, set membership and materialization;
//  * engine.cpp: pods, local pods and policies; flush.cpp: the end of an
//    operation (LocalPods, set lifetimes, the Delta).
// Never does I/O or throws on its own.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "compiler/engine/ip_index.h"
#include "compiler/engine/records.h"
#include "compiler/engine/set_registry.h"
#include "compiler/ir.h"
#include "k8s/model.h"

namespace netpol::compiler::engine {

// The work of the current operation, consumed by Engine::flush().
struct Pending {
  std::map<std::string, bool> dirty;  // pod key -> chains must be rebuilt
  std::set<IpAddr> ips;               // local holders of these IPs may change
  std::vector<SetRec*> touched;       // sets whose references or elements changed
  std::vector<std::string> ns_gc;     // namespaces that may have become unused

  void mark_dirty(const PodRec* p, bool chains) {
    auto [it, inserted] = dirty.emplace(p->key, chains);
    if (!inserted) it->second = it->second || chains;
  }
  void mark_ips_dirty(const PodRec* p) { ips.insert(p->ips.begin(), p->ips.end()); }
  void touch(SetRec* s) {
    if (s->touched) return;
    s->touched = true;
    touched.push_back(s);
  }
  // Element `e` of materialized set `s` was added (d = +1) or removed (-1).
  void record(SetRec* s, const ir::Element& e, int d) {
    if (s->born) return;  // a new set is reported whole
    touch(s);
    int& v = s->net[e];
    v += d;
    if (v == 0) s->net.erase(e);
  }
  void clear() {
    dirty.clear();
    ips.clear();
    touched.clear();
    ns_gc.clear();
  }
};

class Engine {
 public:
  explicit Engine(std::string node) { rules_.node = std::move(node); }

  void upsert_namespace(const k8s::Namespace& in);
  void remove_namespace(const std::string& name);
  void upsert_pod(const k8s::Pod& in);
  void remove_pod(const std::string& key);
  void upsert_policy(const k8s::NetworkPolicy& in);
  void remove_policy(const std::string& key);
  void upsert_cnp(const k8s::ClusterNetworkPolicy& in);
  void remove_cnp(const std::string& name);
  void upsert_node(const k8s::Node& in);
  void remove_node(const std::string& name);
  ir::Delta flush(bool want_delta);
  // Sizes the big indexes for a bulk load (no rehashing while feeding).
  void reserve(size_t pods, size_t namespaces) {
    pods_.reserve(pods);
    ips_.reserve(pods);
    namespaces_.reserve(namespaces);
  }

  ir::RuleSet rules_;

 private:
  // membership.cpp
  NsRec* ensure_ns(const std::string& name);
  void set_ns_labels(NsRec* ns, Labels labels);
  void set_ns_audit(NsRec* ns, std::optional<k8s::AuditLevel> audit);
  void add_enforceable(PodRec* p);
  void remove_enforceable(PodRec* p);
  void relabel_sets(PodRec* p, const std::vector<std::string>& keys);
  void join(PodRec* p, SetRec* s);
  void leave(PodRec* p, SetRec* s);
  bool other_member_has(const SetRec* s, const PodRec* p, const ir::Element& e) const;
  void acquire(SetRec* s);
  void release(SetRec* s);
  void materialize(SetRec* s);
  void dematerialize(SetRec* s);

  // engine.cpp
  void add_local(PodRec* p);
  void remove_local(PodRec* p);
  void reselect_policies(PodRec* p, const std::vector<std::string>& keys);
  void reselect_cnps(PodRec* p);
  void refresh_node_set(SetRec* s);
  void refresh_node_sets();

  // flush.cpp
  ir::LocalPod build_local_pod(PodRec* p, const ir::LocalPod* old, bool chains);

  PodRec* find_pod(std::string_view key) const {
    auto it = pods_.find(key);
    return it == pods_.end() ? nullptr : it->second.get();
  }

  std::unordered_map<std::string, std::unique_ptr<NsRec>> namespaces_;
  std::unordered_map<std::string_view, std::unique_ptr<PodRec>> pods_;  // view into PodRec::key
  std::unordered_map<std::string, std::unique_ptr<PolicyRec>> policies_;
  // ClusterNetworkPolicies by name (cluster-scoped; few), Nodes by name.
  std::map<std::string, std::unique_ptr<CnpRec>> cnps_;
  std::map<std::string, k8s::Node> nodes_;
  std::unordered_set<SetRec*> node_sets_;  // materialized Nodes sets
  SetRegistry sets_;
  IpIndex ips_;  // enforceable pods by IP: element reference counts, local IP conflicts

  size_t nport_live_ = 0;  // materialized NamedPort sets
  // Materialized namespace-selector sets, and indexes on their selectors' keys.
  std::unordered_set<SetRec*> nssel_all_;
  std::unordered_map<std::string, std::unordered_set<SetRec*>> nssel_by_nskey_;
  std::unordered_map<std::string, std::unordered_set<SetRec*>> nssel_by_podkey_;

  Pending pending_;
};

}  // namespace netpol::compiler::engine
