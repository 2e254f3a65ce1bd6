// The fake API server's own semantics: what the real server does that
// clients (ours and kubectl) depend on.
#include <gtest/gtest.h>

#include "tests/fakeapi/fake_apiserver.h"
#include "tests/fakeapi/state.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

TEST(FakeApi, CreateFillsServerFieldsAndDefaults) {
  auto s = start_fake();
  auto ns = s->create(Kind::Namespace, "", ns_json("team-a", {{"env", "prod"}}));
  ASSERT_EQ(ns.code, 201) << ns.body.dump();
  EXPECT_EQ(ns.body["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
  EXPECT_EQ(ns.body["status"]["phase"], "Active");
  EXPECT_EQ(ns.body["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_FALSE(ns.body["metadata"]["creationTimestamp"].get<std::string>().empty());

  auto pod = pod_json("team-a", "web");
  pod["status"] = pod_status("10.0.0.1");
  auto p = s->create(Kind::Pod, "team-a", pod);
  ASSERT_TRUE(p.ok()) << p.body.dump();
  EXPECT_EQ(p.body["status"], json({{"phase", "Pending"}})) << "the kubelet owns pod status";
  EXPECT_EQ(p.body["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
  EXPECT_GT(std::stoull(p.body["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull(ns.body["metadata"]["resourceVersion"].get<std::string>()));

  auto np = policy_json("team-a", "np");
  np["spec"]["egress"] = json::array({json::object()});
  auto n = s->create(Kind::NetworkPolicy, "team-a", np);
  ASSERT_TRUE(n.ok()) << n.body.dump();
  EXPECT_EQ(n.body["spec"]["policyTypes"], json({"Ingress", "Egress"}));
  EXPECT_EQ(n.body["metadata"]["generation"], 1);
}

TEST(FakeApi, KeepPodStatusOption) {
  fakeapi::Options o;
  o.keep_pod_status = true;
  auto s = start_fake(o);
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  auto pod = pod_json("a", "web");
  pod["status"] = pod_status("10.0.0.1");
  EXPECT_EQ(s->create(Kind::Pod, "a", pod).body["status"]["podIP"], "10.0.0.1");
}

TEST(FakeApi, CreateErrorsAsTheApiServerAnswersThem) {
  auto s = start_fake();
  EXPECT_EQ(s->create(Kind::Pod, "nowhere", pod_json("nowhere", "p")).code, 404);
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p")).ok());
  auto dup = s->create(Kind::Pod, "a", pod_json("a", "p"));
  EXPECT_EQ(dup.code, 409);
  EXPECT_EQ(dup.body["reason"], "AlreadyExists");
  auto bad = s->create(Kind::Pod, "a", pod_json("a", "Not_Valid"));
  EXPECT_EQ(bad.code, 422);
  EXPECT_EQ(bad.body["reason"], "Invalid");
  auto nocontainers = pod_json("a", "q");
  nocontainers["spec"].erase("containers");
  EXPECT_EQ(s->create(Kind::Pod, "a", nocontainers).code, 422);
  EXPECT_EQ(s->create(Kind::Pod, "b", pod_json("a", "x")).code, 400) << "namespace mismatch";
  auto gen = pod_json("a", "");
  gen["metadata"].erase("name");
  gen["metadata"]["generateName"] = "worker-";
  auto g = s->create(Kind::Pod, "a", gen);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g.body["metadata"]["name"].get<std::string>().rfind("worker-", 0), 0u);
}

// What `kubectl create` sends for an unquoted YAML 1.1 boolean (`ns: y`): the
// real server's decoder refuses it before validation, and so does the fake.
TEST(FakeApi, NonStringLabelValuesAreRefusedLikeTheRealDecoder) {
  auto s = start_fake();
  EXPECT_EQ(s->create(Kind::Namespace, "", ns_json("a", {{"ns", true}})).code, 400);
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  auto np = policy_json("a", "np");
  np["spec"]["ingress"][0]["from"][0] = {{"namespaceSelector", {{"matchLabels", {{"ns", true}}}}}};
  auto r = s->create(Kind::NetworkPolicy, "a", np);
  EXPECT_EQ(r.code, 400);
  EXPECT_NE(
      r.body["message"].get<std::string>().find("spec.ingress.from.namespaceSelector.matchLabels"),
      std::string::npos)
      << r.body.dump();
  auto bad_ns = policy_json("a", "np");
  bad_ns["metadata"]["namespace"] = true;
  EXPECT_EQ(s->create(Kind::NetworkPolicy, "a", bad_ns).code, 400);
}

TEST(FakeApi, UpdatesUseOptimisticConcurrencyAndSkipNoOps) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  auto p = s->create(Kind::Pod, "a", pod_json("a", "p")).body;
  auto v1 = p;
  v1["metadata"]["labels"]["x"] = "1";
  auto r1 = s->update(Kind::Pod, "a", "p", v1);
  ASSERT_TRUE(r1.ok()) << r1.body.dump();
  auto stale = p;
  stale["metadata"]["labels"]["x"] = "2";
  auto r2 = s->update(Kind::Pod, "a", "p", stale);  // still carries the old resourceVersion
  EXPECT_EQ(r2.code, 409);
  EXPECT_EQ(r2.body["reason"], "Conflict");
  const auto rv = s->resource_version();
  auto same = s->merge_patch(Kind::Pod, "a", "p", {{"metadata", {{"labels", {{"x", "1"}}}}}});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(s->resource_version(), rv) << "a patch that changes nothing is not a write";
  auto removed =
      s->merge_patch(Kind::Pod, "a", "p", {{"metadata", {{"labels", {{"x", nullptr}}}}}});
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(removed.body["metadata"]["labels"].contains("x"));
  // The main resource cannot change status; the status subresource changes only status.
  auto with_status = removed.body;
  with_status["status"] = pod_status("10.0.0.9");
  with_status["metadata"]["labels"]["y"] = "1";
  auto r3 = s->update(Kind::Pod, "a", "p", with_status);
  EXPECT_EQ(r3.body["status"]["phase"], "Pending");
  EXPECT_EQ(r3.body["metadata"]["labels"]["y"], "1");
  auto r4 = s->update_status(Kind::Pod, "a", "p", pod_status("10.0.0.9"));
  EXPECT_EQ(r4.body["status"]["podIP"], "10.0.0.9");
  EXPECT_EQ(r4.body["metadata"]["uid"], p["metadata"]["uid"]);
}

// kubectl apply/edit send strategic merge patches for built-in types.
TEST(FakeApi, StrategicMergePatchMergesListsByKey) {
  const json target = json::parse(R"({
    "metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
    "spec": {"containers": [{"name": "app", "image": "v1", "ports": [{"containerPort": 80, "name": "http"}]},
                            {"name": "sidecar", "image": "s1"}],
             "tolerations": [{"key": "t1"}]}})");
  const json patch = json::parse(R"({
    "metadata": {"labels": {"b": null, "c": "3"}, "$deleteFromPrimitiveList/finalizers": ["x"]},
    "spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
             "containers": [{"name": "app", "image": "v2", "ports": [{"containerPort": 81}]},
                            {"name": "sidecar", "$patch": "delete"},
                            {"name": "new", "image": "n1"}],
             "tolerations": [{"key": "t2"}]}})");
  const json got = fakeapi::strategic_merge(target, patch);
  EXPECT_EQ(got["metadata"]["labels"], json({{"a", "1"}, {"c", "3"}}));
  EXPECT_EQ(got["metadata"]["finalizers"], json({"y"}));
  const json& cs = got["spec"]["containers"];
  ASSERT_EQ(cs.size(), 2u) << got.dump();
  EXPECT_EQ(cs[0]["image"], "v2");
  EXPECT_EQ(cs[0]["ports"].size(), 2u) << "ports merge by containerPort";
  EXPECT_EQ(cs[1]["name"], "new");
  EXPECT_EQ(got["spec"]["tolerations"], json::parse(R"([{"key": "t2"}])"))
      << "no merge key: replaced";
  EXPECT_FALSE(got["spec"].contains("$setElementOrder/containers"));
  const json replaced =
      fakeapi::strategic_merge(target, json::parse(R"({"spec": {"$patch": "replace", "x": 1}})"));
  EXPECT_EQ(replaced["spec"], json({{"x", 1}}));
}

TEST(FakeApi, DeletingANamespaceDeletesWhatIsInIt) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("b")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "b", pod_json("b", "p")).ok());
  ASSERT_TRUE(s->create(Kind::NetworkPolicy, "a", policy_json("a", "np")).ok());
  ASSERT_TRUE(s->remove(Kind::Namespace, "", "a").ok());
  EXPECT_EQ(s->objects(Kind::Pod).size(), 1u);
  EXPECT_TRUE(s->objects(Kind::NetworkPolicy).empty());
  EXPECT_EQ(s->get(Kind::Namespace, "", "a").code, 404);
  EXPECT_EQ(s->remove(Kind::Pod, "a", "p").code, 404);
}

// Watches with a label selector see objects enter and leave the selection.
TEST(FakeApi, SelectorWatchTurnsModificationsIntoAddsAndDeletes) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  const std::string rv = std::to_string(s->resource_version());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p", {{"app", "other"}})).ok());
  ASSERT_TRUE(
      s->merge_patch(Kind::Pod, "a", "p", {{"metadata", {{"labels", {{"app", "web"}}}}}}).ok());
  ASSERT_TRUE(s->merge_patch(Kind::Pod, "a", "p", {{"metadata", {{"labels", {{"v", "2"}}}}}}).ok());
  ASSERT_TRUE(
      s->merge_patch(Kind::Pod, "a", "p", {{"metadata", {{"labels", {{"app", "db"}}}}}}).ok());
  auto c = client_for(s->url());
  std::vector<std::string> got;
  Status st =
      c->watch(kPods, {.label_selector = "app=web", .resource_version = rv, .timeout_seconds = 1},
               [&](WatchEvent&& e) {
                 if (e.type != EventType::Bookmark) got.push_back(to_string(e.type));
                 return true;
               });
  EXPECT_TRUE(st.ok()) << st.str();
  EXPECT_EQ(got, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
}

TEST(FakeApi, WatchFromZeroStartsWithTheCurrentState) {
  auto s = start_fake();
  for (auto n : {"a", "b"}) ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json(n)).ok());
  ASSERT_TRUE(s->remove(Kind::Namespace, "", "a").ok());
  auto c = json_client_for(s->url());
  std::vector<std::string> got;
  Status st =
      c->watch(kNamespaces, {.resource_version = "0", .timeout_seconds = 1}, [&](WatchEvent&& e) {
        if (e.type != EventType::Bookmark)
          got.push_back(std::string(to_string(e.type)) + " " +
                        json::parse(e.object)["metadata"]["name"].get<std::string>());
        return true;
      });
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(got, (std::vector<std::string>{"ADDED b"}));
}

