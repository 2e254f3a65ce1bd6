// The HTTP client against the fake API server: lists, watches, errors, TLS.
#include "k8s/api/client.h"

#include <gtest/gtest.h>

#include <future>

#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

void seed_pods(fakeapi::Server& s, const std::string& ns, int n) {
  ASSERT_TRUE(s.create(Kind::Namespace, "", ns_json(ns)).ok());
  for (int i = 0; i < n; ++i) {
    auto r = s.create(Kind::Pod, ns, pod_json(ns, "pod-" + std::to_string(100 + i)));
    ASSERT_TRUE(r.ok()) << r.body.dump();
  }
}

TEST(Client, PaginatedListIsOneConsistentSnapshot) {
  auto s = start_fake();
  seed_pods(*s, "team-a", 25);
  auto c = json_client_for(s->url());
  ListOptions lo{.limit = 10};
  std::vector<std::string> items;
  std::string first_rv;
  int pages = 0;
  for (;;) {
    auto page = c->list(kPods, lo);
    ASSERT_TRUE(page.ok()) << page.status().str();
    ++pages;
    if (first_rv.empty()) {
      first_rv = page.value().resource_version;
      // Writes between pages must not show up in later pages.
      ASSERT_TRUE(s->create(Kind::Pod, "team-a", pod_json("team-a", "pod-999")).ok());
      ASSERT_TRUE(s->remove(Kind::Pod, "team-a", "pod-124").ok());
    }
    EXPECT_EQ(page.value().resource_version, first_rv);
    for (auto& i : page.value().items) items.push_back(i);
    if (page.value().continue_token.empty()) break;
    lo.continue_token = page.value().continue_token;
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(items.size(), 25u);
  // Items come back with kind/apiVersion filled in, although the server leaves them out.
  auto first = json::parse(items[0]);
  EXPECT_EQ(first["kind"], "Pod");
  EXPECT_EQ(first["apiVersion"], "v1");
  EXPECT_EQ(first["metadata"]["name"], "pod-100");
  EXPECT_EQ(json::parse(items[24])["metadata"]["name"], "pod-124");
}

TEST(Client, ContinueTokenOlderThanACompactionIsGone) {
  auto s = start_fake();
  seed_pods(*s, "team-a", 5);
  auto c = client_for(s->url());
  ListOptions lo{.limit = 2};
  auto page = c->list(kPods, lo);
  ASSERT_TRUE(page.ok());
  s->compact();
  lo.continue_token = page.value().continue_token;
  auto next = c->list(kPods, lo);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), Code::Gone);
  EXPECT_EQ(next.status().http_status(), 410);
}

TEST(Client, SelectorsAndNamespaceScope) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("b")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "web", {{"app", "web"}}, "n1")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "db", {{"app", "db"}}, "n2")).ok());
  ASSERT_TRUE(s->create(Kind::Pod, "b", pod_json("b", "web", {{"app", "web"}}, "n1")).ok());
  auto c = json_client_for(s->url());
  auto names = [&](ListOptions lo) {
    std::vector<std::string> out;
    auto page = c->list(kPods, lo);
    EXPECT_TRUE(page.ok()) << page.status().str();
    if (!page.ok()) return out;
    for (const auto& i : page.value().items) {
      auto j = json::parse(i);
      out.push_back(j["metadata"]["namespace"].get<std::string>() + "/" +
                    j["metadata"]["name"].get<std::string>());
    }
    return out;
  };
  EXPECT_EQ(names({.ns = "a"}), (std::vector<std::string>{"a/db", "a/web"}));
  EXPECT_EQ(names({.label_selector = "app in (web)"}),
            (std::vector<std::string>{"a/web", "b/web"}));
  EXPECT_EQ(names({.field_selector = "spec.nodeName=n2"}), (std::vector<std::string>{"a/db"}));
  auto bad = c->list(kPods, {.field_selector = "spec.color=blue"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::InvalidArgument);
  EXPECT_NE(bad.status().message().find("field label not supported"), std::string::npos);
}

