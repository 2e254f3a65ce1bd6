// Property tests of the incremental compiler: long random sequences (fixed
// seeds) of namespace, pod and policy upserts and removes over a small
// cluster, so selectors hit and miss, IPs are reused, pods change phase and
// node, and policies change shape. After every step, on two nodes:
//   rules() == compile(current snapshot)          (incremental == full)
//   apply(previous rules, delta) == rules()       (the delta is complete)
//   delta == diff(previous rules, rules())        (and canonical)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <variant>

#include "compiler/compiler.h"
#include "tests/unit/compiler/flow_cases.h"

namespace netpol::ctest {
namespace {

using Op = Requirement::Op;

struct UpsertNs {
  k8s::Namespace ns;
};
struct RemoveNs {
  std::string name;
};
struct UpsertPod {
  k8s::Pod pod;
};
struct RemovePod {
  std::string ns, name;
};
struct UpsertPolicy {
  NetworkPolicy policy;
};
struct RemovePolicy {
  std::string ns, name;
};
struct UpsertCnp {
  k8s::ClusterNetworkPolicy cnp;
};
struct RemoveCnp {
  std::string name;
};
struct UpsertNode {
  k8s::Node node;
};
struct RemoveNode {
  std::string name;
};
using Change = std::variant<UpsertNs, RemoveNs, UpsertPod, RemovePod, UpsertPolicy, RemovePolicy,
                            UpsertCnp, RemoveCnp, UpsertNode, RemoveNode>;

std::string describe(const Change& c) {
  struct {
    std::string operator()(const UpsertNs& x) const { return "upsert namespace " + x.ns.name; }
    std::string operator()(const RemoveNs& x) const { return "remove namespace " + x.name; }
    std::string operator()(const UpsertPod& x) const {
      std::string ips;
      for (const auto& a : x.pod.ips) ips += " " + a.str();
      return "upsert pod " + x.pod.key() + " on " + x.pod.node_name + " phase " +
             k8s::to_string(x.pod.phase) + (x.pod.host_network ? " hostNetwork" : "") + ips;
    }
    std::string operator()(const RemovePod& x) const { return "remove pod " + x.ns + "/" + x.name; }
    std::string operator()(const UpsertPolicy& x) const {
      return "upsert policy " + x.policy.key();
    }
    std::string operator()(const RemovePolicy& x) const {
      return "remove policy " + x.ns + "/" + x.name;
    }
    std::string operator()(const UpsertCnp& x) const { return "upsert cnp " + x.cnp.name; }
    std::string operator()(const RemoveCnp& x) const { return "remove cnp " + x.name; }
    std::string operator()(const UpsertNode& x) const { return "upsert node " + x.node.name; }
    std::string operator()(const RemoveNode& x) const { return "remove node " + x.name; }
  } v;
  return std::visit(v, c);
}

// The cluster as the test believes it is; the source of compile()'s input.
struct World {
  std::map<std::string, k8s::Namespace> namespaces;
  std::map<std::string, k8s::Pod> pods;
  std::map<std::string, NetworkPolicy> policies;
  std::map<std::string, k8s::ClusterNetworkPolicy> cnps;
  std::map<std::string, k8s::Node> nodes;

  void apply(const Change& c) {
    struct {
      World& w;
      void operator()(const UpsertNs& x) { w.namespaces[x.ns.name] = x.ns; }
      void operator()(const RemoveNs& x) { w.namespaces.erase(x.name); }
      void operator()(const UpsertPod& x) { w.pods[x.pod.key()] = x.pod; }
      void operator()(const RemovePod& x) { w.pods.erase(x.ns + "/" + x.name); }
      void operator()(const UpsertPolicy& x) { w.policies[x.policy.key()] = x.policy; }
      void operator()(const RemovePolicy& x) { w.policies.erase(x.ns + "/" + x.name); }
      void operator()(const UpsertCnp& x) { w.cnps[x.cnp.name] = x.cnp; }
      void operator()(const RemoveCnp& x) { w.cnps.erase(x.name); }
      void operator()(const UpsertNode& x) { w.nodes[x.node.name] = x.node; }
      void operator()(const RemoveNode& x) { w.nodes.erase(x.name); }
    } v{*this};
    std::visit(v, c);
  }

