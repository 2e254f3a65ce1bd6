// List/watch loops, the UID-keyed store, relist reconciliation, dispatch.
#include "k8s/api/informer.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>

#include "k8s/api/json_scan.h"
#include "k8s/decode.h"

namespace netpol::k8s::api {

namespace {

template <typename T>
struct Traits;
template <>
struct Traits<Pod> {
  static const ResourceRef& res() { return kPods; }
  static std::vector<Pod>& items(Objects& o) { return o.pods; }
  static std::string key(const Pod& p) { return p.key(); }
};
template <>
struct Traits<Namespace> {
  static const ResourceRef& res() { return kNamespaces; }
  static std::vector<Namespace>& items(Objects& o) { return o.namespaces; }
  static std::string key(const Namespace& n) { return n.name; }
};
template <>
struct Traits<NetworkPolicy> {
  static const ResourceRef& res() { return kNetworkPolicies; }
  static std::vector<NetworkPolicy>& items(Objects& o) { return o.policies; }
  static std::string key(const NetworkPolicy& p) { return p.key(); }
};

template <>
struct Traits<ClusterNetworkPolicy> {
  static const ResourceRef& res() { return kClusterNetworkPolicies; }
  static std::vector<ClusterNetworkPolicy>& items(Objects& o) { return o.cluster_policies; }
  static std::string key(const ClusterNetworkPolicy& p) { return p.name; }
};
template <>
struct Traits<Node> {
  static const ResourceRef& res() { return kNodes; }
  static std::vector<Node>& items(Objects& o) { return o.nodes; }
  static std::string key(const Node& n) { return n.name; }
};

// metadata.<field> of a raw object, without a full parse (for objects that failed to decode).
std::string raw_meta(std::string_view object, std::string_view field) {
  const auto meta = json::member(object, "metadata");
  if (!meta) return "";
  const auto v = json::member(*meta, field);
  if (!v) return "";
  const auto s = json::plain_string(*v);
  return s ? std::string(*s) : "";
}

// Who an object is, read without decoding it (for objects that failed to decode).
using ObjectIds = ProtobufIds;
ObjectIds object_ids(std::string_view object, Encoding enc) {
  if (enc == Encoding::Protobuf) return protobuf_object_ids(object);
  return {raw_meta(object, "name"), raw_meta(object, "namespace"), raw_meta(object, "uid"),
          raw_meta(object, "resourceVersion")};
}

}  // namespace

Backoff::Backoff(BackoffPolicy policy, std::function<double()> random)
    : policy_(policy), random_(std::move(random)) {}

std::chrono::milliseconds Backoff::next() {
  const double base = static_cast<double>(policy_.initial.count()) *
                      std::pow(policy_.factor, static_cast<double>(attempt_));
  const double capped = std::min(base, static_cast<double>(policy_.max.count()));
  const double r = random_ ? std::clamp(random_(), 0.0, 1.0) : 0.0;
  ++attempt_;
  // Stop growing the exponent once capped, so it cannot overflow after days of retries.
  if (base >= static_cast<double>(policy_.max.count())) --attempt_;
  return std::chrono::milliseconds(static_cast<int64_t>(capped * (1.0 + policy_.jitter * r)));
}

Dispatcher::Dispatcher() : thread_([this] { loop(); }) {}

Dispatcher::~Dispatcher() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Dispatcher::post(std::function<void()> fn) {
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(fn));
    ++posted_;
  }
  cv_.notify_one();
}

void Dispatcher::flush() {
  if (on_dispatcher_thread()) return;
  MutexLock lock(mu_);
  const uint64_t target = posted_;
  idle_cv_.wait(lock, [&]() REQUIRES(mu_) { return done_ >= target; });
}

size_t Dispatcher::pending() const {
  MutexLock lock(mu_);
  return queue_.size();
}

void Dispatcher::loop() {
  MutexLock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and drained
    auto fn = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    fn();
    lock.lock();
    ++done_;
    idle_cv_.notify_all();
  }
}

