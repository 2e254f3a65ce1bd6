// policyc matrix and diff: every cell equals what explain answers for that
// pair (explain is the oracle the lab checks against real probes), over
// every golden input and over corner cases made to split identities (pods
// sharing an address, IPv6-only pods, named ports on the destination, the
// same chain on two nodes).
#include "compiler/policyc/matrix.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "k8s/decode.h"

namespace netpol::policyc {
namespace {

k8s::Objects load(const std::string& path) {
  k8s::DecodeResult d = k8s::load_manifests({path});
  k8s::complete_snapshot(d);
  EXPECT_TRUE(d.ok()) << path;
  return std::move(d.objects);
}

k8s::Objects decode(const std::string& yaml) {
  k8s::DecodeResult d = k8s::decode_manifests(yaml, "test.yaml");
  k8s::complete_snapshot(d);
  EXPECT_TRUE(d.ok()) << (d.errors.empty() ? "" : d.errors[0].str());
  return std::move(d.objects);
}

// Every cell of the matrix over `objects` against explain; the number of cells.
size_t expect_equal_to_explain(k8s::Objects objects, const std::string& what) {
  Explainer ex(std::move(objects));
  auto pods = matrix_pods(ex.objects());
  auto probes = declared_probes(pods);
  probes.push_back(Probe{9999, k8s::Protocol::SCTP});
  size_t cells = 0;
  for (std::optional<Family> family : {std::optional<Family>{}, std::optional<Family>{Family::V4},
                                       std::optional<Family>{Family::V6}}) {
    Matrix m(ex, pods, probes, family);
    for (size_t k = 0; k < probes.size(); ++k) {
      for (size_t i = 0; i < pods.size(); ++i) {
        for (size_t j = 0; j < pods.size(); ++j) {
          if (i == j) continue;
          Query q{pods[i]->key(), pods[j]->key(), probes[k].port, probes[k].protocol, family};
          auto e = ex.explain(q);
          const Cell c = m.cell(k, i, j);
          ++cells;
          if (!e.ok()) {
            EXPECT_TRUE(c.no_family)
                << what << " " << q.from << " -> " << q.to << ": " << e.message();
            EXPECT_FALSE(c.allowed);
            continue;
          }
          EXPECT_EQ(c.allowed, e.value().allowed)
              << what << " " << probes[k].key() << " " << q.from << " -> " << q.to
              << ": explain says\n"
              << e.value().lines[1] << "\n"
              << e.value().lines[2] << "\nmatrix: " << one_line(m, k, i, j);
          EXPECT_EQ(one_line(m, k, i, j).rfind(e.value().allowed ? "allowed: " : "denied: ", 0),
                    0u);
        }
      }
    }
  }
  return cells;
}

TEST(PolicycMatrix, EqualsExplainOnEveryGoldenInput) {
  size_t cases = 0, cells = 0;
  for (const auto& dir : std::filesystem::directory_iterator(NETPOL_SOURCE_DIR "/tests/golden")) {
    const auto input = dir.path() / "input.yaml";
    if (!std::filesystem::exists(input) || !std::filesystem::exists(dir.path() / "expected.nft"))
      continue;
    cells += expect_equal_to_explain(load(input.string()), dir.path().filename().string());
    ++cases;
  }
  EXPECT_GE(cases, 15u);
  EXPECT_GT(cells, 100u);
}

constexpr const char* kCorners = R"(
{apiVersion: v1, kind: Pod, metadata: {namespace: a, name: p1, labels: {app: web}},
 spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}, status: {phase: Running, podIPs: [{ip: 10.0.1.1}, {ip: "fd00::1"}]}}
---
{apiVersion: v1, kind: Pod, metadata: {namespace: a, name: p2, labels: {app: web}},
 spec: {nodeName: n2, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}, status: {phase: Running, podIPs: [{ip: 10.0.2.1}]}}
---
{apiVersion: v1, kind: Pod, metadata: {namespace: a, name: p3, labels: {app: db}},
 spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 81}]}]}, status: {phase: Running, podIPs: [{ip: "fd00::3"}]}}
