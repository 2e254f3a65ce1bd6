// What the k8s decoder tests compare errors as: each Error as the user reads
// it (`FILE: KIND NAMESPACE/NAME: FIELD: message`). Test code only.
#pragma once

#include <string>
#include <vector>

#include "k8s/decode.h"

namespace netpol::k8s {

inline std::vector<std::string> error_strings(const DecodeResult& r) {
  std::vector<std::string> out;
  for (const Error& e : r.errors) out.push_back(e.str());
  return out;
}

}  // namespace netpol::k8s