template <typename T>
Informer<T>::Informer(std::shared_ptr<ApiClient> client, Handlers<T> handlers,
                      InformerOptions options)
    : client_(std::move(client)), handlers_(std::move(handlers)), opts_(std::move(options)) {
  if (!opts_.clock) opts_.clock = make_real_clock();
  if (!opts_.random) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    opts_.random = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
  if (!opts_.log) {
    opts_.log = [](const std::string& msg) { std::cerr << msg << "\n"; };
  }
  dispatcher_ = opts_.dispatcher ? opts_.dispatcher : std::make_shared<Dispatcher>();
}

template <typename T>
Informer<T>::~Informer() {
  stop();
}

template <typename T>
const ResourceRef& Informer<T>::resource() {
  return Traits<T>::res();
}

template <typename T>
void Informer<T>::start() {
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

template <typename T>
void Informer<T>::stop() {
  stopping_ = true;
  cancel_.cancel();
  opts_.clock->interrupt();
  if (thread_.joinable()) thread_.join();
  // Queued handler calls point at this informer: let them run while it exists.
  dispatcher_->flush();
}

template <typename T>
bool Informer<T>::has_synced() const {
  MutexLock lock(mu_);
  return synced_;
}

template <typename T>
bool Informer<T>::wait_for_sync(std::chrono::milliseconds timeout) const {
  MutexLock lock(mu_);
  return synced_cv_.wait_for(lock, timeout, [this]() REQUIRES(mu_) { return synced_; });
}

template <typename T>
std::vector<T> Informer<T>::snapshot() const {
  std::vector<T> out;
  {
    MutexLock lock(mu_);
    out.reserve(store_.size());
    for (const auto& p : store_) out.push_back(*p);
  }
  std::sort(out.begin(), out.end(), [](const T& a, const T& b) {
    const auto ka = Traits<T>::key(a), kb = Traits<T>::key(b);
    return ka != kb ? ka < kb : a.uid < b.uid;
  });
  return out;
}

template <typename T>
std::optional<T> Informer<T>::get(const std::string& uid) const {
  MutexLock lock(mu_);
  auto it = store_.find(std::string_view(uid));
  if (it == store_.end()) return std::nullopt;
  return **it;
}

template <typename T>
size_t Informer<T>::size() const {
  MutexLock lock(mu_);
  return store_.size();
}

template <typename T>
InformerStats Informer<T>::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

template <typename T>
void Informer<T>::note_error(const Status& st) {
  std::string msg = std::string("informer ") + Traits<T>::res().plural + ": " + st.str();
  bool log = false;
  {
    MutexLock lock(mu_);
    ++stats_.errors;
    stats_.last_error = st.str();
    if (msg != reported_) {
      reported_ = msg;
      log = true;
    }
  }
  if (log) opts_.log(msg);
}

template <typename T>
void Informer<T>::note_ok() {
  bool log = false;
  {
    MutexLock lock(mu_);
    stats_.last_error.clear();
    if (!reported_.empty()) {
      reported_.clear();
      log = true;
    }
  }
  if (log) opts_.log(std::string("informer ") + Traits<T>::res().plural + ": recovered");
}

template <typename T>
void Informer<T>::note_absent(const Status& st) {
  const std::string msg = std::string("informer ") + Traits<T>::res().plural + ": not served (" +
                          st.str() + "); running without it, listing again every " +
                          std::to_string(opts_.absent_recheck.count()) + "ms";
  bool log = false;
  {
    MutexLock lock(mu_);
    ++stats_.absent_lists;
    stats_.absent = true;
    stats_.last_error.clear();
    stats_.resource_version.clear();
    if (msg != reported_) {
      reported_ = msg;
      log = true;
    }
    // Not served means none exist (deleting a CRD deletes its objects):
    // the store follows, as a relist that found nothing would.
    relisting_ = true;
    std::vector<Ptr> gone(store_.begin(), store_.end());
    std::sort(gone.begin(), gone.end(), [](const Ptr& a, const Ptr& b) { return a->uid < b->uid; });
    for (const auto& old : gone) post_delete(old);
    store_.clear();
    relisting_ = false;
    if (handlers_.on_list_error) dispatcher_->post([this, st] { handlers_.on_list_error(st); });
  }
  if (log) opts_.log(msg);
}

// Called with mu_ held, like the other post_* helpers: posting under the lock
// keeps the dispatcher's order equal to the store's order.
template <typename T>
void Informer<T>::post_add(Ptr obj) {
  ++stats_.added;
  if (relisting_) ++stats_.synthesized;
  if (handlers_.on_add) dispatcher_->post([this, obj] { handlers_.on_add(*obj); });
}

template <typename T>
void Informer<T>::post_update(Ptr old_obj, Ptr new_obj) {
  ++stats_.updated;
  if (relisting_) ++stats_.synthesized;
  if (handlers_.on_update)
    dispatcher_->post([this, old_obj, new_obj] { handlers_.on_update(*old_obj, *new_obj); });
}

template <typename T>
void Informer<T>::post_delete(Ptr obj) {
  ++stats_.deleted;
  if (relisting_) ++stats_.synthesized;
  if (handlers_.on_delete) dispatcher_->post([this, obj] { handlers_.on_delete(*obj); });
}

template <typename T>
std::optional<T> Informer<T>::decode(const std::string& text, Encoding enc, const char* how,
                                     bool report) {
  const std::string source = std::string(how) + " " + Traits<T>::res().plural;
  DecodeResult r = enc == Encoding::Protobuf
                       ? decode_protobuf_object(text, Traits<T>::res().kind, "", source)
                       : decode_json_object(text, source);
  auto& items = Traits<T>::items(r.objects);
  if (r.ok() && items.size() == 1 && !items.front().uid.empty()) return std::move(items.front());

  const ObjectIds ids = object_ids(text, enc);
  std::string id = ids.uid;
  if (id.empty()) id = ids.ns + "/" + ids.name;
  const std::string& rv = ids.resource_version;
  std::string msg;
  if (!r.errors.empty()) {
    msg = r.errors.front().str();
    if (r.errors.size() > 1) msg += " (and " + std::to_string(r.errors.size() - 1) + " more)";
  } else if (items.size() == 1) {
    msg = source + ": " + Traits<T>::res().kind + " " + Traits<T>::key(items.front()) +
          ": metadata.uid: missing (the store is keyed by UID)";
  } else {
    msg = source + ": expected one " + Traits<T>::res().kind + ", got " +
          std::to_string(items.size());
  }
  bool log = false;
  {
    MutexLock lock(mu_);
    ++stats_.decode_errors;
    // Log each bad version of an object once, however often a relist sees it.
    auto& seen = bad_objects_[id];
    if (report && seen != rv) {
      seen = rv;
      log = true;
    }
    if (bad_objects_.size() > 10000) bad_objects_.clear();
  }
  if (log)
    opts_.log("informer " + std::string(Traits<T>::res().plural) + ": skipped an object: " + msg);
  return std::nullopt;
}

template <typename T>
Status Informer<T>::list_and_reconcile() {
  std::vector<Ptr> items;
  std::string rv;
  ListOptions lo;
  if (Traits<T>::res().namespaced) lo.ns = opts_.ns;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.limit = opts_.page_size;
  bool restarted = false;
  for (;;) {
    auto page = client_->list(Traits<T>::res(), lo, &cancel_);
    if (!page.ok()) {
      // The continue token expired between pages: start over, once, unpaginated
      // (as client-go does), since the next attempt might expire again.
      if (page.status().code() == Code::Gone && !lo.continue_token.empty() && !restarted) {
        restarted = true;
        items.clear();
        rv.clear();
        lo.continue_token.clear();
        lo.limit = 0;
        continue;
      }
      return page.status();
    }
    {
      MutexLock lock(mu_);
      ++stats_.list_pages;
    }
    if (rv.empty()) rv = page.value().resource_version;
    for (const auto& text : page.value().items) {
      if (auto obj = decode(text, page.value().encoding, "list", true))
        items.push_back(std::make_shared<const T>(std::move(*obj)));
    }
    if (page.value().continue_token.empty()) break;
    lo.continue_token = page.value().continue_token;
    if (stopping_) return Status(Code::Cancelled, "stopped");
  }

  reconcile(items, rv, false);
  return Status::Ok();
}

template <typename T>
void Informer<T>::reconcile(std::vector<Ptr>& items, const std::string& rv, bool watch_list) {
  note_ok();  // before the synced signal can run, so a synced informer shows no stale error
  MutexLock lock(mu_);
  Store fresh;
  fresh.reserve(items.size());
  for (auto& p : items) {
    // A duplicate UID in the list: the last one counts.
    if (auto it = fresh.find(std::string_view(p->uid)); it != fresh.end()) fresh.erase(it);
    fresh.insert(p);
  }
  const bool first = !stats_.lists;
  relisting_ = !first;
  // Deletes first: a pod recreated under the same name (new UID) must be
  // removed before its successor is added, since consumers key by name.
  std::vector<Ptr> gone;
  for (const auto& old : store_)
    if (!fresh.count(std::string_view(old->uid))) gone.push_back(old);
  std::sort(gone.begin(), gone.end(), [](const Ptr& a, const Ptr& b) { return a->uid < b->uid; });
  for (const auto& old : gone) post_delete(old);
  for (auto& p : items) {
    auto f = fresh.find(std::string_view(p->uid));
    if (*f != p) continue;  // superseded by a later duplicate
    auto it = store_.find(std::string_view(p->uid));
    if (it == store_.end()) {
      post_add(p);
    } else if ((*it)->resource_version != p->resource_version || !(**it == *p)) {
      post_update(*it, p);
    } else {
      // Unchanged: keep the object handlers already saw (and free the new copy).
      auto node = fresh.extract(f);
      node.value() = *it;
      fresh.insert(std::move(node));
    }
  }
  store_.swap(fresh);
  relisting_ = false;
  ++stats_.lists;
  if (watch_list) ++stats_.watch_lists;
  stats_.absent = false;
  stats_.resource_version = rv;
  if (first) {
    dispatcher_->post([this] {
      // on_synced is a handler too: it has run by the time has_synced() says so.
      if (handlers_.on_synced) handlers_.on_synced();
      {
        MutexLock l(mu_);
        synced_ = true;
      }
      synced_cv_.notify_all();
    });
  }
}

template <typename T>
bool Informer<T>::refuses_watch_list(const Status& st) {
  // Servers before 1.27 forbid resourceVersionMatch on watches, later ones
  // without the WatchList feature forbid sendInitialEvents: 422 Invalid (or
  // 400 from a proxy). Other 4xx that say nothing about the request's
  // parameters (auth, RBAC, not found, gone, throttling) are not a refusal.
  const int h = st.http_status();
  if (st.code() == Code::InvalidArgument) return true;
  if (h < 400 || h >= 500) return false;
  return h != 401 && h != 403 && h != 404 && h != 408 && h != 409 && h != 410 && h != 429;
}

template <typename T>
void Informer<T>::handle(WatchEvent&& ev) {
  if (ev.type == EventType::Bookmark) {
    MutexLock lock(mu_);
    ++stats_.events;
    ++stats_.bookmarks;
    if (!ev.resource_version.empty()) stats_.resource_version = ev.resource_version;
    return;
  }
  auto obj = decode(ev.object, ev.encoding, "watch", true);
  MutexLock lock(mu_);
  ++stats_.events;
  if (!ev.resource_version.empty()) stats_.resource_version = ev.resource_version;
  if (!obj) {
    // A delete must still happen even if the final state is not decodable.
    if (ev.type == EventType::Deleted) {
      const std::string uid = object_ids(ev.object, ev.encoding).uid;
      if (auto it = store_.find(std::string_view(uid)); !uid.empty() && it != store_.end()) {
        post_delete(*it);
        store_.erase(it);
      }
    }
    return;
  }
  Ptr p = std::make_shared<const T>(std::move(*obj));
  auto it = store_.find(std::string_view(p->uid));
  if (ev.type == EventType::Deleted) {
    if (it == store_.end()) return;  // never seen (its add was skipped as undecodable)
    store_.erase(it);
    post_delete(p);
    return;
  }
  if (it == store_.end()) {
    store_.insert(p);
    post_add(p);
  } else if ((*it)->resource_version != p->resource_version) {
    Ptr old = *it;
    // Swap the pointer in place: same key, no new node.
    auto node = store_.extract(it);
    node.value() = p;
    store_.insert(std::move(node));
    post_update(old, p);
  }
}

template <typename T>
void Informer<T>::run() {
  Backoff backoff(opts_.backoff, opts_.random);
  // A random share of relist_spread, so relists of many agents spread out.
  const auto spread = [&] {
    const double r = opts_.random ? std::clamp(opts_.random(), 0.0, 1.0) : 0.0;
    return std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(opts_.relist_spread.count()) * r));
  };
  // Sleeps `d` unless it is zero; false when stopped.
  const auto pause = [&](std::chrono::milliseconds d) {
    return d.count() <= 0 || opts_.clock->sleep_for(d);
  };
  bool need_list = true;
  bool just_listed = false;  // the current watch is the first since a list
  while (!stopping_) {
    // The state comes from this watch (a watch-list) rather than from a list.
    const bool watch_list =
        need_list && opts_.watch_list == WatchListMode::Auto && !watch_list_refused_;
    if (need_list && !watch_list) {
      Status st = list_and_reconcile();
      if (stopping_) break;
      if (!st.ok()) {
        if (st.code() == Code::NotFound && opts_.absent_recheck.count() > 0) {
          note_absent(st);
          backoff.reset();
          if (!opts_.clock->sleep_for(opts_.absent_recheck)) break;
          continue;
        }
        note_error(st);
        if (handlers_.on_list_error) {
          dispatcher_->post([this, st] { handlers_.on_list_error(st); });
        }
        if (!pause(backoff.next() + spread())) break;
        continue;
      }
      // The backoff is not reset here but once a watch works: a list that
      // succeeds only to be followed by a failing watch keeps slowing down.
      need_list = false;
      just_listed = true;
    }
    WatchOptions wo;
    if (Traits<T>::res().namespaced) wo.ns = opts_.ns;
    wo.label_selector = opts_.label_selector;
    wo.field_selector = opts_.field_selector;
    wo.allow_bookmarks = true;
    wo.timeout_seconds = static_cast<int>(opts_.watch_timeout_seconds * (1.0 + opts_.random()));
    wo.send_initial_events = watch_list;
    {
      MutexLock lock(mu_);
      // A watch-list asks for a state at least as new as the last one we had
      // ("" after 410 Gone, or at first: a consistent read).
      wo.resource_version = watch_list && rv_unavailable_ ? "" : stats_.resource_version;
      ++stats_.watches;
    }
    const auto t0 = opts_.clock->now();
    uint64_t got = 0;
    // A watch-list's initial events, kept aside until its end bookmark: a
    // stream cut before then leaves the store as it was.
    std::vector<Ptr> initial;
    bool initial_done = !watch_list;
    const auto on_initial = [&](WatchEvent&& ev) {
      if (ev.type == EventType::Bookmark) {
        {
          MutexLock lock(mu_);
          ++stats_.events;
          ++stats_.bookmarks;
        }
        if (!ev.initial_events_end) return;  // an object's resourceVersion is no stream position
        reconcile(initial, ev.resource_version, true);
        std::vector<Ptr>().swap(initial);
        initial_done = true;
        return;
      }
      auto obj = decode(ev.object, ev.encoding, "watch-list", true);
      {
        MutexLock lock(mu_);
        ++stats_.events;
      }
      if (!obj) return;
      auto p = std::make_shared<const T>(std::move(*obj));
      if (ev.type == EventType::Deleted) {
        // Not sent by servers before the end bookmark; kept correct anyway.
        std::erase_if(initial, [&](const Ptr& q) { return q->uid == p->uid; });
        return;
      }
      initial.push_back(std::move(p));  // a later duplicate UID wins in reconcile()
    };
    Status st = client_->watch(
        Traits<T>::res(), wo,
        [&](WatchEvent&& ev) {
          if (initial_done) {
            handle(std::move(ev));
          } else {
            on_initial(std::move(ev));
          }
          ++got;
          return !stopping_.load();
        },
        &cancel_);
    if (stopping_) break;
    if (watch_list && !initial_done) {
      // No complete state from this watch-list.
      std::vector<Ptr>().swap(initial);
      if (!st.ok() && refuses_watch_list(st)) {
        watch_list_refused_ = true;
        {
          MutexLock lock(mu_);
          stats_.watch_list_refused = true;
        }
        opts_.log(std::string("informer ") + Traits<T>::res().plural +
                  ": the server does not offer watch-list (" + st.str() +
                  "); listing and watching instead");
        continue;  // list at once: the refusal says nothing about the server's health
      }
      if (st.code() == Code::NotFound && opts_.absent_recheck.count() > 0) {
        note_absent(st);
        backoff.reset();
        if (!opts_.clock->sleep_for(opts_.absent_recheck)) break;
        continue;
      }
      if (st.code() == Code::Gone) {
        MutexLock lock(mu_);
        ++stats_.relists;
        rv_unavailable_ = true;
      }
      if (st.ok())
        st = Status(Code::Unavailable, std::string("watch-list of ") + Traits<T>::res().plural +
                                           ": the stream ended before its initial events were "
                                           "complete (no k8s.io/initial-events-end bookmark)");
      note_error(st);
      if (handlers_.on_list_error) dispatcher_->post([this, st] { handlers_.on_list_error(st); });
      if (!pause(backoff.next() + spread())) break;
      continue;
    }
    if (watch_list) {
      need_list = false;
      just_listed = true;
      rv_unavailable_ = false;
    }
    const bool first_after_list = just_listed;
    just_listed = false;
    if (st.ok()) {
      // The server ended the watch (timeoutSeconds): go on from the last
      // resourceVersion. One that ends at once, again and again, gets backoff
      // rather than a busy loop.
      if (got == 0 && opts_.clock->now() - t0 < std::chrono::seconds(1)) {
        if (!opts_.clock->sleep_for(backoff.next())) break;
      } else {
        backoff.reset();
        note_ok();
      }
      continue;
    }
    if (st.code() == Code::Gone) {
      {
        MutexLock lock(mu_);
        ++stats_.relists;
      }
      rv_unavailable_ = true;
      opts_.log(std::string("informer ") + Traits<T>::res().plural + ": " + st.message() +
                "; listing again");
      need_list = true;
      // Gone straight after a fresh list: the server keeps compacting ahead
      // of us. Relisting at once would only repeat it; back off first.
      const auto wait =
          (first_after_list && got == 0 ? backoff.next() : std::chrono::milliseconds(0)) + spread();
      if (!pause(wait)) break;
      continue;
    }
    note_error(st);
    // The resource went away under the watch (a CRD deleted): the list says
    // whether it is absent now.
    if (st.code() == Code::NotFound && opts_.absent_recheck.count() > 0) need_list = true;
    // A watch that was delivering events broke: reconnect at once. One that
    // failed outright backs off, so a dead or refusing server is not hammered.
    if (got > 0) {
      backoff.reset();
      continue;
    }
    if (!opts_.clock->sleep_for(backoff.next())) break;
  }
}

template class Informer<Pod>;
template class Informer<Namespace>;
template class Informer<NetworkPolicy>;
template class Informer<ClusterNetworkPolicy>;
template class Informer<Node>;

}  // namespace netpol::k8s::api
