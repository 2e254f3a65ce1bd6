// libFuzzer target: arbitrary bytes through netpol-cni's decoder of what a
// runtime hands it, and through the agent protocol's decoders. Input: the
// environment as KEY=VALUE lines, a NUL byte, then stdin; without a NUL the
// whole input is stdin for an ADD with a complete environment (so plain JSON
// seeds reach the prevResult code). Nothing may crash, hang or leak; an error
// must carry a code the spec or docs/cni.md defines and render as JSON; a
// request must survive encode/decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/cni/invocation.h"
#include "agent/cni/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netpol::cni;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Env env = {{"CNI_COMMAND", "ADD"},
             {"CNI_CONTAINERID", "c1"},
             {"CNI_NETNS", "/run/netns/p"},
             {"CNI_IFNAME", "eth0"},
             {"CNI_ARGS", "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b;K8S_POD_UID=u"}};
  std::string_view stdin_text = input;
  if (const size_t nul = input.find('\0'); nul != std::string_view::npos) {
    env.clear();
    std::string_view lines = input.substr(0, nul);
    stdin_text = input.substr(nul + 1);
    while (!lines.empty()) {
      const size_t nl = lines.find('\n');
      const std::string_view line = lines.substr(0, nl);
      lines = nl == std::string_view::npos ? std::string_view() : lines.substr(nl + 1);
      const size_t eq = line.find('=');
      if (eq != std::string_view::npos)
        env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  auto r = decode_invocation(env, stdin_text);
  if (auto* e = std::get_if<CniError>(&r)) {
    const bool known = e->code == kIncompatibleVersion || e->code == kInvalidEnvironment ||
                       e->code == kDecodeFailure || e->code == kInvalidConfig;
    if (!known || e->msg.empty() || e->json().back() != '\n') std::abort();
  } else {
    const Invocation& inv = std::get<Invocation>(r);
    if (inv.command != Command::Version) {
      auto back = decode_request(encode(inv.request));
      if (inv.request.op != Op::Release || !inv.request.container_id.empty()) {
        if (!back.ok() || !(back.value() == inv.request)) std::abort();
      }
    }
  }
  (void)decode_request(input);
  (void)decode_answer(input);
  return 0;
}
