// Proof with the real client: kubectl drives the fake API server over HTTPS
// while our informers watch the same server, and both must agree.
//
// Every kubectl command line is printed to the test log ("$ kubectl ...") so
// a reader can repeat it by hand against build/bin/fake-apiserver.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "k8s/api/json_scan.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

// Namespaces x, y, z and pods a, b, c in each: the lab's model that policies/ is written for.
std::string lab_manifest() {
  std::string y;
  for (std::string ns : {"x", "y", "z"}) {
    // Quoted: YAML 1.1 (kubectl's parser) reads a bare y as true.
    y += "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: '" + ns + "'\n  labels: {ns: '" + ns +
         "'}\n---\n";
  }
  for (std::string ns : {"x", "y", "z"}) {
    for (std::string pod : {"a", "b", "c"}) {
      y += "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + pod + "\n  namespace: '" + ns +
           "'\n  labels: {pod: '" + pod +
           "'}\nspec:\n  nodeName: node1\n  containers:\n  - name: serve\n"
           "    image: registry.example/agnhost:2.40\n    ports:\n";
      for (std::string port : {"53", "80", "81"})
        for (std::string proto : {"TCP", "UDP"}) {
          std::string lower = proto == "TCP" ? "tcp" : "udp";
          y += "    - {name: serve-" + port + "-" + lower + ", containerPort: " + port +
               ", protocol: " + proto + "}\n";
        }
      y += "---\n";
    }
  }
  return y;
}

class IntegrationKubectl : public ::testing::Test {
 protected:
  void SetUp() override {
    kubectl_ = kubectl_path();
    ASSERT_FALSE(kubectl_.empty())
        << "kubectl is not installed (scripts/install-deps.sh installs it)";
    fakeapi::Options o;
    o.tokens = {"kubectl-token"};
    o.bookmark_interval = std::chrono::milliseconds(500);
    server_ = start_fake_tls(o);
    ASSERT_TRUE(server_);
    kubeconfig_ = dir_.write("kubeconfig", kubectl_config(server_->url(), "kubectl-token"));
  }

  // Runs `kubectl --kubeconfig K ARGS`; the exact line goes to the test log.
  int kubectl(const std::string& args, std::string* out = nullptr) {
    return kubectl_raw("--kubeconfig " + kubeconfig_ + " " + args, out);
  }
  int kubectl_raw(const std::string& args, std::string* out = nullptr) {
    return run_logged(kubectl_ + " --cache-dir " + dir_.file("cache") + " " + args, out);
  }

