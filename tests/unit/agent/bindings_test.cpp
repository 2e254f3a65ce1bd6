// The agent's netpol-cni binder over a Enforcer with the fake kernel and a
// fake clock: a bind is answered only once the pod's chains are committed,
// within its deadline; refusals (another node, unknown pod, not synced);
// the API's IPs win; release; the state file brings bindings back after a
// restart, in the first table committed.
#include "agent/bindings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <future>
#include <map>

#include "nft/script.h"
#include "tests/support/builders.h"
#include "tests/support/eventually.h"
#include "tests/support/fake_kernel.h"
#include "tests/unit/agent/promparse.h"

namespace netpol::agent {
namespace {

using namespace std::chrono_literals;
using testsupport::pod;

cni::Request request(std::string name, std::vector<std::string> ips, std::string container = "c1",
                     std::string uid = "") {
  cni::Request r;
  r.pod_namespace = "x";
  r.pod_name = name;
  r.pod_uid = uid.empty() ? "uid-x-" + name : uid;
  r.container_id = container;
  r.ifname = "eth0";
  r.netns = "/var/run/netns/t";
  r.ips = std::move(ips);
  r.host_interface = "veth" + name;
  return r;
}

// The binder, a Enforcer standing for the sync thread (driven by the test),
// and the pods the informer cache and the API hold.
struct Rig {
  std::string state = "/tmp/netpol-bindings-test-" + std::to_string(::getpid()) + ".json";
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  testsupport::FakeKernel kernel;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<Enforcer> core;
  std::unique_ptr<Bindings> binder;

  std::mutex mu;  // guards what the binder thread reads and writes
  std::deque<Event> queue;
  std::map<std::string, k8s::Pod> cache, api;  // by "ns/name"
  bool synced = true;
  int gets = 0;

  Rig() { reset(); }
  ~Rig() { std::remove(state.c_str()); }

  // A new agent process over the same kernel and state file.
  void reset() {
    binder.reset();
    registry.reset();
    core = std::make_unique<Enforcer>(kernel, "node1", nullptr, nullptr, clock);
    queue.clear();
    BindingsHooks h;
    h.pods_synced = [this] {
      std::lock_guard l(mu);
      return synced;
    };
    h.cached = [this](const std::string& ns, const std::string& name,
                      const std::string&) -> std::optional<k8s::Pod> {
      std::lock_guard l(mu);
      auto it = cache.find(ns + "/" + name);
      if (it == cache.end()) return std::nullopt;
      return it->second;
    };
    h.fetch = [this](const std::string& ns,
                     const std::string& name) -> Result<std::optional<k8s::Pod>> {
      std::lock_guard l(mu);
      ++gets;
      auto it = api.find(ns + "/" + name);
      if (it == api.end()) return std::optional<k8s::Pod>();
      return std::optional<k8s::Pod>(it->second);
    };
    h.enqueue = [this](Event ev) {
      std::lock_guard l(mu);
      queue.push_back(std::move(ev));
    };
    registry = std::make_unique<Registry>();
    binder = std::make_unique<Bindings>(BindingsConfig{"node1", state}, std::move(h), clock,
                                        registry.get(), nullptr);
  }

