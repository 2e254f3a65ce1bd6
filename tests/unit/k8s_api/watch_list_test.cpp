// Watch-lists (streaming lists, KEP-3157) against the fake API server over
// HTTP on loopback: the initial state from one watch in JSON and protobuf,
// the fallback to list+watch on a server that refuses it, a stream cut before
// its end bookmark, a resumed watch, 410 Gone, and pods leaving a field
// selector when they finish.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "k8s/api/informer.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

// Handler calls as lines: "add a/p", "update a/p", "delete a/p", "synced".
class Lines {
 public:
  Handlers<Pod> handlers() {
    Handlers<Pod> h;
    h.on_add = [this](const Pod& p) { push("add " + p.key()); };
    h.on_update = [this](const Pod&, const Pod& p) { push("update " + p.key()); };
    h.on_delete = [this](const Pod& p) { push("delete " + p.key()); };
    h.on_synced = [this] { push("synced"); };
    return h;
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu_);
    return lines_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    lines_.clear();
  }
  bool wait_for(const std::string& line) {
    return eventually([&] {
      auto l = get();
      return std::find(l.begin(), l.end(), line) != l.end();
    });
  }

 private:
  void push(std::string l) {
    std::lock_guard lock(mu_);
    lines_.push_back(std::move(l));
  }
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// The fake's request lines ("GET /api/v1/pods?..."), for asserting what was asked.
class RequestLog {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& l) {
      std::lock_guard lock(mu_);
      lines_.push_back(l);
    };
  }
  std::vector<std::string> matching(const std::string& part) {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& l : lines_)
      if (l.find(part) != std::string::npos) out.push_back(l);
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

InformerOptions opts(std::shared_ptr<Clock> clock = nullptr) {
  InformerOptions o;
  o.clock = std::move(clock);
  o.random = [] { return 0.0; };
  o.log = [](const std::string&) {};
  o.watch_timeout_seconds = 30;
  o.relist_spread = std::chrono::milliseconds(0);
  o.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.0};
  return o;
}

void seed(fakeapi::Server& s, int pods) {
  ASSERT_TRUE(s.create(fakeapi::Kind::Namespace, "", ns_json("a")).ok());
  for (int i = 0; i < pods; ++i)
    ASSERT_TRUE(s.create(fakeapi::Kind::Pod, "a", pod_json("a", "p" + std::to_string(i))).ok());
}

std::vector<std::string> adds_then_synced(int pods) {
  std::vector<std::string> want;
  for (int i = 0; i < pods; ++i) want.push_back("add a/p" + std::to_string(i));
  want.push_back("synced");
  return want;
}

class WatchListSync : public ::testing::TestWithParam<bool> {};