  // The three informers, on one dispatcher, configured from the same kubeconfig.
  void start_informers() {
    auto cfg = load_kubeconfig(kubeconfig_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().str();
    auto c = make_http_client(cfg.value());
    ASSERT_TRUE(c.ok()) << c.status().str();
    InformerOptions o;
    o.dispatcher = std::make_shared<Dispatcher>();
    o.log = [](const std::string& l) { std::cout << "informer: " << l << "\n"; };
    pods_ = std::make_unique<PodInformer>(c.value(), Handlers<Pod>{}, o);
    nss_ = std::make_unique<NamespaceInformer>(c.value(), Handlers<Namespace>{}, o);
    pols_ = std::make_unique<NetworkPolicyInformer>(c.value(), Handlers<NetworkPolicy>{}, o);
    pods_->start();
    nss_->start();
    pols_->start();
    ASSERT_TRUE(pods_->wait_for_sync(std::chrono::seconds(10)));
    ASSERT_TRUE(nss_->wait_for_sync(std::chrono::seconds(10)));
    ASSERT_TRUE(pols_->wait_for_sync(std::chrono::seconds(10)));
  }

  // `kubectl get RESOURCE -A -o json` as {namespace/name: resourceVersion}.
  std::map<std::string, std::string> kubectl_versions(const std::string& resource) {
    std::string out;
    EXPECT_EQ(kubectl("get " + resource + " -A -o json", &out), 0);
    std::map<std::string, std::string> m;
    nlohmann::json list;
    try {
      list = nlohmann::json::parse(out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "kubectl printed no JSON: " << e.what();
      return m;
    }
    for (const auto& i : list["items"]) {
      const std::string ns = i["metadata"].value("namespace", "");
      m[(ns.empty() ? "" : ns + "/") + i["metadata"]["name"].get<std::string>()] =
          i["metadata"]["resourceVersion"];
    }
    return m;
  }

  template <typename T>
  static std::map<std::string, std::string> versions(const std::vector<T>& objs) {
    std::map<std::string, std::string> m;
    for (const auto& o : objs) {
      if constexpr (std::is_same_v<T, Namespace>) {
        m[o.name] = o.resource_version;
      } else {
        m[o.key()] = o.resource_version;
      }
    }
    return m;
  }

  // The informers' stores equal what kubectl lists (waiting for the watches to catch up).
  void expect_agreement() {
    const auto kp = kubectl_versions("pods"), kn = kubectl_versions("namespaces"),
               kpol = kubectl_versions("networkpolicies");
    EXPECT_TRUE(eventually([&] {
      return versions(pods_->snapshot()) == kp && versions(nss_->snapshot()) == kn &&
             versions(pols_->snapshot()) == kpol;
    })) << "informers and kubectl disagree";
  }

  TempDir dir_;
  std::string kubectl_;
  std::unique_ptr<fakeapi::Server> server_;
  std::string kubeconfig_;
  std::unique_ptr<PodInformer> pods_;
  std::unique_ptr<NamespaceInformer> nss_;
  std::unique_ptr<NetworkPolicyInformer> pols_;
};

TEST_F(IntegrationKubectl, CreateGetLabelAnnotateDelete) {
  start_informers();
  const std::string lab = dir_.write("lab.yaml", lab_manifest());
  std::string out;
  ASSERT_EQ(kubectl("create -f " + lab, &out), 0);
  EXPECT_NE(out.find("namespace/x created"), std::string::npos);
  EXPECT_NE(out.find("pod/c created"), std::string::npos);

  // Every recipe under policies/ (README.md is not a manifest; kubectl skips it).
  // kubectl parses YAML 1.1, where a bare y, n, on, off, yes or no is a
  // boolean: a recipe with `namespace: y` or `ns: y` must quote the 'y'.
  const std::string policies = std::string(NETPOL_SOURCE_DIR) + "/policies";
  size_t expected = 0;
  for (const auto& e : std::filesystem::directory_iterator(policies)) {
    if (e.path().extension() != ".yaml") continue;
    const std::string text = read_text(e.path());
    for (size_t p = 0; (p = text.find("kind: NetworkPolicy", p)) != std::string::npos; ++p)
      ++expected;
  }
  ASSERT_GT(expected, 0u);
  ASSERT_EQ(kubectl("create -f " + policies, &out), 0);
  size_t created = 0;
  for (size_t p = 0; (p = out.find("networkpolicy.networking.k8s.io/", p)) != std::string::npos;
       ++p)
    ++created;
  EXPECT_EQ(created, expected);

  ASSERT_EQ(kubectl("get networkpolicies -A -o json", &out), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["items"].size(), expected);
  expect_agreement();
  // The decoded policies are what the compiler will see.
  EXPECT_TRUE(eventually([&] { return pols_->size() == expected; }));
  for (const auto& p : pols_->snapshot())
    EXPECT_TRUE(p.affects_ingress || p.affects_egress) << p.key();

  ASSERT_EQ(kubectl("label pod a -n x color=blue", &out), 0);
  EXPECT_NE(out.find("pod/a labeled"), std::string::npos);
  // Recipe names may change: annotate whichever policy sorts first.
  const NetworkPolicy first = pols_->snapshot().front();
  ASSERT_EQ(kubectl("annotate networkpolicy " + first.name + " -n " + first.ns +
                        " netpol.io/audit=denied",
                    &out),
            0);
  ASSERT_EQ(kubectl("patch pod b -n y --subresource=status --type=merge -p "
                    "'{\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.2.2\",\"podIPs\":[{"
                    "\"ip\":\"10.0.2.2\"},{\"ip\":\"fd00::2:2\"}]}}'",
                    &out),
            0);
  EXPECT_TRUE(eventually([&] {
    for (const auto& p : pods_->snapshot())
      if (p.key() == "x/a" && p.labels.count("color") && p.labels.at("color") == "blue")
        return true;
    return false;
  }));
  EXPECT_TRUE(eventually([&] {
    for (const auto& p : pols_->snapshot())
      if (p.key() == first.key() && p.annotations.count("netpol.io/audit")) return true;
    return false;
  }));
  EXPECT_TRUE(eventually([&] {
    for (const auto& p : pods_->snapshot())
      if (p.key() == "y/b" && p.ips.size() == 2 && p.phase == PodPhase::Running) return true;
    return false;
  }));
  ASSERT_EQ(kubectl("get pod b -n y -o jsonpath={.status.podIP}", &out), 0);
  EXPECT_EQ(out, "10.0.2.2");
  // Human output comes from the server's Table, as from kube-apiserver.
  ASSERT_EQ(kubectl("get pods -n y -o wide", &out), 0);
  EXPECT_TRUE(
      std::regex_search(out, std::regex("\\bb +0/1 +Running +0 +\\S+ +10\\.0\\.2\\.2 +node1\\b")))
      << out;
  ASSERT_EQ(kubectl("get namespaces", &out), 0);
  EXPECT_TRUE(std::regex_search(out, std::regex("\\bx +Active\\b"))) << out;

  // kubectl apply of a change sends a strategic merge patch.
  const std::string applied =
      dir_.write("applied.yaml",
                 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
                 "  name: applied\n  namespace: x\nspec:\n  podSelector: {}\n");
  ASSERT_EQ(kubectl("apply -f " + applied, &out), 0);
  EXPECT_NE(out.find("networkpolicy.networking.k8s.io/applied created"), std::string::npos);
  dir_.write("applied.yaml",
             "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
             "  name: applied\n  namespace: x\nspec:\n  podSelector:\n    matchLabels: {pod: a}\n");
  ASSERT_EQ(kubectl("apply -f " + applied, &out), 0);
  EXPECT_NE(out.find("networkpolicy.networking.k8s.io/applied configured"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    for (const auto& p : pols_->snapshot())
      if (p.key() == "x/applied" && p.pod_selector.match_labels.count("pod")) return true;
    return false;
  }));

  ASSERT_EQ(kubectl("label pod a -n x color-", &out), 0);
  EXPECT_NE(out.find("pod/a unlabeled"), std::string::npos);
  ASSERT_EQ(kubectl("delete pod c -n z", &out), 0);
  EXPECT_NE(out.find("pod \"c\" deleted"), std::string::npos);
  std::set<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(policies))
    if (e.path().extension() == ".yaml") files.insert(e.path().string());
  ASSERT_EQ(kubectl("delete -f " + *files.begin(), &out), 0);
  EXPECT_NE(out.find("deleted"), std::string::npos);
  ASSERT_NE(kubectl("get pod c -n z", &out), 0);
  EXPECT_NE(out.find("NotFound"), std::string::npos);
  expect_agreement();

