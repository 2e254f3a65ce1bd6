// netpol-agent's flags: defaults, NODE_NAME from the environment, and clear
// messages (exit 2) for bad input; the logger's line formats.
#include "agent/options.h"

#include <gtest/gtest.h>

#include "agent/log.h"
#include "nft/render.h"

namespace netpol::agent {
namespace {

using Env = std::function<std::optional<std::string>(const std::string&)>;

std::variant<Options, ParseExit> parse(std::vector<const char*> args, Env env = {}) {
  args.insert(args.begin(), "netpol-agent");
  if (!env) env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  return parse_options(static_cast<int>(args.size()), args.data(), env);
}

TEST(Options, DefaultsAndNodeNameFromTheEnvironment) {
  auto r = parse({}, [](const std::string& k) -> std::optional<std::string> {
    if (k == "NODE_NAME") return "worker-3";
    return std::nullopt;
  });
  ASSERT_TRUE(std::holds_alternative<Options>(r));
  const Options& o = std::get<Options>(r);
  EXPECT_EQ(o.node_name, "worker-3");
  EXPECT_EQ(o.metrics_addr, ":9809");
  EXPECT_EQ(o.batch_max_delay, std::chrono::milliseconds(20));
  EXPECT_EQ(o.batch_quiet, std::chrono::microseconds(250));
  EXPECT_EQ(o.batch_burst_quiet, std::chrono::milliseconds(2));
  EXPECT_EQ(o.drift_check_interval, std::chrono::seconds(60));
  EXPECT_EQ(o.drift_read_back_every, 10u);
  EXPECT_EQ(o.cnp_recheck_interval, std::chrono::seconds(30));
  // The same logging rules policyc compile prints by default.
  const nft::AuditOptions rendered;
  EXPECT_EQ(o.audit_nflog_group, rendered.group);
  EXPECT_EQ(o.audit_rate, rendered.rate);
  EXPECT_EQ(o.audit_burst, rendered.burst);
  EXPECT_FALSE(o.cleanup);
  EXPECT_TRUE(o.watch_list);
}

TEST(Options, FlagsOverrideDefaults) {
  auto r = parse({"--node-name",
                  "n1",
                  "--kubeconfig",
                  "/k",
                  "--metrics-addr",
                  "127.0.0.1:1234",
                  "--log-level",
                  "debug",
                  "--log-format",
                  "json",
                  "--batch-max-delay",
                  "5ms",
                  "--batch-quiet",
                  "500us",
                  "--batch-burst-quiet",
                  "3ms",
                  "--drift-check-interval",
                  "2s",
                  "--drift-read-back-every",
                  "3",
                  "--audit-nflog-group",
                  "7",
                  "--audit-rate",
                  "50",
                  "--audit-burst",
                  "5",
                  "--batch-max-events",
                  "77",
                  "--cnp-recheck-interval",
                  "5s",
                  "--api-content-type",
                  "json",
                  "--relist-spread",
                  "1500ms",
                  "--watch-list",
                  "off"});
  ASSERT_TRUE(std::holds_alternative<Options>(r)) << std::get<ParseExit>(r).err;
  const Options& o = std::get<Options>(r);
  EXPECT_EQ(o.node_name, "n1");
  EXPECT_EQ(o.kubeconfig, "/k");
  EXPECT_EQ(o.metrics_addr, "127.0.0.1:1234");
  EXPECT_EQ(o.log_level, LogLevel::Debug);
  EXPECT_EQ(o.log_format, LogFormat::Json);
  EXPECT_EQ(o.batch_max_delay, std::chrono::milliseconds(5));
  EXPECT_EQ(o.batch_quiet, std::chrono::microseconds(500));
  EXPECT_EQ(o.batch_burst_quiet, std::chrono::milliseconds(3));
  EXPECT_EQ(o.drift_check_interval, std::chrono::seconds(2));
  EXPECT_EQ(o.drift_read_back_every, 3u);
  EXPECT_EQ(o.audit_nflog_group, 7u);
  EXPECT_EQ(o.audit_rate, 50u);
  EXPECT_EQ(o.audit_burst, 5u);
  EXPECT_EQ(o.batch_max_events, 77u);
  EXPECT_EQ(o.cnp_recheck_interval, std::chrono::seconds(5));
  EXPECT_FALSE(o.api_protobuf);
  EXPECT_EQ(o.relist_spread, std::chrono::milliseconds(1500));
  EXPECT_FALSE(o.watch_list);
  EXPECT_TRUE(std::get<Options>(parse({"--node-name", "n1"})).api_protobuf);
  auto off = parse({"--node-name", "n1", "--metrics-addr", "off"});
  EXPECT_EQ(std::get<Options>(off).metrics_addr, "");
}

TEST(Options, BadInputGivesAClearMessageAndExitTwo) {
  struct Case {
    std::vector<const char*> args;
    const char* says;
  } cases[] = {
      {{"--node-name", "n", "--bogus"}, "--bogus"},
      {{}, "--node-name"},
      {{"--node-name", "n", "--log-level", "loud"}, "--log-level loud"},
      {{"--node-name", "n", "--log-format", "xml"}, "--log-format xml"},
      {{"--node-name", "n", "--api-content-type", "yaml"}, "--api-content-type yaml"},
      {{"--node-name", "n", "--relist-spread", "1h"}, "--relist-spread 1h"},
      {{"--node-name", "n", "--watch-list", "maybe"}, "--watch-list maybe: want auto or off"},
      {{"--node-name", "n", "--batch-max-delay", "soon"}, "--batch-max-delay soon"},
      {{"--node-name", "n", "--drift-check-interval", "1ms"}, "at least 100ms"},
      {{"--node-name", "n", "--batch-max-events", "0"}, "at least 1"},
      {{"--node-name", "n", "--cnp-recheck-interval", "10ms"},
       "--cnp-recheck-interval 10ms: want a duration of at least 100ms"},
      {{"--node-name", "n", "--drift-read-back-every", "0"}, "at least 1"},
      {{"--node-name", "n", "--audit-rate", "0"}, "--audit-rate"},
      {{"--node-name", "n", "--audit-nflog-group", "65536"}, "--audit-nflog-group"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_TRUE(std::holds_alternative<ParseExit>(r)) << c.says;
    const ParseExit& e = std::get<ParseExit>(r);
    EXPECT_EQ(e.code, 2);
    EXPECT_NE(e.err.find(c.says), std::string::npos) << e.err;
    EXPECT_EQ(e.err.find("terminate"), std::string::npos);
  }
}

TEST(Options, HelpListsTheFlagsAndCleanupNeedsNoNode) {
  auto r = parse({"--help"});
  ASSERT_TRUE(std::holds_alternative<ParseExit>(r));
  const ParseExit& e = std::get<ParseExit>(r);
  EXPECT_EQ(e.code, 0);
  for (const char* flag : {"--kubeconfig", "--node-name", "--metrics-addr", "--cni-socket",
                           "--cnp-recheck-interval", "--cleanup"}) {
    EXPECT_NE(e.out.find(flag), std::string::npos) << flag;
  }
  auto c = parse({"--cleanup"});
  ASSERT_TRUE(std::holds_alternative<Options>(c));
  EXPECT_TRUE(std::get<Options>(c).cleanup);
}

// netpol-cni's socket (docs/cni.md): on by default where the DaemonSet mounts it.
TEST(Options, CniSocketDefaultOverrideOffAndChecks) {
  auto d = parse({"--node-name", "n"});
  ASSERT_TRUE(std::holds_alternative<Options>(d));
  EXPECT_EQ(std::get<Options>(d).cni_socket, "/run/netpol/cni.sock");
  auto o = parse({"--node-name", "n", "--cni-socket", "/var/run/x/cni.sock"});
  ASSERT_TRUE(std::holds_alternative<Options>(o));
  EXPECT_EQ(std::get<Options>(o).cni_socket, "/var/run/x/cni.sock");
  auto off = parse({"--node-name", "n", "--cni-socket=off"});
  ASSERT_TRUE(std::holds_alternative<Options>(off));
  EXPECT_EQ(std::get<Options>(off).cni_socket, "");
  const std::string too_long = "/" + std::string(120, 'x');
  for (const char* bad : {"cni.sock", too_long.c_str()}) {
    auto r = parse({"--node-name", "n", "--cni-socket", bad});
    ASSERT_TRUE(std::holds_alternative<ParseExit>(r)) << bad;
    EXPECT_EQ(std::get<ParseExit>(r).code, 2);
    EXPECT_NE(std::get<ParseExit>(r).err.find("--cni-socket"), std::string::npos);
  }
}

TEST(Options, Durations) {
  EXPECT_EQ(parse_duration("1500us"), std::chrono::microseconds(1500));
  EXPECT_EQ(parse_duration("2.5ms"), std::chrono::microseconds(2500));
  EXPECT_EQ(parse_duration("1m"), std::chrono::minutes(1));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_FALSE(parse_duration("10"));
  EXPECT_FALSE(parse_duration("ms"));
  EXPECT_FALSE(parse_duration("1.2.3s"));
  EXPECT_FALSE(parse_duration("-1s"));
}

TEST(Logger, LogfmtAndJsonLines) {
  Logger text(LogLevel::Info, LogFormat::Logfmt);
  EXPECT_EQ(text.format(LogLevel::Warn, "table repaired", {{"ops", 12}, {"who", "a b\"c"}}, false),
            "level=warn msg=\"table repaired\" ops=12 who=\"a b\\\"c\"\n");
  Logger json(LogLevel::Info, LogFormat::Json);
  EXPECT_EQ(
      json.format(LogLevel::Error, "x\ny", {{"ms", 1.5}, {"node", "n1"}, {"ok", true}}, false),
      "{\"level\":\"error\",\"msg\":\"x\\ny\",\"ms\":1.500,\"node\":\"n1\",\"ok\":true}\n");
  std::vector<std::string> got;
  Logger quiet(LogLevel::Warn, LogFormat::Logfmt, [&](std::string_view l) { got.emplace_back(l); });
  quiet.info("dropped");
  quiet.error("kept");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("time="), std::string::npos);
  EXPECT_NE(got[0].find("msg=kept"), std::string::npos);
}

}  // namespace
}  // namespace netpol::agent
