// Nothing lost under faults: 20,000 namespace, pod and policy changes go
// through the fake API server while it cuts watches, compacts its history
// and answers 500s at random. Afterwards every informer's store, and a mirror
// built only from the handler calls, must equal the server's state exactly.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "k8s/decode.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

// What a consumer reconstructs from handler calls alone, keyed by UID, with
// a count of calls that make no sense (add of a known UID, update or delete
// of an unknown one).
template <typename T>
struct Mirror {
  std::map<std::string, T> objects;
  uint64_t nonsense = 0;

  Handlers<T> handlers() {
    Handlers<T> h;
    h.on_add = [this](const T& o) { nonsense += !objects.emplace(o.uid, o).second; };
    h.on_update = [this](const T& old, const T& o) {
      auto it = objects.find(o.uid);
      if (it == objects.end() || old.uid != o.uid || !(it->second == old)) ++nonsense;
      objects[o.uid] = o;
    };
    h.on_delete = [this](const T& o) { nonsense += objects.erase(o.uid) != 1; };
    return h;
  }
};

// The server's objects, decoded by the same decoder the informers use.
template <typename T>
std::map<std::string, T> server_state(fakeapi::Server& s, Kind k) {
  std::map<std::string, T> out;
  for (const auto& j : s.objects(k)) {
    auto r = decode_json_object(j.dump(), "server");
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
    if constexpr (std::is_same_v<T, Pod>) {
      for (auto& p : r.objects.pods) out.emplace(p.uid, p);
    } else if constexpr (std::is_same_v<T, Namespace>) {
      for (auto& n : r.objects.namespaces) out.emplace(n.uid, n);
    } else {
      for (auto& p : r.objects.policies) out.emplace(p.uid, p);
    }
  }
  return out;
}

template <typename T>
std::map<std::string, T> by_uid(const std::vector<T>& v) {
  std::map<std::string, T> out;
  for (const auto& o : v) out.emplace(o.uid, o);
  return out;
}