TEST(Client, WatchStreamsEventsInOrderThenEndsAtTimeout) {
  fakeapi::Options o;
  o.bookmark_interval = std::chrono::milliseconds(200);
  auto s = start_fake(o);
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  const std::string rv = std::to_string(s->resource_version());
  auto c = json_client_for(s->url());
  std::vector<WatchEvent> events;
  std::promise<void> first;
  std::atomic<bool> first_set{false};
  auto fut = std::async(std::launch::async, [&] {
    return c->watch(kPods, {.resource_version = rv, .timeout_seconds = 2, .allow_bookmarks = true},
                    [&](WatchEvent&& ev) {
                      events.push_back(std::move(ev));
                      if (!first_set.exchange(true)) first.set_value();
                      return true;
                    });
  });
  ASSERT_TRUE(s->create(Kind::Pod, "a", pod_json("a", "p")).ok());
  ASSERT_TRUE(s->update_status(Kind::Pod, "a", "p", pod_status("10.0.0.1")).ok());
  ASSERT_TRUE(s->remove(Kind::Pod, "a", "p").ok());
  Status st = fut.get();
  EXPECT_TRUE(st.ok()) << st.str();
  std::vector<std::string> types;
  uint64_t last_rv = 0;
  for (const auto& e : events) {
    if (e.type == EventType::Bookmark) {
      types.push_back("BOOKMARK");
      continue;
    }
    types.push_back(to_string(e.type));
    const uint64_t erv = std::stoull(e.resource_version);
    EXPECT_GT(erv, last_rv) << "resourceVersions increase";
    last_rv = erv;
    EXPECT_EQ(json::parse(e.object)["kind"], "Pod");
  }
  std::vector<std::string> changes;
  for (const auto& t : types)
    if (t != "BOOKMARK") changes.push_back(t);
  EXPECT_EQ(changes, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
  EXPECT_GE(std::count(types.begin(), types.end(), "BOOKMARK"), 2)
      << "a 2 s watch with 200 ms bookmarks";
}

TEST(Client, SilentWatchIsEndedAfterTheIdleTimeout) {
  fakeapi::Options o;
  o.bookmark_interval = std::chrono::milliseconds(0);  // a server that sends no bookmarks
  auto s = start_fake(o);
  ClientConfig cfg;
  cfg.server = s->url();
  cfg.watch_idle_timeout = std::chrono::milliseconds(300);
  auto c = make_http_client(cfg);
  ASSERT_TRUE(c.ok());
  const auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  Status st = c.value()->watch(kPods, {.resource_version = "1", .timeout_seconds = 60},
                               [&](WatchEvent&&) { return ++n, true; });
  EXPECT_TRUE(st.ok()) << st.str();
  EXPECT_EQ(n, 0);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(5)) << "not the 60 s the server would take";
}

TEST(Client, WatchFromCompactedVersionIsGoneBothWays) {
  for (bool http_status : {false, true}) {
    fakeapi::Options o;
    o.gone_as_http_status = http_status;
    auto s = start_fake(o);
    ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
    const std::string old_rv = std::to_string(s->resource_version());
    ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("b")).ok());
    s->compact();
    auto c = client_for(s->url());
    int n = 0;
    Status st = c->watch(kNamespaces, {.resource_version = old_rv, .timeout_seconds = 5},
                         [&](WatchEvent&&) { return ++n, true; });
    EXPECT_EQ(st.code(), Code::Gone) << st.str();
    EXPECT_EQ(st.http_status(), 410);
    EXPECT_EQ(n, 0);
    EXPECT_NE(st.message().find(http_status ? "410" : "ERROR event"), std::string::npos)
        << st.message();
  }
}

