// netpol-cni run as a container runtime runs it (environment + stdin in; exit
// status, stdout JSON, stderr out) against the agent's real socket server on a
// temporary socket, with a test Binder standing in for the agent's rules.
// Every command, and every failure mode of docs/cni.md with its CNI error code.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/cni/invocation.h"
#include "agent/cni/server.h"
#include "tests/unit/cni/harness.h"

namespace netpol::cni {
namespace {

using json = nlohmann::json;
using test::FakeBinder;
using test::ProgramRun;

// What bridge + host-local give (CNI 1.0.0): the bridge, the host veth, the pod's eth0.
const json kPrevResult = json::parse(R"({
  "cniVersion": "1.0.0",
  "interfaces": [
    {"name": "cni0", "mac": "de:ad:be:ef:00:01"},
    {"name": "veth1a2b3c4d", "mac": "de:ad:be:ef:00:02"},
    {"name": "eth0", "mac": "de:ad:be:ef:00:03", "sandbox": "/var/run/netns/pod1"}
  ],
  "ips": [
    {"address": "10.244.1.7/24", "gateway": "10.244.1.1", "interface": 2},
    {"address": "fd00:10:244:1::7/64", "gateway": "fd00:10:244:1::1", "interface": 2}
  ],
  "routes": [{"dst": "0.0.0.0/0"}],
  "dns": {}
})");

class Plugin : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.path = dir_.file("run/cni.sock");
    auto s = Server::start(o, binder_);
    ASSERT_TRUE(s.ok()) << s.message();
    server_ = std::move(s).value();
  }

  json conf(json extra = json::object(), const std::string& version = "1.0.0") const {
    json c = {{"cniVersion", version},    {"name", "k8s-pod-network"},
              {"type", "netpol-cni"},     {"socket", dir_.file("run/cni.sock")},
              {"timeoutSeconds", 5},      {"failOpen", false},
              {"prevResult", kPrevResult}};
    c["prevResult"]["cniVersion"] = version;
    for (auto& [k, v] : extra.items()) {
      if (v.is_null()) {
        c.erase(k);
      } else {
        c[k] = v;
      }
    }
    return c;
  }

  std::map<std::string, std::string> env(const std::string& command) const {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", "c0ffee"},
            {"CNI_NETNS", "/var/run/netns/pod1"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_PATH", "/opt/cni/bin"},
            {"CNI_ARGS",
             "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;"
             "K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=1f2e3d4c-0000-4000-8000-000000000001"}};
  }

  ProgramRun run(const std::string& command, const json& config) {
    return run(env(command), config.dump());
  }
  ProgramRun run(const std::map<std::string, std::string>& e, const std::string& stdin_text) {
    return test::run_program(test::plugin_path(), e, stdin_text);
  }

  test::TempDir dir_;
  FakeBinder binder_;
  std::unique_ptr<Server> server_;
};

// The spec's error object: a non-zero exit and exactly these fields on stdout.
json expect_error(const ProgramRun& r, int code) {
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << "stdout is not the CNI error JSON: " << r.out;
  if (!j.is_object()) return json::object();
  EXPECT_EQ(j.value("code", -1), code) << r.out;
  EXPECT_TRUE(j.contains("cniVersion")) << r.out;
  EXPECT_FALSE(j.value("msg", "").empty()) << r.out;
  EXPECT_NE(r.err.find(j.value("msg", "")), std::string::npos) << "the message on stderr too";
  return j;
}

// A Unix socket listening at `path` that nothing serves: the test decides
// what, if anything, answers on it.
void listen_at(const std::string& path, Fd& l) {
  l = Fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(l.get(), 8), 0);
}

