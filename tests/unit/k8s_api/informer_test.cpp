// Informers against the fake API server: sync, event order, relist after
// 410 with synthesised changes, UID keying, bad objects, backoff, errors.
#include "k8s/api/informer.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

// Records handler calls as readable lines: "add a/p", "update a/p", "delete a/p", "synced".
class Recorder {
 public:
  template <typename T>
  Handlers<T> handlers(std::function<std::string(const T&)> name) {
    Handlers<T> h;
    h.on_add = [this, name](const T& o) { push("add " + name(o), o.uid); };
    h.on_update = [this, name](const T&, const T& o) { push("update " + name(o), o.uid); };
    h.on_delete = [this, name](const T& o) { push("delete " + name(o), o.uid); };
    h.on_synced = [this] { push("synced", ""); };
    return h;
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  std::vector<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    lines_.clear();
  }
  bool wait_for(const std::string& line) {
    return eventually([&] {
      auto l = lines();
      return std::find(l.begin(), l.end(), line) != l.end();
    });
  }

 private:
  void push(std::string line, const std::string&) {
    std::lock_guard lock(mu_);
    lines_.push_back(std::move(line));
    threads_.push_back(std::this_thread::get_id());
  }
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<std::thread::id> threads_;
};

std::string pod_name(const Pod& p) {
  return p.key();
}
std::string ns_name(const Namespace& n) {
  return n.name;
}

InformerOptions quiet(std::shared_ptr<Clock> clock = nullptr) {
  InformerOptions o;
  o.clock = std::move(clock);
  o.random = [] { return 0.0; };
  o.log = [](const std::string&) {};
  o.watch_timeout_seconds = 30;
  o.relist_spread = std::chrono::milliseconds(0);  // exact backoff sleeps; see RelistsAreSpread
  return o;
}

TEST(Backoff, GrowsExponentiallyWithJitterAndCaps) {
  double r = 0.0;
  Backoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.5},
            [&] { return r; });
  std::vector<int64_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(b.next().count());
  EXPECT_EQ(got, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000}));
  b.reset();
  r = 0.999;
  EXPECT_EQ(b.next().count(), 149);  // up to 50% longer
  r = 0.5;
  EXPECT_EQ(b.next().count(), 250);
  // Days of retries never overflow.
  for (int i = 0; i < 10000; ++i) b.next();
  r = 0.0;
  EXPECT_EQ(b.next().count(), 1000);
}

