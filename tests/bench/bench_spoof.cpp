// netpol-bench-spoof: what the anti-spoofing guard costs a packet
// (docs/spoofing.md, docs/performance.md). Prints numbers; asserts nothing.
//
// In a throwaway network namespace: UDP datagrams/s over loopback with the
// agent's table (100 local pods' policy) and no guard, then with the guard
// and 200 bound (interface, address) pairs in which `lo` . 127.0.0.1 is one,
// so every datagram takes the guard's longest accepted path (interface
// lookup, exempt lookups, two bound-pair lookups), alternating 3 rounds each,
// same run. Needs root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "compiler/compiler.h"
#include "nft/kernel_table.h"
#include "nft/netlink.h"
#include "nft/spoof.h"
#include "tests/bench/bench_util.h"
#include "tests/support/builders.h"
#include "tests/support/netns.h"

using namespace netpol;
using namespace netpol::testsupport;
using Clock_ = std::chrono::steady_clock;

namespace {}  // namespace

int main() {
  std::string why;
  auto ns = Netns::create(&why);
  if (!ns) {
    std::fprintf(stderr, "netpol-bench-spoof: %s (needs root)\n", why.c_str());
    return 1;
  }
  ns->run({"ip", "link", "set", "lo", "up"});
  auto backend = nft::NetlinkBackend::open();
  if (!backend.ok()) {
    std::fprintf(stderr, "netpol-bench-spoof: cannot open netlink\n");
    return 1;
  }
  compiler::Compiler c("n1");
  c.upsert_namespace(testsupport::ns("b"));
  nft::PortBindings bindings = {{"lo", *IpAddr::parse("127.0.0.1")}};
  for (int p = 0; p < 100; ++p) {
    const std::string v4 = "10.10." + std::to_string(p / 200) + "." + std::to_string(p % 200 + 1);
    c.upsert_pod(pod("b", "p" + std::to_string(p), "n1", {v4}, {{"app", "p"}}));
    bindings.insert({"veth" + std::to_string(p), *IpAddr::parse(v4)});
    bindings.insert({"veth" + std::to_string(p), *IpAddr::parse("fd10::" + std::to_string(p + 1))});
  }
  c.upsert_policy(ingress_only_from("b", "np", {{"app", "p"}}, k8s::Labels{{"app", "p"}}));
  nft::KernelTable table(*backend.value());
  std::vector<double> off, on;
  for (int r = 0; r < 3; ++r) {
    table.set_guard(std::nullopt);
    if (!table.full(c.rules()).ok()) return 1;
    off.push_back(bench::udp_loopback_pps(1.0));
    table.set_guard(bindings);
    if (!table.full(c.rules()).ok()) return 1;
    on.push_back(bench::udp_loopback_pps(1.0));
  }
  std::sort(off.begin(), off.end());
  std::sort(on.begin(), on.end());
  const double a = off[1], b = on[1];
  std::printf(
      "netpol-bench-spoof: UDP over a bound interface, median of 3 x 1 s: %.0f packets/s "
      "without the guard, %.0f with it (%zu bindings): %+.1f%%\n",
      a, b, bindings.size(), 100.0 * (b - a) / a);
  return 0;
}
