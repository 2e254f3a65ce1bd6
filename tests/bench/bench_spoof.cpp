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
#include "tests/support/builders.h"
#include "tests/support/netns.h"

using namespace netpol;
using namespace netpol::testsupport;
using Clock_ = std::chrono::steady_clock;

namespace {

double udp_pps(double secs) {
  int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(9999);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a);
  connect(tx, reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> got{0};
  std::thread reader([&] {
    char buf[64];
    timeval tv{0, 100000};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!stop) {
      if (recv(rx, buf, sizeof buf, 0) > 0) ++got;
    }
  });
  const auto t0 = Clock_::now();
  const char msg[16] = "x";
  double elapsed = 0;
  while ((elapsed = std::chrono::duration<double>(Clock_::now() - t0).count()) < secs) {
    for (int i = 0; i < 64; ++i) (void)!send(tx, msg, sizeof msg, MSG_DONTWAIT);
  }
  stop = true;
  reader.join();
  close(rx);
  close(tx);
  return static_cast<double>(got.load()) / elapsed;
}

}  // namespace

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
    off.push_back(udp_pps(1.0));
    table.set_guard(bindings);
    if (!table.full(c.rules()).ok()) return 1;
    on.push_back(udp_pps(1.0));
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