  // Deleting a namespace takes its pods and policies with it.
  ASSERT_EQ(kubectl("delete namespace y", &out), 0);
  expect_agreement();
  for (const auto& p : pods_->snapshot()) EXPECT_NE(p.ns, "y");
}

TEST_F(IntegrationKubectl, GetWatchSeesEvents) {
  const std::string lab = dir_.write("lab.yaml", lab_manifest());
  ASSERT_EQ(kubectl("create -f " + lab), 0);
  // kubectl get -w runs until killed: start it in the background, remember its pid.
  const std::string events_file = dir_.file("events.json");
  const std::string cmd = kubectl_ + " --cache-dir " + dir_.file("cache") + " --kubeconfig " +
                          kubeconfig_ + " get pods -n x -w --output-watch-events -o json";
  std::cout << "$ " << cmd << " &\n";
  std::string pid_text;
  ASSERT_EQ(run(cmd + " > " + events_file + " 2>&1 & echo $!", &pid_text), 0);
  const pid_t pid = std::stoi(pid_text);
  auto events = [&] {
    std::vector<std::string> out;
    api::json::Framer f;  // kubectl prints one JSON object per event
    f.feed(read_text(events_file));
    while (auto o = f.next()) {
      try {
        auto j = nlohmann::json::parse(*o);
        out.push_back(j["type"].get<std::string>() + " " +
                      j["object"]["metadata"]["name"].get<std::string>());
      } catch (const std::exception&) {
        out.push_back("unparsable");
      }
    }
    return out;
  };
  // The watch starts with the current pods.
  ASSERT_TRUE(eventually([&] { return events().size() >= 3; })) << read_text(events_file);
  ASSERT_EQ(kubectl("label pod b -n x stage=canary"), 0);
  ASSERT_EQ(kubectl("delete pod b -n x"), 0);
  const std::string extra =
      dir_.write("d.yaml",
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: d, namespace: x}\nspec:\n"
                 "  containers: [{name: c, image: registry.example/app:1}]\n");
  ASSERT_EQ(kubectl("create -f " + extra), 0);
  const std::vector<std::string> want = {"ADDED a",    "ADDED b",   "ADDED c",
                                         "MODIFIED b", "DELETED b", "ADDED d"};
  EXPECT_TRUE(eventually([&] { return events() == want; })) << ::testing::PrintToString(events());
  ::kill(pid, SIGTERM);
}