  k8s::Objects objects() const {
    k8s::Objects o;
    for (const auto& [k, v] : namespaces) o.namespaces.push_back(v);
    for (const auto& [k, v] : pods) o.pods.push_back(v);
    for (const auto& [k, v] : policies) o.policies.push_back(v);
    for (const auto& [k, v] : cnps) o.cluster_policies.push_back(v);
    for (const auto& [k, v] : nodes) o.nodes.push_back(v);
    return o;
  }
};

ir::Delta apply_change(compiler::Compiler& c, const Change& ch) {
  struct {
    compiler::Compiler& c;
    ir::Delta operator()(const UpsertNs& x) { return c.upsert_namespace(x.ns); }
    ir::Delta operator()(const RemoveNs& x) { return c.remove_namespace(x.name); }
    ir::Delta operator()(const UpsertPod& x) { return c.upsert_pod(x.pod); }
    ir::Delta operator()(const RemovePod& x) { return c.remove_pod(x.ns, x.name); }
    ir::Delta operator()(const UpsertPolicy& x) { return c.upsert_policy(x.policy); }
    ir::Delta operator()(const RemovePolicy& x) { return c.remove_policy(x.ns, x.name); }
    ir::Delta operator()(const UpsertCnp& x) { return c.upsert_cluster_policy(x.cnp); }
    ir::Delta operator()(const RemoveCnp& x) { return c.remove_cluster_policy(x.name); }
    ir::Delta operator()(const UpsertNode& x) { return c.upsert_node(x.node); }
    ir::Delta operator()(const RemoveNode& x) { return c.remove_node(x.name); }
  } v{c};
  return std::visit(v, ch);
}

// Random objects from small pools, so that most selectors select something
// and most changes touch something.
class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  Change next(const World& w) {
    int r = pick(120);
    if (r >= 100) return next_cluster(w, r - 100);
    if (r < 8) return UpsertNs{make_ns()};
    if (r < 11) return RemoveNs{oneof(kNamespaces)};
    if (r < 30) return UpsertPod{make_pod()};
    if (r < 55 && !w.pods.empty()) return UpsertPod{mutate_pod(w)};
    if (r < 63 && !w.pods.empty()) {
      const k8s::Pod& p = any_of(w.pods);
      return RemovePod{p.ns, p.name};
    }
    if (r < 80) return UpsertPolicy{make_policy()};
    if (r < 90 && !w.policies.empty()) return UpsertPolicy{mutate_policy(w)};
    if (!w.policies.empty()) {
      const NetworkPolicy& p = any_of(w.policies);
      return RemovePolicy{p.ns, p.name};
    }
    return UpsertPod{make_pod()};
  }

 private:
  inline static const std::vector<std::string> kNamespaces = {"n0", "n1", "n2", "n3"};
  inline static const std::vector<std::string> kNodes = {"node-1", "node-1", "node-2", "node-3"};
  inline static const std::vector<std::string> kKeys = {"app", "tier", "team"};
  inline static const std::vector<std::string> kValues = {"a", "b", "c"};
  inline static const std::vector<std::string> kNsKeys = {"team", "env"};
  inline static const std::vector<std::string> kPortNames = {"http", "dns", "metrics"};

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }
  template <typename T>
  const T& oneof(const std::vector<T>& v) {
    return v[static_cast<size_t>(pick(static_cast<int>(v.size())))];
  }
  template <typename M>
  const typename M::mapped_type& any_of(const M& m) {
    auto it = m.begin();
    std::advance(it, pick(static_cast<int>(m.size())));
    return it->second;
  }

  Labels labels(const std::vector<std::string>& keys, int max) {
    Labels l;
    int n = pick(max + 1);
    for (int i = 0; i < n; ++i) l[oneof(keys)] = oneof(kValues);
    return l;
  }

  LabelSelector selector(const std::vector<std::string>& keys) {
    if (chance(25)) return sel();
    Labels ml;
    std::vector<Requirement> ex;
    int n = 1 + pick(2);
    for (int i = 0; i < n; ++i) {
      const std::string& k = oneof(keys);
      if (chance(50)) {
        ml[k] = oneof(kValues);
        continue;
      }
      auto op = static_cast<Op>(pick(4));
      std::vector<std::string> values;
      if (op == Op::In || op == Op::NotIn) values = {oneof(kValues), oneof(kValues)};
      ex.push_back(req(k, op, values));
    }
    return sel(ml, ex);
  }

