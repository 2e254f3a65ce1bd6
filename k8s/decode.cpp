// Temporary: the decoder lands in step 2 of brief A; until then every entry
// point reports that it is not implemented, so dependants can link.
#include "k8s/decode.h"

namespace netpol::k8s {

std::string Error::str() const {
  std::string out = file;
  auto part = [&out](const std::string& s) {
    if (s.empty()) return;
    if (!out.empty()) out += ": ";
    out += s;
  };
  std::string who = kind;
  if (!object.empty()) who += (who.empty() ? "" : " ") + object;
  part(who);
  part(field);
  part(message);
  return out;
}

namespace {
DecodeResult unimplemented(std::string_view file) {
  DecodeResult r;
  r.errors.push_back({std::string(file), "", "", "", "decoder not implemented yet"});
  return r;
}
}  // namespace

DecodeResult decode_manifests(std::string_view, std::string_view file) {
  return unimplemented(file);
}
DecodeResult load_manifests(const std::vector<std::string>&) {
  return unimplemented("");
}
DecodeResult decode_json_object(std::string_view, std::string_view source) {
  return unimplemented(source);
}
void complete_snapshot(DecodeResult&) {}

}  // namespace netpol::k8s
