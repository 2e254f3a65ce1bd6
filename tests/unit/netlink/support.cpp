#include "tests/unit/netlink/support.h"

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