TEST(IntegrationSoak, TwentyThousandChangesWithFaultsLoseNothing) {
  constexpr int kChanges = 20'000;
  fakeapi::Options o;
  o.bookmark_interval = std::chrono::milliseconds(100);
  o.history_limit = 3000;  // old versions fall out on their own too
  o.seed = 42;
  o.tokens = {"soak"};
  auto s = start_fake_tls(o);  // HTTPS with a token, as in a cluster
  ASSERT_TRUE(s);

  auto dispatcher = std::make_shared<Dispatcher>();
  InformerOptions io;
  io.dispatcher = dispatcher;
  io.page_size = 100;  // relists paginate, so continue tokens can expire too
  io.watch_timeout_seconds = 5;
  io.backoff = {std::chrono::milliseconds(5), std::chrono::milliseconds(200), 2.0, 0.5};
  io.relist_spread = std::chrono::milliseconds(20);  // spread, but at test speed
  io.log = [](const std::string&) {};                // errors are expected here; counted in stats
  ClientConfig cc;
  cc.server = s->url();
  cc.ca_file = certs().ca_crt;
  cc.token = "soak";
  cc.request_timeout = std::chrono::seconds(5);
  auto made = make_http_client(cc);
  ASSERT_TRUE(made.ok()) << made.status().str();
  auto client = made.value();
  Mirror<Pod> pod_mirror;
  Mirror<Namespace> ns_mirror;
  Mirror<NetworkPolicy> pol_mirror;
  // Pods list and watch (paginated relists, so continue tokens can expire);
  // namespaces and policies get their states by watch-list: both ways
  // under the same faults.
  InformerOptions list_watch = io;
  list_watch.watch_list = WatchListMode::Off;
  PodInformer pods(client, pod_mirror.handlers(), list_watch);
  NamespaceInformer nss(client, ns_mirror.handlers(), io);
  NetworkPolicyInformer pols(client, pol_mirror.handlers(), io);
  pods.start();
  nss.start();
  pols.start();
  ASSERT_TRUE(pods.wait_for_sync(std::chrono::seconds(10)));
  ASSERT_TRUE(nss.wait_for_sync(std::chrono::seconds(10)));
  ASSERT_TRUE(pols.wait_for_sync(std::chrono::seconds(10)));

  std::mt19937_64 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const std::vector<std::string> apps = {"web", "db", "cache", "api", "batch"};
  std::vector<std::string> live_ns;
  std::map<std::string, std::pair<std::string, std::string>> live_pods;  // key -> (ns, name)
  std::map<std::string, std::pair<std::string, std::string>> live_pols;
  std::map<std::string, std::string> ip_of;  // pod key -> IP
  std::vector<std::string> free_ips;         // IPs of deleted pods, reused first
  int next_ip = 1, serial = 0, ip_reuses = 0;
  int changes = 0;
  auto count = [&](const fakeapi::Reply& r) {
    EXPECT_TRUE(r.ok()) << r.body.dump();
    ++changes;
  };
  auto forget_namespace = [&](const std::string& ns) {
    for (auto* m : {&live_pods, &live_pols})
      for (auto it = m->begin(); it != m->end();)
        it = it->second.first == ns ? m->erase(it) : std::next(it);
    for (auto it = ip_of.begin(); it != ip_of.end();) {
      if (it->first.rfind(ns + "/", 0) == 0) {
        free_ips.push_back(it->second);
        it = ip_of.erase(it);
      } else {
        ++it;
      }
    }
  };
  auto assign_ip = [&](const std::string& ns, const std::string& name) {
    std::string ip;
    if (!free_ips.empty()) {
      ip = free_ips.back();  // IP reuse: the address of a pod that is gone
      free_ips.pop_back();
      ++ip_reuses;
    } else {
      ip = "10.244." + std::to_string(next_ip / 250) + "." + std::to_string(next_ip % 250 + 1);
      ++next_ip;
    }
    ip_of[ns + "/" + name] = ip;
    count(s->update_status(Kind::Pod, ns, name, pod_status(ip)));
  };

  while (changes < kChanges) {
    // Faults shift as the run goes: how soon watches are cut, and how often requests fail.
    if (changes % 1000 == 0) {
      fakeapi::Faults f;
      f.drop_watch_after = 20 + pick(200);
      f.error_rate = 0.05 + 0.2 * static_cast<double>(pick(100)) / 100.0;
      f.hang_rate = 0.02;
      f.hang_for = std::chrono::milliseconds(50);
      s->set_faults(f);
    }
    if (chance(0.0015)) s->compact();
    // About 5,000 changes a second: fast enough that watches fall behind and
    // get compacted away, slow enough that most changes arrive as watch events.
    if (changes % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const size_t roll = pick(100);
    if (live_ns.size() < 3 || (roll < 4 && live_ns.size() < 25)) {
      const std::string ns = "ns-" + std::to_string(serial++);
      count(s->create(Kind::Namespace, "", ns_json(ns, {{"team", apps[pick(apps.size())]}})));
      live_ns.push_back(ns);
    } else if (roll < 6) {
      const std::string& ns = live_ns[pick(live_ns.size())];
      count(s->merge_patch(Kind::Namespace, "", ns,
                           {{"metadata", {{"labels", {{"team", apps[pick(apps.size())]}}}}}}));
    } else if (roll < 7 && live_ns.size() > 5) {
      const size_t i = pick(live_ns.size());
      count(s->remove(Kind::Namespace, "", live_ns[i]));
      forget_namespace(live_ns[i]);
      live_ns.erase(live_ns.begin() + static_cast<long>(i));
    } else if (roll < 40 || live_pods.empty()) {
      const std::string ns = live_ns[pick(live_ns.size())];
      const std::string name = "pod-" + std::to_string(serial++);
      count(s->create(Kind::Pod, ns,
                      pod_json(ns, name, {{"app", apps[pick(apps.size())]}},
                               "node" + std::to_string(pick(3)))));
      live_pods[ns + "/" + name] = {ns, name};
      assign_ip(ns, name);
    } else if (roll < 60) {
      auto it = std::next(live_pods.begin(), static_cast<long>(pick(live_pods.size())));
      count(s->merge_patch(
          Kind::Pod, it->second.first, it->second.second,
          {{"metadata",
            {{"labels", {{"app", apps[pick(apps.size())]}, {"rev", std::to_string(serial++)}}}}}}));
    } else if (roll < 75) {
      auto it = std::next(live_pods.begin(), static_cast<long>(pick(live_pods.size())));
      const auto [ns, name] = it->second;
      count(s->remove(Kind::Pod, ns, name));
      if (auto ip = ip_of.find(it->first); ip != ip_of.end()) {
        free_ips.push_back(ip->second);
        ip_of.erase(ip);
      }
      live_pods.erase(it);
      // Half the time a pod of the same name comes back at once (a StatefulSet
      // restart): same name, new UID, likely the same IP.
      if (chance(0.5)) {
        count(s->create(Kind::Pod, ns, pod_json(ns, name, {{"app", apps[pick(apps.size())]}})));
        live_pods[ns + "/" + name] = {ns, name};
        assign_ip(ns, name);
      }
    } else if (roll < 88 || live_pols.empty()) {
      const std::string ns = live_ns[pick(live_ns.size())];
      const std::string name = "np-" + std::to_string(serial++);
      count(
          s->create(Kind::NetworkPolicy, ns,
                    policy_json(ns, name, {{"matchLabels", {{"app", apps[pick(apps.size())]}}}})));
      live_pols[ns + "/" + name] = {ns, name};
    } else if (roll < 95) {
      auto it = std::next(live_pols.begin(), static_cast<long>(pick(live_pols.size())));
      count(s->merge_patch(
          Kind::NetworkPolicy, it->second.first, it->second.second,
          {{"spec", {{"podSelector", {{"matchLabels", {{"app", apps[pick(apps.size())]}}}}}}}}));
    } else {
      auto it = std::next(live_pols.begin(), static_cast<long>(pick(live_pols.size())));
      count(s->remove(Kind::NetworkPolicy, it->second.first, it->second.second));
      live_pols.erase(it);
    }
  }

  // Faults off; the informers must converge on the server's exact state.
  s->set_faults({});
  const auto want_pods = server_state<Pod>(*s, Kind::Pod);
  const auto want_nss = server_state<Namespace>(*s, Kind::Namespace);
  const auto want_pols = server_state<NetworkPolicy>(*s, Kind::NetworkPolicy);
  const bool converged = eventually(
      [&] {
        return by_uid(pods.snapshot()) == want_pods && by_uid(nss.snapshot()) == want_nss &&
               by_uid(pols.snapshot()) == want_pols;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(converged);
  EXPECT_EQ(pods.size(), want_pods.size());
  EXPECT_EQ(nss.size(), want_nss.size());
  EXPECT_EQ(pols.size(), want_pols.size());
  pods.stop();
  nss.stop();
  pols.stop();
  dispatcher->flush();
  // What the handlers were told adds up to the same state.
  EXPECT_EQ(pod_mirror.objects, want_pods);
  EXPECT_EQ(ns_mirror.objects, want_nss);
  EXPECT_EQ(pol_mirror.objects, want_pols);
  EXPECT_EQ(pod_mirror.nonsense + ns_mirror.nonsense + pol_mirror.nonsense, 0u);

  // The run really went through the faults it claims to survive.
  const auto ss = s->stats();
  uint64_t relists = 0, errors = 0, synthesized = 0;
  uint64_t watch_lists = 0;
  for (const auto& st : {pods.stats(), nss.stats(), pols.stats()}) {
    watch_lists += st.watch_lists;
    relists += st.relists;
    errors += st.errors;
    synthesized += st.synthesized;
  }
  std::cout << "soak: " << changes << " changes, final rv " << s->resource_version()
            << "; server: " << ss.watches << " watches, " << ss.watches_dropped << " dropped, "
            << ss.errors_injected << " injected 500s, " << ss.compactions << " compactions, "
            << ss.gone << " 410s; informers: " << relists << " relists, " << errors
            << " failed requests, " << synthesized << " synthesised events; " << ip_reuses
            << " IP reuses; final " << want_pods.size() << " pods, " << want_nss.size()
            << " namespaces, " << want_pols.size() << " policies\n";
  EXPECT_GE(changes, kChanges);
  EXPECT_GT(ss.watches_dropped, 10u);
  EXPECT_GT(ss.errors_injected, 10u);
  EXPECT_GT(ss.compactions, 5u);
  EXPECT_GT(relists, 0u);
  EXPECT_GT(synthesized, 0u);
  EXPECT_GT(ip_reuses, 100);
  EXPECT_EQ(pods.stats().watch_lists, 0u);
  EXPECT_GT(watch_lists, 2u) << "namespaces and policies re-read their states by watch-list";
}

}  // namespace
}  // namespace netpol::k8s::api
