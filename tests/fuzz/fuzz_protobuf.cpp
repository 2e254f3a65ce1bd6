// libFuzzer target: arbitrary bytes through the agent's protobuf readers.
// The first byte picks the kind (Pod, Namespace, NetworkPolicy); the rest is
// decoded as that object's message, as a "k8s\0" envelope holding a list, as
// a watch event and as a stream of watch frames. Nothing may crash, hang,
// leak or read outside the input, and every error must render.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/decode.h"
#include "k8s/protowire.h"

namespace pw = netpol::k8s::protowire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kKinds[] = {"Pod", "Namespace", "NetworkPolicy"};
  const char* kind = kKinds[data[0] % 3];
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  netpol::k8s::DecodeResult r = netpol::k8s::decode_protobuf_object(bytes, kind, "", "fuzz");
  for (const auto& e : r.errors) (void)e.str();
  (void)netpol::k8s::protobuf_object_ids(bytes);

  pw::Unknown env;
  std::string error, rv, cont;
  if (pw::read_envelope(bytes, "fuzz", &env, &error)) {
    pw::read_list(env.raw, "list", &rv, &cont, &error, [&](std::string_view item) {
      (void)netpol::k8s::decode_protobuf_object(item, kind, "", "fuzz-list");
    });
    pw::StatusObject st;
    (void)pw::read_status(env.raw, &st, &error);
  }
  std::string_view rest = bytes;
  for (int i = 0; i < 64; ++i) {
    std::string_view frame;
    size_t used = 0;
    if (pw::next_frame(rest, 1 << 20, &frame, &used) != pw::Frame::Complete) break;
    rest.remove_prefix(used);
    std::string type;
    std::string_view object;
    if (pw::read_watch_event(frame, &type, &object, &error) &&
        pw::read_envelope(object, "event", &env, &error))
      (void)netpol::k8s::decode_protobuf_object(env.raw, kind, "", "fuzz-watch");
  }
  return 0;
}
