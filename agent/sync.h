// The sync loop: informer events in, one netlink transaction per burst out
// (a burst that needs a big new set: that set first, in chunks, then one
// transaction with the rules that use it; see Enforcer::flush).
//
//   informer handlers ──enqueue()──▶ queue ──sync thread──▶ Compiler (incremental)
//        (never block)                          │ DeltaBatch folds the IR deltas
//                                               ▼
//                                   KernelTable over a Kernel: one transaction
//
// Enforcer is the single-threaded part (compiler, delta folding, KernelTable,
// metrics), driven step by step in unit tests with a fake kernel and a fake
// clock. SyncThread owns the queue and the one thread that drives a Enforcer:
// it coalesces bursts (a batch closes after `quiet` without a new event, or
// `max_delay` after its first event, or at `max_batch` events; while events
// keep coming, e.g. kubectl writing objects one by one, the quiet period
// stretches to `burst_quiet`), retries a
// failed apply as a full resync with exponential backoff, and reads the table
// back every `drift_interval` to repair it if someone changed it.
//
// Nothing is programmed until the Namespace, Pod and NetworkPolicy informers
// reported synced, and every optional kind the Enforcer was told to wait for
// (ClusterNetworkPolicy, Node) either synced or failed its first list; the first
// apply is a full reconcile (read back, one transaction), so a table left by
// a previous run stays in force until it is replaced atomically. The table is
// never deleted here. Never throws.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "agent/delta.h"
#include "agent/log.h"
#include "agent/metrics.h"
#include "agent/schedule.h"
#include "compiler/compiler.h"
#include "k8s/api/informer.h"
#include "k8s/clock.h"
#include "k8s/model.h"
#include "k8s/thread_annotations.h"
#include "nft/kernel.h"
#include "nft/kernel_table.h"
#include "nft/links.h"
#include "nft/spoof.h"

namespace netpol::agent {

// Which informer an event came from.
enum class ResourceKind : uint8_t { Namespace, Pod, NetworkPolicy, ClusterNetworkPolicy, Node };
// "namespace", "pod", "networkpolicy", "clusternetworkpolicy", "node"
const char* to_string(ResourceKind k);

// What an informer event carries (empty for Synced, Unavailable, bindings).
using EventObject = std::variant<std::monostate, k8s::Namespace, k8s::Pod, k8s::NetworkPolicy,
                                 k8s::ClusterNetworkPolicy, k8s::Node>;

// A netpol-cni binding as the sync thread enforces it (agent/bindings.h):
// the pod of this UID (any UID when empty) is compiled with these IPs until
// the API reports its own status.podIPs, which then win.
struct PodBinding {
  std::string ns, name, uid;
  std::vector<IpAddr> ips;
  std::string interface;  // host-side interface (prevResult); "" if not known
  std::string key() const { return ns + "/" + name; }
};

// What the node's links say (agent/linkwatch.h): where local addresses live
// and which interfaces are bridge ports (anti-spoofing, docs/spoofing.md).
struct LinksView {
  std::vector<nft::LinkBinding> bindings;
  std::set<std::string> bridge_ports;
  friend bool operator==(const LinksView&, const LinksView&) = default;
};

// One informer notification, stamped when it was received, a binding
// (Bind, Unbind) from netpol-cni, or a new view of the links (Links).
// Unavailable: the first list of an optional kind failed (a CRD not
// installed, RBAC refusing Nodes); the first sync stops waiting for it.
struct Event {
  enum class Op : uint8_t { Upsert, Remove, Synced, Bind, Unbind, Links, Unavailable };
  Op op = Op::Upsert;
  ResourceKind kind = ResourceKind::Pod;
  // The object (for Remove: its last known state); empty for Synced. Bind:
  // the pod as the binder read it from the API (empty when not known).
  EventObject object;
  SteadyTime received{};
  std::optional<PodBinding> binding{};  // Bind, Unbind
  // Called on the sync thread once everything fed up to this event is in the
  // kernel (after the apply that committed it). May never be called (the
  // loop stopped, applies keep failing): waiters bound their own wait.
  std::function<void()> on_applied{};
  std::optional<LinksView> links{};  // Links
};

// The metrics the sync loop keeps (registered in the registry given).
struct SyncMetrics {
  explicit SyncMetrics(Registry& r);

