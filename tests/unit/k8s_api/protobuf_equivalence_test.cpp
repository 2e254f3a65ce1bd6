// JSON and protobuf give the same model objects: generated Namespaces, Pods
// and NetworkPolicies go into the fake API server, and are listed (in pages)
// and watched once as JSON and once as protobuf; every decoded object must be
// equal, field for field, and equal to what was generated.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "k8s/decode.h"
#include "tests/fakeapi/protobuf.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;
using fakeapi::Kind;
using nlohmann::json;

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); }
  bool coin(int percent = 50) { return pick(100) < static_cast<size_t>(percent); }

  std::string value() {
    static const char* v[] = {"a", "web", "db", "x-1", "frontend", "", "v1.2", "Z_z"};
    return v[pick(std::size(v))];
  }
  Labels labels() {
    static const char* k[] = {"app", "tier", "team", "example.com/role", "env", "k8s.io/x"};
    Labels l;
    for (size_t i = 0, n = pick(4); i < n; ++i) l.emplace(k[pick(std::size(k))], value());
    return l;
  }
  LabelSelector selector() {
    LabelSelector s;
    s.match_labels = labels();
    for (size_t i = 0, n = pick(3); i < n; ++i) {
      Requirement r;
      r.key = std::string("key") + std::to_string(i);
      r.op = static_cast<Requirement::Op>(pick(4));
      if (r.op == Requirement::Op::In || r.op == Requirement::Op::NotIn)
        for (size_t j = 0, m = 1 + pick(3); j < m; ++j) r.values.push_back("v" + std::to_string(j));
      s.match_expressions.push_back(r);
    }
    return s;
  }
  Protocol protocol() {
    static const Protocol p[] = {Protocol::TCP, Protocol::UDP, Protocol::SCTP};
    return p[pick(3)];
  }
  IpAddr ip(bool v6) {
    std::string s = v6 ? "fd00::" + std::to_string(1 + pick(9000))
                       : "10." + std::to_string(pick(256)) + "." + std::to_string(pick(256)) + "." +
                             std::to_string(1 + pick(254));
    return *IpAddr::parse(s);
  }
  Pod pod(const std::string& ns, int i) {
    Pod p;
    p.ns = ns;
    p.name = "pod-" + std::to_string(i);
    p.node_name = coin() ? "node1" : "node-" + std::to_string(pick(50));
    p.host_network = coin(10);
    p.labels = labels();
    for (size_t j = 0, n = pick(4); j < n; ++j)
      p.ports.push_back({coin() ? "p" + std::to_string(j) : "",
                         static_cast<uint16_t>(1 + pick(65535)), protocol()});
    p.phase = static_cast<PodPhase>(pick(5));
    if (coin(80)) p.ips.push_back(ip(false));
    if (coin(30)) p.ips.push_back(ip(true));
    return p;
  }
  Peer peer() {
    Peer peer;
    if (coin(25)) {
      IpBlock b;
      const std::string net = "10." + std::to_string(pick(256));
      b.cidr = *Cidr::parse(net + ".0.0/16");
      if (coin()) b.except.push_back(*Cidr::parse(net + ".1.0/24"));
      peer.ip_block = b;
    } else {
      if (coin(70)) peer.pod_selector = selector();
      if (!peer.pod_selector || coin(40)) peer.namespace_selector = selector();
    }
    return peer;
  }
  std::vector<PolicyRule> rules() {
    std::vector<PolicyRule> out;
    for (size_t i = 0, n = pick(3); i < n; ++i) {
      PolicyRule r;
      for (size_t j = 0, m = pick(3); j < m; ++j) {
        PolicyPort pp;
        pp.protocol = protocol();
        switch (pick(4)) {
          case 0:
            break;
          case 1:
            pp.port = "http";
            break;
          case 2:
            pp.port = static_cast<uint16_t>(1 + pick(1000));
            break;
          default:
            pp.port = static_cast<uint16_t>(1 + pick(1000));
            pp.end_port = static_cast<uint16_t>(1000 + pick(1000));
        }
        r.ports.push_back(pp);
      }
      for (size_t j = 0, m = pick(3); j < m; ++j) r.peers.push_back(peer());
      out.push_back(r);
    }
    return out;
  }
  NetworkPolicy policy(const std::string& ns, int i) {
    NetworkPolicy np;
    np.ns = ns;
    np.name = "np-" + std::to_string(i);
    np.pod_selector = selector();
    np.affects_ingress = coin(80);
    np.affects_egress = !np.affects_ingress || coin(40);
    if (np.affects_ingress) np.ingress = rules();
    if (np.affects_egress) np.egress = rules();
    return np;
  }
};

