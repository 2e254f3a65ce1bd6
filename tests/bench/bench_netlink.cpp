// Netlink benchmark (issue 3): for the synthetic cluster, the time to program
// the full table through NetlinkBackend against `nft -f` of policyc's script
// for the same state, measured in the same run, each into its own throwaway
// network namespace; then the latency of single changes (a pod added, a pod's
// labels changed, a policy changed) applied incrementally through KernelTable:
// p50/p99 over --changes changes. Needs root (network namespaces).
//
//   netpol-bench-netlink [--pods N] [--namespaces N] [--policies N]
//                        [--local-pods N] [--changes N] [--verify 0|1]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "nft/netlink.h"
#include "nft/plan.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/kernel_table.h"
#include "nft/transaction.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/synthetic.h"
#include "tests/support/netns.h"

using namespace netpol;
using namespace netpol::bench;

namespace {

struct Sample {
  std::vector<double> nft_ms, nft_cpu_ms, total_ms, ops;
  void add(double compile_ms, double wall, double cpu, size_t n_ops) {
    nft_ms.push_back(wall);
    nft_cpu_ms.push_back(cpu);
    total_ms.push_back(compile_ms + wall);
    ops.push_back(static_cast<double>(n_ops));
  }
  void merge(const Sample& o) {
    for (auto [to, from] : {std::pair{&nft_ms, &o.nft_ms}, std::pair{&nft_cpu_ms, &o.nft_cpu_ms},
                            std::pair{&total_ms, &o.total_ms}, std::pair{&ops, &o.ops}}) {
      to->insert(to->end(), from->begin(), from->end());
    }
  }
};

void print_sample(const char* what, const Sample& s) {
  if (s.nft_ms.empty()) {
    std::printf("%-24s (none)\n", what);
    return;
  }
  std::printf(
      "%-24s n=%3zu  wall p50 %6.3f p99 %6.3f max %6.3f ms | cpu p50 %6.3f p99 %6.3f ms | "
      "+compile p99 %6.3f ms | ops p50 %.0f max %.0f\n",
      what, s.nft_ms.size(), percentile(s.nft_ms, 50), percentile(s.nft_ms, 99),
      percentile(s.nft_ms, 100), percentile(s.nft_cpu_ms, 50), percentile(s.nft_cpu_ms, 99),
      percentile(s.total_ms, 99), percentile(s.ops, 50), percentile(s.ops, 100));
}

size_t element_count(const nft::Ruleset& rs) {
  size_t n = 0;
  for (const auto& [_, s] : rs.sets) n += s.elements.size();
  return n;
}

size_t rule_count(const nft::Ruleset& rs) {
  size_t n = 0;
  for (const auto& [_, r] : rs.rules) n += r.size();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  size_t changes = 300, verify = 1;
  for (int i = 1; i < argc; ++i) {
    if (parse_size_flag(i, argc, argv, "--pods", p.pods) ||
        parse_size_flag(i, argc, argv, "--namespaces", p.namespaces) ||
        parse_size_flag(i, argc, argv, "--policies", p.policies) ||
        parse_size_flag(i, argc, argv, "--local-pods", p.local_pods) ||
        parse_size_flag(i, argc, argv, "--changes", changes) ||
        parse_size_flag(i, argc, argv, "--verify", verify))
      continue;
    std::fprintf(stderr, "unknown flag %s\n", argv[i]);
    return 2;
  }
  std::string why;
  auto ns_nft = testsupport::Netns::create(&why);
  if (ns_nft) ns_nft->leave();
  auto ns_nl = ns_nft ? testsupport::Netns::create(&why) : nullptr;
  if (!ns_nl) {
    std::fprintf(stderr, "netpol-bench-netlink: needs root for network namespaces: %s\n",
                 why.c_str());
    return 77;
  }
  auto opened = nft::NetlinkBackend::open();  // inside ns_nl
  ns_nl->leave();
  if (!opened.ok()) {
    std::fprintf(stderr, "netpol-bench-netlink: %s\n", opened.message().c_str());
    return 1;
  }
  nft::NetlinkBackend& backend = *opened.value();

  std::printf("cluster: %zu pods, %zu namespaces, %zu policies, %zu local pods\n", p.pods,
              p.namespaces, p.policies, p.local_pods);
  k8s::Objects objects = make_cluster(p);
  compiler::Compiler compiler(p.node);
  Timer tc;
  for (const auto& n : objects.namespaces) compiler.upsert_namespace(n);
  for (const auto& pod : objects.pods) compiler.upsert_pod(pod);
  for (const auto& pol : objects.policies) compiler.upsert_policy(pol);
  std::printf("compile (incremental engine, whole cluster): %.0f ms\n", tc.wall());

  Timer tr;
  nft::Ruleset rs = nft::render(compiler.rules()).ruleset;
  const double render_ms = tr.wall();
  Timer tt;
  auto tx = nft::Transaction::replace(rs);
  const double tx_ms = tt.wall();
  if (!tx.ok()) {
    std::fprintf(stderr, "inconsistent table: %s\n", tx.message().c_str());
    return 1;
  }
  Timer ts;
  const std::string script = nft::to_script(tx.value());
  const double script_ms = ts.wall();
  std::printf("table: %zu chains, %zu rules, %zu sets/maps, %zu elements; script %.1f MiB\n",
              rs.chains.size(), rule_count(rs), rs.sets.size(), element_count(rs),
              static_cast<double>(script.size()) / (1 << 20));
  std::printf("render %.0f ms, transaction (validated) %.0f ms, script text %.0f ms\n", render_ms,
              tx_ms, script_ms);

  // Full table, same state, both ways; twice each (into an empty namespace,
  // then replacing the table that is there).
  char path[] = "/tmp/netpol-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  close(fd);
  std::ofstream(path) << script;
  double nft_ms[2], nl_ms[2];
  for (int round = 0; round < 2; ++round) {
    Timer t1;
    testsupport::Command c = ns_nft->run({"nft", "-f", path});
    nft_ms[round] = t1.wall();
    if (c.status != 0) {
      std::fprintf(stderr, "nft -f failed: %s\n", c.err.c_str());
      return 1;
    }
    Timer t2;
    nft::Status s = backend.commit(tx.value());
    nl_ms[round] = t2.wall();
    std::printf("  netlink round %d: wall %.0f ms, thread cpu %.0f ms\n", round, nl_ms[round],
                t2.cpu());
    if (!s.ok()) {
      std::fprintf(stderr, "netlink apply failed: %s\n", s.message().c_str());
      return 1;
    }
  }
  if (std::getenv("NETPOL_BENCH_KEEP_SCRIPT")) {
    std::printf("script kept at %s\n", path);
  } else {
    unlink(path);
  }
  const nft::BatchStats& b = backend.last_batch();
  std::printf(
      "batch: %zu ops, %zu messages, %.1f MiB in %zu pages, %zu ACKs; encode %.0f ms, kernel "
      "(sendmsg) %.0f ms, ACKs %.0f ms\n",
      b.ops, b.messages, static_cast<double>(b.bytes) / (1 << 20), b.iovecs, b.acks, b.encode_ms,
      b.send_ms, b.ack_ms);
  std::printf("full table, empty namespace:  nft -f %8.0f ms   netlink %7.0f ms   (%.1fx)\n",
              nft_ms[0], nl_ms[0], nft_ms[0] / nl_ms[0]);
  std::printf("full table, replacing itself: nft -f %8.0f ms   netlink %7.0f ms   (%.1fx)\n",
              nft_ms[1], nl_ms[1], nft_ms[1] / nl_ms[1]);
  if (verify) {
    Timer tv;
    const bool same = ns_nft->canonical_listing() == ns_nl->canonical_listing();
    std::printf("listings (nft -j, canonical) %s (%.0f ms to compare)\n",
                same ? "identical" : "DIFFER", tv.wall());
    if (!same) return 1;
  }

  // Reconcile of the live table: read back + diff + (empty) transaction.
  nft::KernelTable sync(backend);
  Timer tf;
  nft::Status s = sync.full(compiler.rules());
  const double reconcile_ms = tf.wall();
  std::printf("reconcile (read back %zu elements, diff, nothing to send): %.0f ms, %zu ops\n",
              element_count(rs), reconcile_ms, sync.stats().last_ops);
  if (!s.ok()) {
    std::fprintf(stderr, "reconcile failed: %s\n", s.message().c_str());
    return 1;
  }

  // The drift check when nobody committed since: one GETGEN round trip
  // instead of the read-back above (the agent's default between forced reads).
  {
    constexpr int kChecks = 1000;
    int unchanged = 0;
    Timer tg;
    for (int i = 0; i < kChecks; ++i) unchanged += sync.unchanged_since_sync() ? 1 : 0;
    const double us = tg.wall() * 1000.0 / kChecks;
    std::printf(
        "drift check, ruleset generation unchanged: %.1f us per check (%d of %d saw no commit); "
        "reconcile/check = %.0fx\n",
        us, unchanged, kChecks, reconcile_ms * 1000.0 / us);
    if (unchanged != kChecks) {
      std::fprintf(stderr, "the generation moved although nobody committed\n");
      return 1;
    }
  }

  // Incremental changes.
  std::mt19937 rng(1);
  Sample kinds[3], touched[3];  // every change / changes that sent at least one op
  const char* const kKinds[] = {"pod added", "labels changed", "policy changed"};
  for (size_t i = 0; i < changes; ++i) {
    Timer t;
    ir::Delta delta;
    const size_t kind = i % 3;
    switch (kind) {
      case 0: {
        k8s::Pod pod = make_pod(p, p.pods + i);
        // Every other new pod lands on this node (it gets chains if isolated).
        if (i % 2 == 0) pod.node_name = p.node;
        delta = compiler.upsert_pod(pod);
        break;
      }
      case 1: {
        // Every other relabelled pod is one of this node's (its chains change
        // with the policies that now select it), the others anywhere.
        const size_t stride = p.local_pods ? p.pods / p.local_pods : 1;
        const size_t j =
            (i / 3) % 2 == 0 && p.local_pods ? (rng() % p.local_pods) * stride : rng() % p.pods;
        delta = compiler.upsert_pod(make_pod(p, j, 1 + i));
        break;
      }
      default:
        delta = compiler.upsert_policy(make_policy(p, rng() % p.policies, 1 + i));
        break;
    }
    const double compile_ms = t.wall();
    std::optional<nft::Ruleset> mirror_before;
    if (std::getenv("NETPOL_BENCH_DEBUG")) mirror_before = sync.mirror();
    Timer tn;
    nft::Status us = sync.update(compiler.rules(), delta);
    const double apply_ms = tn.wall(), apply_cpu = tn.cpu();
    if (!us.ok()) {
      std::fprintf(stderr, "change %zu failed: %s\n", i, us.message().c_str());
      return 1;
    }
    if (apply_ms > 2.0) {
      const nft::BatchStats& bs = backend.last_batch();
      std::printf(
          "  slow change %zu (%s): %.2f ms (cpu %.2f), %zu ops, encode %.2f kernel %.2f acks "
          "%.2f\n",
          i, kKinds[kind], apply_ms, apply_cpu, sync.stats().last_ops, bs.encode_ms, bs.send_ms,
          bs.ack_ms);
    }
    if (apply_ms > 2.0 && mirror_before) {
      auto again = nft::plan(std::move(*mirror_before), compiler.rules(), delta);
      if (again.ok()) std::printf("%s", nft::to_script(again.value()).c_str());
    }
    kinds[kind].add(compile_ms, apply_ms, apply_cpu, sync.stats().last_ops);
    if (sync.stats().last_ops > 0) {
      touched[kind].add(compile_ms, apply_ms, apply_cpu, sync.stats().last_ops);
    }
  }
  std::printf(
      "incremental changes through KernelTable + netlink (plan + batch + ACKs; wall, and CPU of "
      "this thread incl. the kernel's work in sendmsg):\n");
  Sample all, all_touched;
  for (size_t k = 0; k < 3; ++k) {
    print_sample(kKinds[k], kinds[k]);
    print_sample((std::string(kKinds[k]) + " (>0 ops)").c_str(), touched[k]);
    all.merge(kinds[k]);
    all_touched.merge(touched[k]);
  }
  print_sample("all changes", all);
  print_sample("all changes (>0 ops)", all_touched);
  std::printf("sync stats: %zu incremental, %zu full, %zu failures\n", sync.stats().incremental,
              sync.stats().full_syncs, sync.stats().failures);
  if (verify) {
    auto back = backend.read(nft::TableFamily::Inet, nft::kTableName);
    const bool same =
        back.ok() && back.value() && *back.value() == nft::render(compiler.rules()).ruleset;
    std::printf("after the changes the kernel's table %s a full render\n",
                same ? "equals" : "DIFFERS FROM");
    if (!same) return 1;
  }
  std::printf("peak RSS %.0f MiB\n", peak_rss_mib());
  return 0;
}