  // The informers' initial lists: namespace x, a default-deny policy in it,
  // and `pods` (each also in the cache).
  void list(std::vector<k8s::Pod> pods) {
    feed(Event{Event::Op::Upsert, ResourceKind::Namespace, testsupport::ns("x"), {}});
    feed(Event{Event::Op::Upsert,
               ResourceKind::NetworkPolicy,
               testsupport::ingress_policy("x", "deny", testsupport::sel(), {}),
               {}});
    for (auto& p : pods) informer(p);
    for (auto k : {ResourceKind::Namespace, ResourceKind::Pod, ResourceKind::NetworkPolicy}) {
      feed(Event{Event::Op::Synced, k, {}, {}});
    }
  }
  void informer(const k8s::Pod& p) {
    {
      std::lock_guard l(mu);
      cache[p.key()] = p;
    }
    feed(Event{Event::Op::Upsert, ResourceKind::Pod, p, {}});
  }
  void feed(Event ev) { core->feed(std::move(ev)); }
  // One round of the sync thread: what the binder queued, then an apply.
  size_t sync() {
    std::deque<Event> evs;
    {
      std::lock_guard l(mu);
      evs.swap(queue);
    }
    const size_t n = evs.size();
    for (auto& ev : evs) core->feed(std::move(ev));
    EXPECT_TRUE(core->flush().ok());
    return n;
  }
  bool queued() {
    std::lock_guard l(mu);
    return !queue.empty();
  }
  std::string table() const { return kernel.table ? nft::to_block(*kernel.table) : ""; }
  std::vector<IpAddr> enforced_ips(const std::string& key) const {
    auto it = core->rules().pods.find(key);
    return it == core->rules().pods.end() ? std::vector<IpAddr>{} : it->second.ips;
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    std::string err;
    auto e = testing::parse_exposition(registry->render(), &err);
    EXPECT_TRUE(e) << err;
    if (!e) return -1;
    return e->value(name, labels).value_or(-1);
  }
  // bind() on its own thread, as the CNI server calls it.
  std::future<Status> bind_async(cni::Request r, std::chrono::seconds budget = 10s) {
    const auto deadline = clock->now() + budget;
    return std::async(std::launch::async,
                      [this, r, deadline] { return binder->bind(r, deadline); });
  }
  // A bind whose event the sync thread (here: sync()) takes and commits.
  Status bind_and_sync(cni::Request r) {
    auto answer = bind_async(std::move(r));
    if (!testsupport::eventually([&] { return queued(); }, std::chrono::milliseconds(10000))) {
      return StatusError{"the bind never reached the sync queue"};
    }
    sync();
    return answer.get();
  }
};

k8s::Pod pending(std::string name, std::string node = "node1") {
  return pod("x", std::move(name), std::move(node), {}, {{"app", "new"}}, {},
             k8s::PodPhase::Pending);
}

TEST(Bindings, BindAnswersOnlyOnceThePodsChainsAreCommitted) {
  Rig rig;
  rig.list({pending("new")});
  rig.sync();
  ASSERT_TRUE(rig.enforced_ips("x/new").empty());  // Pending, no IP: nothing to enforce
  const uint64_t gen = rig.kernel.gen;

  auto answer = rig.bind_async(request("new", {"10.0.1.7"}));
  ASSERT_TRUE(testsupport::eventually([&] { return rig.queued(); }, 10000ms));
  EXPECT_EQ(answer.wait_for(100ms), std::future_status::timeout) << "answered before the commit";
  EXPECT_EQ(rig.table().find("10.0.1.7"), std::string::npos);

  rig.sync();  // the sync thread commits the batch with the binding
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(answer.get().ok());
  EXPECT_GT(rig.kernel.gen, gen);
  EXPECT_NE(rig.table().find("10.0.1.7"), std::string::npos);
  EXPECT_EQ(rig.enforced_ips("x/new"), std::vector<IpAddr>{testsupport::ip("10.0.1.7")});
  EXPECT_EQ(rig.metric("netpol_cni_bindings"), 1);
  EXPECT_EQ(rig.metric("netpol_cni_bind_duration_seconds_count"), 1);
}

TEST(Bindings, BindTimesOutAtItsDeadlineWhenNothingIsCommitted) {
  Rig rig;
  rig.list({pending("new")});
  rig.sync();
  auto answer = rig.bind_async(request("new", {"10.0.1.7"}), 5s);
  ASSERT_TRUE(rig.clock->await_parked());
  rig.clock->advance(4s);
  EXPECT_EQ(answer.wait_for(100ms), std::future_status::timeout);
  rig.clock->advance(1s);
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  Status s = answer.get();
  EXPECT_EQ(s.code(), Code::Timeout) << s.str();
  EXPECT_EQ(rig.metric("netpol_cni_refusals_total", {{"op", "bind"}, {"reason", "timeout"}}), 1);
}

TEST(Bindings, RefusesAPodOfAnotherNodeAnUnknownPodAndBeforeTheFirstList) {
  Rig rig;
  rig.list({pending("elsewhere", "node2")});
  rig.sync();
  const auto deadline = rig.clock->now() + 10s;
  EXPECT_EQ(rig.binder->bind(request("elsewhere", {"10.0.1.7"}), deadline).code(), Code::Forbidden);
  EXPECT_EQ(rig.binder->bind(request("ghost", {"10.0.1.8"}), deadline).code(), Code::NotFound);
  EXPECT_EQ(rig.gets, 1);  // not in the cache: asked the API
  EXPECT_EQ(
      rig.binder->bind(request("elsewhere", {"10.0.1.7"}, "c1", "other-uid"), deadline).code(),
      Code::NotFound);
  {
    std::lock_guard l(rig.mu);
    rig.synced = false;
  }
  EXPECT_EQ(rig.binder->bind(request("elsewhere", {"10.0.1.7"}), deadline).code(),
            Code::Unavailable);
  EXPECT_FALSE(rig.queued());
  EXPECT_EQ(rig.binder->size(), 0u);
  EXPECT_EQ(rig.metric("netpol_cni_refusals_total", {{"op", "bind"}, {"reason", "other-node"}}), 1);
  EXPECT_EQ(rig.metric("netpol_cni_refusals_total", {{"op", "bind"}, {"reason", "pod-unknown"}}),
            2);
}

TEST(Bindings, APodOnlyTheApiServerKnowsIsFetchedAndBound) {
  Rig rig;
  rig.list({});
  rig.sync();
  {
    std::lock_guard l(rig.mu);
    rig.api["x/new"] = pending("new");
  }
  ASSERT_TRUE(rig.bind_and_sync(request("new", {"10.0.1.7"})).ok());
  EXPECT_EQ(rig.enforced_ips("x/new"), std::vector<IpAddr>{testsupport::ip("10.0.1.7")});
}

TEST(Bindings, TheApisIpsWinOverTheBindingAndNeverGoToAnotherUid) {
  Rig rig;
  rig.list({pending("new")});
  rig.sync();
  ASSERT_TRUE(rig.bind_and_sync(request("new", {"10.0.1.7"})).ok());

  // The API reports another address for the same UID: the API wins.
  rig.informer(pod("x", "new", "node1", {"10.0.1.9"}, {{"app", "new"}}));
  rig.sync();
  EXPECT_EQ(rig.enforced_ips("x/new"), std::vector<IpAddr>{testsupport::ip("10.0.1.9")});
  EXPECT_EQ(rig.table().find("10.0.1.7"), std::string::npos);

  // The pod is recreated under the same name (a new UID, no IP yet): the old
  // binding does not speak for it.
  rig.feed(Event{Event::Op::Remove, ResourceKind::Pod, rig.cache["x/new"], {}});
  k8s::Pod again = pending("new");
  again.uid = "uid-2";
  rig.informer(again);
  rig.sync();
  EXPECT_TRUE(rig.enforced_ips("x/new").empty());
}

TEST(Bindings, ReleaseFallsBackToTheApiAndIsIdempotent) {
  Rig rig;
  rig.list({pending("new")});
  rig.sync();
  ASSERT_TRUE(rig.bind_and_sync(request("new", {"10.0.1.7"})).ok());
  const auto deadline = rig.clock->now() + 10s;
  EXPECT_TRUE(rig.binder->check(request("new", {"10.0.1.7"}), deadline).ok());
  EXPECT_EQ(rig.binder->check(request("new", {"10.0.1.8"}), deadline).code(), Code::Conflict);

  auto released = std::async(std::launch::async,
                             [&] { return rig.binder->release(request("new", {}), deadline); });
  ASSERT_TRUE(testsupport::eventually([&] { return rig.queued(); }, 10000ms));
  rig.sync();
  EXPECT_TRUE(released.get().ok());
  EXPECT_TRUE(rig.enforced_ips("x/new").empty());
  EXPECT_EQ(rig.table().find("10.0.1.7"), std::string::npos);
  EXPECT_EQ(rig.binder->check(request("new", {"10.0.1.7"}), deadline).code(), Code::NotFound);
  // Again: nothing bound, still fine, nothing queued.
  EXPECT_TRUE(rig.binder->release(request("new", {}), deadline).ok());
  EXPECT_FALSE(rig.queued());
  EXPECT_EQ(rig.metric("netpol_cni_bindings"), 0);
}

TEST(Bindings, ARestartedAgentEnforcesTheBindingsInItsFirstTable) {
  Rig rig;
  rig.list({pending("new")});
  rig.sync();
  ASSERT_TRUE(rig.bind_and_sync(request("new", {"10.0.1.7"})).ok());
  ASSERT_NE(rig.table().find("10.0.1.7"), std::string::npos);

  // The process dies (nothing flushed on the way out) and starts again over
  // the table it left: restore() comes before the informers' lists.
  rig.reset();
  ASSERT_TRUE(rig.binder->restore().ok());
  EXPECT_EQ(rig.binder->size(), 1u);
  EXPECT_EQ(rig.sync(), 1u);  // the binding, queued; nothing synced: no apply
  rig.list({pending("new")});
  rig.sync();  // the first full sync: the table it commits (none: it is as left) has the pod
  EXPECT_TRUE(rig.core->ready());
  EXPECT_NE(rig.table().find("10.0.1.7"), std::string::npos) << rig.table();
  EXPECT_EQ(rig.enforced_ips("x/new"), std::vector<IpAddr>{testsupport::ip("10.0.1.7")});
  EXPECT_TRUE(rig.binder->check(request("new", {"10.0.1.7"}), rig.clock->now() + 1s).ok());

  // Without the state file the first full sync would have dropped the pod's
  // rules until the API reports its IP: the gap restore() closes.
  std::remove(rig.state.c_str());
  rig.reset();
  ASSERT_TRUE(rig.binder->restore().ok());
  rig.list({pending("new")});
  rig.sync();
  EXPECT_EQ(rig.table().find("10.0.1.7"), std::string::npos);
}

TEST(Bindings, ACorruptStateFileIsSetAsideAndDeletedPodsLoseTheirBindings) {
  Rig rig;
  {
    std::ofstream f(rig.state);
    f << "{not json";
  }
  EXPECT_EQ(rig.binder->restore().code(), Code::Malformed);
  EXPECT_EQ(rig.binder->size(), 0u);
  std::ifstream bad(rig.state + ".bad");
  EXPECT_TRUE(bad.good());
  std::remove((rig.state + ".bad").c_str());

  rig.list({pending("new")});
  rig.sync();
  ASSERT_TRUE(rig.bind_and_sync(request("new", {"10.0.1.7"})).ok());
  rig.binder->pod_deleted(pending("new"));
  EXPECT_EQ(rig.binder->size(), 0u);
  rig.reset();
  ASSERT_TRUE(rig.binder->restore().ok());
  EXPECT_EQ(rig.binder->size(), 0u);
}

}  // namespace
}  // namespace netpol::agent