TEST_F(Plugin, AddBindsThePodsIpsAndHostVethThenPrintsPrevResultUnchanged) {
  const ProgramRun r = run("ADD", conf());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(json::parse(r.out), kPrevResult);
  const auto calls = binder_.calls();
  ASSERT_EQ(calls.size(), 1u);
  const Request& q = calls[0];
  EXPECT_EQ(q.op, Op::Bind);
  EXPECT_EQ(q.pod_namespace, "shop");
  EXPECT_EQ(q.pod_name, "web-0");
  EXPECT_EQ(q.pod_uid, "1f2e3d4c-0000-4000-8000-000000000001");
  EXPECT_EQ(q.container_id, "c0ffee");
  EXPECT_EQ(q.ifname, "eth0");
  EXPECT_EQ(q.netns, "/var/run/netns/pod1");
  EXPECT_EQ(q.ips, (std::vector<std::string>{"10.244.1.7", "fd00:10:244:1::7"}));
  EXPECT_EQ(q.host_interface, "veth1a2b3c4d") << "the veth peer, not the bridge";
  EXPECT_EQ(q.timeout_ms, 5000u);
}

TEST_F(Plugin, AddSpeaksCni040AndAnswersInTheConfigsVersion) {
  json c = conf({}, "0.4.0");
  for (auto& ip : c["prevResult"]["ips"])
    ip["version"] = ip["address"].get<std::string>().find(':') == std::string::npos ? "4" : "6";
  const ProgramRun r = run("ADD", c);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(json::parse(r.out), c["prevResult"]);
  EXPECT_EQ(json::parse(r.out)["cniVersion"], "0.4.0");
  ASSERT_EQ(binder_.calls().size(), 1u);
  EXPECT_EQ(binder_.calls()[0].ips.size(), 2u);
}

TEST_F(Plugin, AddReturnsOnlyOnceTheAgentSaysTheRulesAreInTheKernel) {
  binder_.set_delay(std::chrono::milliseconds(400));
  const auto start = Clock::now();
  const ProgramRun r = run("ADD", conf());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(400));
}

TEST_F(Plugin, NoAgentIsTryAgainLaterUnlessFailOpen) {
  const std::string nowhere = dir_.file("nobody/cni.sock");
  const json e = expect_error(run("ADD", conf({{"socket", nowhere}})), kTryAgainLater);
  EXPECT_NE(e["msg"].get<std::string>().find("no netpol agent on " + nowhere), std::string::npos)
      << e;
  EXPECT_NE(e.value("details", "").find("--cni-socket"), std::string::npos) << e;
  expect_error(run("CHECK", conf({{"socket", nowhere}})), kTryAgainLater);

  const ProgramRun open = run("ADD", conf({{"socket", nowhere}, {"failOpen", true}}));
  EXPECT_EQ(open.exit_code, 0) << open.out << open.err;
  EXPECT_EQ(json::parse(open.out), kPrevResult);
  EXPECT_NE(open.err.find("warning"), std::string::npos) << open.err;

  // A stale socket file (agent died) is the same: nobody listens.
  server_->stop();
  expect_error(run("ADD", conf()), kTryAgainLater);
}

TEST_F(Plugin, AgentTimeoutIsTryAgainLaterUnlessFailOpen) {
  binder_.set_delay(std::chrono::seconds(5));
  const auto start = Clock::now();
  const json e = expect_error(run("ADD", conf({{"timeoutSeconds", 1}})), kTryAgainLater);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500)) << "bounded by timeoutSeconds";
  EXPECT_NE(e["msg"].get<std::string>().find("shop/web-0"), std::string::npos) << e;
  const ProgramRun open = run("ADD", conf({{"timeoutSeconds", 1}, {"failOpen", true}}));
  EXPECT_EQ(open.exit_code, 0) << open.out << open.err;
  EXPECT_EQ(json::parse(open.out), kPrevResult);
  EXPECT_NE(open.err.find("failOpen"), std::string::npos) << open.err;
}

