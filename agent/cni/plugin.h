// netpol-cni's behaviour as a function of what the runtime gives it: the
// environment and stdin in, stdout, stderr and the exit status out. main()
// only gathers the inputs; tests run the real binary as a runtime would.
#pragma once

#include <string>
#include <string_view>

#include "agent/cni/invocation.h"

namespace netpol::cni {

struct Outcome {
  int exit_code = 0;
  std::string out;  // the result, the VERSION answer or the CNI error JSON
  std::string err;  // warnings and the error message for humans
};

Outcome run_plugin(const Env& env, std::string_view stdin_text);

// `netpol-cni install ...` (the DaemonSet's init container): copies the binary
// into the CNI bin directory and appends the netpol-cni entry to the node's
// conflist. args exclude "install"; self is the binary to copy.
Outcome run_install(const std::vector<std::string>& args, const std::string& self);

}  // namespace netpol::cni