// Every item of every page (page size 7), decoded as the informer does.
template <typename T>
std::vector<T> list_all(ApiClient& c, const ResourceRef& res, Encoding want, std::string* rv) {
  std::vector<T> out;
  ListOptions lo;
  lo.limit = 7;
  for (;;) {
    auto page = c.list(res, lo);
    EXPECT_TRUE(page.ok()) << page.status().str();
    if (!page.ok()) return out;
    EXPECT_EQ(page.value().encoding, want);
    for (const auto& item : page.value().items) {
      DecodeResult r = want == Encoding::Protobuf
                           ? decode_protobuf_object(item, res.kind, "", "list")
                           : decode_json_object(item, "list");
      EXPECT_TRUE(r.ok()) << r.errors.front().str();
      if constexpr (std::is_same_v<T, Pod>)
        out.insert(out.end(), r.objects.pods.begin(), r.objects.pods.end());
      if constexpr (std::is_same_v<T, Namespace>)
        out.insert(out.end(), r.objects.namespaces.begin(), r.objects.namespaces.end());
      if constexpr (std::is_same_v<T, NetworkPolicy>)
        out.insert(out.end(), r.objects.policies.begin(), r.objects.policies.end());
    }
    *rv = page.value().resource_version;
    if (page.value().continue_token.empty()) return out;
    lo.continue_token = page.value().continue_token;
  }
}

// The first `n` events after `rv`, as "TYPE" + the decoded object.
template <typename T>
std::vector<std::pair<EventType, T>> watch_n(ApiClient& c, const ResourceRef& res,
                                             const std::string& rv, size_t n, Encoding want) {
  std::vector<std::pair<EventType, T>> out;
  Status st = c.watch(res, {.resource_version = rv, .timeout_seconds = 5}, [&](WatchEvent&& e) {
    if (e.type == EventType::Bookmark) return true;
    EXPECT_EQ(e.encoding, want);
    DecodeResult r = want == Encoding::Protobuf
                         ? decode_protobuf_object(e.object, res.kind, "", "watch")
                         : decode_json_object(e.object, "watch");
    EXPECT_TRUE(r.ok()) << r.errors.front().str();
    if constexpr (std::is_same_v<T, Pod>) {
      if (!r.objects.pods.empty()) out.emplace_back(e.type, r.objects.pods.front());
    } else {
      if (!r.objects.policies.empty()) out.emplace_back(e.type, r.objects.policies.front());
    }
    EXPECT_EQ(e.resource_version, out.empty() ? "" : out.back().second.resource_version);
    return out.size() < n;
  });
  EXPECT_TRUE(st.ok()) << st.str();
  return out;
}