  Histogram& event_latency;          // event received -> netlink ACK
  Family<Histogram>& sync_duration;  // {mode}
  Histogram& sync_full;              // full reconcile duration
  Histogram& sync_incremental;       // incremental apply duration
  Histogram& compile;                // compiler time per batch
  Family<Counter>& events;           // {kind, op}
  Counter& batches;                  // incremental transactions sent
  Counter& set_chunks;               // chunks of big new sets sent ahead of their rules
  Counter& full_syncs;               // full reconciles run
  Counter& apply_errors;             // applies the kernel (or the planner) refused
  Counter& drift_repairs;            // drift checks that found and fixed a difference
  Family<Counter>& drift_checks;     // {result}: unchanged, clean, repaired, failed
  Gauge& local_pods;
  Gauge& chains;
  Gauge& sets;
  Gauge& set_elements;
  Gauge& last_success;  // unix time of the last successful apply
  Gauge& queue;         // events waiting for the sync thread
  Gauge& ready;         // 1 once the first sync was applied
  Gauge& synced_resource_version;
  Family<Gauge>& spoof_bindings;  // {table}: inet, bridge
};

// Everything the sync thread does, one call at a time. Not thread-safe.
class Enforcer {
 public:
  // `clock` times applies and stamps ACKs; real time when null.
  // `audit`: how the logging rules are rendered (--audit-nflog-group/-rate/-burst).
  Enforcer(nft::Kernel& kernel, std::string node, SyncMetrics* metrics, Logger* log,
           std::shared_ptr<Clock> clock = nullptr, nft::AuditOptions audit = {});

  // Feeds one event into the compiler (nothing reaches the kernel yet).
  void feed(Event&& ev);
  // Sends what was fed since the last apply: nothing until every informer
  // synced; the first time and after any failure a full reconcile, else one
  // incremental transaction (none if the IR did not change).
  //
  // Big new sets (docs/architecture.md, "Big new sets"): a change that
  // creates a set of at least the chunking threshold's elements is held; its
  // big sets go to the kernel in chunks, each a transaction of its own, and
  // the held change (the rules that use them, everything else it does)
  // commits once they are complete. Changes fed meanwhile that touch nothing
  // the held change touches commit at once; the others join it. While busy(),
  // each flush sends the next chunk (with `yield`: chunks until yield()
  // returns true, e.g. because events are waiting), so call it again.
  nft::Status flush(const std::function<bool()>& yield = {});
  // A held change waits for chunks of its sets: the caller should flush again
  // soon without waiting for events.
  bool busy() const { return !held_.empty(); }
  // Sets of at least `threshold` elements (both families together) that a
  // change creates are sent in chunks of `chunk` elements; threshold 0: never
  // (every change is one transaction). Default off (0 / 500): an intermittent
  // refusal is open (docs/architecture.md, "Big new sets"); 2,000 / 500 are the
  // values measured in docs/performance.md.
  void set_chunking(size_t threshold, size_t chunk) {
    chunk_threshold_ = threshold;
    chunk_elements_ = std::max<size_t>(chunk, 1);
  }
  // Drift check: read the table back and repair it (a full reconcile that
  // sends nothing when the table is as it should be). True if it repaired.
  // Unless `read_back`, the read is skipped while the kernel's ruleset
  // generation is still the one our last apply left (nothing was committed
  // since, by anyone, so nothing can differ).
  nft::Result<bool> check_drift(bool read_back = true);

  // Before the first flush: the first sync also waits until `kind` synced or
  // reported Unavailable (the Namespace, Pod and NetworkPolicy kinds are
  // always waited for, and must sync).
  void wait_for(ResourceKind kind) { required_mask_ |= bit(kind); }
  bool synced() const { return (answered_mask_ & required_mask_) == required_mask_; }
  // Whether the Node informer has listed: until then `nodes` peers of
  // ClusterNetworkPolicies are peers the agent cannot evaluate, compiled by
  // the API's fail-closed rule (an Accept rule does not match them, a Deny or
  // Pass rule matches everything).
  bool nodes_known() const { return nodes_known_; }
  bool ready() const { return ready_; }
  bool needs_full() const { return !ready_ || table_.needs_full(); }
  const ir::RuleSet& rules() const { return compiler_.rules(); }
  const nft::KernelTable& table() const { return table_; }

