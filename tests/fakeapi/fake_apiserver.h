// A stand-in kube-apiserver for tests and hand experiments: Namespaces, Pods,
// NetworkPolicies, Nodes and ClusterNetworkPolicies with real API semantics,
// over HTTP or HTTPS, with bearer-token (or client-certificate) auth and
// fault injection.
//
// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, cluster-scoped,
// short name cnp) is served as an installed CRD is: discovery, OpenAPI v3,
// the CustomResourceDefinition object (cnp_crd_object()) under
// apiextensions.k8s.io/v1, the CRD's printer columns in `kubectl get cnp`,
// and 422 for objects netpol's decoder rejects (k8s/decode_cnp.cpp, the CRD's
// schema and CEL rules). With Options::install_cnp_crd false (fake-apiserver
// --no-cnp-crd) the group is absent: its paths answer 404 and discovery omits
// it, until the CRD is created: POST to /apis/apiextensions.k8s.io/v1/
// customresourcedefinitions (or `fake-apiserver --print-cnp-crd | kubectl
// apply -f -`). Only that one CRD name is accepted; its served schema is
// always the built-in one. Deleting the CRD deletes every ClusterNetworkPolicy.
//
// Semantics kept from the real server: one resourceVersion counter for every
// write; list with limit/continue over a consistent snapshot (a continue token
// older than a compaction answers 410 Expired); watch from a resourceVersion
// (synthetic ADDED events for "" and "0"), bookmarks, timeoutSeconds, and 410
// for a compacted resourceVersion; watch-lists (sendInitialEvents, the
// initial-events-end bookmark; Options::watch_list); create / get / update (optimistic
// concurrency) / merge-patch / JSON-patch / delete; label and field selectors;
// the defaults kubectl users see (uid, creationTimestamp, policyTypes, port
// protocols, the kubernetes.io/metadata.name label). Enough discovery for
// kubectl. Protobuf bodies of Namespace/Pod create and update and of
// DeleteOptions, as kubectl's typed clients send them (protobuf.h); answers
// are always JSON. Deliberate simplifications are listed in docs/k8s-client.md.
//
// It is test infrastructure: it must never be linked into the agent, and it
// never touches anything outside its own listening socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace netpol::fakeapi {

using json = nlohmann::json;

enum class Kind {
  Namespace,
  Pod,
  NetworkPolicy,
  Node,
  ClusterNetworkPolicy,
  CustomResourceDefinition
};
inline constexpr int kKindCount = 6;

inline constexpr const char* kCnpCrdName = "clusternetworkpolicies.policy.networking.k8s.io";
// The ClusterNetworkPolicy CRD as the fake serves it (tests/fakeapi/cnp_crd.cpp).
json cnp_crd_object();
const char* kind_name(Kind k);

// Misbehaviour on demand; all zero is a healthy server.
struct Faults {
  uint64_t drop_watch_after = 0;  // cut every watch (no final chunk) after N events; 0: never
  double error_rate = 0;          // chance that a resource request is answered 500
  double hang_rate = 0;           // chance that a resource request first hangs for hang_for
  std::chrono::milliseconds hang_for{0};
  uint64_t compact_every = 0;  // compact the watch history after every N writes; 0: never
};

