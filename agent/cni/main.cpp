// netpol-cni: the chained CNI plugin (docs/cni.md). Run by the container
// runtime with CNI_* in the environment and the network configuration on
// stdin; `netpol-cni install ...` is the DaemonSet's init container.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "agent/cni/plugin.h"

extern char** environ;

int main(int argc, char** argv) {
  using namespace netpol::cni;
  Outcome o;
  if (argc > 1 && std::string(argv[1]) == "install") {
    o = run_install(std::vector<std::string>(argv + 2, argv + argc), "/proc/self/exe");
  } else {
    Env env;
    for (char** e = environ; e && *e; ++e) {
      const std::string kv = *e;
      const size_t eq = kv.find('=');
      if (eq != std::string::npos && kv.rfind("CNI_", 0) == 0)
        env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    // Bounded: a network configuration is a few KiB; more is not one.
    constexpr size_t kMaxStdin = 1 << 20;
    std::string in;
    char buf[65536];
    size_t n;
    while (in.size() <= kMaxStdin && (n = std::fread(buf, 1, sizeof(buf), stdin)) > 0)
      in.append(buf, n);
    if (in.size() > kMaxStdin) {
      o.exit_code = 1;
      o.out = CniError{kDecodeFailure, "the network configuration on stdin is larger than 1 MiB",
                       "", "1.0.0"}
                  .json();
      o.err = "netpol-cni: stdin larger than 1 MiB\n";
    } else {
      o = run_plugin(env, in);
    }
  }
  std::fwrite(o.out.data(), 1, o.out.size(), stdout);
  std::fwrite(o.err.data(), 1, o.err.size(), stderr);
  std::fflush(stdout);
  return o.exit_code;
}
