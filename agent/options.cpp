#include "agent/options.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <sstream>

namespace netpol::agent {

std::optional<std::chrono::microseconds> parse_duration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0 || i == text.size()) return std::nullopt;
  double n = 0;
  try {
    size_t used = 0;
    n = std::stod(text.substr(0, i), &used);
    if (used != i) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = text.substr(i);
  double us_per = 0;
  if (unit == "us") {
    us_per = 1;
  } else if (unit == "ms") {
    us_per = 1e3;
  } else if (unit == "s") {
    us_per = 1e6;
  } else if (unit == "m") {
    us_per = 60e6;
  } else if (unit == "h") {
    us_per = 3600e6;
  } else {
    return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<int64_t>(n * us_per));
}

std::variant<Options, ParseExit> parse_options(
    int argc, const char* const* argv,
    std::function<std::optional<std::string>(const std::string&)> getenv) {
  if (!getenv) {
    getenv = [](const std::string& k) -> std::optional<std::string> {
      const char* v = std::getenv(k.c_str());
      return v ? std::optional<std::string>(v) : std::nullopt;
    };
  }
  Options o;
  std::string log_level = "info", log_format = "logfmt", api_content_type = "protobuf",
              watch_list = "auto";
  std::string quiet = "250us", burst_quiet = "2ms", max_delay = "20ms", drift = "60s",
              cnp_recheck = "30s", relist_spread = "5s";
  bool version = false;

  CLI::App app{
      "netpol-agent: enforces Kubernetes NetworkPolicy and ClusterNetworkPolicy on this\n"
      "node with nftables. Watches Namespaces, Pods, NetworkPolicies,\n"
      "ClusterNetworkPolicies and Nodes, compiles the rules for the pods on\n"
      "--node-name and keeps the table `inet netpol` in step, one netlink\n"
      "transaction per burst of changes. The table stays when the agent exits.",
      "netpol-agent"};
  app.add_option("--kubeconfig", o.kubeconfig,
                 "kubeconfig file (default: $KUBECONFIG, else in-cluster service account, "
                 "else ~/.kube/config)");
  app.add_option("--context", o.context, "kubeconfig context (default: current-context)");
  app.add_option("--api-content-type", api_content_type,
                 "protobuf (JSON when the server answers JSON; custom resources always JSON) "
                 "or json: the encoding asked for Pod, Namespace and NetworkPolicy lists and "
                 "watches")
      ->capture_default_str();
  app.add_option("--watch-list", watch_list,
                 "auto: each informer reads the initial state (and the state after 410 Gone) "
                 "through one watch with sendInitialEvents (a streaming list) where the server "
                 "offers it, else lists; off: always list, then watch")
      ->capture_default_str();
  app.add_option("--node-name", o.node_name,
                 "this node's name: pods with this spec.nodeName get rules (default: $NODE_NAME)");
  app.add_option("--metrics-addr", o.metrics_addr,
                 "HOST:PORT, :PORT or [IPV6]:PORT for /healthz, /readyz and /metrics "
                 "(\"off\": none)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  app.add_option("--log-format", log_format, "logfmt or json")->capture_default_str();
  app.add_option("--batch-quiet", quiet,
                 "close a batch of changes after this long without a new event")
      ->capture_default_str();
  app.add_option("--batch-burst-quiet", burst_quiet,
                 "the same while a burst is on (an event within 5 ms of the previous batch)")
      ->capture_default_str();
  app.add_option("--batch-max-delay", max_delay,
                 "close a batch at the latest this long after its first event")
      ->capture_default_str();
  app.add_option("--batch-max-events", o.batch_max_events, "close a batch at this many events")
      ->capture_default_str();
  app.add_option("--relist-spread", relist_spread,
                 "a relist after 410 Gone (or a list retried after an error) first waits a "
                 "random time up to this, so the agents of a cluster do not list in step (0: no "
                 "wait)")
      ->capture_default_str();
  app.add_option("--drift-check-interval", drift,
                 "check the table this often and repair it if it was changed")
      ->capture_default_str();
  app.add_option("--drift-read-back-every", o.drift_read_back_every,
                 "read the whole table back at every Nth drift check even when the kernel's "
                 "ruleset generation says nothing was committed since our last apply "
                 "(1 = every check)")
      ->capture_default_str();
  app.add_option("--big-set-chunks", o.big_set_chunks,
                 "send a new set of at least this many elements in chunks of 500 between "
                 "other changes' transactions, and the rules that use it after the last "
                 "chunk (0: off, every change is one transaction)")
      ->capture_default_str();
  app.add_option("--audit-log", o.audit_log,
                 "write the audit log of denied (and opted-in allowed) connections to this file "
                 "(JSON lines, docs/audit-log.md; \"-\" = stdout; default: off)");
  app.add_option("--audit-max-bytes", o.audit_max_bytes, "rotate the audit log at this size")
      ->capture_default_str();
  app.add_option("--audit-keep", o.audit_keep, "rotated audit log files to keep")
      ->capture_default_str();
  app.add_option("--audit-nflog-group", o.audit_nflog_group,
                 "NFLOG group the logging rules send to and the audit listener reads (change it "
                 "if another tool on the node uses the group)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--audit-rate", o.audit_rate,
                 "connections logged per second by each logging rule (in-kernel limit; the "
                 "rest are counted as suppressed)")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  app.add_option("--audit-burst", o.audit_burst,
                 "connections a logging rule may log at once after a quiet spell")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  app.add_option("--cni-socket", o.cni_socket,
                 "unix socket netpol-cni asks to bind a new pod before it starts (docs/cni.md); "
                 "the directory is created, a stale socket replaced (\"off\": none)")
      ->capture_default_str();
  app.add_option("--cut-flows", o.cut_flows,
                 "when a change denies connections that are already open, delete their "
                 "conntrack entries so their next packet is dropped (docs/flows.md); false: "
                 "they keep flowing until they end")
      ->capture_default_str();
  app.add_option("--anti-spoofing", o.anti_spoofing,
                 "drop (count, audit-log as reason spoofed) packets from a local pod's interface "
                 "whose source is not one of that pod's addresses (docs/spoofing.md); false: "
                 "no guard")
      ->capture_default_str();
  app.add_option("--cnp-recheck-interval", cnp_recheck,
                 "while the ClusterNetworkPolicy CRD is not installed (the API answers 404), "
                 "enforce NetworkPolicies only and list ClusterNetworkPolicies again this often")
      ->capture_default_str();
  app.add_flag("--cleanup", o.cleanup,
               "delete the tables inet netpol and bridge netpol (stops enforcing on this node) "
               "and exit");
  app.add_flag("--version", version, "print the version and exit");

  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    return ParseExit{0, app.help(), ""};
  } catch (const CLI::ParseError& e) {
    return ParseExit{
        2, "", "netpol-agent: " + std::string(e.what()) + "\nRun with --help for the flags.\n"};
  } catch (const std::exception& e) {
    return ParseExit{2, "", std::string("netpol-agent: ") + e.what() + "\n"};
  }
  if (version) return ParseExit{0, "netpol-agent 0.1.0\n", ""};

  auto bad = [](const std::string& msg) {
    return ParseExit{2, "", "netpol-agent: " + msg + "\nRun with --help for the flags.\n"};
  };
  auto level = log_level_from_string(log_level);
  if (!level) return bad("--log-level " + log_level + ": want debug, info, warn or error");
  o.log_level = *level;
  if (log_format == "logfmt") {
    o.log_format = LogFormat::Logfmt;
  } else if (log_format == "json") {
    o.log_format = LogFormat::Json;
  } else {
    return bad("--log-format " + log_format + ": want logfmt or json");
  }
  if (api_content_type == "protobuf" || api_content_type == "json") {
    o.api_protobuf = api_content_type == "protobuf";
  } else {
    return bad("--api-content-type " + api_content_type + ": want protobuf or json");
  }
  if (watch_list == "auto" || watch_list == "off") {
    o.watch_list = watch_list == "auto";
  } else {
    return bad("--watch-list " + watch_list + ": want auto or off");
  }
  auto q = parse_duration(quiet);
  if (!q || q->count() <= 0) return bad("--batch-quiet " + quiet + ": want a duration like 1ms");
  o.batch_quiet = *q;
  auto bq = parse_duration(burst_quiet);
  if (!bq || bq->count() <= 0) {
    return bad("--batch-burst-quiet " + burst_quiet + ": want a duration like 2ms");
  }
  o.batch_burst_quiet = *bq;
  auto md = parse_duration(max_delay);
  if (!md || md->count() <= 0) {
    return bad("--batch-max-delay " + max_delay + ": want a duration like 20ms");
  }
  o.batch_max_delay = std::chrono::duration_cast<std::chrono::milliseconds>(*md);
  if (o.batch_max_delay.count() == 0) o.batch_max_delay = std::chrono::milliseconds(1);
  auto rs = parse_duration(relist_spread);
  if (!rs || rs->count() < 0 || *rs > std::chrono::minutes(10))
    return bad("--relist-spread " + relist_spread + ": want a duration of at most 10m");
  o.relist_spread = std::chrono::duration_cast<std::chrono::milliseconds>(*rs);
  auto dr = parse_duration(drift);
  if (!dr || *dr < std::chrono::milliseconds(100)) {
    return bad("--drift-check-interval " + drift + ": want a duration of at least 100ms");
  }
  o.drift_check_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*dr);
  auto cr = parse_duration(cnp_recheck);
  if (!cr || *cr < std::chrono::milliseconds(100)) {
    return bad("--cnp-recheck-interval " + cnp_recheck + ": want a duration of at least 100ms");
  }
  o.cnp_recheck_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*cr);
  if (o.batch_max_events == 0) return bad("--batch-max-events must be at least 1");
  if (o.drift_read_back_every == 0) return bad("--drift-read-back-every must be at least 1");
  if (o.metrics_addr == "off") o.metrics_addr.clear();
  if (o.cni_socket == "off") o.cni_socket.clear();
  // sockaddr_un.sun_path: 108 bytes with the NUL.
  if (!o.cni_socket.empty() && (o.cni_socket[0] != '/' || o.cni_socket.size() > 107)) {
    return bad("--cni-socket " + o.cni_socket + ": want an absolute path of at most 107 bytes");
  }

  if (o.node_name.empty() && !o.cleanup) {
    if (auto env = getenv("NODE_NAME"); env && !env->empty()) o.node_name = *env;
  }
  if (o.node_name.empty() && !o.cleanup) {
    return bad(
        "no node name: pass --node-name or set NODE_NAME (the DaemonSet sets it from "
        "spec.nodeName)");
  }
  return o;
}

}  // namespace netpol::agent
