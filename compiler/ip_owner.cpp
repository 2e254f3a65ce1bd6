#include "compiler/ip_owner.h"

#include <algorithm>
#include <utility>

namespace netpol::compiler {

namespace {

int rank(const IpClaim& c) {
  if (c.terminating) return 3;
  if (c.running) return 0;
  return c.pending ? 1 : 2;
}

}  // namespace

bool outranks(const IpClaim& a, const IpClaim& b) {
  return std::make_pair(rank(a), a.pod) < std::make_pair(rank(b), b.pod);
}

const ir::LocalPod* ip_owner(const ir::RuleSet& rules, const IpAddr& ip, bool ingress) {
  const ir::LocalPod* owner = nullptr;
  std::string_view owner_key;
  for (const auto& [key, pod] : rules.pods) {
    if (!pod.dispatches(ingress)) continue;
    if (std::find(pod.ips.begin(), pod.ips.end(), ip) == pod.ips.end()) continue;
    if (!owner || outranks(IpClaim{key}, IpClaim{owner_key})) {
      owner = &pod;
      owner_key = key;
    }
  }
  return owner;
}

}  // namespace netpol::compiler
