// netpol-bench-flows: what cutting the connections a tightening denies costs
// (docs/flows.md, docs/performance.md). Prints numbers; asserts nothing.
//
// In a throwaway network namespace: 20 local pods, 10,000 established TCP
// conntrack entries (500 per pod, inserted with `conntrack -R`), the agent's
// table programmed through netlink. A policy then isolates the egress of 2
// pods (1,000 entries lose permission): timed from the event (compile) over
// the commit to the last entry deleted, per round. Then UDP packets/s of an
// established flow through conntrack with the cutter idle and with it
// cutting continuously, in the same run. Needs root.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "agent/flows.h"
#include "compiler/compiler.h"
#include "nft/conntrack_nl.h"
#include "nft/kernel_table.h"
#include "nft/netlink.h"
#include "tests/bench/bench_util.h"
#include "tests/support/builders.h"
#include "tests/support/netns.h"

using namespace netpol;
using namespace netpol::testsupport;
using Clock_ = std::chrono::steady_clock;

namespace {

constexpr int kPods = 20, kPerPod = 500, kDeniedPods = 2, kRounds = 5;

double ms(Clock_::time_point a, Clock_::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string pod_ip(int i) {
  return "10.10.0." + std::to_string(i + 1);
}

bool insert_entries(const Netns& ns) {
  const std::string path = "/tmp/netpol-bench-flows.ct";
  std::ofstream f(path);
  for (int p = 0; p < kPods; ++p) {
    for (int i = 0; i < kPerPod; ++i) {
      f << "-I -p tcp -s " << pod_ip(p) << " -d 10.20.0.1 --sport " << 10000 + i
        << " --dport 80 --state ESTABLISHED -t 600\n";
    }
  }
  f.close();
  const auto r = ns.run({"conntrack", "-R", path});
  unlink(path.c_str());
  return r.status == 0;
}

}  // namespace

int main() {
  std::string why;
  auto ns = Netns::create(&why);
  if (!ns) {
    std::fprintf(stderr, "netpol-bench-flows: %s (needs root)\n", why.c_str());
    return 1;
  }
  ns->run({"ip", "link", "set", "lo", "up"});
  auto backend = nft::NetlinkBackend::open();
  auto ct = nft::NlConntrack::open();
  if (!backend.ok() || !ct.ok()) {
    std::fprintf(stderr, "netpol-bench-flows: cannot open netlink\n");
    return 1;
  }
  nft::KernelTable table(*backend.value());
  compiler::Compiler c("n1");
  c.upsert_namespace(testsupport::ns("b"));
  for (int p = 0; p < kPods; ++p) {
    c.upsert_pod(pod("b", "p" + std::to_string(p), "n1", {pod_ip(p)},
                     {{"app", "p" + std::to_string(p)}, {"cut", p < kDeniedPods ? "yes" : "no"}}));
  }
  if (!table.full(c.rules()).ok()) {
    std::fprintf(stderr, "netpol-bench-flows: full sync failed\n");
    return 1;
  }
  agent::Registry registry;
  agent::FlowCutter cutter(*ct.value(), registry, nullptr);

  std::printf("netpol-bench-flows: %d conntrack entries, %d lose permission, %d rounds\n",
              kPods * kPerPod, kDeniedPods * kPerPod, kRounds);
  std::vector<double> totals;
  for (int r = 0; r < kRounds; ++r) {
    if (!insert_entries(*ns)) {
      std::fprintf(stderr, "netpol-bench-flows: conntrack -R failed\n");
      return 1;
    }
    // The parts alone: one dump of the table (every pod's addresses) and
    // deleting 1,000 entries (then inserted again).
    std::set<IpAddr> all;
    for (int p = 0; p < kPods; ++p) all.insert(ip(pod_ip(p)));
    const auto l0 = Clock_::now();
    auto listed = ct.value()->list(all);
    const auto l1 = Clock_::now();
    std::printf("  round %d: list (dump + parse) of %zu entries %.2f ms\n", r + 1,
                listed.ok() ? listed.value().size() : 0, ms(l0, l1));
    const auto t0 = Clock_::now();
    ir::Delta d = c.upsert_policy(egress_policy("b", "cut", sel({{"cut", "yes"}}), {}));
    const auto t1 = Clock_::now();
    if (!table.update(c.rules(), d).ok()) return 1;
    const auto t2 = Clock_::now();
    const size_t cut = cutter.after_commit(c.rules(), &d, t0);
    const auto t3 = Clock_::now();
    std::printf(
        "  round %d: cut %zu; compile %.2f ms, commit %.2f ms, list+judge+delete %.2f ms, "
        "event -> last cut %.2f ms\n",
        r + 1, cut, ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t0, t3));
    totals.push_back(ms(t0, t3));
    if (!table.update(c.rules(), c.remove_policy("b", "cut")).ok()) return 1;
    ns->run({"conntrack", "-F"});
  }
  std::sort(totals.begin(), totals.end());
  std::printf("event -> last flow cut: median %.2f ms, max %.2f ms (target <= 100 ms)\n",
              totals[totals.size() / 2], totals.back());

  // Established traffic with the cutter idle, then while it cuts in a loop.
  const double idle = bench::udp_loopback_pps(1.0);
  std::atomic<bool> stop{false};
  std::atomic<int> cycles{0};
  std::thread busy([&] {
    // Its own socket: NlConntrack is one per thread.
    auto mine = nft::NlConntrack::open();
    agent::Registry reg;
    agent::FlowCutter cc(*mine.value(), reg, nullptr);
    compiler::Compiler c2("n1");
    c2.upsert_namespace(testsupport::ns("b"));
    for (int p = 0; p < kPods; ++p) {
      c2.upsert_pod(pod("b", "p" + std::to_string(p), "n1", {pod_ip(p)},
                        {{"cut", p < kDeniedPods ? "yes" : "no"}}));
    }
    while (!stop) {
      insert_entries(*ns);
      ir::Delta d = c2.upsert_policy(egress_policy("b", "cut", sel({{"cut", "yes"}}), {}));
      cc.after_commit(c2.rules(), &d, Clock_::now());
      c2.remove_policy("b", "cut");
      ++cycles;
    }
  });
  const double cutting = bench::udp_loopback_pps(3.0);
  stop = true;
  busy.join();
  std::printf(
      "established UDP over conntrack: %.0f packets/s idle, %.0f packets/s while "
      "cutting (%d cut cycles of 1,000 in 10,000 during 3 s): %+.1f%%\n",
      idle, cutting, cycles.load(), 100.0 * (cutting - idle) / idle);
  return 0;
}