TEST(FakeApi, HistoryLimitAndCompactEveryMakeOldVersionsGone) {
  fakeapi::Options o;
  o.history_limit = 3;
  auto s = start_fake(o);
  const std::string start = std::to_string(s->resource_version());
  for (auto n : {"a", "b", "c", "d", "e"})
    ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json(n)).ok());
  auto c = client_for(s->url());
  auto watch_from = [&](const std::string& rv) {
    return c->watch(kNamespaces, {.resource_version = rv, .timeout_seconds = 1},
                    [](WatchEvent&&) { return true; });
  };
  EXPECT_EQ(watch_from(start).code(), Code::Gone);
  EXPECT_TRUE(watch_from(std::to_string(s->resource_version() - 3)).ok())
      << "the last 3 events are kept";

  fakeapi::Faults f;
  f.compact_every = 2;
  s->set_faults(f);
  const std::string before = std::to_string(s->resource_version());
  for (auto n : {"f", "g"}) ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json(n)).ok());
  EXPECT_EQ(watch_from(before).code(), Code::Gone);
  EXPECT_GE(s->stats().compactions, 1u);
}

TEST(FakeApi, ErrorRateSparesDiscovery) {
  fakeapi::Options o;
  o.faults.error_rate = 1.0;
  auto s = start_fake(o);
  auto c = client_for(s->url());
  EXPECT_EQ(c->list(kPods, {}).status().http_status(), 500);
  auto api = c->get("/api/v1");
  ASSERT_TRUE(api.ok()) << api.status().str();
  EXPECT_NE(api.value().find("\"pods\""), std::string::npos);
  auto version = c->get("/version");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(json::parse(version.value())["major"], "1");
  EXPECT_GE(s->stats().errors_injected, 1u);
}

TEST(FakeApi, StandaloneBinaryServesWithAPortFile) {
  TempDir d;
  const std::string port_file = d.file("port");
  std::string cmd = std::string(NETPOL_FAKE_APISERVER) +
                    " --listen 127.0.0.1:0 --token t0k --port-file " + port_file + " > " +
                    d.file("log") + " 2>&1 & echo $!";
  std::string pid;
  ASSERT_EQ(run(cmd, &pid), 0);
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(port_file); }));
  const std::string url = "http://127.0.0.1:" + std::to_string(std::stoi(read_text(port_file)));
  auto c = client_for(url, "t0k");
  auto r = c->list(kNamespaces, {});
  EXPECT_TRUE(r.ok()) << r.status().str();
  EXPECT_EQ(client_for(url, "nope")->list(kNamespaces, {}).status().code(), Code::Unauthorized);
  EXPECT_EQ(run("kill " + std::to_string(std::stoi(pid))), 0);
}

}  // namespace
}  // namespace netpol::k8s::api
