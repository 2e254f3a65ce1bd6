// agent/deploy/: what the issue asks of the manifests, read with yaml-cpp:
// a DaemonSet with hostNetwork, NET_ADMIN, NODE_NAME from the downward API,
// tolerations for every node, probes on /healthz and /readyz at the port the
// agent serves, resource requests; a ServiceAccount; a ClusterRole with
// get/list/watch on pods, namespaces, nodes, networkpolicies and
// clusternetworkpolicies, bound to it.
// kubectl's own reading of the same files (client-side dry run against the
// fake API server) is IntegrationKubectl.DeployManifestsPassAClientSideDryRun.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

std::vector<YAML::Node> load(const std::string& file) {
  return YAML::LoadAllFromFile(std::string(NETPOL_SOURCE_DIR) + "/agent/deploy/" + file);
}

YAML::Node find(const std::vector<YAML::Node>& docs, const std::string& kind) {
  for (const auto& d : docs) {
    if (d["kind"].as<std::string>() == kind) return d;
  }
  ADD_FAILURE() << "no " << kind;
  return YAML::Node();
}

std::set<std::string> strings(const YAML::Node& list) {
  std::set<std::string> out;
  for (const auto& v : list) out.insert(v.as<std::string>());
  return out;
}

TEST(Deploy, DaemonSetRunsTheAgentOnEveryNodeWithWhatItNeeds) {
  const auto ds = find(load("daemonset.yaml"), "DaemonSet");
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds["apiVersion"].as<std::string>(), "apps/v1");
  const auto spec = ds["spec"]["template"]["spec"];
  EXPECT_TRUE(spec["hostNetwork"].as<bool>());
  EXPECT_EQ(spec["serviceAccountName"].as<std::string>(), "netpol-agent");
  bool tolerates_all = false;
  for (const auto& t : spec["tolerations"]) {
    tolerates_all |= t["operator"].as<std::string>() == "Exists" && !t["key"] && !t["effect"];
  }
  EXPECT_TRUE(tolerates_all) << "a bare `operator: Exists` toleration runs it on every node";
  using Labels = std::map<std::string, std::string>;
  EXPECT_EQ(ds["spec"]["selector"]["matchLabels"].as<Labels>(),
            ds["spec"]["template"]["metadata"]["labels"].as<Labels>())
      << "the selector must match the pod template";

  ASSERT_EQ(spec["containers"].size(), 1u);
  const auto c = spec["containers"][0];
  EXPECT_TRUE(strings(c["securityContext"]["capabilities"]["add"]).contains("NET_ADMIN"));
  EXPECT_TRUE(strings(c["securityContext"]["capabilities"]["drop"]).contains("ALL"));
  bool node_name = false;
  for (const auto& e : c["env"]) {
    node_name |= e["name"].as<std::string>() == "NODE_NAME" &&
                 e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "spec.nodeName";
  }
  EXPECT_TRUE(node_name) << "NODE_NAME from the downward API";

  // The probes hit the port the agent listens on.
  std::string addr;
  for (const auto& a : c["args"]) {
    const std::string s = a.as<std::string>();
    if (s.rfind("--metrics-addr=", 0) == 0) addr = s.substr(15);
  }
  ASSERT_FALSE(addr.empty());
  const int port = std::stoi(addr.substr(addr.rfind(':') + 1));
  std::map<std::string, int> named;
  for (const auto& p : c["ports"])
    named[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  auto probe_port = [&](const YAML::Node& probe) {
    const auto p = probe["httpGet"]["port"];
    return p.IsScalar() && named.contains(p.as<std::string>()) ? named[p.as<std::string>()]
                                                               : p.as<int>();
  };
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(probe_port(c["livenessProbe"]), port);
  EXPECT_EQ(probe_port(c["readinessProbe"]), port);
  EXPECT_TRUE(c["resources"]["requests"]["cpu"]);
  EXPECT_TRUE(c["resources"]["requests"]["memory"]);
}