TEST(Informer, InitialListThenSyncedThenEventsInOrder) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p" + std::to_string(i))).ok());
  Recorder rec;
  auto opts = quiet();
  opts.page_size = 3;                    // three pages
  opts.watch_list = WatchListMode::Off;  // list+watch (watch_list_test.cpp: the other way)
  PodInformer inf(client_for(s->url()), rec.handlers<Pod>(pod_name), opts);
  EXPECT_FALSE(inf.has_synced());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  auto lines = rec.lines();
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines.back(), "synced") << "synced comes after the adds of the first list";
  EXPECT_EQ(inf.stats().list_pages, 3u);
  EXPECT_EQ(inf.size(), 7u);

  rec.clear();
  ASSERT_TRUE(s->update_status(Kind::Pod, "a", "p1", pod_status("10.1.0.1")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p9")).ok());
  ASSERT_TRUE(
      s->merge_patch(Kind::Pod, "a", "p9", {{"metadata", {{"labels", {{"v", "2"}}}}}}).ok());
  ASSERT_TRUE(s->remove(Kind::Pod, "a", "p0").ok());
  ASSERT_TRUE(rec.wait_for("delete a/p0"));
  EXPECT_EQ(rec.lines(),
            (std::vector<std::string>{"update a/p1", "add a/p9", "update a/p9", "delete a/p0"}));
  auto p1 = inf.snapshot()[0];
  EXPECT_EQ(p1.key(), "a/p1");
  ASSERT_EQ(p1.ips.size(), 1u);
  EXPECT_EQ(p1.ips[0].str(), "10.1.0.1");
  EXPECT_EQ(p1.phase, PodPhase::Running);
}

TEST(Informer, RelistAfterGoneSynthesisesWhatWasMissed) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  for (auto n : {"stay", "change", "vanish", "reborn"})
    ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", n)).ok());
  ASSERT_TRUE(s->update_status(Kind::Pod, "a", "vanish", pod_status("10.0.0.7")).ok());
  auto clock = std::make_shared<FakeClock>();
  Recorder rec;
  PodInformer inf(client_for(s->url()), rec.handlers<Pod>(pod_name), quiet(clock));
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  const std::string reborn_uid_before = s->get(Kind::Pod, "a", "reborn").body["metadata"]["uid"];
  rec.clear();

  // Cut the watch (once it is open) and hold the informer in its backoff
  // sleep while the world changes.
  ASSERT_TRUE(eventually([&] { return s->stats().watches >= 1; }));
  clock->gate(true);
  s->fail_next(503, 1, "/api/v1/pods");
  s->drop_watches();
  ASSERT_TRUE(clock->wait_sleeps(1));
  ASSERT_TRUE(
      s->merge_patch(Kind::Pod, "a", "change", {{"metadata", {{"labels", {{"v", "2"}}}}}}).ok());
  ASSERT_TRUE(s->remove(Kind::Pod, "a", "vanish").ok());
  ASSERT_TRUE(s->remove(Kind::Pod, "a", "reborn").ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "reborn")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "newcomer")).ok());
  // The newcomer takes over the IP of the pod that vanished.
  ASSERT_TRUE(s->update_status(Kind::Pod, "a", "newcomer", pod_status("10.0.0.7")).ok());
  s->compact();
  clock->gate(false);

  ASSERT_TRUE(eventually([&] { return inf.stats().lists == 2; }));
  // Wait for the last synthesised event: the list's order is change, newcomer, reborn.
  ASSERT_TRUE(rec.wait_for("add a/reborn"));
  auto lines = rec.lines();
  // Deletes first (sorted by UID), then the list's adds/updates in list order.
  ASSERT_EQ(lines.size(), 5u) << ::testing::PrintToString(lines);
  std::vector<std::string> deletes(lines.begin(), lines.begin() + 2);
  std::sort(deletes.begin(), deletes.end());
  EXPECT_EQ(deletes, (std::vector<std::string>{"delete a/reborn", "delete a/vanish"}));
  EXPECT_EQ(std::vector<std::string>(lines.begin() + 2, lines.end()),
            (std::vector<std::string>{"update a/change", "add a/newcomer", "add a/reborn"}));
  const auto st = inf.stats();
  EXPECT_EQ(st.relists, 1u);
  EXPECT_EQ(st.synthesized, 5u);

  // The store equals the server, and the recreated pod carries its new UID.
  auto snap = inf.snapshot();
  auto server = s->objects(Kind::Pod);
  ASSERT_EQ(snap.size(), server.size());
  for (size_t i = 0; i < snap.size(); ++i) {
    EXPECT_EQ(snap[i].uid, server[i]["metadata"]["uid"]);
    EXPECT_EQ(snap[i].resource_version, server[i]["metadata"]["resourceVersion"]);
  }
  EXPECT_NE(s->get(Kind::Pod, "a", "reborn").body["metadata"]["uid"], reborn_uid_before);
  int with_ip = 0;
  for (const auto& p : snap) {
    if (p.ips.empty() || p.ips[0].str() != "10.0.0.7") continue;
    ++with_ip;
    EXPECT_EQ(p.name, "newcomer");
  }
  EXPECT_EQ(with_ip, 1);
}

TEST(Informer, IpReuseIsTwoObjects) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "old")).ok());
  ASSERT_TRUE(s->update_status(Kind::Pod, "a", "old", pod_status("10.9.9.9")).ok());
  Recorder rec;
  PodInformer inf(client_for(s->url()), rec.handlers<Pod>(pod_name), quiet());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  // The new pod gets the IP before the old one's delete arrives (IPAM may reuse at once).
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "new")).ok());
  ASSERT_TRUE(s->update_status(Kind::Pod, "a", "new", pod_status("10.9.9.9")).ok());
  ASSERT_TRUE(eventually([&] { return inf.stats().updated == 1; }));
  EXPECT_EQ(inf.size(), 2u) << "same IP, different UIDs: both exist until the delete";
  ASSERT_TRUE(s->remove(Kind::Pod, "a", "old").ok());
  ASSERT_TRUE(rec.wait_for("delete a/old"));
  auto snap = inf.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].name, "new");
  EXPECT_EQ(snap[0].ips[0].str(), "10.9.9.9");
}

