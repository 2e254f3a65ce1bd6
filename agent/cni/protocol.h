// The wire protocol between netpol-cni (the chained CNI plugin) and the
// agent's --cni-socket server (docs/cni.md): one JSON request and one JSON
// answer per connection over a unix stream socket, each a single line.
//
// These are plain values; encoding and decoding never throw. The decoders
// are strict about types and lenient about unknown fields (a newer plugin may
// send more), and never accept a request without a pod or a container id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/status.h"

namespace netpol::cni {

// Protocol version carried in every message as "netpolCni". A server answers
// a request of another major version with kind BadRequest.
inline constexpr int kProtocolVersion = 1;
// Neither side reads more than this many bytes of one message.
inline constexpr size_t kMaxMessageBytes = 64 * 1024;

enum class Op : uint8_t { Bind, Release, Check };
const char* to_string(Op op);

// What the plugin asks for: bind (ADD), release (DEL) or check (CHECK) the
// pod's IPs and host-side interface.
struct Request {
  Op op = Op::Bind;
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;           // K8S_POD_UID; empty when the runtime sets none
  std::string container_id;      // CNI_CONTAINERID: the key of a binding
  std::string ifname;            // CNI_IFNAME, the interface inside the pod
  std::string netns;             // CNI_NETNS (empty on some DELs)
  std::vector<std::string> ips;  // canonical addresses, no prefix length
  std::string host_interface;    // host-side interface from prevResult; may be empty
  uint32_t timeout_ms = 0;       // how long the plugin waits; 0: the server's own bound

  friend bool operator==(const Request&, const Request&) = default;
};

// Why the agent said no. The plugin turns each into a CNI error code
// (docs/cni.md has the table).
enum class Refusal : uint8_t {
  None,         // ok
  BadRequest,   // the request is not one the server understands
  PodUnknown,   // no such pod in the informer cache nor the API (or another UID)
  OtherNode,    // the pod is scheduled on another node
  NotBound,     // check: no binding for this container
  Mismatch,     // check: the binding differs from the request (IPs, interface)
  Timeout,      // the rules were not in the kernel within the deadline
  Unavailable,  // the agent cannot do it now (not synced yet, shutting down)
  Failed,       // anything else (a kernel error, ...)
};
const char* to_string(Refusal r);

struct Answer {
  Refusal refusal = Refusal::None;
  std::string message;  // for humans; empty when ok

  bool ok() const { return refusal == Refusal::None; }
  friend bool operator==(const Answer&, const Answer&) = default;
};

// One line of JSON, '\n' terminated.
std::string encode(const Request& r);
std::string encode(const Answer& a);
// Code::Malformed with what is wrong when the text is not such a message.
Result<Request> decode_request(std::string_view text);
Result<Answer> decode_answer(std::string_view text);

}  // namespace netpol::cni