TEST(Client, DroppedWatchIsABrokenStream) {
  fakeapi::Options o;
  o.faults.drop_watch_after = 2;
  auto s = start_fake(o);
  for (auto n : {"a", "b", "c"}) ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json(n)).ok());
  auto c = client_for(s->url());
  int n = 0;
  Status st = c->watch(kNamespaces, {.resource_version = "1", .timeout_seconds = 5},
                       [&](WatchEvent&&) { return ++n, true; });
  EXPECT_EQ(n, 2);
  EXPECT_EQ(st.code(), Code::Unavailable) << st.str();
}

TEST(Client, UnauthorizedAndForbiddenSayWhatToFix) {
  auto s = start_fake({.tokens = {"good"}});
  auto bad = client_for(s->url(), "wrong");
  auto r = bad->list(kPods, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::Unauthorized);
  EXPECT_NE(r.status().message().find(s->url() + "/api/v1/pods"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("token"), std::string::npos);

  auto good = client_for(s->url(), "good");
  EXPECT_TRUE(good->list(kPods, {}).ok());
  s->fail_next(403, 1, "/networkpolicies");
  auto f = good->list(kNetworkPolicies, {});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::Forbidden);
  EXPECT_NE(f.status().message().find("RBAC"), std::string::npos) << f.status().message();
  EXPECT_TRUE(good->list(kNetworkPolicies, {}).ok()) << "only the next request was refused";
}

TEST(Client, RotatedTokenFileIsPickedUp) {
  auto s = start_fake({.tokens = {"token-1"}});
  TempDir d;
  d.write("token", "token-1");
  ClientConfig cfg;
  cfg.server = s->url();
  cfg.token_file = d.file("token");
  auto c = make_http_client(cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c.value()->list(kPods, {}).ok());
  // The server moves on to a new token and the kubelet writes it to the file.
  s->set_tokens({"token-2"});
  d.write("token.tmp", "token-2");
  std::filesystem::rename(d.file("token.tmp"), d.file("token"));
  auto r = c.value()->list(kPods, {});
  EXPECT_TRUE(r.ok()) << r.status().str();
}

