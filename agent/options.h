// netpol-agent's command line: flags, their defaults and their checks.
//
// Parsing never exits and never throws: it returns the options, or the exit
// code and the text to print (help: 0 on stdout; a bad flag: 2 with a clear
// message on stderr). No flag exists for tests only.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "agent/log.h"

namespace netpol::agent {

// Every flag of netpol-agent, parsed and checked. Plain value; reading it
// never touches the environment (NODE_NAME is resolved while parsing).
struct Options {
  std::string kubeconfig;  // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  std::string context;
  bool api_protobuf = true;            // --api-content-type protobuf (default) or json
  bool watch_list = true;              // --watch-list auto (default) or off
  std::string node_name;               // default $NODE_NAME
  std::string metrics_addr = ":9809";  // "" or "off": no HTTP endpoint
  LogLevel log_level = LogLevel::Info;
  LogFormat log_format = LogFormat::Logfmt;
  std::chrono::microseconds batch_quiet{250};
  std::chrono::microseconds batch_burst_quiet{2000};
  std::chrono::milliseconds batch_max_delay{20};
  size_t batch_max_events = 1000;
  std::chrono::milliseconds drift_check_interval{60'000};
  std::chrono::milliseconds relist_spread{5'000};
  unsigned drift_read_back_every = 10;  // 1: read the table back at every check
  size_t big_set_chunks = 2000;         // 0: off (every change one transaction)
  bool cleanup = false;
  // Audit log (docs/audit-log.md): "" = off. The DaemonSet passes
  // /var/log/netpol/audit.log; the binary writes nowhere unless asked.
  std::string audit_log;
  uint64_t audit_max_bytes = 64ull << 20;
  int audit_keep = 5;
  // How the kernel rules feed the log (also `policyc compile --audit-*`).
  uint16_t audit_nflog_group = 100;  // nft::kDefaultAuditGroup
  uint32_t audit_rate = 10;          // logged connections per second and logging rule
  uint32_t audit_burst = 20;
  // Where netpol-cni reaches the agent (docs/cni.md); "" or "off": no socket.
  std::string cni_socket = "/run/netpol/cni.sock";
  // Delete the conntrack entries of open connections a change denies
  // (docs/flows.md); false: they keep flowing until they end.
  bool cut_flows = true;
  // Drop packets from a bound pod interface whose source is not one of the
  // pod's addresses (docs/spoofing.md); false: no guard (and none is left).
  bool anti_spoofing = true;
  // While the ClusterNetworkPolicy API answers 404 (CRD not installed), list
  // it again this often; it is enforced from the first list that works.
  std::chrono::milliseconds cnp_recheck_interval{30'000};
};

// What main() should do after parsing.
struct ParseExit {
  int code = 0;
  std::string out;  // for stdout (help, version)
  std::string err;  // for stderr (errors)
};

// `getenv` looks up NODE_NAME (the real getenv when empty).
std::variant<Options, ParseExit> parse_options(
    int argc, const char* const* argv,
    std::function<std::optional<std::string>(const std::string&)> getenv = {});

// "250ms", "2s", "1m", "1h", "1500us" -> a duration; nullopt if malformed.
std::optional<std::chrono::microseconds> parse_duration(const std::string& text);

}  // namespace netpol::agent
