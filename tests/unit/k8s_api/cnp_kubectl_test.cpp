// ClusterNetworkPolicy and Node against the fake API server, driven by the
// real kubectl: the CRD's discovery, printer columns, apply (client-side:
// create, then JSON merge patches), 422 for invalid objects, the no-CRD 404
// and installing the CRD later. Every kubectl line goes to the test log.
#include <gtest/gtest.h>

#include <regex>

#include "k8s/cnp.h"
#include "k8s/decode.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;

const std::string kRecipes = std::string(NETPOL_SOURCE_DIR) + "/policies/cnp";

constexpr const char* kInvalid = R"(apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 1001
  subject: {namespaces: {}}
  egress:
  - {action: Deny, to: [{networks: [10.0.0.0/33]}]}
)";

class IntegrationCnpKubectl : public ::testing::Test {
 protected:
  void start(bool with_crd) {
    kubectl_ = kubectl_path();
    ASSERT_FALSE(kubectl_.empty()) << "kubectl is not installed";
    fakeapi::Options o;
    o.tokens = {"kubectl-token"};
    o.install_cnp_crd = with_crd;
    server_ = start_fake_tls(o);
    ASSERT_TRUE(server_);
    kubeconfig_ = dir_.write("kubeconfig", kubectl_config(server_->url(), "kubectl-token"));
  }

  int kubectl(const std::string& args, std::string* out = nullptr) {
    return run_logged(kubectl_ + " --cache-dir " + dir_.file("cache") + " --kubeconfig " +
                          kubeconfig_ + " " + args,
                      out);
  }

  std::vector<std::string> stored_names() {
    std::vector<std::string> names;
    for (const auto& o : server_->objects(Kind::ClusterNetworkPolicy))
      names.push_back(o["metadata"]["name"]);
    return names;
  }

  TempDir dir_;
  std::string kubectl_;
  std::unique_ptr<fakeapi::Server> server_;
  std::string kubeconfig_;
};

TEST_F(IntegrationCnpKubectl, ApplyGetPrintsTheCrdColumnsAndDelete) {
  start(true);
  std::string out;
  ASSERT_EQ(kubectl("api-resources --api-group policy.networking.k8s.io", &out), 0);
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(clusternetworkpolicies +cnp +policy.networking.k8s.io/v1alpha2 +false +)"
                      R"(ClusterNetworkPolicy)")))
      << out;

  ASSERT_EQ(kubectl("apply -f " + kRecipes, &out), 0);
  EXPECT_NE(out.find("clusternetworkpolicy.policy.networking.k8s.io/isolate-restricted created"),
            std::string::npos);
  EXPECT_EQ(stored_names(),
            (std::vector<std::string>{"baseline-default-deny", "delegate-to-namespaces",
                                      "isolate-restricted"}));

  ASSERT_EQ(kubectl("get cnp", &out), 0);
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(^NAME +TIER +PRIORITY +AGE\n)"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nbaseline-default-deny +Baseline +100 +\d+s)")))
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nisolate-restricted +Admin +10 +\d+s)")))
      << out;

  // Re-applying changes nothing; an edited file is a merge patch.
  ASSERT_EQ(kubectl("apply -f " + kRecipes, &out), 0);
  EXPECT_NE(out.find("isolate-restricted unchanged"), std::string::npos);
  const uint64_t rv = server_->resource_version();
  std::string text = read_text(kRecipes + "/isolate-restricted.yaml");
  text.replace(text.find("priority: 10"), 12, "priority: 20");
  ASSERT_EQ(kubectl("apply -f " + dir_.write("iso.yaml", text), &out), 0);
  EXPECT_NE(out.find("isolate-restricted configured"), std::string::npos);
  EXPECT_EQ(server_->resource_version(), rv + 1);
  ASSERT_EQ(kubectl("get cnp isolate-restricted", &out), 0);
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nisolate-restricted +Admin +20 )"))) << out;

  // What kubectl stored decodes to the model the agent will use.
  fakeapi::Reply got = server_->get(Kind::ClusterNetworkPolicy, "", "isolate-restricted");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.body["metadata"]["generation"], 2);
  DecodeResult d = decode_json_object(got.body.dump(), "fake");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d.objects.cluster_policies.size(), 1u);
  EXPECT_EQ(d.objects.cluster_policies[0].priority, 20);
  EXPECT_EQ(d.objects.cluster_policies[0].ingress.at(0).action, CnpAction::Deny);

  ASSERT_EQ(kubectl("delete cnp isolate-restricted", &out), 0);
  EXPECT_NE(out.find("\"isolate-restricted\" deleted"), std::string::npos);
  EXPECT_EQ(stored_names(),
            (std::vector<std::string>{"baseline-default-deny", "delegate-to-namespaces"}));
  ASSERT_EQ(kubectl("delete -f " + kRecipes + " --ignore-not-found", &out), 0);
  EXPECT_TRUE(stored_names().empty());
}

