// Informers: one per resource, each keeping a store of compact objects
// (k8s/model.h) that mirrors the API server, and telling handlers what changed.
//
// An informer gets the current state, then watches from its resourceVersion,
// and re-watches from the last event or bookmark it saw when a watch ends.
// The current state comes from a watch-list where the server offers it
// (InformerOptions::watch_list, KEP-3157: one watch with sendInitialEvents,
// the objects as ADDED events until a bookmark marked
// k8s.io/initial-events-end, then changes on the same stream), else from a
// paginated list. A server that refuses the watch-list (400/422: older
// servers forbid resourceVersionMatch on watches) is listed from then on. On
// 410 Gone it gets the state again and synthesises the deletes, updates and
// adds that happened while it was not looking, so handlers never miss a
// change; a watch-list's initial events are collected aside and reconciled
// only once complete, so a stream cut before its end bookmark changes
// nothing (it is retried with backoff). Objects are keyed by UID, so a pod recreated under the same
// name, or a new pod reusing an old pod's IP, is a different object.
//
// Handlers run on one Dispatcher thread (shareable by several informers, so a
// consumer sees every resource's events on one thread), in event order. An
// informer never throws, never stops on its own because of API errors (it
// retries with exponential backoff and jitter), and never blocks on a slow
// handler: events queue up in the dispatcher instead.
//
// A resource the server may not serve (a CRD that is not installed) can be
// marked optional (InformerOptions::absent_recheck): a 404 on its list then
// means "there are none": the store empties (synthesised deletes), the
// informer says so once in the log and in its stats, and lists again every
// absent_recheck until the resource is served, without backoff growing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "k8s/api/client.h"
#include "k8s/clock.h"
#include "k8s/model.h"
#include "k8s/thread_annotations.h"

namespace netpol::k8s::api {

// Time as informers see it (k8s/clock.h): real by default; tests inject one
// that records sleeps and returns at once.
using Clock = netpol::Clock;
using netpol::make_real_clock;

// How retries slow down after failures (client-go's defaults are similar).
struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30'000};
  double factor = 2.0;
  double jitter = 0.5;  // each delay is stretched by up to this fraction, at random
};

// Exponential backoff with jitter: initial * factor^n, capped at max, times
// (1 + jitter * r) with r from `random` in [0, 1).
class Backoff {
 public:
  Backoff(BackoffPolicy policy, std::function<double()> random);
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  std::function<double()> random_;
  int attempt_ = 0;
};

// Runs posted functions on one thread, in posting order. Informers post their
// handler calls here; share one between informers to get all events on one thread.
class Dispatcher {
 public:
  Dispatcher();
  ~Dispatcher();  // runs what is queued, then joins
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void post(std::function<void()> fn);
  // Returns when everything posted before the call has run. From the
  // dispatcher's own thread (a handler) it returns at once instead of
  // waiting for itself.
  void flush();
  size_t pending() const;
  bool on_dispatcher_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop();

  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::condition_variable_any idle_cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  uint64_t posted_ GUARDED_BY(mu_) = 0;
  uint64_t done_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Handlers must not throw: they run on the dispatcher thread, where an
// exception would end the process.
template <typename T>
struct Handlers {
  std::function<void(const T&)> on_add;
  std::function<void(const T& old_obj, const T& new_obj)> on_update;
  std::function<void(const T&)> on_delete;  // the last state we knew
  // After the handlers of the first complete list ran (once).
  std::function<void()> on_synced;
  // After each failed list, with why (NotFound: the resource is not served).
  // Lets a consumer stop waiting for a resource it can do without.
  std::function<void(const Status&)> on_list_error;
};

// How an informer lists, watches, retries, logs and dispatches. Every field
// has a production default; tests replace clock, random and log.
// How an informer gets the current state: a watch-list where the server
// offers it (falling back to list+watch, remembered, when it refuses), or
// always a paginated list.
enum class WatchListMode : unsigned char { Auto, Off };

struct InformerOptions {
  std::string ns;  // empty: all namespaces (ignored for Namespaces)
  std::string label_selector;
  std::string field_selector;
  int page_size = 500;  // list limit; continue tokens fetch the rest
  // Watches ask the server to end after a random time in [t, 2t), so
  // reconnects of many agents spread out.
  int watch_timeout_seconds = 300;
  BackoffPolicy backoff;
  // A relist after 410 Gone, and a list retried after an error, first waits
  // a random time in [0, relist_spread) (on top of any backoff), so the
  // agents of a whole cluster, cut off by the same compaction or API server
  // restart, do not all list at once. The first list at start does not wait.
  std::chrono::milliseconds relist_spread{std::chrono::seconds(5)};
  std::shared_ptr<Clock> clock;                 // default: real time
  std::function<double()> random;               // [0, 1); default: seeded std::mt19937_64
  std::function<void(const std::string&)> log;  // default: stderr
  std::shared_ptr<Dispatcher> dispatcher;       // default: a private one
  // Non-zero: the resource may be absent (a CRD). A list answered 404 empties
  // the store and the next list comes after this long (not backoff); a watch
  // answered 404 lists again. Zero: a 404 is an error like any other.
  std::chrono::milliseconds absent_recheck{0};
  WatchListMode watch_list = WatchListMode::Auto;
};

// Counters for metrics and readiness; a copy, never a live view.
struct InformerStats {
  uint64_t lists = 0;        // complete lists (first one and relists), watch-lists included
  uint64_t watch_lists = 0;  // of those, initial states read through a watch-list
  // The server refused a watch-list (400/422): this informer lists from now on.
  bool watch_list_refused = false;
  uint64_t relists = 0;  // lists forced by 410 Gone
  uint64_t list_pages = 0;
  uint64_t watches = 0;        // watch requests made
  uint64_t errors = 0;         // failed list or watch requests
  uint64_t decode_errors = 0;  // objects reported and skipped
  uint64_t events = 0;         // watch events received (bookmarks included)
  uint64_t bookmarks = 0;
  uint64_t added = 0, updated = 0, deleted = 0;  // handler calls posted
  uint64_t synthesized = 0;                      // of those, made up by a relist
  std::string resource_version;                  // where the next watch starts
  std::string last_error;                        // empty once a request succeeds again
  // absent_recheck only: lists answered 404, and whether the last list was one.
  uint64_t absent_lists = 0;
  bool absent = false;
};

// Mirrors one resource (Pod, Namespace, NetworkPolicy, ClusterNetworkPolicy
// or Node) into a UID-keyed
// store and reports changes to its handlers. Never throws, never gives up.
template <typename T>
class Informer {
 public:
  Informer(std::shared_ptr<ApiClient> client, Handlers<T> handlers, InformerOptions options = {});
  ~Informer();  // stop()
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Starts the list/watch thread. An informer runs once: start after stop does nothing.
  void start();
  // Ends the thread (cancelling a list or watch in flight), then waits until
  // the handler calls already queued have run: after stop() returns no handler
  // of this informer runs again. (Called from a handler, it cannot wait for
  // the queue; do not destroy an informer from its own handler.)
  void stop();

