// Developer tool, not a test: times compile() on the synthetic cluster of
// tests/bench and prints the slowest incremental changes with what their
// deltas contained, to see which work dominates. Prints numbers, asserts none.
//
//   netpol_compiler_perf [pods] [namespaces] [policies] [local_pods] [changes]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "compiler/compiler.h"
#include "tests/bench/synthetic.h"

using namespace netpol;

namespace {

// Thread CPU time: the machine is shared, wall time would measure the neighbours.
double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

std::string describe(const ir::Delta& d) {
  size_t created = 0, created_elems = 0, removed = 0, add = 0, del = 0;
  for (const auto& s : d.sets) {
    if (s.created) {
      ++created;
      created_elems += s.created->elements.size();
    }
    removed += s.removed;
    add += s.add.size();
    del += s.del.size();
  }
  return std::to_string(d.pods.size()) + " pods, sets +" + std::to_string(created) + "(" +
         std::to_string(created_elems) + " elems) -" + std::to_string(removed) + ", elems +" +
         std::to_string(add) + " -" + std::to_string(del);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Params p;
  size_t changes = 200;
  if (argc > 1) p.pods = std::strtoul(argv[1], nullptr, 10);
  if (argc > 2) p.namespaces = std::strtoul(argv[2], nullptr, 10);
  if (argc > 3) p.policies = std::strtoul(argv[3], nullptr, 10);
  if (argc > 4) p.local_pods = std::strtoul(argv[4], nullptr, 10);
  if (argc > 5) changes = std::strtoul(argv[5], nullptr, 10);
  k8s::Objects o = bench::make_cluster(p);
  double t = now_ms();
  ir::RuleSet full = compiler::compile(o, p.node);
  std::printf("compile (CPU): %.1f ms, %zu pods, %zu sets\n", now_ms() - t, full.pods.size(),
              full.sets.size());
  t = now_ms();
  { ir::RuleSet gone = std::move(full); }
  std::printf("freeing the RuleSet: %.1f ms\n", now_ms() - t);

  if (changes == 0) return 0;
  compiler::Compiler c(p.node);
  for (auto& ns : o.namespaces) c.upsert_namespace(ns);
  for (auto& pol : o.policies) c.upsert_policy(pol);
  for (auto& pod : o.pods) c.upsert_pod(pod);
  std::mt19937_64 rng(42);
  const size_t stride = p.local_pods ? p.pods / p.local_pods : 1;
  for (size_t gen = 1; gen <= changes; ++gen) {
    size_t li = (rng() % std::max<size_t>(p.local_pods, 1)) * stride;
    k8s::Pod pod = bench::make_pod(p, li, gen);
    t = now_ms();
    ir::Delta d = c.upsert_pod(pod);
    double ms = now_ms() - t;
    if (ms > 1.0) std::printf("local label change %.2f ms: %s\n", ms, describe(d).c_str());
    k8s::NetworkPolicy pol = bench::make_policy(p, rng() % p.policies, gen);
    t = now_ms();
    d = c.upsert_policy(pol);
    ms = now_ms() - t;
    if (ms > 1.0) std::printf("policy change %.2f ms: %s\n", ms, describe(d).c_str());
  }
  return 0;
}
