#include "nft/links.h"

namespace netpol::nft {

std::vector<LinkBinding> derive_bindings(const LinkState& state) {
  std::map<IpAddr, std::set<LinkBinding>> found;
  for (const HostRoute& r : state.routes) {
    auto link = state.links.find(r.oif);
    if (link == state.links.end() || link->second.bridge) continue;
    const bool port = link->second.master != 0 && state.links.count(link->second.master) &&
                      state.links.at(link->second.master).bridge;
    found[r.dst].insert(LinkBinding{link->second.name, r.dst, port});
  }
  for (const Neighbour& n : state.neighbours) {
    auto br = state.links.find(n.ifindex);
    if (br == state.links.end() || !br->second.bridge) continue;
    for (const FdbEntry& f : state.fdb) {
      if (f.local || f.mac != n.mac) continue;
      auto port = state.links.find(f.port);
      if (port == state.links.end() || port->second.master != n.ifindex) continue;
      found[n.ip].insert(LinkBinding{port->second.name, n.ip, true});
    }
  }
  std::vector<LinkBinding> out;
  for (const auto& [ip, where] : found) {
    // Two interfaces for one address: trust neither.
    if (where.size() == 1) out.push_back(*where.begin());
  }
  return out;
}

std::set<std::string> bridge_ports(const LinkState& state) {
  std::set<std::string> out;
  for (const auto& [_, l] : state.links) {
    auto m = state.links.find(l.master);
    if (l.master != 0 && m != state.links.end() && m->second.bridge) out.insert(l.name);
  }
  return out;
}

}  // namespace netpol::nft