  // True once the handlers of the first complete list ran.
  bool has_synced() const;
  bool wait_for_sync(std::chrono::milliseconds timeout) const;

  // The store, sorted by (namespace/name, uid). The store runs ahead of the
  // handlers by whatever the dispatcher has not delivered yet.
  std::vector<T> snapshot() const;
  std::optional<T> get(const std::string& uid) const;
  // A stored object `match` accepts: a scan under the lock that copies only
  // that object (snapshot() copies and sorts the whole store). nullopt: none.
  template <typename Pred>
  std::optional<T> find_if(Pred match) const {
    MutexLock lock(mu_);
    for (const auto& p : store_) {
      if (match(*p)) return *p;
    }
    return std::nullopt;
  }
  size_t size() const;
  InformerStats stats() const;
  static const ResourceRef& resource();

 private:
  using Ptr = std::shared_ptr<const T>;
  void run();
  Status list_and_reconcile();
  // The store becomes `items` (the complete state at `rv`): deletes, updates
  // and adds posted (synthesised unless it is the first), on_synced the first time.
  void reconcile(std::vector<Ptr>& items, const std::string& rv, bool watch_list);
  // True when a failed watch-list means the server does not offer it.
  static bool refuses_watch_list(const Status& st);
  void handle(WatchEvent&& ev);
  std::optional<T> decode(const std::string& text, Encoding enc, const char* how, bool report);
  void note_error(const Status& st);
  void note_ok();
  void note_absent(const Status& st);
  void post_add(Ptr obj) REQUIRES(mu_);
  void post_update(Ptr old_obj, Ptr new_obj) REQUIRES(mu_);
  void post_delete(Ptr obj) REQUIRES(mu_);

  std::shared_ptr<ApiClient> client_;
  Handlers<T> handlers_;
  InformerOptions opts_;
  std::shared_ptr<Dispatcher> dispatcher_;
  Canceller cancel_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  mutable Mutex mu_;
  mutable std::condition_variable_any synced_cv_;
  // Keyed by the objects' own UIDs (a transparent hash on string_view), so no
  // key string is stored twice: the index costs ~40 bytes per object.
  struct UidHash {
    using is_transparent = void;
    size_t operator()(std::string_view uid) const noexcept {
      return std::hash<std::string_view>{}(uid);
    }
    size_t operator()(const Ptr& p) const noexcept { return (*this)(std::string_view(p->uid)); }
  };
  struct UidEq {
    using is_transparent = void;
    static std::string_view uid(std::string_view s) { return s; }
    static std::string_view uid(const Ptr& p) { return p->uid; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      return uid(a) == uid(b);
    }
  };
  using Store = std::unordered_set<Ptr, UidHash, UidEq>;
  Store store_ GUARDED_BY(mu_);
  InformerStats stats_ GUARDED_BY(mu_);
  bool synced_ GUARDED_BY(mu_) = false;
  bool relisting_ = false;           // the current list is a relist (its changes are synthesised)
  bool watch_list_refused_ = false;  // the server refused a watch-list: list from now on
  bool rv_unavailable_ = false;  // 410 Gone: the next watch-list starts from "" (consistent read)
  std::string reported_;         // last error logged, so a retry loop logs it once
  std::unordered_map<std::string, std::string> bad_objects_;  // uid/name -> rv already reported
};

using PodInformer = Informer<Pod>;
using NamespaceInformer = Informer<Namespace>;
using NetworkPolicyInformer = Informer<NetworkPolicy>;
using ClusterNetworkPolicyInformer = Informer<ClusterNetworkPolicy>;
using NodeInformer = Informer<Node>;

extern template class Informer<Pod>;
extern template class Informer<Namespace>;
extern template class Informer<NetworkPolicy>;
extern template class Informer<ClusterNetworkPolicy>;
extern template class Informer<Node>;

}  // namespace netpol::k8s::api