// One watch gives the whole state, then the changes, on the same stream: no
// list request at all, in either encoding.
TEST_P(WatchListSync, InitialStateFromOneWatchThenChangesOnTheSameStream) {
  const bool protobuf = GetParam();
  RequestLog requests;
  fakeapi::Options fo;
  fo.log = requests.sink();
  fo.bookmark_interval = std::chrono::milliseconds(0);  // only the end bookmark
  auto s = start_fake(fo);
  seed(*s, 5);
  Lines lines;
  PodInformer inf(client_for(s->url(), "", std::chrono::seconds(10), protobuf), lines.handlers(),
                  opts());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(lines.get(), adds_then_synced(5));
  auto st = inf.stats();
  EXPECT_EQ(st.watch_lists, 1u);
  EXPECT_EQ(st.lists, 1u);
  EXPECT_EQ(st.list_pages, 0u) << "no list request";
  EXPECT_EQ(st.bookmarks, 1u);
  EXPECT_EQ(st.resource_version, std::to_string(s->resource_version()))
      << "synced at the end bookmark's resourceVersion, not an object's";
  EXPECT_EQ(s->stats().watch_lists, 1u);
  const auto watch = requests.matching("/api/v1/pods?");
  ASSERT_EQ(watch.size(), 1u);
  for (const char* p : {"watch=1", "sendInitialEvents=true", "resourceVersionMatch=NotOlderThan",
                        "allowWatchBookmarks=true"})
    EXPECT_NE(watch[0].find(p), std::string::npos) << watch[0] << " lacks " << p;
  EXPECT_EQ(watch[0].find("resourceVersion="), std::string::npos)
      << "the first watch-list is a consistent read (no resourceVersion): " << watch[0];

  lines.clear();
  ASSERT_TRUE(s->update_status(fakeapi::Kind::Pod, "a", "p1", pod_status("10.1.0.1")).ok());
  ASSERT_TRUE(s->create(fakeapi::Kind::Pod, "a", pod_json("a", "p9")).ok());
  ASSERT_TRUE(s->remove(fakeapi::Kind::Pod, "a", "p0").ok());
  ASSERT_TRUE(lines.wait_for("delete a/p0"));
  EXPECT_EQ(lines.get(), (std::vector<std::string>{"update a/p1", "add a/p9", "delete a/p0"}));
  EXPECT_EQ(inf.stats().watches, 1u) << "the changes came on the watch-list's own stream";
  ASSERT_EQ(inf.get(s->get(fakeapi::Kind::Pod, "a", "p1").body["metadata"]["uid"])->ips.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Encodings, WatchListSync, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Protobuf" : "Json"; });

// A server before 1.27 answers 422 to resourceVersionMatch on a watch: the
// informer lists and watches instead, says so once, and never asks again.
TEST(WatchList, FallsBackToListAndWatchOnAnOldServerAndRemembers) {
  RequestLog requests;
  fakeapi::Options fo;
  fo.watch_list = false;
  fo.log = requests.sink();
  auto s = start_fake(fo);
  seed(*s, 4);
  std::vector<std::string> logs;
  std::mutex mu;
  auto clock = std::make_shared<FakeClock>();
  auto o = opts(clock);
  o.log = [&](const std::string& l) {
    std::lock_guard lock(mu);
    logs.push_back(l);
  };
  Lines lines;
  PodInformer inf(client_for(s->url()), lines.handlers(), o);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(lines.get(), adds_then_synced(4));
  auto st = inf.stats();
  EXPECT_TRUE(st.watch_list_refused);
  EXPECT_EQ(st.watch_lists, 0u);
  EXPECT_EQ(st.lists, 1u);
  EXPECT_GE(st.list_pages, 1u);
  EXPECT_TRUE(clock->sleeps().empty()) << "a refusal is no failure: no backoff";

  // 410 later: the state is listed again, not asked for by watch-list.
  ASSERT_TRUE(eventually([&] { return s->stats().watches >= 1; }));
  clock->gate(true);
  s->fail_next(503, 1, "/api/v1/pods");
  s->drop_watches();
  ASSERT_TRUE(clock->wait_sleeps(1));
  ASSERT_TRUE(s->remove(fakeapi::Kind::Pod, "a", "p2").ok());
  s->compact();
  clock->gate(false);
  ASSERT_TRUE(lines.wait_for("delete a/p2"));
  ASSERT_TRUE(eventually([&] { return inf.stats().lists == 2u; }));
  EXPECT_EQ(requests.matching("sendInitialEvents").size(), 1u) << "asked once, remembered";
  std::lock_guard lock(mu);
  const auto said = std::count_if(logs.begin(), logs.end(), [](const std::string& l) {
    return l.find("does not offer watch-list") != std::string::npos;
  });
  EXPECT_EQ(said, 1);
}

// watch_list Off: the informer never asks (servers that misbehave on it).
TEST(WatchList, OffAlwaysListsThenWatches) {
  RequestLog requests;
  fakeapi::Options fo;
  fo.log = requests.sink();
  auto s = start_fake(fo);
  seed(*s, 3);
  auto o = opts();
  o.watch_list = WatchListMode::Off;
  Lines lines;
  PodInformer inf(client_for(s->url()), lines.handlers(), o);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(lines.get(), adds_then_synced(3));
  EXPECT_EQ(inf.stats().watch_lists, 0u);
  EXPECT_FALSE(inf.stats().watch_list_refused);
  EXPECT_TRUE(requests.matching("sendInitialEvents").empty());
  EXPECT_EQ(s->stats().watch_lists, 0u);
}

// A stream cut inside the initial events changes nothing (no handler runs,
// nothing is stored, not synced); the informer backs off and starts over,
// and the retry's events are not doubled.
TEST(WatchList, StreamCutBeforeTheEndBookmarkIsRetriedWithBackoff) {
  auto s = start_fake();
  seed(*s, 5);
  fakeapi::Faults f;
  f.drop_watch_after = 3;
  s->set_faults(f);
  auto clock = std::make_shared<FakeClock>();
  clock->gate(true);
  Lines lines;
  PodInformer inf(client_for(s->url()), lines.handlers(), opts(clock));
  inf.start();
  ASSERT_TRUE(clock->wait_sleeps(1));
  EXPECT_FALSE(inf.has_synced());
  EXPECT_EQ(inf.size(), 0u);
  EXPECT_TRUE(lines.get().empty());
  EXPECT_EQ(inf.stats().events, 3u) << "three initial events arrived, then the cut";
  EXPECT_NE(inf.stats().last_error, "");
  s->set_faults({});
  clock->gate(false);
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(lines.get(), adds_then_synced(5));
  EXPECT_EQ(clock->sleeps().front(), std::chrono::milliseconds(100)) << "the first backoff step";
  EXPECT_EQ(inf.stats().watch_lists, 1u);
  EXPECT_EQ(inf.stats().synthesized, 0u);
  EXPECT_TRUE(inf.stats().last_error.empty());
  EXPECT_EQ(s->stats().watches_dropped, 1u);
}

// After the initial state, a dropped watch resumes from the last
// resourceVersion with a plain watch: no second watch-list, no relist.
TEST(WatchList, DroppedWatchResumesWithoutAnotherWatchList) {
  RequestLog requests;
  fakeapi::Options fo;
  fo.log = requests.sink();
  auto s = start_fake(fo);
  seed(*s, 3);
  Lines lines;
  PodInformer inf(client_for(s->url()), lines.handlers(), opts());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  const std::string synced_rv = inf.stats().resource_version;
  lines.clear();
  s->drop_watches();
  ASSERT_TRUE(
      s->merge_patch(fakeapi::Kind::Pod, "a", "p1", {{"metadata", {{"labels", {{"v", "2"}}}}}})
          .ok());
  ASSERT_TRUE(lines.wait_for("update a/p1"));
  EXPECT_EQ(lines.get(), (std::vector<std::string>{"update a/p1"}));
  EXPECT_EQ(s->stats().watch_lists, 1u);
  EXPECT_EQ(inf.stats().lists, 1u);
  EXPECT_EQ(inf.stats().synthesized, 0u);
  const auto watches = requests.matching("watch=1");
  ASSERT_GE(watches.size(), 2u);
  EXPECT_EQ(watches[1].find("sendInitialEvents"), std::string::npos) << watches[1];
  EXPECT_NE(watches[1].find("resourceVersion=" + synced_rv), std::string::npos) << watches[1];
}

// 410 Gone: answering the watch-list itself, and later on a resumed watch.
// Each time the informer starts a new watch-list from a consistent read
// ("" resourceVersion) and synthesises what it missed.
TEST(WatchList, GoneStartsANewWatchListFromAConsistentRead) {
  RequestLog requests;
  fakeapi::Options fo;
  fo.log = requests.sink();
  auto s = start_fake(fo);
  seed(*s, 4);
  s->fail_next(410, 1, "sendInitialEvents=true");
  auto clock = std::make_shared<FakeClock>();
  Lines lines;
  PodInformer inf(client_for(s->url()), lines.handlers(), opts(clock));
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(lines.get(), adds_then_synced(4));
  EXPECT_EQ(inf.stats().relists, 1u);
  EXPECT_EQ(clock->sleeps().size(), 1u) << "backoff after the 410, not a busy loop";

  // Now the resumed watch is too old: compaction while the informer is away.
  lines.clear();
  ASSERT_TRUE(eventually([&] { return s->stats().watches >= 1; }));
  clock->gate(true);
  s->fail_next(503, 1, "/api/v1/pods");
  s->drop_watches();
  ASSERT_TRUE(clock->wait_sleeps(2));
  ASSERT_TRUE(s->remove(fakeapi::Kind::Pod, "a", "p3").ok());
  ASSERT_TRUE(s->create(fakeapi::Kind::Pod, "a", pod_json("a", "p7")).ok());
  s->compact();
  clock->gate(false);
  ASSERT_TRUE(lines.wait_for("add a/p7"));
  EXPECT_EQ(lines.get(), (std::vector<std::string>{"delete a/p3", "add a/p7"}));
  const auto st = inf.stats();
  EXPECT_EQ(st.relists, 2u);
  EXPECT_EQ(st.watch_lists, 2u);
  EXPECT_EQ(st.synthesized, 2u);
  EXPECT_EQ(st.list_pages, 0u);
  const auto wl = requests.matching("sendInitialEvents=true");
  ASSERT_EQ(wl.size(), 3u);  // refused with 410, first state, state after the compaction
  for (const auto& l : wl) EXPECT_EQ(l.find("resourceVersion="), std::string::npos) << l;
  auto snap = inf.snapshot();
  ASSERT_EQ(snap.size(), 4u);
  EXPECT_EQ(snap.back().name, "p7");
}

// The fake validates watch-list parameters as kube-apiserver does: 422
// Invalid naming the parameter; an old server refuses resourceVersionMatch.
TEST(WatchList, FakeRefusesIncompleteWatchListRequestsNamingTheParameter) {
  auto s = start_fake();
  auto c = json_client_for(s->url());
  struct Case {
    const char* query;
    const char* says;
  } cases[] = {
      {"watch=1&sendInitialEvents=true&allowWatchBookmarks=true",
       "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch "
       "to NotOlderThan"},
      {"watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
       "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks "
       "to true"},
      {"watch=1&resourceVersionMatch=NotOlderThan",
       "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless "
       "sendInitialEvents is provided"},
      {"watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=Exact",
       "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch "
       "to NotOlderThan"},
  };
  for (const auto& k : cases) {
    auto r = c->get(std::string("/api/v1/pods?") + k.query);
    ASSERT_FALSE(r.ok()) << k.query;
    EXPECT_EQ(r.status().http_status(), 422) << k.query;
    EXPECT_NE(r.status().message().find(k.says), std::string::npos) << r.status().str();
  }
  fakeapi::Options old;
  old.watch_list = false;
  auto o = start_fake(old);
  auto r = json_client_for(o->url())->get(
      "/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
      "resourceVersionMatch=NotOlderThan");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().http_status(), 422);
  EXPECT_NE(r.status().message().find("resourceVersionMatch is forbidden for watch"),
            std::string::npos)
      << r.status().str();
}

// The agent's Pod selector: finished pods are not sent, and a pod that
// finishes leaves the store as a delete, through watch-list and list+watch.
class FinishedPods : public ::testing::TestWithParam<WatchListMode> {};

TEST_P(FinishedPods, LeaveTheFieldSelectorAsADelete) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(fakeapi::Kind::Namespace, "", ns_json("a")).ok());
  for (auto n : {"run", "done", "job"})
    ASSERT_TRUE(s->create(fakeapi::Kind::Pod, "a", pod_json("a", n)).ok());
  ASSERT_TRUE(s->update_status(fakeapi::Kind::Pod, "a", "run", pod_status("10.0.0.1")).ok());
  ASSERT_TRUE(
      s->update_status(fakeapi::Kind::Pod, "a", "done", pod_status("10.0.0.2", "Failed")).ok());
  ASSERT_TRUE(s->update_status(fakeapi::Kind::Pod, "a", "job", pod_status("10.0.0.3")).ok());
  auto o = opts();
  o.watch_list = GetParam();
  o.field_selector = "status.phase!=Succeeded,status.phase!=Failed";
  Lines lines;
  PodInformer inf(client_for(s->url()), lines.handlers(), o);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(std::chrono::seconds(10)));
  EXPECT_EQ(lines.get(), (std::vector<std::string>{"add a/job", "add a/run", "synced"}))
      << "the Failed pod is not sent";
  lines.clear();
  ASSERT_TRUE(
      s->update_status(fakeapi::Kind::Pod, "a", "job", pod_status("10.0.0.3", "Succeeded")).ok());
  ASSERT_TRUE(lines.wait_for("delete a/job"));
  EXPECT_EQ(lines.get(), (std::vector<std::string>{"delete a/job"}));
  auto snap = inf.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].name, "run");
  EXPECT_EQ(inf.stats().watch_lists, GetParam() == WatchListMode::Auto ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, FinishedPods,
                         ::testing::Values(WatchListMode::Auto, WatchListMode::Off),
                         [](const auto& info) {
                           return info.param == WatchListMode::Auto ? "WatchList" : "ListWatch";
                         });

}  // namespace
}  // namespace netpol::k8s::api
