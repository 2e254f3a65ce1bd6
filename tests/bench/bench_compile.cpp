// Compiler benchmark (issue 2): full compile time, peak RSS and script size for
// a synthetic cluster, and the cost of one incremental change (pod label change,
// policy change, pod add/remove) against a full recompile measured in the same run.
//
//   netpol-bench-compile [--pods N] [--namespaces N] [--policies N]
//                        [--local-pods N] [--changes N] [--cnps N]
// --cnps N adds N ClusterNetworkPolicies of 25 rules each (both tiers, team
// subjects, namespace/pod peers in ingress, network peers in egress, ports;
// bench::make_cnp).
#include <cstdio>
#include <cstring>
#include <random>

#include "compiler/compiler.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/synthetic.h"

// The script policyc prints for `rs` ("" if the transaction is inconsistent).
static std::string script_of(const netpol::ir::RuleSet& rs) {
  auto tx = netpol::nft::Transaction::replace(netpol::nft::render(rs).ruleset);
  return tx.ok() ? netpol::nft::to_script(tx.value()) : std::string();
}

using namespace netpol;
using namespace netpol::bench;

namespace {

struct Stats {
  const char* what;
  std::vector<double> ms;
};

void print_stats(const Stats& s, double full_ms) {
  double p50 = percentile(s.ms, 50), p99 = percentile(s.ms, 99);
  std::printf("%-28s p50 %9.4f ms  p99 %9.4f ms  max %9.4f ms  (full/p50 = %.0fx)\n", s.what, p50,
              p99, percentile(s.ms, 100), p50 > 0 ? full_ms / p50 : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  size_t changes = 300, cnps = 0;
  for (int i = 1; i < argc; ++i) {
    if (parse_size_flag(i, argc, argv, "--cnps", cnps)) continue;
    if (parse_size_flag(i, argc, argv, "--pods", p.pods) ||
        parse_size_flag(i, argc, argv, "--namespaces", p.namespaces) ||
        parse_size_flag(i, argc, argv, "--policies", p.policies) ||
        parse_size_flag(i, argc, argv, "--local-pods", p.local_pods) ||
        parse_size_flag(i, argc, argv, "--changes", changes))
      continue;
    std::fprintf(stderr, "unknown flag %s\n", argv[i]);
    return 2;
  }
  std::printf("cluster: %zu pods, %zu namespaces, %zu policies, %zu local pods, %zu CNPs\n", p.pods,
              p.namespaces, p.policies, p.local_pods, cnps);
  std::printf("times: wall ms / thread-CPU ms\n");
  const double rss0 = rss_mib();
  Timer t;
  k8s::Objects objects = make_cluster(p);
  for (size_t i = 0; i < cnps; ++i) objects.cluster_policies.push_back(make_cnp(i));
  std::printf("generate input objects       %9.1f / %9.1f   input RSS %.1f MiB\n", t.wall(),
              t.cpu(), rss_mib() - rss0);

  // Baseline in the same run: a deep copy of the input snapshot, the floor any
  // compiler that keeps its own state must pay.
  t = Timer();
  {
    k8s::Objects copy = objects;
    if (copy.pods.size() != objects.pods.size()) return 1;
  }
  const double copy_cpu = t.cpu();
  std::printf("baseline: deep copy of input %9.1f / %9.1f\n", t.wall(), copy_cpu);

  // The compiler the incremental runs use, fed object by object, and its memory.
  const double rss_before = rss_mib();
  compiler::Compiler c(p.node);
  t = Timer();
  for (auto& ns : objects.namespaces) c.upsert_namespace(ns);
  for (auto& pod : objects.pods) c.upsert_pod(pod);
  for (auto& pol : objects.policies) c.upsert_policy(pol);
  for (auto& cnp : objects.cluster_policies) c.upsert_cluster_policy(cnp);
  std::printf("feed every object (upserts)  %9.1f / %9.1f\n", t.wall(), t.cpu());
  const double rss_compiler = rss_mib() - rss_before;

  t = Timer();
  ir::RuleSet full = compiler::compile(objects, p.node);
  const double full_wall = t.wall(), full_cpu = t.cpu();
  std::printf("full compile (compile())     %9.1f / %9.1f   = %.1fx the copy baseline (CPU)\n",
              full_wall, full_cpu, full_cpu / copy_cpu);

  t = Timer();
  std::string script = script_of(full);
  size_t elements = 0;
  for (auto& [name, set] : full.sets) elements += set.elements.size();
  std::printf(
      "render nft script            %9.1f / %9.1f   %zu bytes; %zu local pods, %zu IR sets, %zu "
      "elements\n",
      t.wall(), t.cpu(), script.size(), full.pods.size(), full.sets.size(), elements);
  std::printf("compiler state (RSS growth)  %9.1f MiB = %.0f bytes per cluster pod\n", rss_compiler,
              rss_compiler * 1048576.0 / static_cast<double>(p.pods));
  std::printf("peak RSS of the process      %9.1f MiB (input objects + 2 compilers + script)\n",
              peak_rss_mib());

  std::mt19937_64 rng(42);
  Stats label{"pod label change", {}}, local_label{"local pod label change", {}},
      policy{"policy change", {}}, add{"pod add", {}}, del{"pod delete", {}},
      cnp_change{"CNP change (--cnps)", {}};
  size_t next_pod = p.pods, delta_items = 0, cnp_sets = 0, cnp_elements = 0, cnp_pods = 0;
  auto timed = [](Stats& s, auto&& fn) {
    Timer tt;
    fn();
    s.ms.push_back(tt.cpu());
  };
  for (size_t gen = 1; gen <= changes; ++gen) {
    k8s::Pod pod = make_pod(p, rng() % p.pods, gen);
    timed(label, [&] { delta_items += c.upsert_pod(pod).pods.size(); });
    const size_t stride = p.local_pods ? p.pods / p.local_pods : 1;
    pod = make_pod(p, (rng() % std::max<size_t>(p.local_pods, 1)) * stride, gen);
    timed(local_label, [&] { delta_items += c.upsert_pod(pod).pods.size(); });
    k8s::NetworkPolicy pol = make_policy(p, rng() % p.policies, gen);
    timed(policy, [&] { delta_items += c.upsert_policy(pol).sets.size(); });
    k8s::Pod fresh = make_pod(p, next_pod++, gen);
    timed(add, [&] { c.upsert_pod(fresh); });
    timed(del, [&] { c.remove_pod(fresh.ns, fresh.name); });
    if (cnps > 0) {
      // Priority and every rule's action of one CNP (what netpol-bench-agent writes).
      k8s::ClusterNetworkPolicy changed = make_cnp(gen % cnps, gen);
      ir::Delta d;
      timed(cnp_change, [&] { d = c.upsert_cluster_policy(changed); });
      cnp_pods += d.pods.size();
      cnp_sets += d.sets.size();
      for (const auto& sd : d.sets) {
        cnp_elements +=
            sd.add.size() + sd.del.size() + (sd.created ? sd.created->elements.size() : 0);
      }
    }
  }
  std::printf(
      "incremental, %zu changes each, thread-CPU ms (baseline: full compile %.1f ms CPU):\n",
      changes, full_cpu);
  for (auto* s : {&label, &local_label, &policy, &add, &del}) print_stats(*s, full_cpu);
  if (cnps > 0) {
    print_stats(cnp_change, full_cpu);
    std::printf("(per CNP change: %.1f local pods, %.1f sets, %.0f set elements in the delta)\n",
                static_cast<double>(cnp_pods) / static_cast<double>(changes),
                static_cast<double>(cnp_sets) / static_cast<double>(changes),
                static_cast<double>(cnp_elements) / static_cast<double>(changes));
  }
  std::printf("(delta items seen: %zu)\n", delta_items);
  return 0;
}
