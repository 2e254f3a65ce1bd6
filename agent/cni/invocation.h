// What a container runtime hands netpol-cni: the environment (CNI_COMMAND,
// CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, ...) and the network
// configuration on stdin. decode_invocation() turns both into the request
// for the agent, or into the CNI error the spec wants on stdout.
//
// Pure: no I/O, no clock, no global state; any input gives an answer (the
// fuzz target tests/fuzz/fuzz_cni.cpp holds it to that).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/cni/protocol.h"

namespace netpol::cni {

// The CNI versions netpol-cni speaks, oldest first.
inline constexpr const char* kSupportedVersions[] = {"0.4.0", "1.0.0"};
inline constexpr const char* kDefaultSocket = "/run/netpol/cni.sock";

// CNI error codes: 1-99 are the spec's (only those used here), 100+ ours
// (docs/cni.md, "Errors").
enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kInvalidEnvironment = 4,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,  // no agent, or no answer within timeoutSeconds
  kPodOnOtherNode = 100,
  kPodUnknown = 101,
  kAgentFailed = 102,    // the agent could not put the rules in the kernel
  kAgentProtocol = 103,  // the agent answered something that is not the protocol
  kCheckFailed = 104,    // CHECK: no binding, or one that differs
};

// The spec's error object, printed on stdout with a non-zero exit status.
// It is the plugin's output, not an error-propagation type: inside the plugin
// failures travel as netpol::Status and become a CniError at the end.
struct CniError {
  int code = kInvalidConfig;
  std::string msg;
  std::string details;
  std::string cni_version = "1.0.0";  // the config's when it could be read

  std::string json() const;  // one line, '\n' terminated
  friend bool operator==(const CniError&, const CniError&) = default;
};

enum class Command : uint8_t { Add, Del, Check, Version };

struct Invocation {
  Command command = Command::Add;
  std::string cni_version;  // the config's (VERSION: what stdin named, may be empty)
  std::string network_name;
  std::string socket = kDefaultSocket;
  uint32_t timeout_seconds = 10;
  bool fail_open = false;
  // prevResult as given, cniVersion set to the config's: what ADD prints on
  // success. Empty when there was none (DEL may come without).
  std::string prev_result_out;
  // Op, pod, container, IPs and host-side interface for the agent.
  Request request;
};

using Env = std::map<std::string, std::string, std::less<>>;

std::variant<Invocation, CniError> decode_invocation(const Env& env, std::string_view stdin_text);

// VERSION's answer: {"cniVersion": ..., "supportedVersions": [...]}.
std::string version_output(std::string_view requested_version);

}  // namespace netpol::cni
