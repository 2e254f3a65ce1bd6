// netpol-cni chained after Debian's containernetworking-plugins the way a
// runtime (libcni) runs a conflist: each plugin in turn with the previous
// one's result as prevResult; CHECK in order, DEL in reverse order with the
// cached result. The plugins run inside a "node" network namespace the test
// makes (the bridge and host veths live there), the pod gets its own; both
// are deleted at the end, with everything in them. Needs root and
// /usr/lib/cni (scripts/install-deps.sh); skipped, not passed, without.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/cni/server.h"
#include "tests/unit/cni/harness.h"

namespace netpol::cni {
namespace {

using json = nlohmann::json;
using test::ProgramRun;

constexpr const char* kPluginDir = "/usr/lib/cni";
constexpr const char* kIp = "/usr/sbin/ip";

struct Namespaces {
  std::string node, pod;
  ~Namespaces() {
    for (const auto& n : {pod, node}) {
      if (!n.empty()) test::run_program(kIp, {}, "", {"netns", "del", n});
    }
  }
};

class Runtime {
 public:
  Runtime(json conflist, std::string node_ns, std::map<std::string, std::string> env)
      : conflist_(std::move(conflist)), node_ns_(std::move(node_ns)), env_(std::move(env)) {}

  // Runs COMMAND over the conflist; the last result (ADD) or "" and every step's output.
  ProgramRun run(const std::string& command, const json& cached) {
    auto plugins = conflist_["plugins"];
    std::vector<json> order(plugins.begin(), plugins.end());
    if (command == "DEL") std::reverse(order.begin(), order.end());
    json prev = cached;
    ProgramRun last;
    for (const json& p : order) {
      json conf = p;
      conf["cniVersion"] = conflist_["cniVersion"];
      conf["name"] = conflist_["name"];
      if (!prev.is_null()) conf["prevResult"] = prev;
      const std::string type = p["type"];
      const std::string binary =
          type == "netpol-cni" ? test::plugin_path() : std::string(kPluginDir) + "/" + type;
      auto env = env_;
      env["CNI_COMMAND"] = command;
      last = test::run_program(kIp, env, conf.dump(), {"netns", "exec", node_ns_, binary});
      if (last.exit_code != 0) {
        last.err = type + " " + command + " failed: " + last.out + last.err;
        return last;
      }
      if (command == "ADD") prev = json::parse(last.out);
    }
    return last;
  }

 private:
  json conflist_;
  std::string node_ns_;
  std::map<std::string, std::string> env_;
};

std::string ip_json(const std::vector<std::string>& args) {
  ProgramRun r = test::run_program(kIp, {}, "", args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// bridge (Flannel's delegate, plain nodes) and ptp (kindnet): the two shapes
// of prevResult the host-interface rule must get right.
class CniChain : public ::testing::TestWithParam<std::string> {};

TEST_P(CniChain, AfterTheMainPluginTheAgentGetsThePodsRealAddressesAndVeth) {
  const std::string main_plugin = GetParam();
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  if (!std::filesystem::exists(std::string(kPluginDir) + "/" + main_plugin)) {
    GTEST_SKIP() << "no " << kPluginDir << "/" << main_plugin
                 << ": apt-get install containernetworking-plugins";
  }
  const std::string id = std::to_string(::getpid());
  Namespaces ns;
  for (std::string* n : {&ns.node, &ns.pod}) {
    const std::string name = std::string(n == &ns.node ? "npcni-node-" : "npcni-pod-") + id;
    ASSERT_EQ(test::run_program(kIp, {}, "", {"netns", "add", name}).exit_code, 0);
    *n = name;
  }
  test::TempDir dir;
  test::FakeBinder binder;
  ServerOptions o;
  o.path = dir.file("cni.sock");
  auto server = Server::start(o, binder);
  ASSERT_TRUE(server.ok()) << server.message();

  json main = {{"type", main_plugin},
               {"ipam",
                {{"type", "host-local"},
                 {"dataDir", dir.file("ipam")},
                 {"ranges", {{{{"subnet", "10.250.77.0/24"}}}, {{{"subnet", "fd00:77::/64"}}}}}}}};
  if (main_plugin == "bridge") {
    main["bridge"] = "npcnibr0";
    main["isGateway"] = true;
  }
  const json conflist = {
      {"cniVersion", "1.0.0"},
      {"name", "npcni-test"},
      {"plugins", {main, {{"type", "netpol-cni"}, {"socket", o.path}, {"timeoutSeconds", 5}}}}};
  Runtime runtime(
      conflist, ns.node,
      {{"CNI_CONTAINERID", "npcni-" + id},
       {"CNI_NETNS", "/run/netns/" + ns.pod},
       {"CNI_IFNAME", "eth0"},
       {"CNI_PATH", kPluginDir},
       {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
       {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_UID=u-1"}});

  const ProgramRun add = runtime.run("ADD", nullptr);
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const json result = json::parse(add.out);

  // What the kernel holds: the pod's global addresses, the veth enslaved to the bridge.
  std::vector<std::string> pod_ips;
  for (const auto& link :
       json::parse(ip_json({"-n", ns.pod, "-j", "addr", "show", "dev", "eth0"}))) {
    for (const auto& a : link["addr_info"]) {
      if (a["scope"] == "global") pod_ips.push_back(a["local"]);
    }
  }
  // The pod's veth peer on the node: a bridge port, or (ptp) the node's only veth.
  const std::vector<std::string> host_side =
      main_plugin == "bridge"
          ? std::vector<std::string>{"-n", ns.node, "-j", "link", "show", "master", "npcnibr0"}
          : std::vector<std::string>{"-n", ns.node, "-j", "link", "show", "type", "veth"};
  std::vector<std::string> ports;
  for (const auto& link : json::parse(ip_json(host_side))) {
    ports.push_back(link["ifname"]);
  }
  ASSERT_EQ(binder.calls().size(), 1u);
  const Request bind = binder.calls()[0];
  EXPECT_EQ(bind.op, Op::Bind);
  std::sort(pod_ips.begin(), pod_ips.end());
  auto bound = bind.ips;
  std::sort(bound.begin(), bound.end());
  EXPECT_EQ(bound, pod_ips);
  EXPECT_EQ(bound.size(), 2u) << "one IPv4, one IPv6";
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(bind.host_interface, ports[0]) << "the pod's veth on the node, never the bridge";
  EXPECT_EQ(bind.pod_namespace + "/" + bind.pod_name + " " + bind.pod_uid, "shop/web-0 u-1");
  EXPECT_EQ(result["cniVersion"], "1.0.0");
  EXPECT_EQ(result["interfaces"].size(), main_plugin == "bridge" ? 3u : 2u) << result;

  const ProgramRun check = runtime.run("CHECK", result);
  EXPECT_EQ(check.exit_code, 0) << check.err;
  const ProgramRun del = runtime.run("DEL", result);
  EXPECT_EQ(del.exit_code, 0) << del.err;
  const ProgramRun again = runtime.run("DEL", result);
  EXPECT_EQ(again.exit_code, 0) << "DEL is idempotent: " << again.err;
  const auto calls = binder.calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1].op, Op::Check);
  EXPECT_EQ(calls[1].host_interface, bind.host_interface);
  EXPECT_EQ(calls[2].op, Op::Release);
  EXPECT_EQ(calls[2].container_id, "npcni-" + id);
}

INSTANTIATE_TEST_SUITE_P(MainPlugins, CniChain, ::testing::Values("bridge", "ptp"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace netpol::cni
