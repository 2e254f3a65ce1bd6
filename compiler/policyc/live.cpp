#include "compiler/policyc/live.h"

#include "k8s/api/client.h"
#include "k8s/api/config.h"

namespace netpol::policyc {

namespace {

void add(k8s::DecodeResult& into, k8s::DecodeResult&& from) {
  auto move_all = [](auto& to, auto& src) {
    to.insert(to.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
  };
  move_all(into.objects.namespaces, from.objects.namespaces);
  move_all(into.objects.pods, from.objects.pods);
  move_all(into.objects.policies, from.objects.policies);
  move_all(into.errors, from.errors);
  move_all(into.origins.namespaces, from.origins.namespaces);
  move_all(into.origins.pods, from.origins.pods);
  move_all(into.origins.policies, from.origins.policies);
}

k8s::DecodeResult failure(const std::string& source, const std::string& message) {
  k8s::DecodeResult r;
  k8s::Error e;
  e.file = source;
  e.message = message;
  r.errors.push_back(std::move(e));
  return r;
}

}  // namespace

k8s::DecodeResult load_live(const std::string& kubeconfig, const std::string& context) {
  auto config = k8s::api::default_config(kubeconfig, context);
  if (!config.ok()) return failure("--kubeconfig", config.message());
  config.value().user_agent = "policyc";
  auto client = k8s::api::make_http_client(config.value());
  if (!client.ok()) return failure(config.value().source, client.message());
  k8s::DecodeResult out;
  for (const k8s::api::ResourceRef* res :
       {&k8s::api::kNamespaces, &k8s::api::kPods, &k8s::api::kNetworkPolicies}) {
    k8s::api::ListOptions opts;
    opts.limit = 500;
    do {
      auto page = client.value()->list(*res, opts);
      if (!page.ok()) return failure(client.value()->server(), page.message());
      const std::string source = client.value()->server() + " " + res->plural;
      // Pods, Namespaces and NetworkPolicies come in protobuf where the server offers it.
      const bool pb = page.value().encoding == k8s::api::Encoding::Protobuf;
      for (const std::string& item : page.value().items) {
        add(out, pb ? k8s::decode_protobuf_object(item, res->kind, res->api_version, source)
                    : k8s::decode_json_object(item, source));
      }
      opts.continue_token = page.value().continue_token;
      // Later pages of one list come from the first page's snapshot.
      opts.resource_version.clear();
    } while (!opts.continue_token.empty());
  }
  return out;
}

}  // namespace netpol::policyc
