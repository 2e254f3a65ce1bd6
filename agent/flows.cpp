#include "agent/flows.h"

#include "compiler/verdict.h"

namespace netpol::agent {

namespace {

// Whether any rule of the pod (NetworkPolicy chains or ClusterNetworkPolicy
// tiers) can deny: a pod with none of them denies nothing.
bool has_chain(const ir::LocalPod& p) {
  return p.dispatches(true) || p.dispatches(false);
}

template <typename R>
bool reads_rules(const std::vector<R>& rules, const std::set<std::string>& sets) {
  for (const R& r : rules) {
    if ((r.peer.kind == ir::PeerMatch::Kind::Set && sets.count(r.peer.set)) ||
        (!r.named_port_set.empty() && sets.count(r.named_port_set))) {
      return true;
    }
  }
  return false;
}

// `shrunk`: sets that lost members (an allow reading them may allow less);
// `changed`: every set that changed (a Deny or Pass of a tier reading a set
// that grew may deny more). Tier rules are checked against `changed`.
bool reads(const ir::LocalPod& p, const std::set<std::string>& shrunk,
           const std::set<std::string>& changed) {
  for (bool in : {true, false}) {
    if (p.chain(in) && reads_rules(p.chain(in)->rules, shrunk)) return true;
    if (p.admin(in) && reads_rules(p.admin(in)->rules, changed)) return true;
    if (p.baseline(in) && reads_rules(p.baseline(in)->rules, changed)) return true;
  }
  return false;
}

void add_ips(std::set<IpAddr>& out, const ir::LocalPod& p) {
  out.insert(p.ips.begin(), p.ips.end());
}

}  // namespace

std::set<IpAddr> touched_addresses(const ir::RuleSet& rules, const ir::Delta& delta) {
  std::set<IpAddr> out;
  for (const ir::PodDelta& pd : delta.pods) {
    // A pod that left keeps no flows (an address another local pod now owns
    // is that pod's delta); a pod left without chains denies nothing.
    if (!pd.after || !has_chain(*pd.after)) continue;
    add_ips(out, *pd.after);
  }
  std::set<std::string> shrunk, changed;
  for (const ir::SetDelta& sd : delta.sets) {
    if (sd.removed || !sd.del.empty() || sd.created) shrunk.insert(sd.name);
    changed.insert(sd.name);
  }
  if (!changed.empty()) {
    for (const auto& [_, pod] : rules.pods) {
      if (reads(pod, shrunk, changed)) add_ips(out, pod);
    }
  }
  return out;
}

std::set<IpAddr> local_addresses(const ir::RuleSet& rules) {
  std::set<IpAddr> out;
  for (const auto& [_, pod] : rules.pods) {
    if (has_chain(pod)) add_ips(out, pod);
  }
  return out;
}

std::vector<nft::Flow> denied_flows(const ir::RuleSet& rules, const std::vector<nft::Flow>& flows) {
  std::vector<nft::Flow> out;
  for (const nft::Flow& f : flows) {
    if (f.from_host) continue;
    if (!compiler::node_allows(rules, f.src, f.dst, f.proto, f.dport)) out.push_back(f);
  }
  return out;
}

FlowCutter::FlowCutter(nft::Conntrack& conntrack, Registry& registry, Logger* log,
                       std::shared_ptr<Clock> clock)
    : ct_(conntrack),
      log_(log),
      clock_(clock ? std::move(clock) : make_real_clock()),
      cut_(registry
               .counter("netpol_flows_cut_total",
                        "Conntrack entries deleted because a change denied their connection")
               .with()),
      to_cut_(registry
                  .histogram("netpol_flow_cut_seconds",
                             "Time from the oldest event of a commit that denied open "
                             "connections to the deletion of the last of them",
                             latency_buckets())
                  .with()),
      errors_(registry
                  .counter("netpol_flow_cut_errors_total",
                           "Conntrack listings or deletions that failed (the flows stay open "
                           "until the next change or full reconcile)")
                  .with()) {}

size_t FlowCutter::after_commit(const ir::RuleSet& rules, const ir::Delta* delta,
                                SteadyTime since) {
  const std::set<IpAddr> addrs = delta ? touched_addresses(rules, *delta) : local_addresses(rules);
  if (addrs.empty()) return 0;
  auto fail = [&](const Status& s) {
    errors_.inc();
    if (log_ && s.message() != last_error_) {
      log_->error("cannot cut the connections a change denied", {{"error", s.message()}});
    }
    last_error_ = s.message();
    return size_t{0};
  };
  auto flows = ct_.list(addrs);
  if (!flows.ok()) return fail(flows.status());
  const std::vector<nft::Flow> denied = denied_flows(rules, flows.value());
  if (denied.empty()) return 0;
  auto removed = ct_.remove(denied);
  if (!removed.ok()) return fail(removed.status());
  last_error_.clear();
  const size_t n = removed.value();
  total_ += n;
  cut_.inc(static_cast<double>(n));
  to_cut_.observe(std::chrono::duration<double>(clock_->now() - since).count());
  if (log_) {
    log_->info("cut connections the change denied",
               {{"flows", static_cast<uint64_t>(n)},
                {"first", denied.front().str()},
                {"looked_at", static_cast<uint64_t>(flows.value().size())}});
  }
  return n;
}

}  // namespace netpol::agent