// A socket that accepts and never answers (an agent stuck elsewhere): the
// plugin's own clock ends it.
TEST_F(Plugin, SilentAgentTimesOutOnThePluginsClock) {
  const std::string path = dir_.file("silent.sock");
  Fd l;
  ASSERT_NO_FATAL_FAILURE(listen_at(path, l));
  const auto start = Clock::now();
  const json e =
      expect_error(run("ADD", conf({{"socket", path}, {"timeoutSeconds", 1}})), kTryAgainLater);
  const auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(950));
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_NE(e["msg"].get<std::string>().find("did not answer within 1s"), std::string::npos) << e;
  const ProgramRun open =
      run("ADD", conf({{"socket", path}, {"timeoutSeconds", 1}, {"failOpen", true}}));
  EXPECT_EQ(open.exit_code, 0) << open.err;
}

TEST_F(Plugin, TheAgentsRefusalsHaveTheirOwnCodes) {
  binder_.set_answer([](const Request&) {
    return Status(Code::Forbidden, "pod shop/web-0 is on node-2, this is node-1");
  });
  json e = expect_error(run("ADD", conf()), kPodOnOtherNode);
  EXPECT_NE(e["msg"].get<std::string>().find("node-2"), std::string::npos) << e;
  binder_.set_answer(
      [](const Request&) { return Status(Code::NotFound, "no pod shop/web-0 in the API"); });
  expect_error(run("ADD", conf()), kPodUnknown);
  binder_.set_answer([](const Request&) {
    return Status::FromErrno(ENOBUFS, "apply chain ingress-ABCD-shop/web-0");
  });
  e = expect_error(run("ADD", conf()), kAgentFailed);
  EXPECT_NE(e["msg"].get<std::string>().find("ingress-ABCD"), std::string::npos) << e;
  // failOpen is for an absent or slow agent only, not for an agent saying no.
  binder_.set_answer([](const Request&) { return Status(Code::Forbidden, "other node"); });
  expect_error(run("ADD", conf({{"failOpen", true}})), kPodOnOtherNode);
}

TEST_F(Plugin, MalformedInputGetsTheSpecsCodes) {
  expect_error(run(env("ADD"), "{not json"), kDecodeFailure);
  expect_error(run(env("ADD"), "[1, 2]"), kDecodeFailure);
  expect_error(run(env("ADD"), ""), kDecodeFailure);
  expect_error(run("ADD", conf({{"cniVersion", nullptr}})), kInvalidConfig);
  const json v = expect_error(run("ADD", conf({{"cniVersion", "0.3.1"}})), kIncompatibleVersion);
  EXPECT_NE(v["msg"].get<std::string>().find("0.3.1"), std::string::npos);
  expect_error(run("ADD", conf({{"cniVersion", "1.1.0"}})), kIncompatibleVersion);
  expect_error(run("ADD", conf({{"socket", "relative.sock"}})), kInvalidConfig);
  expect_error(run("ADD", conf({{"timeoutSeconds", 0}})), kInvalidConfig);
  expect_error(run("ADD", conf({{"timeoutSeconds", "10"}})), kInvalidConfig);
  expect_error(run("ADD", conf({{"failOpen", "yes"}})), kInvalidConfig);
  const json prev = expect_error(run("ADD", conf({{"prevResult", nullptr}})), kInvalidConfig);
  EXPECT_NE(prev["msg"].get<std::string>().find("prevResult"), std::string::npos);
  json no_ips = conf();
  no_ips["prevResult"]["ips"] = json::array();
  expect_error(run("ADD", no_ips), kInvalidConfig);
  json bad_ip = conf();
  bad_ip["prevResult"]["ips"][0]["address"] = "10.244.1.300/24";
  expect_error(run("ADD", bad_ip), kInvalidConfig);
  EXPECT_TRUE(binder_.calls().empty()) << "nothing reaches the agent";
}

