// k8s::Labels behaves as the std::map it replaced: key order, unique keys
// (first value wins), lookups, updates, equality and ordering -- a decoded
// object keeps no spare capacity, and copies and equal decoded maps share one
// vector without ever seeing each other's changes.
#include "k8s/labels.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "k8s/decode.h"

namespace netpol::k8s {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs items(const Labels& l) {
  return Pairs(l.begin(), l.end());
}

TEST(Labels, InitializerListIsSortedByKey) {
  Labels l{{"tier", "front"}, {"app", "web"}, {"example.com/role", "x"}, {"", "empty-key"}};
  EXPECT_EQ(
      items(l),
      (Pairs{{"", "empty-key"}, {"app", "web"}, {"example.com/role", "x"}, {"tier", "front"}}));
  EXPECT_EQ(l.size(), 4u);
  EXPECT_FALSE(l.empty());
  EXPECT_TRUE(Labels{}.empty());
}

TEST(Labels, InitializerListDuplicateKeepsFirstValueLikeStdMap) {
  Labels l{{"app", "first"}, {"tier", "a"}, {"app", "second"}};
  std::map<std::string, std::string> m{{"app", "first"}, {"tier", "a"}, {"app", "second"}};
  EXPECT_EQ(items(l), Pairs(m.begin(), m.end()));
  EXPECT_EQ(l.at("app"), "first");
  EXPECT_EQ(l.size(), 2u);
}

TEST(Labels, Lookup) {
  const Labels l{{"app", "web"}, {"tier", ""}, {"version", "v1"}};
  ASSERT_NE(l.find("tier"), l.end());
  EXPECT_EQ(l.find("tier")->first, "tier");
  EXPECT_EQ(l.find("tier")->second, "");  // present with an empty value is not absent
  EXPECT_EQ(l.find("tie"), l.end());      // a prefix of a key is not the key
  EXPECT_EQ(l.find("tiers"), l.end());
  EXPECT_EQ(l.find("zzz"), l.end());
  EXPECT_EQ(l.find(""), l.end());
  EXPECT_TRUE(l.contains("version"));
  EXPECT_FALSE(l.contains("Version"));  // keys are case-sensitive
  EXPECT_EQ(l.count("app"), 1u);
  EXPECT_EQ(l.count("ap"), 0u);
  EXPECT_EQ(l.at("app"), "web");
  EXPECT_THROW((void)l.at("missing"), std::out_of_range);
}

TEST(Labels, SubscriptInsertsEmptyOrUpdates) {
  Labels l{{"b", "2"}};
  EXPECT_EQ(l["b"], "2");
  l["c"] = "3";
  l["a"] = "1";
  EXPECT_EQ(l["missing"], "");  // inserted, as std::map does
  l["b"] = "two";
  EXPECT_EQ(items(l), (Pairs{{"a", "1"}, {"b", "two"}, {"c", "3"}, {"missing", ""}}));
}

TEST(Labels, EmplaceNeverOverwritesInsertOrAssignDoes) {
  Labels l;
  auto [it, inserted] = l.emplace("app", "web");
  EXPECT_TRUE(inserted);
  EXPECT_EQ(it->second, "web");
  auto [it2, inserted2] = l.emplace("app", "db");
  EXPECT_FALSE(inserted2);
  EXPECT_EQ(it2->second, "web");
  EXPECT_FALSE(l.insert({"app", "api"}).second);
  EXPECT_TRUE(l.insert({"aaa", "1"}).second);
  auto [it3, inserted3] = l.insert_or_assign("app", "db");
  EXPECT_FALSE(inserted3);
  EXPECT_EQ(it3->second, "db");
  EXPECT_TRUE(l.insert_or_assign("zone", "z1").second);
  EXPECT_EQ(items(l), (Pairs{{"aaa", "1"}, {"app", "db"}, {"zone", "z1"}}));
}

TEST(Labels, Erase) {
  Labels l{{"a", "1"}, {"b", "2"}, {"c", "3"}};
  EXPECT_EQ(l.erase("b"), 1u);
  EXPECT_EQ(l.erase("b"), 0u);
  EXPECT_EQ(l.erase("x"), 0u);
  EXPECT_EQ(items(l), (Pairs{{"a", "1"}, {"c", "3"}}));
  auto next = l.erase(l.begin());
  ASSERT_NE(next, l.end());
  EXPECT_EQ(next->first, "c");
  l.clear();
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.find("c"), l.end());
}