TEST(ProtobufEquivalence, GeneratedObjectsListAndWatchTheSameAsJson) {
  fakeapi::Options o;
  o.keep_pod_status = true;
  auto s = start_fake(o);
  Gen g(42);
  std::vector<Pod> want_pods;
  std::vector<NetworkPolicy> want_policies;
  for (int n = 0; n < 6; ++n) {
    Namespace ns{.name = "ns" + std::to_string(n)};
    ns.labels = g.labels();
    auto m = testsupport::manifest(ns);
    if (g.coin()) m["metadata"]["annotations"] = {{"netpol.io/audit", "all"}, {"other", "x"}};
    ASSERT_TRUE(s->create(Kind::Namespace, "", m).ok());
    for (int i = 0; i < 25; ++i) {
      Pod p = g.pod(ns.name, i);
      json pm = testsupport::manifest(p);
      // A sidecar (an init container with restartPolicy Always): its ports count.
      if (g.coin(20)) {
        pm["spec"]["initContainers"] = json::array(
            {{{"name", "side"},
              {"image", "s:1"},
              {"restartPolicy", "Always"},
              {"ports", json::array({{{"containerPort", 9000 + i}, {"name", "side"}}})}}});
      }
      auto r = s->create(Kind::Pod, ns.name, pm);
      ASSERT_TRUE(r.ok()) << r.body.dump();
      want_pods.push_back(p);
    }
    for (int i = 0; i < 8; ++i) {
      NetworkPolicy np = g.policy(ns.name, i);
      auto r = s->create(Kind::NetworkPolicy, ns.name, testsupport::manifest(np));
      ASSERT_TRUE(r.ok()) << r.body.dump();
      want_policies.push_back(np);
    }
  }
  auto js = json_client_for(s->url());
  auto pb = client_for(s->url());

  std::string rv_json, rv_pb;
  auto ns_json_list = list_all<Namespace>(*js, kNamespaces, Encoding::Json, &rv_json);
  auto ns_pb_list = list_all<Namespace>(*pb, kNamespaces, Encoding::Protobuf, &rv_pb);
  EXPECT_EQ(rv_json, rv_pb);
  ASSERT_EQ(ns_json_list.size(), 6u);
  EXPECT_EQ(ns_json_list, ns_pb_list);
  EXPECT_EQ(ns_pb_list.size(), 6u);

  auto pods_json = list_all<Pod>(*js, kPods, Encoding::Json, &rv_json);
  auto pods_pb = list_all<Pod>(*pb, kPods, Encoding::Protobuf, &rv_pb);
  ASSERT_EQ(pods_json.size(), want_pods.size());
  ASSERT_EQ(pods_pb.size(), want_pods.size());
  size_t with_ports = 0, sidecars = 0;
  for (size_t i = 0; i < pods_json.size(); ++i) {
    EXPECT_EQ(pods_json[i], pods_pb[i]) << pods_json[i].key();
    EXPECT_FALSE(pods_pb[i].uid.empty());
    with_ports += !pods_pb[i].ports.empty();
    sidecars += !pods_pb[i].ports.empty() && pods_pb[i].ports.back().name == "side";
  }
  EXPECT_GT(with_ports, 50u);
  EXPECT_GT(sidecars, 5u);

  auto pols_json = list_all<NetworkPolicy>(*js, kNetworkPolicies, Encoding::Json, &rv_json);
  auto pols_pb = list_all<NetworkPolicy>(*pb, kNetworkPolicies, Encoding::Protobuf, &rv_pb);
  ASSERT_EQ(pols_pb.size(), want_policies.size());
  EXPECT_EQ(pols_json, pols_pb);
  // And what was generated (the store lists by namespace/name, as generated here).
  std::sort(want_policies.begin(), want_policies.end(),
            [](const auto& a, const auto& b) { return a.key() < b.key(); });
  for (size_t i = 0; i < pols_pb.size(); ++i) {
    NetworkPolicy got = pols_pb[i];
    got.uid.clear();
    got.resource_version.clear();
    EXPECT_EQ(got, want_policies[i]) << got.key();
  }

  // Watches: changes after the list, once in each encoding.
  const std::string from = rv_pb;
  for (int i = 0; i < 20; ++i) {
    Pod p = g.pod("ns" + std::to_string(i % 6), 1000 + i);
    ASSERT_TRUE(s->create(Kind::Pod, p.ns, testsupport::manifest(p)).ok());
    json patch{{"metadata", {{"labels", {{"changed", std::to_string(i)}}}}}};
    ASSERT_TRUE(s->merge_patch(Kind::Pod, p.ns, p.name, patch).ok());
    if (i % 3 == 0) {
      ASSERT_TRUE(s->remove(Kind::Pod, p.ns, p.name).ok());
    }
  }
  auto ev_json = watch_n<Pod>(*js, kPods, from, 47, Encoding::Json);
  auto ev_pb = watch_n<Pod>(*pb, kPods, from, 47, Encoding::Protobuf);
  ASSERT_EQ(ev_json.size(), 47u);
  EXPECT_EQ(ev_json, ev_pb);
  size_t deletes = 0;
  for (const auto& e : ev_pb) deletes += e.first == EventType::Deleted;
  EXPECT_EQ(deletes, 7u);
}