TEST(Informer, UndecodableObjectIsReportedOnceAndSkipped) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  auto bad = pod_json("a", "bad");
  bad["spec"]["containers"][0]["ports"][0]["containerPort"] =
      70000;  // the API server would refuse it
  ASSERT_TRUE(s->create(Kind::Pod, "a", bad).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "good1")).ok());
  std::vector<std::string> logs;
  std::mutex mu;
  auto opts = quiet();
  opts.log = [&](const std::string& l) {
    std::lock_guard lock(mu);
    logs.push_back(l);
  };
  Recorder rec;
  PodInformer inf(client_for(s->url()), rec.handlers<Pod>(pod_name), opts);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(inf.size(), 1u);
  // The stream goes on: a bad object in a watch does not end it.
  ASSERT_TRUE(
      s->merge_patch(Kind::Pod, "a", "bad", {{"metadata", {{"labels", {{"x", "1"}}}}}}).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "good2")).ok());
  ASSERT_TRUE(rec.wait_for("add a/good2"));
  EXPECT_EQ(inf.size(), 2u);
  EXPECT_EQ(inf.stats().decode_errors, 2u);
  EXPECT_EQ(inf.stats().watches, 1u) << "the watch was not restarted";
  std::lock_guard lock(mu);
  ASSERT_EQ(logs.size(), 2u) << ::testing::PrintToString(logs);  // list version and patched version
  EXPECT_NE(logs[0].find("a/bad"), std::string::npos) << logs[0];
  EXPECT_NE(logs[0].find("containerPort"), std::string::npos) << logs[0];
}

TEST(Informer, ServerErrorsBackOffExponentiallyThenRecover) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  s->fail_next(500, 4, "/api/v1/namespaces");
  auto clock = std::make_shared<FakeClock>();
  auto opts = quiet(clock);
  opts.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(500), 2.0, 0.5};
  opts.random = [] { return 0.5; };
  Recorder rec;
  NamespaceInformer inf(client_for(s->url()), rec.handlers<Namespace>(ns_name), opts);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  // Four failed lists: 100, 200, 400, 500 (capped), each stretched by 25% jitter.
  auto sleeps = clock->sleeps();
  std::vector<int64_t> ms;
  for (auto d : sleeps) ms.push_back(d.count());
  EXPECT_EQ(ms, (std::vector<int64_t>{125, 250, 500, 625}));
  EXPECT_EQ(inf.stats().errors, 4u);
  EXPECT_TRUE(inf.stats().last_error.empty()) << "cleared once a request succeeded";
}

// A server that answers every watch with 410 (always compacting ahead): the
// informer relists, but backs off between rounds instead of spinning.
TEST(Informer, GoneRightAfterEveryListBacksOff) {
  auto s = start_fake();
  s->fail_next(410, 4, "watch=1");
  auto clock = std::make_shared<FakeClock>();
  auto opts = quiet(clock);
  opts.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(10'000), 2.0, 0.0};
  opts.watch_list = WatchListMode::Off;  // a list, then the watch it answers with 410
  NamespaceInformer inf(client_for(s->url()), {}, opts);
  inf.start();
  ASSERT_TRUE(eventually([&] { return inf.stats().lists == 5; }));
  std::vector<int64_t> ms;
  for (auto d : clock->sleeps()) ms.push_back(d.count());
  EXPECT_EQ(ms, (std::vector<int64_t>{100, 200, 400, 800}));
  EXPECT_EQ(inf.stats().relists, 4u);
}

// 5,000 agents cut off by one compaction must not relist in step: each waits
// its own random share of relist_spread before listing again, and one whose
// list failed waits the same share on top of its backoff. With the spread
// switched off, every agent relists after the same delay.
TEST(Informer, RelistsAreSpreadByARandomDelay) {
  const auto first_sleeps = [](std::chrono::milliseconds spread, double r, const char* fail,
                               int code) {
    auto s = start_fake();
    s->fail_next(code, 1, fail);
    auto clock = std::make_shared<FakeClock>();
    auto opts = quiet(clock);
    opts.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(10'000), 2.0, 0.0};
    opts.relist_spread = spread;
    opts.random = [r] { return r; };
    opts.watch_list = WatchListMode::Off;  // 410 on the watch after a list
    NamespaceInformer inf(client_for(s->url()), {}, opts);
    inf.start();
    EXPECT_TRUE(eventually([&] { return inf.stats().lists == (code == 410 ? 2u : 1u); }));
    inf.stop();
    std::vector<int64_t> ms;
    for (auto d : clock->sleeps()) ms.push_back(d.count());
    return ms;
  };
  const auto spread = std::chrono::milliseconds(4000);
  std::set<int64_t> relist_delays;
  for (double r : {0.0, 0.2, 0.45, 0.7, 0.95}) {
    // 410 on the first watch: backoff (100 ms, the watch came straight after a list) + r * 4 s.
    auto gone = first_sleeps(spread, r, "watch=1", 410);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0], 100 + static_cast<int64_t>(4000 * r));
    relist_delays.insert(gone[0]);
    // A failed list: the same share on top of the backoff.
    auto failed = first_sleeps(spread, r, "/api/v1/namespaces", 500);
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0], 100 + static_cast<int64_t>(4000 * r));
  }
  EXPECT_EQ(relist_delays.size(), 5u);
  EXPECT_GE(*relist_delays.rbegin() - *relist_delays.begin(), 3000);
  // Spread off: every agent waits the same, in step.
  std::set<int64_t> in_step;
  for (double r : {0.0, 0.45, 0.95}) {
    auto gone = first_sleeps(std::chrono::milliseconds(0), r, "watch=1", 410);
    ASSERT_EQ(gone.size(), 1u);
    in_step.insert(gone[0]);
  }
  EXPECT_EQ(in_step, (std::set<int64_t>{100}));
}