TEST_F(IntegrationKubectl, ServerTokenAndCertificateAuthorityFlags) {
  std::string out;
  const std::string base =
      "--server " + server_->url() + " --certificate-authority " + certs().ca_crt;
  ASSERT_EQ(
      kubectl_raw(
          base + " --token kubectl-token create -f " +
              dir_.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: flags}\n"),
          &out),
      0);
  ASSERT_EQ(kubectl_raw(base + " --token kubectl-token get namespaces -o name", &out), 0);
  EXPECT_EQ(out, "namespace/flags\n");
  // A wrong token: kubectl reports that the server wants credentials.
  EXPECT_NE(kubectl_raw(base + " --token wrong get namespaces", &out), 0);
  EXPECT_NE(out.find("Unauthorized"), std::string::npos) << out;
  // No CA: kubectl refuses the server's certificate.
  EXPECT_NE(
      kubectl_raw("--server " + server_->url() + " --token kubectl-token get namespaces", &out), 0);
  EXPECT_NE(out.find("certificate"), std::string::npos) << out;
  ASSERT_EQ(
      kubectl_raw("--server " + server_->url() +
                      " --insecure-skip-tls-verify --token kubectl-token get namespaces -o name",
                  &out),
      0);
  EXPECT_EQ(out, "namespace/flags\n");
}

// agent/deploy/ as kubectl reads it: every kind maps to a resource the server
// lists (ServiceAccount, DaemonSet, ClusterRole, ClusterRoleBinding), and the
// client-side dry run prints the objects it would create, sending none. The
// fake lists those kinds in discovery without storing them.
TEST_F(IntegrationKubectl, DeployManifestsPassAClientSideDryRun) {
  const std::string deploy = std::string(NETPOL_SOURCE_DIR) + "/agent/deploy/";
  std::string out;
  ASSERT_EQ(kubectl("create --dry-run=client -o json -f " + deploy, &out), 0) << out;
  // One JSON value per file: an object for one manifest, a List for several.
  std::multiset<std::string> kinds;
  std::istringstream stream(out);
  while ((stream >> std::ws).peek() != EOF) {
    nlohmann::json printed;
    try {
      stream >> printed;
    } catch (const std::exception& e) {
      FAIL() << "kubectl printed no JSON: " << e.what() << "\n" << out;
    }
    const auto items =
        printed.value("kind", "") == "List" ? printed["items"] : nlohmann::json::array({printed});
    for (const auto& item : items) {
      const std::string ns = item["metadata"].value("namespace", "");
      kinds.insert(item["apiVersion"].get<std::string>() + " " + item["kind"].get<std::string>() +
                   " " + (ns.empty() ? "" : ns + "/") +
                   item["metadata"]["name"].get<std::string>());
    }
  }
  EXPECT_EQ(kinds, (std::multiset<std::string>{
                       "apps/v1 DaemonSet kube-system/netpol-agent",
                       "v1 ServiceAccount kube-system/netpol-agent",
                       "rbac.authorization.k8s.io/v1 ClusterRole netpol-agent",
                       "rbac.authorization.k8s.io/v1 ClusterRoleBinding netpol-agent",
                   }));

  // The same check fails on a manifest of an API version the server does not
  // serve (DaemonSets left extensions/v1beta1 in Kubernetes 1.16).
  const std::string old_ds = dir_.write(
      "old-ds.yaml",
      "apiVersion: extensions/v1beta1\nkind: DaemonSet\nmetadata: {name: old, namespace: "
      "kube-system}\nspec: {}\n");
  EXPECT_NE(kubectl("create --dry-run=client -o name -f " + old_ds, &out), 0);
  // (kubectl names the file; against the fake it fails while looking for the
  // version's schema, against a real server at the kind mapping.)
  EXPECT_NE(out.find("old-ds.yaml"), std::string::npos) << out;

  // Listed, not stored: asking for them says so instead of pretending.
  EXPECT_NE(kubectl("get daemonsets -A", &out), 0);
  EXPECT_NE(out.find("discovery only"), std::string::npos) << out;
}

