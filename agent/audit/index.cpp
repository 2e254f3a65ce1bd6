#include "agent/audit/index.h"

#include "compiler/hash.h"
#include "nft/render.h"

namespace netpol::audit {

void RuleIndex::update(const ir::RuleSet& rules) {
  Generation g;
  g.pods.reserve(rules.pods.size());
  for (const auto& [key, pod] : rules.pods) {
    PodInfo info;
    info.key = key;
    auto add_chain = [&](const std::optional<ir::Chain>& c, std::optional<ChainInfo>& out) {
      if (!c) return;
      out = ChainInfo{c->policies};
      for (const std::string& p : c->policies) g.policies.emplace(short_hash(p), p);
      for (const ir::Rule& r : c->rules) g.policies.emplace(short_hash(r.policy), r.policy);
    };
    add_chain(pod.ingress, info.ingress);
    add_chain(pod.egress, info.egress);
    auto add_tier = [&](k8s::CnpTier tier, nft::Direction d,
                        const std::optional<ir::TierChain>& t) {
      if (!t) return;
      for (const ir::TierRule& r : t->rules) {
        if (r.action == k8s::CnpAction::Pass) continue;  // never logs
        info.cnp_rules.emplace(tier_rule_key(tier, d, short_hash("cnp/" + r.cnp), r.rule_index),
                               CnpRuleRef{r.cnp, r.name, r.rule_index});
      }
    };
    for (nft::Direction d : {nft::Direction::Ingress, nft::Direction::Egress}) {
      const bool in = d == nft::Direction::Ingress;
      add_tier(k8s::CnpTier::Admin, d, pod.admin(in));
      add_tier(k8s::CnpTier::Baseline, d, pod.baseline(in));
    }
    for (const IpAddr& ip : pod.ips) g.ips.emplace(ip, key);
    g.pods.emplace(short_hash(key), std::move(info));
  }
  previous_ = std::move(current_);
  current_ = std::move(g);
}

std::optional<Attribution> RuleIndex::find(const Generation& g, const LogId& id) {
  auto it = g.pods.find(id.pod_hash);
  if (it == g.pods.end()) return std::nullopt;
  const PodInfo& pod = it->second;
  const auto& chain = id.direction == nft::Direction::Ingress ? pod.ingress : pod.egress;
  Attribution a;
  a.pod = pod.key;
  size_t slash = pod.key.find('/');
  a.chain = nft::pod_chain_name(id.direction, pod.key.substr(0, slash), pod.key.substr(slash + 1));
  if (chain) a.isolated_by = chain->policies;
  if (id.tier) {
    auto r = pod.cnp_rules.find(tier_rule_key(*id.tier, id.direction, id.cnp_hash, id.rule_index));
    if (r == pod.cnp_rules.end()) return std::nullopt;
    a.tier = id.tier;
    a.cnp = r->second;
    a.chain = nft::tier_chain_name(*id.tier, id.direction, pod.key.substr(0, slash),
                                   pod.key.substr(slash + 1));
  } else if (id.verdict == Verdict::Allow) {
    auto p = g.policies.find(id.policy_hash);
    if (p == g.policies.end()) return std::nullopt;
    a.policy = p->second;
    a.rule_index = id.rule_index;
  }
  return a;
}

std::string RuleIndex::tier_rule_key(k8s::CnpTier tier, nft::Direction d,
                                     const std::string& cnp_hash, uint32_t index) {
  return std::string(nft::audit_tier_word(tier)) + " " + nft::to_string(d) + " " + cnp_hash + " " +
         std::to_string(index);
}

std::optional<Attribution> RuleIndex::lookup(const LogId& id) const {
  if (auto a = find(current_, id)) return a;
  return find(previous_, id);
}

std::optional<std::string> RuleIndex::local_pod(const IpAddr& ip) const {
  auto it = current_.ips.find(ip);
  if (it != current_.ips.end()) return it->second;
  it = previous_.ips.find(ip);
  if (it != previous_.ips.end()) return it->second;
  return std::nullopt;
}

void PodDirectory::upsert(const k8s::Pod& pod) {
  const std::string key = pod.key();
  remove(pod.ns, pod.name);
  // Finished pods gave their address back; hostNetwork pods share the node's.
  if (!pod.enforceable()) return;
  by_key_[key] = pod.ips;
  for (const IpAddr& ip : pod.ips) by_ip_[ip][key] = 1;
}

void PodDirectory::remove(const std::string& ns, const std::string& name) {
  auto it = by_key_.find(ns + "/" + name);
  if (it == by_key_.end()) return;
  for (const IpAddr& ip : it->second) {
    auto h = by_ip_.find(ip);
    if (h == by_ip_.end()) continue;
    h->second.erase(it->first);
    if (h->second.empty()) by_ip_.erase(h);
  }
  by_key_.erase(it);
}

std::optional<std::string> PodDirectory::lookup(const IpAddr& ip) const {
  auto it = by_ip_.find(ip);
  if (it == by_ip_.end() || it->second.empty()) return std::nullopt;
  return it->second.begin()->first;
}

}  // namespace netpol::audit
