// Compiler benchmark (issue 2): full compile time, peak RSS and script size for
// a synthetic cluster, and the cost of one incremental change (pod label change,
// policy change, pod add/remove) against a full recompile measured in the same run.
//
//   netpol-bench-compile [--pods N] [--namespaces N] [--policies N]
//                        [--local-pods N] [--changes N]
#include <cstdio>
#include <cstring>
#include <random>

#include "compiler/compiler.h"
#include "nft/render.h"
#include "nft/script.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/synthetic.h"

using namespace netpol;
using namespace netpol::bench;

namespace {

struct Stats {
  const char* what;
  std::vector<double> ms;
};

void print_stats(const Stats& s, double full_ms) {
  double p50 = percentile(s.ms, 50), p99 = percentile(s.ms, 99);
  std::printf("%-28s p50 %9.4f ms  p99 %9.4f ms  max %9.4f ms  (full/p50 = %.0fx)\n", s.what,
              p50, p99, percentile(s.ms, 100), p50 > 0 ? full_ms / p50 : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  size_t changes = 300;
  for (int i = 1; i < argc; ++i) {
    if (parse_size_flag(i, argc, argv, "--pods", p.pods) ||
        parse_size_flag(i, argc, argv, "--namespaces", p.namespaces) ||
        parse_size_flag(i, argc, argv, "--policies", p.policies) ||
        parse_size_flag(i, argc, argv, "--local-pods", p.local_pods) ||
        parse_size_flag(i, argc, argv, "--changes", changes))
      continue;
    std::fprintf(stderr, "unknown flag %s\n", argv[i]);
    return 2;
  }
  std::printf("cluster: %zu pods, %zu namespaces, %zu policies, %zu local pods\n", p.pods,
              p.namespaces, p.policies, p.local_pods);
  const double rss0 = rss_mib();
  double t = now_ms();
  k8s::Objects objects = make_cluster(p);
  std::printf("generate input objects     %9.1f ms   RSS %.1f MiB (input alone: %.1f MiB)\n",
              now_ms() - t, rss_mib(), rss_mib() - rss0);

  // Baseline in the same run: a deep copy of the input snapshot, the floor any
  // compiler that keeps its own state must pay.
  t = now_ms();
  {
    k8s::Objects copy = objects;
    if (copy.pods.size() != objects.pods.size()) return 1;
  }
  const double copy_ms = now_ms() - t;

  const double rss_before = rss_mib();
  compiler::Compiler c(p.node);
  t = now_ms();
  for (auto& ns : objects.namespaces) c.upsert_namespace(ns);
  for (auto& pod : objects.pods) c.upsert_pod(pod);
  for (auto& pol : objects.policies) c.upsert_policy(pol);
  const double feed_ms = now_ms() - t;
  const double rss_compiler = rss_mib() - rss_before;

  t = now_ms();
  ir::RuleSet full = compiler::compile(objects, p.node);
  const double full_ms = now_ms() - t;

  t = now_ms();
  std::string script = nft::render_script(full);
  const double render_ms = now_ms() - t;

  size_t elements = 0;
  for (auto& [name, set] : full.sets) elements += set.elements.size();
  std::printf("baseline: deep copy input  %9.1f ms\n", copy_ms);
  std::printf("full compile (compile())   %9.1f ms   = %.1fx the copy baseline\n", full_ms,
              full_ms / copy_ms);
  std::printf("full compile (incremental feed of every object) %9.1f ms\n", feed_ms);
  std::printf("render nft script          %9.1f ms   %zu bytes, %zu local pods, %zu sets, %zu elements\n",
              render_ms, script.size(), full.pods.size(), full.sets.size(), elements);
  std::printf("compiler state RSS         %9.1f MiB  = %.0f bytes per cluster pod\n", rss_compiler,
              rss_compiler * 1048576.0 / static_cast<double>(p.pods));
  std::printf("peak RSS of the process    %9.1f MiB (includes the input objects and a 2nd compile)\n",
              peak_rss_mib());

  std::mt19937_64 rng(42);
  Stats label{"pod label change", {}}, local_label{"local pod label change", {}},
      policy{"policy change", {}}, add{"pod add", {}}, del{"pod delete", {}};
  size_t next_pod = p.pods, delta_items = 0;
  for (size_t gen = 1; gen <= changes; ++gen) {
    size_t i = rng() % p.pods;
    k8s::Pod pod = make_pod(p, i, gen);
    t = now_ms();
    delta_items += c.upsert_pod(pod).pods.size();
    label.ms.push_back(now_ms() - t);

    const size_t stride = p.local_pods ? p.pods / p.local_pods : 1;
    size_t li = (rng() % std::max<size_t>(p.local_pods, 1)) * stride;
    pod = make_pod(p, li, gen);
    t = now_ms();
    delta_items += c.upsert_pod(pod).pods.size();
    local_label.ms.push_back(now_ms() - t);

    k8s::NetworkPolicy pol = make_policy(p, rng() % p.policies, gen);
    t = now_ms();
    delta_items += c.upsert_policy(pol).sets.size();
    policy.ms.push_back(now_ms() - t);

    k8s::Pod fresh = make_pod(p, next_pod++, gen);
    t = now_ms();
    c.upsert_pod(fresh);
    add.ms.push_back(now_ms() - t);
    t = now_ms();
    c.remove_pod(fresh.ns, fresh.name);
    del.ms.push_back(now_ms() - t);
  }
  std::printf("incremental, %zu changes each (baseline: one full compile = %.1f ms):\n", changes,
              full_ms);
  for (auto* s : {&label, &local_label, &policy, &add, &del}) print_stats(*s, full_ms);
  std::printf("(delta items seen: %zu)\n", delta_items);
  return 0;
}