TEST(ProtobufEquivalence, CustomResourcesAndForcedJsonStayJson) {
  auto s = start_fake();
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  auto pb = client_for(s->url());
  // ClusterNetworkPolicy is a CRD: no protobuf encoding exists, the client asks for JSON.
  const ResourceRef cnps{"/apis/policy.networking.k8s.io/v1alpha2", "clusternetworkpolicies",
                         "ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2", false};
  auto page = pb->list(cnps, {});
  ASSERT_TRUE(page.ok()) << page.status().str();
  EXPECT_EQ(page.value().encoding, Encoding::Json);
  // A server that answers JSON although protobuf was asked for: JSON is read.
  fakeapi::Options o;
  o.protobuf = false;
  auto plain = start_fake(o);
  ASSERT_TRUE(plain->create(Kind::Namespace, "", ns_json("b")).ok());
  auto c = client_for(plain->url());
  auto l = c->list(kNamespaces, {});
  ASSERT_TRUE(l.ok()) << l.status().str();
  EXPECT_EQ(l.value().encoding, Encoding::Json);
  ASSERT_EQ(l.value().items.size(), 1u);
  EXPECT_EQ(json::parse(l.value().items[0])["metadata"]["name"], "b");
  auto p = pb->list(kNamespaces, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().encoding, Encoding::Protobuf);
}

// Objects the fake never stores (terminating pods) and invalid ones: the
// protobuf path gives the same object, or the same error text, as JSON.
TEST(ProtobufEquivalence, TerminatingAndInvalidObjectsMatchJson) {
  json terminating = pod_json("a", "p");
  terminating["metadata"]["uid"] = "u1";
  terminating["metadata"]["deletionTimestamp"] = "2026-01-02T03:04:05Z";
  terminating["status"] = pod_status("10.0.0.9");
  json bad_port = pod_json("a", "q");
  bad_port["metadata"]["uid"] = "u2";
  bad_port["spec"]["containers"][0]["ports"][0]["containerPort"] = 70000;
  json bad_label = pod_json("a", "r", {{"app", "not a valid value!"}});
  bad_label["metadata"]["uid"] = "u3";
  json bad_policy = policy_json("a", "np");
  bad_policy["metadata"]["uid"] = "u4";
  bad_policy["spec"]["ingress"][0]["ports"] = json::array({{{"port", "http"}, {"endPort", 90}}});
  json bad_cidr = policy_json("a", "np2");
  bad_cidr["metadata"]["uid"] = "u5";
  bad_cidr["spec"]["ingress"][0]["from"] = json::array({{{"ipBlock", {{"cidr", "10.0.0.1/40"}}}}});
  for (const json* o : {&terminating, &bad_port, &bad_label, &bad_policy, &bad_cidr}) {
    const std::string kind = (*o)["kind"];
    DecodeResult j = decode_json_object(o->dump(), "watch");
    DecodeResult p =
        decode_protobuf_object(fakeapi::encode_protobuf_object(*o, kind), kind, "", "watch");
    ASSERT_EQ(j.errors.size(), p.errors.size()) << o->dump();
    for (size_t i = 0; i < j.errors.size(); ++i) EXPECT_EQ(j.errors[i].str(), p.errors[i].str());
    EXPECT_EQ(j.objects.pods, p.objects.pods);
    EXPECT_EQ(j.objects.policies, p.objects.policies);
  }
  DecodeResult t = decode_protobuf_object(fakeapi::encode_protobuf_object(terminating, "Pod"),
                                          "Pod", "", "watch");
  ASSERT_EQ(t.objects.pods.size(), 1u);
  EXPECT_TRUE(t.objects.pods[0].terminating);
  EXPECT_FALSE(
      decode_protobuf_object(fakeapi::encode_protobuf_object(bad_port, "Pod"), "Pod", "", "watch")
          .ok());
}

