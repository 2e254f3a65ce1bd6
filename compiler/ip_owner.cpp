#include "compiler/ip_owner.h"

#include <algorithm>
#include <utility>

namespace netpol::compiler {

bool outranks(const IpClaim& a, const IpClaim& b) {
  return std::make_pair(a.running ? 0 : 1, a.pod) < std::make_pair(b.running ? 0 : 1, b.pod);
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