TEST_F(Plugin, MissingEnvironmentIsInvalidEnvironment) {
  for (const char* var :
       {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"}) {
    auto e = env("ADD");
    e.erase(var);
    const json j = expect_error(run(e, conf().dump()), kInvalidEnvironment);
    EXPECT_NE(j["msg"].get<std::string>().find(var), std::string::npos) << var << ": " << j;
  }
  auto e = env("ADD");
  e["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop";
  expect_error(run(e, conf().dump()), kInvalidEnvironment);
  e["CNI_ARGS"] = "K8S_POD_NAMESPACE=shop;garbage;K8S_POD_NAME=web-0";
  expect_error(run(e, conf().dump()), kInvalidEnvironment);
  const json unknown = expect_error(run("GC", conf()), kInvalidEnvironment);
  EXPECT_NE(unknown["msg"].get<std::string>().find("GC"), std::string::npos);
  EXPECT_TRUE(binder_.calls().empty());
}

TEST_F(Plugin, DelReleasesIsIdempotentAndSucceedsWithoutAnAgent) {
  ProgramRun r = run("DEL", conf());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "") << "DEL prints nothing";
  r = run("DEL", conf());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The runtime may DEL without CNI_ARGS, netns or prevResult (after a failed ADD).
  auto e = env("DEL");
  e.erase("CNI_ARGS");
  e.erase("CNI_NETNS");
  r = run(e, conf({{"prevResult", nullptr}}).dump());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto calls = binder_.calls();
  ASSERT_EQ(calls.size(), 3u);
  for (const auto& c : calls) {
    EXPECT_EQ(c.op, Op::Release);
    EXPECT_EQ(c.container_id, "c0ffee");
  }
  EXPECT_EQ(calls[0].ips, (std::vector<std::string>{"10.244.1.7", "fd00:10:244:1::7"}));
  // An agent that fails, and no agent at all: still released as far as the runtime goes.
  binder_.set_answer([](const Request&) { return Status(Code::Unknown, "kernel said no"); });
  r = run("DEL", conf());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos);
  server_->stop();
  r = run("DEL", conf());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(Plugin, CheckAsksTheAgentToVerifyTheBinding) {
  ProgramRun r = run("CHECK", conf());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(binder_.calls().size(), 1u);
  EXPECT_EQ(binder_.calls()[0].op, Op::Check);
  EXPECT_EQ(binder_.calls()[0].host_interface, "veth1a2b3c4d");
  binder_.set_answer(
      [](const Request&) { return Status(Code::NotFound, "no binding for c0ffee"); });
  expect_error(run("CHECK", conf()), kCheckFailed);
  binder_.set_answer(
      [](const Request&) { return Status(Code::Conflict, "bound to 10.244.1.8, not 10.244.1.7"); });
  expect_error(run("CHECK", conf()), kCheckFailed);
  expect_error(run("CHECK", conf({{"prevResult", nullptr}})), kInvalidConfig);
}

TEST_F(Plugin, VersionListsTheSupportedVersions) {
  for (const std::string in : {R"({"cniVersion":"1.0.0"})", R"({"cniVersion":"0.4.0"})", ""}) {
    const ProgramRun r = run({{"CNI_COMMAND", "VERSION"}}, in);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["supportedVersions"], json({"0.4.0", "1.0.0"}));
    EXPECT_TRUE(j["cniVersion"] == "1.0.0" || j["cniVersion"] == "0.4.0") << j;
  }
  EXPECT_TRUE(binder_.calls().empty());
}

// An agent of another protocol, or something else listening on the socket.
TEST_F(Plugin, AnAnswerThatIsNotTheProtocolIsAProtocolError) {
  const std::string path = dir_.file("liar.sock");
  Fd l;
  ASSERT_NO_FATAL_FAILURE(listen_at(path, l));
  std::thread liar([&] {
    Fd c(::accept(l.get(), nullptr, nullptr));
    auto req = read_message(c.get(), kMaxMessageBytes, Clock::now() + std::chrono::seconds(5));
    (void)write_all(c.get(), "HTTP/1.1 400 Bad Request\r\n\r\n",
                    Clock::now() + std::chrono::seconds(1));
  });
  expect_error(run("ADD", conf({{"socket", path}})), kAgentProtocol);
  liar.join();
}

}  // namespace
}  // namespace netpol::cni
