// libFuzzer target: arbitrary bytes through the manifest decoder. The decoder
// must never crash, hang or leak, and every error it reports must render.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "k8s/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  netpol::k8s::DecodeResult r = netpol::k8s::decode_manifests(text, "fuzz.yaml");
  for (const auto& e : r.errors) (void)e.str();
  netpol::k8s::complete_snapshot(r);
  (void)netpol::k8s::decode_json_object(text, "fuzz-watch");
  return 0;
}
