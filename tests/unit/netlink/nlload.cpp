// netpol-nlload: programs what policyc would print, but through netlink, in the
// network namespace it runs in; the lab's e2e suites use it (through
// lab_via_netlink.py) to check that rules arriving this way enforce the same.
//
//   netpol-nlload --node NODE -f PATH [-f PATH ...]
//
// Same inputs as `policyc compile`; the table is reconciled with
// KernelTable::full (read back, smallest transaction, never deleting the table),
// so consecutive loads also exercise read-back and garbage collection. Prints
// one line of what it did. Exit 0 ok, 1 invalid input or kernel refusal, 2 usage.
// A test tool, not part of the product (the agent does this for real).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "k8s/decode.h"
#include "nft/netlink.h"
#include "nft/kernel_table.h"

int main(int argc, char** argv) {
  std::string node;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (!std::strcmp(argv[i], "--node") && has_value) {
      node = argv[++i];
    } else if (!std::strcmp(argv[i], "-f") && has_value) {
      files.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: netpol-nlload --node NODE -f PATH [-f PATH ...]\n");
      return 2;
    }
  }
  if (node.empty() || files.empty()) {
    std::fprintf(stderr, "usage: netpol-nlload --node NODE -f PATH [-f PATH ...]\n");
    return 2;
  }
  netpol::k8s::DecodeResult decoded = netpol::k8s::load_manifests(files);
  netpol::k8s::complete_snapshot(decoded);
  if (!decoded.ok()) {
    for (const auto& e : decoded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
    return 1;
  }
  netpol::ir::RuleSet rules = netpol::compiler::compile(decoded.objects, node);
  auto backend = netpol::nft::NetlinkBackend::open();
  if (!backend.ok()) {
    std::fprintf(stderr, "netpol-nlload: %s\n", backend.message().c_str());
    return 1;
  }
  netpol::nft::KernelTable sync(*backend.value());
  netpol::nft::Status s = sync.full(rules);
  if (!s.ok()) {
    std::fprintf(stderr, "netpol-nlload: %s\n", s.message().c_str());
    return 1;
  }
  const netpol::nft::BatchStats& b = backend.value()->last_batch();
  std::printf("netpol-nlload: %s: %zu ops (%s), %zu messages\n", node.c_str(),
              sync.stats().last_ops, sync.stats().replaces ? "replace" : "reconcile", b.messages);
  return 0;
}
