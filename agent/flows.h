// Flow cutting: after a commit that can remove permission, the conntrack
// entries of the local pods the change touched that the NEW rules deny are
// deleted, so their next packet is a new connection the rules drop
// (docs/flows.md says why deletion, and what the next packet meets).
//
// Which entries: those whose original source or destination is an address
// the delta touches in a way that may deny something (a pod whose chains,
// ClusterNetworkPolicy tier chains or addresses changed, a pod whose chain
// reads a set that lost elements or went away, a pod whose tier chain reads
// a set that changed at all: a Deny peer set that grew denies more); a set
// only NetworkPolicy chains read that only grew, a pod without any chain:
// nothing to look at.
// Each entry is judged by compiler::node_allows() (the evaluator `policyc
// explain` answers with), the egress chain of its source and the ingress
// chain of its destination on this node; entries sent by the host itself
// are never judged (the ruleset accepts them before any pod chain). Only the
// denied ones are deleted; an allowed flow is never touched.
//
// Runs on the sync thread (Enforcer's commit hook). Never throws.
#pragma once

#include <memory>
#include <set>
#include <vector>

#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/schedule.h"
#include "compiler/ir.h"
#include "k8s/clock.h"
#include "nft/conntrack.h"

namespace netpol::agent {

// The addresses of local pods whose flows `delta` (committed, `rules` the IR
// after it) may deny; empty when it only adds permission.
std::set<IpAddr> touched_addresses(const ir::RuleSet& rules, const ir::Delta& delta);
// Every address of every local pod (after a full reconcile).
std::set<IpAddr> local_addresses(const ir::RuleSet& rules);
// Of `flows`, those `rules` deny.
std::vector<nft::Flow> denied_flows(const ir::RuleSet& rules, const std::vector<nft::Flow>& flows);

class FlowCutter {
 public:
  // Registers netpol_flows_cut_total, netpol_flow_cut_seconds and
  // netpol_flow_cut_errors_total in `registry`.
  FlowCutter(nft::Conntrack& conntrack, Registry& registry, Logger* log,
             std::shared_ptr<Clock> clock = nullptr);

  // After a committed delta (null: a full reconcile, every local pod is
  // looked at); `since` is when the oldest event it enforces was received.
  // Returns how many entries were deleted.
  size_t after_commit(const ir::RuleSet& rules, const ir::Delta* delta, SteadyTime since);

  uint64_t cut_total() const { return total_; }

 private:
  nft::Conntrack& ct_;
  Logger* log_;
  std::shared_ptr<Clock> clock_;
  Counter& cut_;
  Histogram& to_cut_;
  Counter& errors_;
  uint64_t total_ = 0;
  std::string last_error_;
};

}  // namespace netpol::agent