// Random inserts/erases in every form: the result always equals a std::map
// fed the same operations, element by element and in order.
TEST(Labels, MatchesStdMapUnderRandomEdits) {
  std::mt19937 rng(12345);
  const std::vector<std::string> keys = {"a", "app", "b", "example.com/x", "tier", "z", ""};
  Labels l;
  std::map<std::string, std::string> m;
  for (int step = 0; step < 5000; ++step) {
    const std::string& k = keys[rng() % keys.size()];
    const std::string v = "v" + std::to_string(rng() % 5);
    switch (rng() % 5) {
      case 0:
        l[k] = v;
        m[k] = v;
        break;
      case 1:
        EXPECT_EQ(l.emplace(k, v).second, m.emplace(k, v).second);
        break;
      case 2:
        EXPECT_EQ(l.insert_or_assign(k, v).second, m.insert_or_assign(k, v).second);
        break;
      case 3:
        EXPECT_EQ(l.erase(k), m.erase(k));
        break;
      case 4:
        if (!l.empty()) {
          l.erase(l.begin());
          m.erase(m.begin());
        }
        break;
    }
    ASSERT_EQ(items(l), Pairs(m.begin(), m.end())) << "step " << step;
    ASSERT_EQ(l.contains(k), m.contains(k));
  }
}

// Copies share the vector; a change to any of them (every form) is its own,
// also for interned maps, and also when the others are edited at random too.
TEST(Labels, CopiesShareUntilChangedAndNeverSeeEachOthersChanges) {
  std::mt19937 rng(777);
  const std::vector<std::string> keys = {"a", "app", "tier", "z"};
  std::vector<Labels> ls(4, Labels{{"app", "web"}, {"tier", "db"}});
  std::vector<std::map<std::string, std::string>> ms(4, {{"app", "web"}, {"tier", "db"}});
  ls[1] = ls[0];
  EXPECT_TRUE(ls[1].shares_with(ls[0]));
  for (auto& l : ls) l.intern();
  EXPECT_TRUE(ls[2].shares_with(ls[3])) << "equal maps interned: one vector";
  for (int step = 0; step < 3000; ++step) {
    const size_t i = rng() % ls.size(), j = rng() % ls.size();
    const std::string& k = keys[rng() % keys.size()];
    const std::string v = "v" + std::to_string(rng() % 3);
    switch (rng() % 7) {
      case 0:
        ls[i][k] = v;
        ms[i][k] = v;
        break;
      case 1:
        ls[i].insert_or_assign(k, v);
        ms[i].insert_or_assign(k, v);
        break;
      case 2:
        ls[i].emplace(k, v);
        ms[i].emplace(k, v);
        break;
      case 3:
        ls[i].erase(k);
        ms[i].erase(k);
        break;
      case 4:
        if (!ls[i].empty()) {
          ls[i].erase(ls[i].begin());
          ms[i].erase(ms[i].begin());
        }
        break;
      case 5:
        ls[i] = ls[j];
        ms[i] = ms[j];
        break;
      case 6:
        ls[i].intern();
        break;
    }
    for (size_t n = 0; n < ls.size(); ++n) {
      ASSERT_EQ(items(ls[n]), Pairs(ms[n].begin(), ms[n].end())) << "step " << step << " #" << n;
    }
  }
}

TEST(Labels, DecodedPodsWithEqualLabelsShareOneMap) {
  auto r = decode_manifests(R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop, labels: {app: web, pod-template-hash: "7f"}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop, labels: {pod-template-hash: "7f", app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: shop, labels: {app: web, pod-template-hash: "80"}}
spec: {containers: [{name: c}]}
)",
                            "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.at(0).message;
  ASSERT_EQ(r.objects.pods.size(), 3u);
  Labels& a = r.objects.pods[0].labels;
  const Labels& b = r.objects.pods[1].labels;
  EXPECT_TRUE(a.shares_with(b));
  EXPECT_FALSE(a.shares_with(r.objects.pods[2].labels));
  a["app"] = "shop";
  EXPECT_EQ(b.at("app"), "web") << "a change to one pod's labels is that pod's only";
  EXPECT_FALSE(a.shares_with(b));
}

