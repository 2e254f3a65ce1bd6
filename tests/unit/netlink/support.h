// Shared helpers of the netlink tests: loading policy inputs from the repo,
// compiling them per node (testsupport::nodes_of), and a namespace
// (tests/support/netns.h) + backend pair. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir.h"
#include "k8s/model.h"
#include "nft/netlink.h"
#include "nft/objects.h"
#include "tests/support/builders.h"
#include "tests/support/netns.h"

namespace netpol::nltest {

using testsupport::canonical_nft_json;
using testsupport::Command;
using testsupport::Netns;
using testsupport::nodes_of;
using testsupport::normalize_nft_json;

// The repository's source tree (compile definition), for tests/golden etc.
std::string source_dir();

struct Input {
  std::string name;
  k8s::Objects objects;
};

// Decodes a file or directory of manifests; nullopt if it holds errors
// (golden cases of invalid input are not tables).
std::optional<k8s::Objects> load(const std::string& path);

// A namespace with a NetlinkBackend opened inside it; the thread is back in
// its original namespace when this returns.
struct Kernelspace {
  std::unique_ptr<Netns> ns;
  std::unique_ptr<nft::NetlinkBackend> backend;
};
// nullopt (with *why) if namespaces or sockets are unavailable.
std::optional<Kernelspace> make_kernelspace(std::string* why, nft::NetlinkOptions options = {});

// The table as the kernel lists it (JSON, handles stripped), for equality checks.
inline std::string listing(const Kernelspace& k) {
  return k.ns->listing();
}

}  // namespace netpol::nltest

// Skips (reported as skipped by ctest, never as passed) without root.
#define NLTEST_KERNELSPACE(var)                                          \
  std::string var##_why;                                                 \
  auto var##_opt = ::netpol::nltest::make_kernelspace(&var##_why);       \
  if (!var##_opt) GTEST_SKIP() << "no network namespace: " << var##_why; \
  ::netpol::nltest::Kernelspace& var = *var##_opt