  std::vector<std::string> ips() {
    std::vector<std::string> out;
    int n = pick(10) < 2 ? 0 : 1 + pick(2);
    for (int i = 0; i < n; ++i) {
      // Small pools: addresses get reused by other pods all the time.
      if (chance(75)) {
        out.push_back("10.1.0." + std::to_string(1 + pick(14)));
      } else {
        out.push_back("fd00::" + std::to_string(1 + pick(6)));
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::vector<k8s::ContainerPort> ports() {
    std::vector<k8s::ContainerPort> out;
    int n = pick(4);
    for (int i = 0; i < n; ++i) {
      std::string name = chance(70) ? oneof(kPortNames) : "";
      bool dup = false;
      for (const auto& p : out) dup = dup || (!name.empty() && p.name == name);
      if (dup) continue;
      auto number = static_cast<uint16_t>(oneof(std::vector<int>{53, 80, 81, 8080}));
      auto proto = chance(70) ? Protocol::TCP : chance(50) ? Protocol::UDP : Protocol::SCTP;
      out.push_back({name, number, proto});
    }
    return out;
  }

  k8s::PodPhase phase() {
    int r = pick(10);
    if (r < 6) return k8s::PodPhase::Running;
    if (r < 8) return k8s::PodPhase::Pending;
    return r < 9 ? k8s::PodPhase::Succeeded : k8s::PodPhase::Failed;
  }

  k8s::Namespace make_ns() { return ns(oneof(kNamespaces), labels(kNsKeys, 2)); }

  k8s::Pod make_pod() {
    k8s::Pod p = pod(oneof(kNamespaces), "p" + std::to_string(pick(6)), oneof(kNodes), ips(),
                     labels(kKeys, 3), ports(), phase());
    p.host_network = chance(5);
    return p;
  }

  // Small edits of an existing pod: the common cases of a real cluster.
  k8s::Pod mutate_pod(const World& w) {
    k8s::Pod p = any_of(w.pods);
    switch (pick(7)) {
      case 0:
      case 1:
        if (!p.labels.empty() && chance(40)) {
          p.labels.erase(p.labels.begin());
        } else {
          p.labels[oneof(kKeys)] = oneof(kValues);
        }
        break;
      case 2:
        p.phase = phase();
        break;
      case 3: {
        // Take over another pod's address.
        const k8s::Pod& other = any_of(w.pods);
        p.ips = other.ips;
        break;
      }
      case 4:
        p.ips.clear();
        for (const auto& a : ips()) p.ips.push_back(ip(a));
        break;
      case 5:
        p.ports = ports();
        break;
      default:
        p.node_name = oneof(kNodes);
        break;
    }
    return p;
  }

  Peer peer() {
    switch (pick(4)) {
      case 0: {
        std::vector<std::string_view> except;
        std::string_view c = oneof(std::vector<std::string_view>{
            "10.1.0.0/28", "10.1.0.0/29", "10.0.0.0/8", "fd00::/120", "10.1.0.8/29"});
        if (c == "10.1.0.0/28" && chance(50)) except.push_back("10.1.0.4/30");
        if (c == "10.0.0.0/8" && chance(50)) except = {"10.1.0.0/29", "10.1.0.12/32"};
        if (c == "fd00::/120" && chance(50)) except.push_back("fd00::4/126");
        return block(c, except);
      }
      case 1:
        return pods(selector(kKeys));
      case 2:
        return nss(selector(kNsKeys));
      default:
        return nss_pods(selector(kNsKeys), selector(kKeys));
    }
  }

  PolicyPort policy_port() {
    Protocol proto = chance(70) ? Protocol::TCP : chance(50) ? Protocol::UDP : Protocol::SCTP;
    int r = pick(8);
    if (r < 2) return every_port(proto);
    if (r < 4) return named(oneof(kPortNames), proto);
    auto first = static_cast<uint16_t>(oneof(std::vector<int>{53, 80, 81, 82, 8080}));
    if (chance(30)) return port_range(first, static_cast<uint16_t>(first + pick(3)), proto);
    return port(first, proto);
  }

  PolicyRule rule() {
    PolicyRule r;
    int np = pick(3);
    for (int i = 0; i < np; ++i) r.ports.push_back(policy_port());
    int nq = pick(3);
    for (int i = 0; i < nq; ++i) r.peers.push_back(peer());
    return r;
  }

  std::vector<PolicyRule> rules() {
    std::vector<PolicyRule> out;
    int n = pick(3);
    for (int i = 0; i < n; ++i) out.push_back(rule());
    return out;
  }

  NetworkPolicy make_policy() {
    bool in = chance(80), out = chance(50);
    return policy(oneof(kNamespaces), "q" + std::to_string(pick(5)), selector(kKeys), rules(), in,
                  out ? rules() : std::vector<PolicyRule>{}, out);
  }

  NetworkPolicy mutate_policy(const World& w) {
    NetworkPolicy p = any_of(w.policies);
    switch (pick(4)) {
      case 0:
        p.pod_selector = selector(kKeys);
        break;
      case 1:
        p.ingress.push_back(rule());
        break;
      case 2:
        if (!p.ingress.empty()) p.ingress.erase(p.ingress.begin());
        p.affects_egress = !p.affects_egress;
        break;
      default:
        p.egress = rules();
        break;
    }
    return p;
  }

  // ClusterNetworkPolicies and Nodes (r in [0, 20)).
  Change next_cluster(const World& w, int r) {
    if (r < 3) return UpsertNode{make_node()};
    if (r < 4 && !w.nodes.empty()) return RemoveNode{any_of(w.nodes).name};
    if (r < 12) return UpsertCnp{make_cnp()};
    if (r < 17 && !w.cnps.empty()) return UpsertCnp{mutate_cnp(w)};
    if (!w.cnps.empty()) return RemoveCnp{any_of(w.cnps).name};
    return UpsertCnp{make_cnp()};
  }

  k8s::Node make_node() {
    std::vector<std::string> addrs;
    int n = pick(3);
    for (int i = 0; i < n; ++i)
      addrs.push_back(chance(70) ? "10.1.0." + std::to_string(1 + pick(14))
                                 : "fd00::" + std::to_string(1 + pick(6)));
    std::sort(addrs.begin(), addrs.end());
    addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
    return node("node-" + std::to_string(1 + pick(3)), labels(kKeys, 2), addrs);
  }

  k8s::CnpPeer cnp_peer(bool egress) {
    int r = pick(egress ? 9 : 6);
    if (r < 2) return cnp_nss(selector(kNsKeys));
    if (r < 5) return cnp_pods(selector(kNsKeys), selector(kKeys));
    if (r < 6) return cnp_unknown();
    if (r < 8) {
      std::vector<std::string_view> nets;
      for (int i = 0; i <= pick(2); ++i)
        nets.push_back(oneof(std::vector<std::string_view>{"10.1.0.0/28", "10.1.0.0/29",
                                                           "10.0.0.0/8", "fd00::/120"}));
      return cnp_nets(nets);
    }
    return cnp_nodes(selector(kKeys));
  }

  k8s::CnpRule cnp_rule_gen(bool egress) {
    k8s::CnpRule r;
    r.name = "r" + std::to_string(pick(4));
    r.action = static_cast<CnpAction>(pick(3));
    for (int i = 0; i <= pick(2); ++i) r.peers.push_back(cnp_peer(egress));
    for (int i = 0; i < pick(3); ++i) {
      Protocol proto = chance(70) ? Protocol::TCP : chance(50) ? Protocol::UDP : Protocol::SCTP;
      int k = pick(4);
      auto first = static_cast<uint16_t>(oneof(std::vector<int>{53, 80, 81, 8080}));
      if (k == 0) {
        r.ports.push_back(cnp_named(oneof(kPortNames)));
      } else if (k == 1) {
        r.ports.push_back(cnp_range(first, static_cast<uint16_t>(first + 1 + pick(3)), proto));
      } else {
        r.ports.push_back(cnp_port(first, proto));
      }
    }
    return r;
  }

  std::vector<k8s::CnpRule> cnp_rules(bool egress) {
    std::vector<k8s::CnpRule> out;
    for (int i = 0; i < pick(3); ++i) out.push_back(cnp_rule_gen(egress));
    return out;
  }

  k8s::CnpSubject cnp_subject() {
    return chance(40) ? subject_ns(selector(kNsKeys))
                      : subject_pods(selector(kNsKeys), selector(kKeys));
  }

  k8s::ClusterNetworkPolicy make_cnp() {
    return cnp("c" + std::to_string(pick(4)), chance(60) ? CnpTier::Admin : CnpTier::Baseline,
               pick(3) * 10, cnp_subject(), cnp_rules(false), cnp_rules(true));
  }

  k8s::ClusterNetworkPolicy mutate_cnp(const World& w) {
    k8s::ClusterNetworkPolicy c = any_of(w.cnps);
    switch (pick(5)) {
      case 0:
        c.subject = cnp_subject();
        break;
      case 1:
        c.priority = pick(3) * 10;
        break;
      case 2:
        c.tier = c.tier == CnpTier::Admin ? CnpTier::Baseline : CnpTier::Admin;
        break;
      case 3:
        if (c.ingress.size() > 1) std::swap(c.ingress.front(), c.ingress.back());
        c.egress.push_back(cnp_rule_gen(true));
        break;
      default:
        c.ingress = cnp_rules(false);
        break;
    }
    return c;
  }

  std::mt19937 rng_;
};

std::string summary(const ir::RuleSet& rs) {
  return ir::to_json(rs);
}

void run_sequence(uint32_t seed, int steps) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  Gen gen(seed);
  World world;
  const std::vector<std::string> nodes = {"node-1", "node-2"};
  std::vector<std::unique_ptr<compiler::Compiler>> cs;
  for (const auto& n : nodes) cs.push_back(std::make_unique<compiler::Compiler>(n));
  size_t nonempty = 0, tiered = 0, node_sets = 0;
  for (int step = 0; step < steps; ++step) {
    Change ch = gen.next(world);
    world.apply(ch);
    k8s::Objects snapshot = world.objects();
    for (size_t i = 0; i < nodes.size(); ++i) {
      ir::RuleSet before = cs[i]->rules();
      ir::Delta delta = apply_change(*cs[i], ch);
      const ir::RuleSet& now = cs[i]->rules();
      ir::RuleSet full = compiler::compile(snapshot, nodes[i]);
      std::string where = "step " + std::to_string(step) + " (" + describe(ch) + ") on " + nodes[i];
      ASSERT_EQ(summary(now), summary(full)) << where << ": incremental != full compile";
      ASSERT_TRUE(now == full) << where;
      ASSERT_EQ(now.warnings, full.warnings) << where;
      ASSERT_TRUE(delta == ir::diff(before, now)) << where << ": delta is not diff(before, after)";
      ir::RuleSet applied = before;
      ir::patch(applied, delta);
      ASSERT_TRUE(applied == now) << where << ": apply(before, delta) != after";
      nonempty += delta.empty() ? 0 : 1;
      for (const auto& [_, p] : now.pods)
        tiered += (p.admin_ingress || p.admin_egress || p.baseline_ingress || p.baseline_egress);
      for (const auto& [_, set] : now.sets) node_sets += set.kind == ir::SetKind::Nodes;
    }
  }
  EXPECT_GT(tiered, static_cast<size_t>(steps) / 4) << "CNPs hardly select a local pod";
  EXPECT_GT(node_sets, 0u) << "no nodes peer was ever materialized";
  // A generator that never changes the IR would make the checks above vacuous.
  EXPECT_GT(nonempty, static_cast<size_t>(steps) / 4);
}

// Steps per seed: `n`, times NETPOL_PROPERTY_SCALE when set to a number in
// (0, 1]. scripts/test.sh sets it for the AddressSanitizer run only, whose
// point is memory and UB errors on the same code paths (3000 steps there
// took ~40 s per seed); the main ctest run always takes the full histories.
int steps(int n) {
  if (const char* s = std::getenv("NETPOL_PROPERTY_SCALE")) {
    const double f = std::atof(s);
    if (f > 0 && f <= 1) return std::max(1, static_cast<int>(n * f));
  }
  return n;
}

TEST(Property, IncrementalMatchesFullCompileSeed1) {
  run_sequence(1, steps(3000));
}
TEST(Property, IncrementalMatchesFullCompileSeed2) {
  run_sequence(2, steps(3000));
}
TEST(Property, IncrementalMatchesFullCompileSeed3) {
  run_sequence(3, steps(3000));
}
TEST(Property, IncrementalMatchesFullCompileSeed4) {
  run_sequence(4, steps(3000));
}
TEST(Property, IncrementalMatchesFullCompileSeed5) {
  run_sequence(1234567, steps(3000));
}

TEST(Property, FullCompileIgnoresInputOrder) {
  size_t local_pods = 0;
  for (uint32_t seed = 10; seed < 20; ++seed) {
    Gen gen(seed);
    World world;
    for (int i = 0; i < 200; ++i) world.apply(gen.next(world));
    k8s::Objects o = world.objects();
    k8s::Objects shuffled = o;
    std::mt19937 rng(seed);
    std::shuffle(shuffled.namespaces.begin(), shuffled.namespaces.end(), rng);
    std::shuffle(shuffled.pods.begin(), shuffled.pods.end(), rng);
    std::shuffle(shuffled.policies.begin(), shuffled.policies.end(), rng);
    std::shuffle(shuffled.cluster_policies.begin(), shuffled.cluster_policies.end(), rng);
    std::shuffle(shuffled.nodes.begin(), shuffled.nodes.end(), rng);
    for (const std::string node : {"node-1", "node-2"}) {
      ir::RuleSet a = compiler::compile(o, node);
      EXPECT_EQ(ir::to_json(a), ir::to_json(compiler::compile(shuffled, node)))
          << "seed " << seed << " " << node;
      local_pods += a.pods.size();
    }
  }
  EXPECT_GT(local_pods, 20u) << "the generator hardly builds any local pod";
}

}  // namespace
}  // namespace netpol::ctest
