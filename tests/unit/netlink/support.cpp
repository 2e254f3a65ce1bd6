#include "tests/unit/netlink/support.h"

#include <set>

#include "k8s/decode.h"

namespace netpol::nltest {

std::string source_dir() {
  return NETPOL_SOURCE_DIR;
}

std::optional<k8s::Objects> load(const std::string& path) {
  k8s::DecodeResult r = k8s::load_manifests({path});
  k8s::complete_snapshot(r);
  if (!r.ok()) return std::nullopt;
  return std::move(r.objects);
}

std::vector<std::string> nodes_of(const k8s::Objects& objects) {
  std::set<std::string> nodes;
  for (const k8s::Pod& p : objects.pods) {
    if (!p.node_name.empty()) nodes.insert(p.node_name);
  }
  return {nodes.begin(), nodes.end()};
}

std::optional<Kernelspace> make_kernelspace(std::string* why, nft::NetlinkOptions options) {
  Kernelspace k;
  k.ns = Netns::create(why);
  if (!k.ns) return std::nullopt;
  auto backend = nft::NetlinkBackend::open(options);
  k.ns->leave();
  if (!backend.ok()) {
    if (why) *why = backend.message();
    return std::nullopt;
  }
  k.backend = std::move(backend).value();
  return k;
}

}  // namespace netpol::nltest