// kubectl's typed-client commands send protobuf (Content-Type
// application/vnd.kubernetes.protobuf, Accept protobuf then JSON): `create
// namespace`, and `debug --copy-to` (the copy's create and, with --replace,
// the original's delete). The fake decodes them and answers JSON, which
// kubectl takes. `kubectl run` sends JSON. -v=7 prints the request headers,
// so the test notices if kubectl stops sending protobuf.
TEST_F(IntegrationKubectl, TypedClientCommandsSendProtobuf) {
  start_informers();
  const std::string protobuf = "Content-Type: application/vnd.kubernetes.protobuf";
  std::string out;
  ASSERT_EQ(kubectl("create namespace pb -v=7", &out), 0) << out;
  EXPECT_NE(out.find(protobuf), std::string::npos) << "not protobuf, the test proves nothing";
  EXPECT_NE(out.find("namespace/pb created"), std::string::npos) << out;
  ASSERT_EQ(kubectl("get ns pb -o json", &out), 0);
  const auto ns = nlohmann::json::parse(out);
  EXPECT_EQ(ns["metadata"]["name"], "pb");
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "pb");

  ASSERT_EQ(kubectl("run web -n pb --image=busybox --labels=app=web,tier=fe --port=8080", &out), 0)
      << out;
  auto pod_json = [&](const std::string& name) {
    EXPECT_EQ(kubectl("get pod " + name + " -n pb -o json", &out), 0) << out;
    try {
      return nlohmann::json::parse(out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "kubectl printed no JSON: " << e.what();
      return nlohmann::json::object();
    }
  };
  const auto web = pod_json("web");
  EXPECT_EQ(web["metadata"]["namespace"], "pb");
  EXPECT_EQ(web["metadata"]["labels"], nlohmann::json({{"app", "web"}, {"tier", "fe"}}));
  EXPECT_EQ(web["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);

  // The copy keeps labels (--keep-labels, honoured by the general profile)
  // and the container's port, and adds the debug container.
  ASSERT_EQ(kubectl("debug web -n pb --copy-to=web-copy --keep-labels --profile=general "
                    "--image=busybox --container=dbg -v=7 -- sleep 1",
                    &out),
            0)
      << out;
  EXPECT_NE(out.find(protobuf), std::string::npos) << "not protobuf, the test proves nothing";
  const auto copy = pod_json("web-copy");
  EXPECT_EQ(copy["metadata"]["name"], "web-copy");
  EXPECT_EQ(copy["metadata"]["namespace"], "pb");
  EXPECT_EQ(copy["metadata"]["labels"], nlohmann::json({{"app", "web"}, {"tier", "fe"}}));
  ASSERT_EQ(copy["spec"]["containers"].size(), 2u) << copy.dump();
  EXPECT_EQ(copy["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(copy["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
  EXPECT_EQ(copy["spec"]["containers"][1]["name"], "dbg");

  // What the agent sees: both pods, with their labels and port.
  auto informer_has = [&](const std::string& key) {
    for (const auto& p : pods_->snapshot()) {
      if (p.key() != key) continue;
      return p.labels.count("app") && p.labels.at("app") == "web" && p.labels.count("tier") &&
             p.labels.at("tier") == "fe" && p.ports.size() == 1 && p.ports[0].port == 8080;
    }
    return false;
  };
  EXPECT_TRUE(eventually([&] { return informer_has("pb/web") && informer_has("pb/web-copy"); }));
  EXPECT_TRUE(eventually([&] {
    for (const auto& n : nss_->snapshot())
      if (n.name == "pb") return true;
    return false;
  }));

  // --replace deletes the original through the typed client: protobuf DeleteOptions.
  ASSERT_EQ(kubectl("debug web-copy -n pb --copy-to=web-2 --replace --keep-labels "
                    "--profile=general --image=busybox --container=dbg2 -v=7 -- sleep 1",
                    &out),
            0)
      << out;
  EXPECT_NE(out.find("DELETE"), std::string::npos) << out;
  EXPECT_NE(kubectl("get pod web-copy -n pb", &out), 0);
  EXPECT_NE(out.find("NotFound"), std::string::npos) << out;
  EXPECT_TRUE(eventually([&] { return informer_has("pb/web-2") && !informer_has("pb/web-copy"); }));
  expect_agreement();
}

// A path the fake does not serve answers 404 the way a real server does
// (a Status with empty details): kubectl debug with an ephemeral container
// (pods/ephemeralcontainers, not served) then reports the feature as off,
// as against a cluster without it, instead of crashing on a nil pointer.
TEST_F(IntegrationKubectl, UnservedSubresourceIsAPlainNotFound) {
  std::string out;
  const std::string pod =
      dir_.write("pod.yaml",
                 "apiVersion: v1\nkind: Namespace\nmetadata: {name: dbg}\n---\n"
                 "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: dbg}\n"
                 "spec: {containers: [{name: c, image: busybox}]}\n");
  ASSERT_EQ(kubectl("create -f " + pod, &out), 0) << out;
  EXPECT_NE(kubectl("-n dbg debug p --image=busybox", &out), 0);
  EXPECT_EQ(out.find("panic"), std::string::npos) << out;
  EXPECT_NE(out.find("ephemeral containers are disabled"), std::string::npos) << out;
}

}  // namespace
}  // namespace netpol::k8s::api