// How the fake serves: where, with what TLS and credentials, which faults.
struct Options {
  std::string listen = "127.0.0.1:0";       // "ADDR:PORT" or "[v6]:PORT"; port 0 picks a free one
  std::string tls_cert_file, tls_key_file;  // HTTPS when set
  std::string client_ca_file;  // verify client certificates against this CA (an accepted identity)
  std::vector<std::string> tokens;  // accepted bearer tokens; none: no authentication at all
  // Watch from a compacted resourceVersion: HTTP 410 instead of the real
  // server's 200 + ERROR event.
  bool gone_as_http_status = false;
  std::chrono::milliseconds bookmark_interval{1000};  // 0: no bookmarks
  size_t history_limit = 1'000'000;  // events kept for watches; older ones are compacted away
  // The real server drops status from pod create/update (the kubelet owns it,
  // through pods/NAME/status). True keeps it, so manifests with pod IPs load as written.
  bool keep_pod_status = false;
  // Start with the ClusterNetworkPolicy CRD installed; false: the group is
  // absent (404) until the CRD is created.
  bool install_cnp_crd = true;
  // Lists and watches of Pods, Namespaces and NetworkPolicies in protobuf for
  // clients that accept it (not kubectl); false: always JSON.
  bool protobuf = true;
  // Watch-lists (streaming lists, KEP-3157): a watch with sendInitialEvents=true
  // and resourceVersionMatch=NotOlderThan sends the current objects as ADDED
  // events, then a BOOKMARK annotated k8s.io/initial-events-end, then changes,
  // as kube-apiserver 1.27+ with WatchList does. false: an older server, which
  // answers 422 Invalid to resourceVersionMatch on a watch
  // (fake-apiserver --no-watch-list).
  bool watch_list = true;
  Faults faults;
  uint64_t seed = 1;                            // uids and fault dice
  std::function<void(const std::string&)> log;  // one line per request; none by default
};

// An in-process API call's answer: an HTTP code and the object or a metav1.Status.
struct Reply {
  int code = 200;
  json body;
  bool ok() const { return code >= 200 && code < 300; }
};

// What the fake did, for tests to prove faults really happened.
struct ServerStats {
  uint64_t requests = 0;
  uint64_t watches = 0;          // watch requests accepted
  uint64_t watch_lists = 0;      // of those, with sendInitialEvents (their initial events sent)
  uint64_t watches_dropped = 0;  // cut by drop_watch_after or drop_watches()
  uint64_t errors_injected = 0;  // 500s and fail_next answers
  uint64_t hangs = 0;
  uint64_t compactions = 0;
  uint64_t gone = 0;  // 410s and 410 ERROR events sent
  uint64_t events_sent = 0;
  uint64_t body_bytes_sent = 0;  // response bodies and watch chunks (payload, no HTTP framing)
};

// One running fake API server (threads and a listening socket); stop() or
// the destructor ends both. Safe to call from any thread.
class Server {
 public:
  // Binds and starts serving. nullptr and *error set when it cannot.
  static std::unique_ptr<Server> start(Options options, std::string* error);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  std::string url() const;  // "https://127.0.0.1:PORT"
  // Closes every connection and joins every thread. Idempotent.
  void stop();

  // The API in process, through the same code as HTTP requests. `obj` is
  // the JSON of the object (kind/apiVersion optional).
  Reply create(Kind k, const std::string& ns, json obj);
  Reply update(Kind k, const std::string& ns, const std::string& name, json obj);
  // The status subresource (what the kubelet writes for pods): only .status changes.
  Reply update_status(Kind k, const std::string& ns, const std::string& name, json status);
  Reply merge_patch(Kind k, const std::string& ns, const std::string& name, const json& patch);
  Reply remove(Kind k, const std::string& ns, const std::string& name);
  Reply get(Kind k, const std::string& ns, const std::string& name);
  // Every current object of a kind (in one namespace, or all), sorted by
  // namespace/name, with kind and apiVersion.
  std::vector<json> objects(Kind k, const std::string& ns = "") const;
  uint64_t resource_version() const;

  // Faults, changeable while serving.
  void set_faults(const Faults& f);
  Faults faults() const;
  // Forget the watch history and list snapshots up to now: watches and
  // continue tokens from before get 410, open watches behind it get an ERROR 410.
  void compact();
  // Cut every open watch now.
  void drop_watches();
  // Makes the protobuf encoding of every stored object of the protobuf kinds
  // now (it is otherwise made on first use and kept with the object). A
  // benchmark calls it after loading a cluster, so a client's first list or
  // watch-list costs the server what kube-apiserver's watch cache costs,
  // not the fake's JSON re-parse (state.h, EncodingCache). Returns how many.
  size_t warm_protobuf_encodings();
  void set_tokens(std::vector<std::string> tokens);
  // The next `count` requests whose path and query contain `path_part` are
  // answered `code` (e.g. 403 to test RBAC errors, 500, 429).
  void fail_next(int code, int count, const std::string& path_part = "");
  void clear_fail_next();

  ServerStats stats() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netpol::fakeapi
