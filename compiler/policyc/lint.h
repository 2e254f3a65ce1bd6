// policyc lint: what a reviewer of NetworkPolicies would want pointed out.
//
// Each finding has a stable code, the object and field it is about and a
// one-line reason (docs/policyc-reports.md lists the codes). Checks that need
// to know the cluster's pods or namespaces run only when the input holds
// some: a directory of bare policies is linted for what the policies alone say.
// The checks are grouped: NetworkPolicy's (NP001-NP006, read off the
// objects) and the ClusterNetworkPolicy tiers' (NP007, NP008), which ask the
// one evaluator (compiler/verdict.h) about the IR of each node, per distinct
// identity of the ends, so their answer is the kernel's.
//
// Pure: no I/O.
#pragma once

#include <string>
#include <vector>

#include "k8s/model.h"

namespace netpol::policyc {

enum class Severity : uint8_t { Warning, Error };

struct Finding {
  Severity severity = Severity::Warning;
  std::string code;    // "NP001"
  std::string name;    // "policy-selects-no-pod"
  std::string kind;    // "NetworkPolicy"
  std::string object;  // "namespace/name"
  std::string field;   // "spec.ingress[0].from[1].podSelector"
  std::string reason;  // one line
};

struct LintInput {
  k8s::Objects objects;         // after complete_snapshot
  bool has_pods = false;        // the input named Pods (pod-dependent checks run)
  bool has_namespaces = false;  // the input named Namespaces (namespace checks run)
};

// Every finding, ordered by object, then field, then code.
std::vector<Finding> lint(const LintInput& in);

// "error NP006 NetworkPolicy x/p spec.ingress[0].ports[0]: ..." a line, then a count.
std::string render_findings(const std::vector<Finding>& findings);
// {"findings": [{...}], "errors": N, "warnings": M}
std::string render_findings_json(const std::vector<Finding>& findings);

}  // namespace netpol::policyc