// A server that answers one request with `response` (status line, headers,
// body as given) and closes: for bodies the fake would never send.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      request_ = req;
      size_t off = 0;
      while (off < response_.size()) {
        const ssize_t n = ::write(c, response_.data() + off, response_.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  std::string response_, request_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string protobuf_response(const std::string& body, const char* type) {
  return std::string("HTTP/1.1 200 OK\r\nContent-Type: ") + type +
         "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

TEST(ProtobufClient, AsksForProtobufAndRefusesMalformedLists) {
  const std::string pod = fakeapi::encode_protobuf_object(pod_json("a", "p"), "Pod");
  const std::string good = fakeapi::encode_protobuf_list("v1", "Pod", {pod}, "5", "");
  struct Case {
    std::string body;
    const char* says;
  } cases[] = {
      {good.substr(0, good.size() - 3), "list runtime.Unknown"},
      {"k8s", "no \"k8s\\0\" prefix"},
      {fakeapi::encode_protobuf_list("v1", "Namespace", {}, "5", ""),
       "protobuf list of kind \"NamespaceList\""},
      {fakeapi::encode_protobuf_list("v1", "Pod", {pod}, "", ""), "no metadata.resourceVersion"},
  };
  for (const auto& c : cases) {
    OneShotServer srv(protobuf_response(c.body, "application/vnd.kubernetes.protobuf"));
    auto r = client_for(srv.url())->list(kPods, {});
    ASSERT_FALSE(r.ok()) << c.says;
    EXPECT_EQ(r.status().code(), Code::Malformed);
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().str();
    EXPECT_NE(srv.request().find("Accept:application/vnd.kubernetes.protobuf, application/json"),
              std::string::npos)
        << srv.request();
  }
  // The same list, whole, is read; --api-content-type json asks for JSON only.
  OneShotServer ok(protobuf_response(good, "application/vnd.kubernetes.protobuf"));
  auto r = client_for(ok.url())->list(kPods, {});
  ASSERT_TRUE(r.ok()) << r.status().str();
  EXPECT_EQ(r.value().items, std::vector<std::string>{pod});
  OneShotServer js(
      protobuf_response(R"({"metadata":{"resourceVersion":"1"},"items":[]})", "application/json"));
  ASSERT_TRUE(json_client_for(js.url())->list(kPods, {}).ok());
  EXPECT_NE(js.request().find("Accept:application/json\r\n"), std::string::npos) << js.request();
}

TEST(ProtobufClient, TornAndOversizedWatchFramesEndTheWatch) {
  const std::string pod = fakeapi::encode_protobuf_object(pod_json("a", "p"), "Pod");
  const std::string ev = fakeapi::encode_protobuf_watch_event("ADDED", "v1", "Pod", pod);
  const char* type = "application/vnd.kubernetes.protobuf;stream=watch";
  {
    // One whole event, then half of the next: the first is delivered, then Unavailable.
    OneShotServer srv(protobuf_response(ev + ev.substr(0, ev.size() / 2), type));
    size_t got = 0;
    Status st = client_for(srv.url())->watch(kPods, {}, [&](WatchEvent&&) { return ++got, true; });
    EXPECT_EQ(got, 1u);
    EXPECT_EQ(st.code(), Code::Unavailable) << st.str();
    EXPECT_NE(st.message().find("inside an event"), std::string::npos) << st.str();
  }
  {
    // A length prefix of 1 GiB is refused before anything is buffered.
    OneShotServer srv(protobuf_response(std::string("\x40\0\0\0", 4) + "xxxx", type));
    Status st = client_for(srv.url())->watch(kPods, {}, [&](WatchEvent&&) { return true; });
    EXPECT_EQ(st.code(), Code::Malformed) << st.str();
    EXPECT_NE(st.message().find("larger than"), std::string::npos) << st.str();
  }
  {
    // An event of another kind, and a 410 ERROR.
    OneShotServer srv(protobuf_response(
        fakeapi::encode_protobuf_watch_event("ADDED", "v1", "Namespace", pod), type));
    Status st = client_for(srv.url())->watch(kPods, {}, [&](WatchEvent&&) { return true; });
    EXPECT_EQ(st.code(), Code::Malformed) << st.str();
    OneShotServer gone(
        protobuf_response(fakeapi::encode_protobuf_watch_event(
                              "ERROR", "v1", "Status",
                              fakeapi::encode_protobuf_status({{"status", "Failure"},
                                                               {"message", "too old"},
                                                               {"reason", "Expired"},
                                                               {"code", 410}})),
                          type));
    st = client_for(gone.url())->watch(kPods, {}, [&](WatchEvent&&) { return true; });
    EXPECT_EQ(st.code(), Code::Gone) << st.str();
    EXPECT_NE(st.message().find("too old"), std::string::npos) << st.str();
  }
}

}  // namespace
}  // namespace netpol::k8s::api
