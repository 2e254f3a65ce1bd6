// The Kubernetes API client: paginated lists and streaming watches of the
// resources netpol needs, over HTTP or HTTPS (cpprestsdk behind a pimpl).
//
// ApiClient is the interface the informers use, so a test can put a scripted
// fake behind it. The HTTP implementation hands back each object as its JSON
// text (with kind/apiVersion filled in, since list items omit them), or, when
// the server answered application/vnd.kubernetes.protobuf, as the object's own
// protobuf message (Encoding::Protobuf); decoding into the compact model is
// the informer's job. Nothing here throws: every
// failure is a Status naming the method and URL. Never logs: callers decide.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "k8s/api/config.h"
#include "k8s/api/status.h"
#include "k8s/thread_annotations.h"

namespace netpol::k8s::api {

// One API resource: where it lives and what its objects are called.
struct ResourceRef {
  const char* api_prefix;   // "/api/v1" or "/apis/networking.k8s.io/v1"
  const char* plural;       // "pods"
  const char* kind;         // "Pod"
  const char* api_version;  // "v1", "networking.k8s.io/v1"
  bool namespaced;
  // Has a protobuf encoding the agent decodes (built-in types; CRDs are JSON only).
  bool protobuf = false;

  // The collection path, e.g. /api/v1/namespaces/NS/pods or /api/v1/pods when ns is empty.
  std::string collection_path(const std::string& ns = "") const;
};
inline constexpr ResourceRef kPods{"/api/v1", "pods", "Pod", "v1", true, true};
inline constexpr ResourceRef kNamespaces{"/api/v1", "namespaces", "Namespace", "v1", false, true};
inline constexpr ResourceRef kNetworkPolicies{"/apis/networking.k8s.io/v1",
                                              "networkpolicies",
                                              "NetworkPolicy",
                                              "networking.k8s.io/v1",
                                              true,
                                              true};
// A CRD (kubernetes-sigs/network-policy-api): 404 while it is not installed.
// CRDs are served as JSON only.
inline constexpr ResourceRef kClusterNetworkPolicies{"/apis/policy.networking.k8s.io/v1alpha2",
                                                     "clusternetworkpolicies",
                                                     "ClusterNetworkPolicy",
                                                     "policy.networking.k8s.io/v1alpha2",
                                                     false,
                                                     false};
// Nodes: JSON (the agent's protobuf decoder reads Pods, Namespaces and
// NetworkPolicies only; Nodes are few and change rarely).
inline constexpr ResourceRef kNodes{"/api/v1", "nodes", "Node", "v1", false, false};

// How an object's text is encoded: JSON (kind/apiVersion present) or the
// object's own protobuf message (runtime.Unknown's raw, no envelope).
enum class Encoding : unsigned char { Json, Protobuf };

// Cancels blocking calls from another thread. A cancelled Canceller stays
// cancelled; calls given one fail at once with Code::Cancelled.
class Canceller {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

  // For ApiClient implementations: run `fn` on cancel() (at once if already
  // cancelled). The returned id removes it again.
  uint64_t on_cancel(std::function<void()> fn);
  void remove(uint64_t id);

 private:
  std::atomic<bool> cancelled_{false};
  Mutex mu_;
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks_ GUARDED_BY(mu_);
};

// Parameters of one list request (one page).
struct ListOptions {
  std::string ns;  // empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  int limit = 0;  // page size; 0: the server decides (usually everything)
  std::string continue_token;
  std::string resource_version;  // empty: the most recent (a consistent read)
};

// One page of a list: objects as JSON text or protobuf messages, never decoded here.
struct ListPage {
  std::string resource_version;    // the list's resourceVersion: watch from here
  std::string continue_token;      // empty on the last page
  std::vector<std::string> items;  // JSON objects with kind and apiVersion, or protobuf
  Encoding encoding = Encoding::Json;
};

// Parameters of one watch request.
struct WatchOptions {
  std::string ns;
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;  // events after this one
  int timeout_seconds = 300;     // the server ends the watch after this long
  bool allow_bookmarks = true;
  // A watch-list (streaming list, KEP-3157): sendInitialEvents=true and
  // resourceVersionMatch=NotOlderThan. The stream begins with an ADDED event
  // for every object at least as new as resource_version ("": a consistent
  // read), then a BOOKMARK with WatchEvent::initial_events_end, then changes.
  // Needs allow_bookmarks. Servers without it answer 400/422 (Invalid).
  bool send_initial_events = false;
};

enum class EventType : unsigned char { Added, Modified, Deleted, Bookmark };
const char* to_string(EventType t);

// One watch event. ERROR events never get here: watch() returns them as a Status.
struct WatchEvent {
  EventType type = EventType::Added;
  std::string object;            // JSON text of the object, kind/apiVersion present (or protobuf)
  std::string resource_version;  // metadata.resourceVersion of the object (bookmarks too)
  Encoding encoding = Encoding::Json;
  // A BOOKMARK annotated "k8s.io/initial-events-end": "true": a watch-list's
  // initial events are complete at resource_version.
  bool initial_events_end = false;
};

// The API server as informers see it. Implementations must be safe to call
// from several threads at once and must never throw.
class ApiClient {
 public:
  virtual ~ApiClient() = default;

  // One page of a list.
  virtual Result<ListPage> list(const ResourceRef& res, const ListOptions& opts,
                                Canceller* cancel = nullptr) = 0;

  // Streams events to on_event, in order, until: the server ends the watch
  // (Ok), nothing arrives for ClientConfig::watch_idle_timeout (Ok: a silent
  // stream is ended and the caller re-watches), on_event returns false (Ok),
  // a watch ERROR event arrives (its code: 410 is Code::Gone), the stream
  // breaks (Unavailable), or `cancel` fires (Cancelled). A failed request
  // is reported the same way (a server that never answers: Timeout).
  virtual Status watch(const ResourceRef& res, const WatchOptions& opts,
                       const std::function<bool(WatchEvent&&)>& on_event,
                       Canceller* cancel = nullptr) = 0;

  // GET of any path (e.g. "/version", "/readyz"): the body text.
  virtual Result<std::string> get(const std::string& path, Canceller* cancel = nullptr) = 0;

  // "https://host:port", for messages.
  virtual std::string server() const = 0;
};

// The cpprestsdk implementation. Fails (without connecting) when the TLS
// material cannot be loaded, naming the file or field.
Result<std::shared_ptr<ApiClient>> make_http_client(const ClientConfig& config);

// Kubernetes query strings: key=value&..., values percent-encoded.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace netpol::k8s::api