TEST(Client, HangingServerTimesOut) {
  fakeapi::Options o;
  o.faults.hang_rate = 1.0;
  o.faults.hang_for = std::chrono::seconds(5);
  auto s = start_fake(o);
  auto c = client_for(s->url(), "", std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c->list(kPods, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::Timeout) << r.status().str();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(Client, InjectedServerErrorIsUnavailable) {
  auto s = start_fake();
  auto c = client_for(s->url());
  s->fail_next(500, 1, "/api/v1/pods");
  auto r = c->list(kPods, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::Unavailable);
  EXPECT_EQ(r.status().http_status(), 500);
}

TEST(Client, CancelEndsABlockedWatch) {
  auto s = start_fake();
  auto c = client_for(s->url());
  Canceller cancel;
  auto fut = std::async(std::launch::async, [&] {
    return c->watch(
        kPods, {.resource_version = "1", .timeout_seconds = 60}, [](WatchEvent&&) { return true; },
        &cancel);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  cancel.cancel();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(fut.get().code(), Code::Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // A cancelled Canceller fails later calls at once.
  EXPECT_EQ(c->list(kPods, {}, &cancel).status().code(), Code::Cancelled);
}

TEST(Client, NoServerIsUnavailable) {
  // Bind a port, then close it: nothing listens there.
  auto s = start_fake();
  const std::string url = s->url();
  s->stop();
  auto c = client_for(url, "", std::chrono::seconds(2));
  auto r = c->list(kPods, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::Unavailable) << r.status().str();
  EXPECT_NE(r.status().message().find(url), std::string::npos);
}

// HTTPS with the server's CA and a token from a kubeconfig, as the issue asks.
TEST(ClientTls, KubeconfigWithCaDataAndToken) {
  auto s = start_fake_tls({.tokens = {"s3cret"}});
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  TempDir d;
  std::string ca_b64;
  ASSERT_EQ(run("base64 -w0 " + certs().ca_crt, &ca_b64), 0);
  const auto kc = d.write("kubeconfig",
                          "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                          "clusters:\n- name: fake\n  cluster:\n    server: " +
                              s->url() + "\n    certificate-authority-data: " + ca_b64 +
                              "\nusers:\n- name: agent\n  user:\n    token: s3cret\n"
                              "contexts:\n- name: fake\n  context: {cluster: fake, user: agent}\n");
  auto cfg = load_kubeconfig(kc);
  ASSERT_TRUE(cfg.ok()) << cfg.status().str();
  auto c = make_http_client(cfg.value());
  ASSERT_TRUE(c.ok()) << c.status().str();
  auto r = c.value()->list(kNamespaces, {});
  ASSERT_TRUE(r.ok()) << r.status().str();
  EXPECT_EQ(r.value().items.size(), 1u);
}

TEST(ClientTls, InClusterLayout) {
  auto s = start_fake_tls({.tokens = {"sa-token"}});
  TempDir d;
  d.write("token", "sa-token\n");
  std::filesystem::copy_file(certs().ca_crt, d.file("ca.crt"));
  d.write("namespace", "netpol-system");
  const std::string port = std::to_string(s->port());
  InClusterEnv env{d.path(), [&](const std::string& k) -> std::optional<std::string> {
                     if (k == "KUBERNETES_SERVICE_HOST") return "127.0.0.1";
                     if (k == "KUBERNETES_SERVICE_PORT") return port;
                     return std::nullopt;
                   }};
  auto cfg = in_cluster_config(env);
  ASSERT_TRUE(cfg.ok()) << cfg.status().str();
  auto c = make_http_client(cfg.value());
  ASSERT_TRUE(c.ok()) << c.status().str();
  auto r = c.value()->list(kPods, {});
  EXPECT_TRUE(r.ok()) << r.status().str();
}

TEST(ClientTls, WrongCaIsRefusedAndInsecureSkipsVerification) {
  auto s = start_fake_tls();
  ClientConfig cfg;
  cfg.server = s->url();
  cfg.ca_file = certs().other_ca_crt;
  cfg.request_timeout = std::chrono::seconds(5);
  auto c = make_http_client(cfg);
  ASSERT_TRUE(c.ok());
  auto r = c.value()->list(kPods, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::Unavailable) << r.status().str();

  cfg.ca_file.clear();
  cfg.insecure_skip_tls_verify = true;
  auto insecure = make_http_client(cfg);
  ASSERT_TRUE(insecure.ok());
  EXPECT_TRUE(insecure.value()->list(kPods, {}).ok());
}

TEST(ClientTls, ClientCertificateAuthenticates) {
  fakeapi::Options o;
  o.tokens = {"only-for-others"};
  o.client_ca_file = certs().ca_crt;
  auto s = start_fake_tls(o);
  ClientConfig cfg;
  cfg.server = s->url();
  cfg.ca_file = certs().ca_crt;
  auto anonymous = make_http_client(cfg);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous.value()->list(kPods, {}).status().code(), Code::Unauthorized);
  cfg.client_cert_file = certs().client_crt;
  cfg.client_key_file = certs().client_key;
  auto with_cert = make_http_client(cfg);
  ASSERT_TRUE(with_cert.ok()) << with_cert.status().str();
  auto r = with_cert.value()->list(kPods, {});
  EXPECT_TRUE(r.ok()) << r.status().str();
}

TEST(ClientTls, BadPemIsReportedWhenTheClientIsMade) {
  TempDir d;
  ClientConfig cfg;
  cfg.server = "https://127.0.0.1:1";
  cfg.ca_file = d.write("ca.crt", "not a certificate");
  auto c = make_http_client(cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::InvalidArgument);
  EXPECT_NE(c.status().message().find("TLS material"), std::string::npos) << c.status().message();
  cfg.ca_file = d.file("missing.crt");
  c = make_http_client(cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(d.file("missing.crt")), std::string::npos)
      << c.status().message();
}

}  // namespace
}  // namespace netpol::k8s::api