  // Called on the sync thread after every successful apply with the IR now
  // in the kernel (the audit listener's hook).
  void add_applied_listener(std::function<void(const ir::RuleSet&)> fn);
  // Called on the sync thread right after each successful commit but the
  // first: the IR now in the kernel, the delta committed (null for a full
  // reconcile) and when the oldest event it enforces was received
  // (agent/flows.h cuts the open connections it denies).
  using CommitHook = std::function<void(const ir::RuleSet&, const ir::Delta*, SteadyTime)>;
  void set_commit_hook(CommitHook fn) { commit_hook_ = std::move(fn); }

  // netpol-cni bindings held (pods compiled with bound IPs or waiting for
  // their pod to appear).
  size_t bindings() const { return bound_.size(); }

  // Anti-spoofing (docs/spoofing.md): call before the first flush. On, every
  // apply also programs the guard of `inet netpol` (routed pod interfaces)
  // and `table bridge netpol` (bridge ports) from the netpol-cni bindings
  // and the links; off, the first sync removes a guard left by an earlier run.
  void set_anti_spoofing(bool on) { anti_spoofing_ = on; }
  // The (interface, address) pairs the guards hold now (routed, bridged).
  const nft::PortBindings& routed_guard() const { return routed_; }
  const nft::PortBindings& bridged_guard() const { return bridged_; }

 private:
  nft::Status full(bool drift);
  void applied(bool full, double seconds);
  // The held change (see flush()): what it folds, what it touches (a change
  // touching any of it depends on it) and the chunks still to send.
  struct Chunk {
    std::string ir_set;             // the IR set it belongs to
    nft::Set decl;                  // the nft set, with this chunk's elements
    std::vector<nft::Set> declare;  // empty families of the set, created with it
  };
  struct Held {
    DeltaBatch batch;
    std::vector<SteadyTime> stamps;
    std::vector<std::function<void()>> on_applied;
    std::set<std::string> sets;         // IR sets it creates, removes or changes
    std::set<std::string> created;      // of which it creates (no rule in the kernel uses them)
    std::set<std::string> pods;         // pod keys
    std::set<std::string> used_before;  // IR sets its pods' chains in the kernel use
    std::set<IpAddr> ips;               // addresses its pods had or get
    std::deque<Chunk> chunks;
    // Big new sets whose every chunk is being sent: the IR elements they
    // hold in the kernel once the last one is in (the commit sends only the
    // difference to the final state, not the set again).
    std::map<std::string, SortedBlocks<ir::Element>> prefilled;
  };
  // Whether `d` touches what `h` touches (it must commit with it).
  static bool depends(const ir::Delta& d, const Held& h);
  // The last held change `d` depends on; the held change creating `set`.
  std::optional<size_t> last_dependency(const ir::Delta& d) const;
  std::optional<size_t> creator_of(const std::string& set) const;
  bool has_big_new_set(const ir::Delta& d) const;
  // Adds the IR sets the rules of `pod` use to `out`.
  static void add_used_sets(const ir::LocalPod& pod, std::set<std::string>& out);
  // Moves `d`, the stamps and the callbacks fed with it into `h`.
  void hold(Held& h, ir::Delta&& d);
  // Sends chunks; commits the held change once they are all in.
  nft::Status advance_held(const std::function<bool()>& yield);
  nft::Status commit_held();
  // Gives the held change's stamps and callbacks back to the next apply (a
  // full reconcile, which covers the held change too) and drops it.
  void release_held();
  nft::Status apply_delta(const ir::Delta& delta);
  ir::Delta feed_binding(Event& ev);
  // The guards the bindings and links ask for now; true if they changed.
  bool update_guards();
  nft::Status sync_bridge(bool force);
  ir::Delta upsert_pod(const k8s::Pod& pod);
  ir::Delta upsert_cnp(const k8s::ClusterNetworkPolicy& cnp);
  void nodes_listed(SteadyTime received);
  void notify_applied();
  static unsigned bit(ResourceKind k) { return 1u << static_cast<unsigned>(k); }