// The same sharing for a pod's container ports (k8s::SharedVector).
TEST(Labels, DecodedPodsWithEqualPortsShareOneList) {
  auto r = decode_manifests(R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: shop}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 81}]}]}
)",
                            "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.at(0).message;
  ASSERT_EQ(r.objects.pods.size(), 3u);
  ContainerPorts& a = r.objects.pods[0].ports;
  const ContainerPorts& b = r.objects.pods[1].ports;
  EXPECT_TRUE(a.shares_with(b));
  EXPECT_FALSE(a.shares_with(r.objects.pods[2].ports));
  ContainerPorts copy = b;
  a.push_back({"dns", 53, Protocol::UDP});
  EXPECT_EQ(b, (std::vector<ContainerPort>{{"http", 80, Protocol::TCP}})) << "a's change is a's";
  EXPECT_EQ(a.size(), 2u);
  EXPECT_TRUE(copy.shares_with(b));
}

TEST(Labels, EqualityIgnoresInsertionOrder) {
  Labels a{{"app", "web"}, {"tier", "front"}};
  Labels b;
  b["tier"] = "front";
  b["app"] = "web";
  EXPECT_EQ(a, b);
  b["tier"] = "back";
  EXPECT_NE(a, b);
  b["tier"] = "front";
  b["extra"] = "";
  EXPECT_NE(a, b);  // an extra key with an empty value still differs
}

// <=> orders as std::map's does (lexicographic over (key, value) pairs), so
// anything sorted by selectors keeps its order.
TEST(Labels, OrderingMatchesStdMap) {
  const std::vector<std::vector<std::pair<std::string, std::string>>> cases = {
      {},
      {{"a", "1"}},
      {{"a", "2"}},
      {{"a", "1"}, {"b", "1"}},
      {{"a", "1"}, {"a1", "0"}},
      {{"b", ""}},
      {{"app", "web"}, {"tier", "front"}},
  };
  for (const auto& x : cases) {
    for (const auto& y : cases) {
      Labels lx, ly;
      std::map<std::string, std::string> mx, my;
      for (const auto& [k, v] : x) lx[k] = v, mx[k] = v;
      for (const auto& [k, v] : y) ly[k] = v, my[k] = v;
      EXPECT_EQ(lx <=> ly, mx <=> my) << items(lx).size() << " vs " << items(ly).size();
      EXPECT_EQ(lx == ly, mx == my);
    }
  }
}

// The store's memory budget relies on decoded maps holding no spare slots.
TEST(Labels, DecodedObjectsHoldExactCapacity) {
  auto r = decode_manifests(R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: a, env: prod, zone: z1}
  annotations: {netpol.io/audit: all, other.io/x: y, netpol.io/z: "1"}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop, labels: {tier: front, app: web, version: v1}}
spec: {containers: [{name: c}]}
)",
                            "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors.at(0).message;
  ASSERT_EQ(r.objects.namespaces.size(), 1u);
  ASSERT_EQ(r.objects.pods.size(), 1u);
  const Namespace& ns = r.objects.namespaces[0];
  EXPECT_EQ(items(ns.labels), (Pairs{{"env", "prod"},
                                     {"kubernetes.io/metadata.name", "shop"},
                                     {"team", "a"},
                                     {"zone", "z1"}}));
  EXPECT_EQ(ns.labels.capacity(), ns.labels.size());
  EXPECT_EQ(items(ns.annotations), (Pairs{{"netpol.io/audit", "all"}, {"netpol.io/z", "1"}}));
  EXPECT_EQ(ns.annotations.capacity(), ns.annotations.size());
  const Pod& pod = r.objects.pods[0];
  EXPECT_EQ(items(pod.labels), (Pairs{{"app", "web"}, {"tier", "front"}, {"version", "v1"}}));
  EXPECT_EQ(pod.labels.capacity(), pod.labels.size());
}

// The informer's path (one JSON object from the API server).
TEST(Labels, DecodedJsonPodHoldsExactCapacity) {
  auto r = decode_json_object(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"x",)"
      R"("labels":{"zone":"z","app":"web","pod-template-hash":"1042","tier":"db"}},)"
      R"("spec":{"containers":[{"name":"c"}]}})",
      "watch");
  ASSERT_TRUE(r.ok()) << r.errors.at(0).message;
  ASSERT_EQ(r.objects.pods.size(), 1u);
  const Labels& l = r.objects.pods[0].labels;
  EXPECT_EQ(items(l),
            (Pairs{{"app", "web"}, {"pod-template-hash", "1042"}, {"tier", "db"}, {"zone", "z"}}));
  EXPECT_EQ(l.capacity(), l.size());
}

}  // namespace
}  // namespace netpol::k8s