TEST_F(IntegrationCnpKubectl, InvalidObjectsAre422WithEveryCause) {
  start(true);
  std::string out;
  EXPECT_NE(kubectl("apply -f " + dir_.write("bad.yaml", kInvalid), &out), 0);
  EXPECT_NE(out.find(R"(The ClusterNetworkPolicy "guard" is invalid)"), std::string::npos) << out;
  EXPECT_NE(out.find("spec.priority: invalid value 1001: must be between 0 and 1000, inclusive"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(R"(spec.egress[0].to[0].networks[0]: invalid value "10.0.0.0/33")"),
            std::string::npos)
      << out;
  EXPECT_TRUE(stored_names().empty());

  // In process, the same: 422 and a cause per field. A peer with only an
  // unknown field is pruned by the v0.2.0 CRD, so it is refused too.
  fakeapi::Reply r = server_->create(
      Kind::ClusterNetworkPolicy, "",
      json::parse(R"({"metadata":{"name":"future"},"spec":{"tier":"Baseline","priority":1,
        "subject":{"namespaces":{}},"ingress":[{"action":"Deny","from":[{"services":{}}]}]}})"));
  EXPECT_EQ(r.code, 422);
  EXPECT_EQ(r.body["details"]["causes"][0]["field"], "spec.ingress[0].from[0]");
  // An update must pass the same checks.
  ASSERT_EQ(kubectl("apply -f " + kRecipes + "/baseline-default-deny.yaml", &out), 0);
  EXPECT_NE(
      kubectl("patch cnp baseline-default-deny --type merge -p '{\"spec\":{\"tier\":\"Low\"}}'",
              &out),
      0);
  EXPECT_NE(out.find(R"(spec.tier: unsupported value "Low")"), std::string::npos) << out;
}

TEST_F(IntegrationCnpKubectl, WithoutTheCrdThe404ThenInstallingItLater) {
  start(false);
  std::string out;
  EXPECT_NE(kubectl("get cnp", &out), 0);
  EXPECT_NE(out.find(R"(the server doesn't have a resource type "cnp")"), std::string::npos) << out;
  EXPECT_NE(
      kubectl("get --raw /apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies", &out), 0);
  EXPECT_NE(out.find("NotFound"), std::string::npos) << out;
  ASSERT_EQ(kubectl("api-resources", &out), 0);
  EXPECT_EQ(out.find("clusternetworkpolicies"), std::string::npos) << out;
  EXPECT_EQ(
      server_->create(Kind::ClusterNetworkPolicy, "", json::parse(R"({"metadata":{"name":"a"}})"))
          .code,
      404);

  // Installing the CRD with kubectl makes the group appear, no restart.
  const std::string crd = dir_.write("crd.json", fakeapi::cnp_crd_object().dump(2));
  ASSERT_EQ(kubectl("apply -f " + crd, &out), 0);
  EXPECT_NE(out.find("customresourcedefinition.apiextensions.k8s.io/" +
                     std::string(fakeapi::kCnpCrdName) + " created"),
            std::string::npos);
  ASSERT_EQ(kubectl("get crd", &out), 0);
  EXPECT_NE(out.find(fakeapi::kCnpCrdName), std::string::npos);
  ASSERT_EQ(kubectl("apply -f " + kRecipes, &out), 0);
  ASSERT_EQ(kubectl("get cnp", &out), 0);
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\ndelegate-to-namespaces +Admin +50 )"))) << out;
  EXPECT_EQ(stored_names().size(), 3u);

  // Another CRD is not ours to serve.
  EXPECT_NE(kubectl("apply -f " + dir_.write("other.yaml",
                                             "apiVersion: apiextensions.k8s.io/v1\n"
                                             "kind: CustomResourceDefinition\n"
                                             "metadata: {name: widgets.example.com}\n"
                                             "spec: {group: example.com}\n"),
                    &out),
            0);
  EXPECT_NE(out.find("fake-apiserver serves only the CRD"), std::string::npos) << out;

  // Deleting the CRD deletes its objects and the group again.
  ASSERT_EQ(kubectl(std::string("delete crd ") + fakeapi::kCnpCrdName, &out), 0);
  EXPECT_NE(
      kubectl("get --raw /apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies", &out), 0);
  ASSERT_EQ(kubectl("apply -f " + crd, &out), 0);
  EXPECT_TRUE(stored_names().empty());
}

TEST_F(IntegrationCnpKubectl, NodesCreateGetDelete) {
  start(true);
  std::string out;
  const std::string node =
      dir_.write("node.yaml",
                 "apiVersion: v1\nkind: Node\nmetadata:\n  name: node1\n  labels:\n"
                 "    node-role.kubernetes.io/control-plane: ''\nstatus:\n  addresses:\n"
                 "  - {type: InternalIP, address: 192.168.0.10}\n"
                 "  - {type: Hostname, address: node1}\n"
                 "  conditions: [{type: Ready, status: 'True'}]\n"
                 "  nodeInfo: {kubeletVersion: v1.32.0}\n");
  ASSERT_EQ(kubectl("create -f " + node, &out), 0);
  EXPECT_NE(out.find("node/node1 created"), std::string::npos);
  ASSERT_EQ(kubectl("get nodes", &out), 0);
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\nnode1 +Ready +control-plane +\d+s +v1.32.0)")))
      << out;
  ASSERT_EQ(kubectl("get no node1 -o json", &out), 0);
  DecodeResult d = decode_json_object(out, "kubectl");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d.objects.nodes.size(), 1u);
  EXPECT_EQ(d.objects.nodes[0].addresses,
            (std::vector<IpAddr>{IpAddr::parse("192.168.0.10").value()}));
  ASSERT_EQ(kubectl("delete node node1", &out), 0);
  EXPECT_TRUE(server_->objects(Kind::Node).empty());
}

}  // namespace
}  // namespace netpol::k8s::api