  compiler::Compiler compiler_;
  nft::AuditOptions audit_;
  nft::KernelTable table_;
  DeltaBatch batch_;
  SyncMetrics* m_;
  Logger* log_;
  std::shared_ptr<Clock> clock_;
  std::vector<SteadyTime> stamps_;  // events since the last apply that changed the IR
  unsigned answered_mask_ = 0;      // kinds that synced or reported Unavailable
  unsigned required_mask_ =
      bit(ResourceKind::Namespace) | bit(ResourceKind::Pod) | bit(ResourceKind::NetworkPolicy);
  bool nodes_known_ = false;
  // CNPs with `nodes` peers as the API has them, while !nodes_known_ (they
  // are compiled with those peers unknown until the Nodes are listed).
  std::unordered_map<std::string, k8s::ClusterNetworkPolicy> node_cnps_;
  bool ready_ = false;
  std::string last_error_;  // logged once until it changes or an apply succeeds
  std::vector<std::function<void(const ir::RuleSet&)>> listeners_;
  CommitHook commit_hook_;
  SteadyTime oldest_stamp() const;
  // Bindings by pod key, with the pod as the API last reported it (if known).
  struct Bound {
    PodBinding binding;
    std::optional<k8s::Pod> api;
  };
  std::unordered_map<std::string, Bound> bound_;
  std::vector<std::function<void()>> on_applied_;  // Event::on_applied fed since the last apply
  bool anti_spoofing_ = false;
  LinksView links_;
  nft::PortBindings routed_, bridged_;
  nft::BridgeGuard bridge_;
  bool bridge_dirty_ = true;
  bool bridge_removed_ = false;  // anti-spoofing off: the bridge table is gone
  std::string bridge_error_;     // last failure of the bridge table, logged once
  size_t chunk_threshold_ = 0;
  size_t chunk_elements_ = 500;
  std::deque<Held> held_;  // in the order they commit
};

// Timing of the sync thread: batching, drift checks, retries (agent/schedule.h
// says what each does), and the clock it reads.
struct SyncThreadOptions : BatchWindowOptions {
  // Batching (BatchWindowOptions): an isolated event waits `quiet`; an event
  // arriving within `burst_window` of the previous batch means a burst is on,
  // and the batch waits `burst_quiet`; `max_delay`, `max_batch` bound it.
  std::chrono::milliseconds drift_interval{60'000};
  // Every this many drift checks the table is read back even when the ruleset
  // generation says nothing changed: a net under our own bookkeeping (the
  // mirror) as well as under other writers. 1: read back every time.
  unsigned drift_read_back_every = 10;
  std::chrono::milliseconds tick{100};  // heartbeat and resourceVersion watermark
  k8s::api::BackoffPolicy backoff{std::chrono::milliseconds(200), std::chrono::seconds(30), 2.0,
                                  0.5};
  // Returns a resourceVersion R such that every event up to R has been
  // enqueued (the agent reads its informers, then flushes their dispatcher).
  // Called on the sync thread when idle; nullopt when unknown.
  std::function<std::optional<uint64_t>()> barrier;
  std::shared_ptr<Clock> clock;  // default: real time

  BatchWindowOptions window() const { return *this; }
  SyncScheduleOptions schedule() const {
    return {tick, drift_interval, drift_read_back_every, backoff};
  }
};

// The queue and the one thread that drives an Enforcer (see the top of this
// file). enqueue() never blocks on compiling or on the kernel.
class SyncThread {
 public:
  SyncThread(Enforcer& core, SyncThreadOptions options, SyncMetrics* metrics, Logger* log);
  ~SyncThread();  // stop()
  SyncThread(const SyncThread&) = delete;
  SyncThread& operator=(const SyncThread&) = delete;

  // Any thread, O(1): stamps and queues the event, wakes the sync thread.
  void enqueue(Event ev) EXCLUDES(mu_);
  void start() EXCLUDES(mu_);
  void stop() EXCLUDES(mu_);

  bool ready() const { return ready_.load(); }
  // When the sync thread last went round its loop (for /healthz).
  SteadyTime heartbeat() const;
  // Every change up to this resourceVersion is in the kernel (0: none yet).
  uint64_t synced_resource_version() const { return synced_rv_.load(); }

 private:
  void run() EXCLUDES(mu_);

  Enforcer& core_;
  SyncThreadOptions opts_;
  SyncMetrics* m_;
  Logger* log_;
  std::shared_ptr<Clock> clock_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Event> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_ GUARDED_BY(mu_);
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> heartbeat_ns_{0};
  std::atomic<uint64_t> synced_rv_{0};
};

}  // namespace netpol::agent
