#include "compiler/engine/ip_index.h"

#include <algorithm>

#include "compiler/ip_owner.h"

namespace netpol::compiler::engine {

const PodRec* IpIndex::owner(const IpAddr& ip) const {
  const PodRec* best = nullptr;
  auto claim = [](const PodRec* x) {
    return IpClaim{x->key, x->phase == k8s::PodPhase::Running, x->phase == k8s::PodPhase::Pending,
                   x->terminating};
  };
  each(ip, [&](const PodRec* q) {
    if (q->local() && (!best || outranks(claim(q), claim(best)))) best = q;
  });
  return best;
}

std::vector<std::string> IpIndex::warnings() const {
  std::vector<std::string> out;
  for (const auto& ip : contested_) {
    std::vector<std::string> holders;
    auto it = holders_.find(ip);
    if (it == holders_.end()) continue;
    it->second.each([&](const PodRec* q) {
      if (q->local()) holders.push_back(q->key);
    });
    std::sort(holders.begin(), holders.end());
    std::string w = "IP " + ip.str() + " held by ";
    for (size_t i = 0; i < holders.size(); ++i) {
      if (i > 0) w += i + 1 == holders.size() ? " and " : ", ";
      w += holders[i];
    }
    w += "; enforcing for " + owner(ip)->key;
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace netpol::compiler::engine
