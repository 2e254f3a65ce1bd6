// libFuzzer target: decoded manifests through the compiler and the renderer.
// Checks the properties users rely on: same input gives the same bytes, and
// the incremental path agrees with a full compile.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "compiler/compiler.h"
#include "k8s/decode.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"

// The script policyc prints for `rs` ("" if the transaction is inconsistent).
static std::string script_of(const netpol::ir::RuleSet& rs) {
  auto tx = netpol::nft::Transaction::replace(netpol::nft::render(rs).ruleset);
  return tx.ok() ? netpol::nft::to_script(tx.value()) : std::string();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netpol;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  k8s::DecodeResult r = k8s::decode_manifests(text, "fuzz.yaml");
  k8s::complete_snapshot(r);
  if (!r.ok()) return 0;
  for (const char* node : {"node1", "node2"}) {
    ir::RuleSet a = compiler::compile(r.objects, node);
    ir::RuleSet b = compiler::compile(r.objects, node);
    if (!(a == b)) std::abort();
    if (script_of(a) != script_of(b)) std::abort();
    (void)ir::to_json(a);
    // Incremental: remove everything in reverse order, the IR must end empty.
    compiler::Compiler c(node);
    ir::RuleSet shadow;
    shadow.node = node;
    for (auto& ns : r.objects.namespaces) ir::patch(shadow, c.upsert_namespace(ns));
    for (auto& pod : r.objects.pods) ir::patch(shadow, c.upsert_pod(pod));
    for (auto& pol : r.objects.policies) ir::patch(shadow, c.upsert_policy(pol));
    if (!(c.rules() == a) || !(shadow == a)) std::abort();
    for (auto& pol : r.objects.policies) ir::patch(shadow, c.remove_policy(pol.ns, pol.name));
    for (auto& pod : r.objects.pods) ir::patch(shadow, c.remove_pod(pod.ns, pod.name));
    if (!c.rules().pods.empty() || !c.rules().sets.empty() || !(shadow == c.rules()))
      std::abort();
  }
  return 0;
}