// netpol-cni (docs/cni.md): an init container installs it into the host's CNI
// directories, and the agent serves the socket the installed entry names on
// a host path the runtime's plugin can reach.
TEST(Deploy, InitContainerInstallsNetpolCniForTheAgentsSocket) {
  const auto ds = find(load("daemonset.yaml"), "DaemonSet");
  ASSERT_TRUE(ds);
  const auto spec = ds["spec"]["template"]["spec"];
  std::map<std::string, std::string> host_paths;  // volume -> host path
  for (const auto& v : spec["volumes"]) {
    if (v["hostPath"])
      host_paths[v["name"].as<std::string>()] = v["hostPath"]["path"].as<std::string>();
  }
  auto flag = [](const YAML::Node& list, const std::string& name) {
    for (const auto& a : list) {
      const std::string s = a.as<std::string>();
      if (s.rfind(name + "=", 0) == 0) return s.substr(name.size() + 1);
    }
    return std::string();
  };
  auto host_path_of = [&](const YAML::Node& c, const std::string& mount) {
    for (const auto& m : c["volumeMounts"]) {
      if (m["mountPath"].as<std::string>() == mount) return host_paths[m["name"].as<std::string>()];
    }
    return std::string();
  };
  ASSERT_EQ(spec["initContainers"].size(), 1u);
  const auto init = spec["initContainers"][0];
  ASSERT_GE(init["command"].size(), 2u);
  EXPECT_EQ(init["command"][0].as<std::string>(), "/usr/local/bin/netpol-cni");
  EXPECT_EQ(init["command"][1].as<std::string>(), "install");
  EXPECT_EQ(host_path_of(init, flag(init["command"], "--bin-dir")), "/opt/cni/bin");
  EXPECT_EQ(host_path_of(init, flag(init["command"], "--conf-dir")), "/etc/cni/net.d");
  const auto agent = spec["containers"][0];
  const std::string socket = flag(agent["args"], "--cni-socket");
  EXPECT_EQ(socket, flag(init["command"], "--socket"));
  ASSERT_FALSE(socket.empty());
  const std::string dir = socket.substr(0, socket.rfind('/'));
  EXPECT_EQ(host_path_of(agent, dir), dir) << "the runtime on the host reaches the same path";
}

TEST(Deploy, RbacGrantsReadOnlyAccessToTheResourcesTheInformersWatch) {
  const auto docs = load("rbac.yaml");
  const auto sa = find(docs, "ServiceAccount");
  const auto role = find(docs, "ClusterRole");
  const auto binding = find(docs, "ClusterRoleBinding");
  ASSERT_TRUE(sa && role && binding);
  std::map<std::string, std::set<std::string>> verbs;  // "group/resource" -> verbs
  for (const auto& rule : role["rules"]) {
    for (const auto& g : rule["apiGroups"]) {
      for (const auto& r : rule["resources"]) {
        for (const auto& v : rule["verbs"]) {
          verbs[g.as<std::string>() + "/" + r.as<std::string>()].insert(v.as<std::string>());
        }
      }
    }
  }
  const std::set<std::string> read = {"get", "list", "watch"};
  EXPECT_EQ(verbs["/pods"], read);
  EXPECT_EQ(verbs["/namespaces"], read);
  EXPECT_EQ(verbs["/nodes"], read);
  EXPECT_EQ(verbs["networking.k8s.io/networkpolicies"], read);
  EXPECT_EQ(verbs["policy.networking.k8s.io/clusternetworkpolicies"], read);
  EXPECT_EQ(verbs.size(), 5u) << "nothing beyond what the informers need";
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(),
            role["metadata"]["name"].as<std::string>());
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(),
            sa["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(),
            sa["metadata"]["namespace"].as<std::string>());
  const auto ds = find(load("daemonset.yaml"), "DaemonSet");
  EXPECT_EQ(ds["metadata"]["namespace"].as<std::string>(),
            sa["metadata"]["namespace"].as<std::string>());
}

}  // namespace