---
{apiVersion: v1, kind: Pod, metadata: {namespace: b, name: q1, labels: {app: web}},
 spec: {nodeName: n1}, status: {phase: Running, podIPs: [{ip: 10.0.1.9}]}}
---
{apiVersion: v1, kind: Pod, metadata: {namespace: b, name: q2, labels: {app: other}},
 spec: {nodeName: n1}, status: {phase: Running, podIPs: [{ip: 10.0.1.9}]}}
---
{apiVersion: v1, kind: Pod, metadata: {namespace: b, name: q3, labels: {app: web}},
 spec: {nodeName: n2}, status: {phase: Running, podIPs: [{ip: 10.0.2.7}, {ip: "fd00::7"}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: a, name: web-egress-http}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - ports: [{port: http}]
    - to: [{ipBlock: {cidr: 10.0.2.0/24, except: [10.0.2.1/32]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: b, name: from-web}
spec:
  podSelector: {}
  ingress:
    - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 80}, {port: 8080, endPort: 8090}]
)";

TEST(PolicycMatrix, EqualsExplainOnIdentityCorners) {
  EXPECT_EQ(expect_equal_to_explain(decode(kCorners), "corners"), 3u * 6u * 5u * 4u);
}

TEST(PolicycMatrix, OneEvaluationServesPodsNoRuleTellsApart) {
  // 40 pods in one namespace, one default deny, labels all alike: a handful
  // of evaluations, not 40 * 39.
  std::string yaml =
      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: a, name: "
      "deny}\n"
      "spec: {podSelector: {}}\n";
  for (int i = 0; i < 40; ++i) {
    yaml +=
        "---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: " + std::string(i < 20 ? "a" : "b") +
        ", name: p" + std::to_string(i) + "}\nspec: {nodeName: n" + std::to_string(i % 2) +
        "}\nstatus: {phase: Running, podIP: 10.0.0." + std::to_string(i + 1) + "}\n";
  }
  Explainer ex(decode(yaml));
  Matrix m(ex, matrix_pods(ex.objects()), {Probe{80, k8s::Protocol::TCP}});
  EXPECT_LE(m.evaluations(), 8u);
  EXPECT_FALSE(m.cell(0, 25, 3).allowed);  // b/p.. -> a/p..: a is isolated
  EXPECT_TRUE(m.cell(0, 3, 25).allowed);
}

TEST(PolicycDiff, ListsExactlyTheFlippedCellsWithTheResponsiblePolicy) {
  const std::string pods =
      "apiVersion: v1\nkind: Pod\nmetadata: {namespace: a, name: x, labels: {app: x}}\n"
      "spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 10.0.0.1}\n---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {namespace: a, name: y, labels: {app: y}}\n"
      "spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 10.0.0.2}\n";
  Explainer before(decode(pods));
  Explainer after(decode(
      pods +
      "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
      "metadata: {namespace: a, name: only-x}\nspec:\n  podSelector: {matchLabels: {app: y}}\n"
      "  ingress: [{from: [{podSelector: {matchLabels: {app: nobody}}}]}]\n"));
  std::vector<Probe> probes = {Probe{80, k8s::Protocol::TCP}};
  Matrix mb(before, matrix_pods(before.objects()), probes),
      ma(after, matrix_pods(after.objects()), probes);
  auto flips = diff(mb, ma);
  ASSERT_EQ(flips.size(), 1u);
  EXPECT_EQ(flips[0].from, "a/x");
  EXPECT_EQ(flips[0].to, "a/y");
  EXPECT_TRUE(flips[0].before);
  EXPECT_FALSE(flips[0].after);
  EXPECT_EQ(flips[0].why, "ingress of a/y: isolated by a/only-x, no rule allows it");
  auto back = diff(ma, mb);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].why, "ingress of a/y: not isolated any more (was isolated by a/only-x)");
  EXPECT_TRUE(diff(ma, ma).empty());
}

}  // namespace
}  // namespace netpol::policyc