TEST(Informer, UnauthorizedIsLoggedOnceWhileRetrying) {
  fakeapi::Options o;
  o.tokens = {"right"};
  auto s = start_fake(o);
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::string> logs;
  std::mutex mu;
  auto opts = quiet(clock);
  opts.log = [&](const std::string& l) {
    std::lock_guard lock(mu);
    logs.push_back(l);
  };
  PodInformer inf(client_for(s->url(), "wrong"), {}, opts);
  inf.start();
  ASSERT_TRUE(clock->wait_sleeps(5));
  EXPECT_FALSE(inf.has_synced());
  const auto st = inf.stats();
  EXPECT_GE(st.errors, 5u);
  EXPECT_NE(st.last_error.find("Unauthorized"), std::string::npos) << st.last_error;
  inf.stop();
  std::lock_guard lock(mu);
  ASSERT_EQ(logs.size(), 1u) << ::testing::PrintToString(logs);
  EXPECT_NE(logs[0].find("401"), std::string::npos);
}

// A resource the server does not serve (the ClusterNetworkPolicy CRD not
// installed): with absent_recheck, a 404 is "none exist", logged once and
// listed again at that fixed interval; the CRD installed, it is picked up;
// the CRD deleted, its objects go and the informer re-checks again. Without
// absent_recheck the same 404 is an error with growing backoff.
TEST(Informer, AbsentResourceIsReCheckedAtItsIntervalAndPickedUpWhenServed) {
  fakeapi::Options fo;
  fo.install_cnp_crd = false;
  auto s = start_fake(fo);
  auto clock = std::make_shared<FakeClock>();
  std::vector<std::string> logs;
  std::mutex mu;
  auto opts = quiet(clock);
  opts.absent_recheck = std::chrono::milliseconds(30'000);
  opts.log = [&](const std::string& l) {
    std::lock_guard lock(mu);
    logs.push_back(l);
  };
  Recorder rec;
  auto h = rec.handlers<ClusterNetworkPolicy>([](const ClusterNetworkPolicy& c) { return c.name; });
  std::atomic<int> not_found{0};
  h.on_list_error = [&](const Status& st) {
    if (st.code() == Code::NotFound) ++not_found;
  };
  ClusterNetworkPolicyInformer inf(client_for(s->url()), h, opts);
  inf.start();
  ASSERT_TRUE(clock->wait_sleeps(4));
  clock->gate(true);  // hold it in its sleep while the CRD is installed
  // A list sent before the gate closed could reach the server between the
  // CRD's and the CNP's creation and sync an empty list: wait for a sleep
  // that began after the gate closed, so no list is in flight.
  ASSERT_TRUE(clock->wait_sleeps(clock->sleeps().size() + 1));
  for (auto d : clock->sleeps()) EXPECT_EQ(d.count(), 30'000) << "a fixed interval, no backoff";
  auto st = inf.stats();
  EXPECT_TRUE(st.absent);
  EXPECT_GE(st.absent_lists, 4u);
  EXPECT_EQ(st.errors, 0u);
  EXPECT_FALSE(inf.has_synced());
  EXPECT_TRUE(eventually([&] { return not_found.load() >= 4; }));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(logs.size(), 1u) << ::testing::PrintToString(logs);
    EXPECT_NE(logs[0].find("not served"), std::string::npos) << logs[0];
  }

  ASSERT_TRUE(s->create(Kind::CustomResourceDefinition, "", fakeapi::cnp_crd_object()).ok());
  ASSERT_TRUE(s->create(Kind::ClusterNetworkPolicy, "", json::parse(R"({"metadata":{"name":"guard"},
      "spec":{"tier":"Admin","priority":1,"subject":{"namespaces":{}},
      "ingress":[{"action":"Deny","from":[{"namespaces":{}}]}]}})"))
                  .ok());
  clock->gate(false);
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(rec.lines(), (std::vector<std::string>{"add guard", "synced"}));
  EXPECT_FALSE(inf.stats().absent);
  ASSERT_EQ(inf.snapshot().size(), 1u);
  EXPECT_EQ(inf.snapshot()[0].tier, CnpTier::Admin);

  // The CRD deleted: its objects are deleted (watch events); the watch,
  // re-made, answers 404 and the list says the resource is absent again.
  rec.clear();
  ASSERT_TRUE(eventually([&] { return s->stats().watches >= 1; }));
  ASSERT_TRUE(s->remove(Kind::CustomResourceDefinition, "", fakeapi::kCnpCrdName).ok());
  ASSERT_TRUE(rec.wait_for("delete guard"));
  s->drop_watches();
  ASSERT_TRUE(eventually([&] { return inf.stats().absent; }));
  EXPECT_EQ(inf.size(), 0u);
  EXPECT_EQ(rec.lines(), (std::vector<std::string>{"delete guard"}));
  inf.stop();

  // Not marked optional: the same 404 is an error, retried with backoff.
  auto clock2 = std::make_shared<FakeClock>();
  auto plain = quiet(clock2);
  plain.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(10'000), 2.0, 0.0};
  ClusterNetworkPolicyInformer strict(client_for(s->url()), {}, plain);
  strict.start();
  ASSERT_TRUE(clock2->wait_sleeps(3));
  strict.stop();
  std::vector<int64_t> ms;
  for (auto d : clock2->sleeps()) ms.push_back(d.count());
  EXPECT_EQ(std::vector<int64_t>(ms.begin(), ms.begin() + 3),
            (std::vector<int64_t>{100, 200, 400}));
  EXPECT_FALSE(strict.stats().absent);
  EXPECT_GE(strict.stats().errors, 3u);
}

TEST(Informer, SharedDispatcherRunsEveryHandlerOnOneThread) {
  auto s = start_fake();
  auto dispatcher = std::make_shared<Dispatcher>();
  Recorder rec;
  auto opts = quiet();
  opts.dispatcher = dispatcher;
  NamespaceInformer nsi(client_for(s->url()), rec.handlers<Namespace>(ns_name), opts);
  PodInformer pi(client_for(s->url()), rec.handlers<Pod>(pod_name), opts);
  NetworkPolicyInformer npi(
      client_for(s->url()),
      rec.handlers<NetworkPolicy>([](const NetworkPolicy& p) { return p.key(); }), opts);
  nsi.start();
  pi.start();
  npi.start();
  ASSERT_TRUE(nsi.wait_for_sync(std::chrono::seconds(10)));
  ASSERT_TRUE(pi.wait_for_sync(std::chrono::seconds(10)));
  ASSERT_TRUE(npi.wait_for_sync(std::chrono::seconds(10)));
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a", {{"team", "x"}})).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p")).ok());
  ASSERT_TRUE(s->create(Kind::NetworkPolicy, "a", policy_json("a", "np")).ok());
  ASSERT_TRUE(rec.wait_for("add a"));
  ASSERT_TRUE(rec.wait_for("add a/p"));
  ASSERT_TRUE(rec.wait_for("add a/np"));
  auto threads = rec.threads();
  for (auto t : threads) EXPECT_EQ(t, threads[0]);
  auto np = npi.snapshot();
  ASSERT_EQ(np.size(), 1u);
  EXPECT_TRUE(np[0].affects_ingress);
  ASSERT_EQ(np[0].ingress.size(), 1u);
  auto nss = nsi.snapshot();
  ASSERT_EQ(nss.size(), 1u);
  EXPECT_EQ(nss[0].labels.at("team"), "x");
  EXPECT_EQ(nss[0].labels.at("kubernetes.io/metadata.name"), "a");
}

TEST(Informer, StopWaitsForQueuedHandlersSoNoneOutlivesTheInformer) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p" + std::to_string(i))).ok());
  auto dispatcher = std::make_shared<Dispatcher>();  // outlives the informer
  std::atomic<int> calls{0};
  auto opts = quiet();
  opts.dispatcher = dispatcher;
  Handlers<Pod> h;
  h.on_add = [&](const Pod&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow consumer
    ++calls;
  };
  {
    PodInformer inf(client_for(s->url()), h, opts);
    inf.start();
    ASSERT_TRUE(eventually([&] { return inf.stats().lists == 1; }));
    // Destroyed while most of the ten adds are still queued.
  }
  EXPECT_EQ(calls.load(), 10) << "queued handlers ran before the informer went away";
  dispatcher->flush();
  EXPECT_EQ(calls.load(), 10);
}

TEST(Informer, StopIsPromptDuringAWatch) {
  auto s = start_fake();
  PodInformer inf(client_for(s->url()), {}, quiet());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  inf.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace netpol::k8s::api
