// The fake API server's data: objects, the resourceVersion counter, the watch
// history and list snapshots, with the API's semantics (defaults, validation,
// preconditions, selectors). No networking here: server.cpp turns HTTP into
// these calls, and tests call them directly.
//
// Everything is guarded by State::mu. Objects are immutable once stored
// (shared_ptr<const Obj>), so snapshots and the history share them for free.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/fakeapi/fake_apiserver.h"

namespace netpol::fakeapi {

// Static facts about a served resource (names, group/version, scope).
struct ResourceInfo {
  Kind kind;
  const char* group_version;  // "v1", "networking.k8s.io/v1"
  const char* plural;
  const char* singular;
  const char* kind_name;
  const char* short_name;
  bool namespaced;
};
const ResourceInfo& info(Kind k);
std::optional<Kind> kind_from_plural(std::string_view group_version, std::string_view plural);

// An encoding of an object kept with it once made. kube-apiserver's watch
// cache does the same (CachingObject: one serialization per encoding, shared by
// every watcher and list); without it the fake re-parsed the stored JSON of
// each object for every protobuf list page and watch event, and at 100k pods
// its encoding, not the client, was most of a list's wall time. A copy of an
// Obj is a new object (it may be changed before it is stored): it starts empty.
struct EncodingCache {
  EncodingCache() = default;
  EncodingCache(const EncodingCache&) {}
  EncodingCache& operator=(const EncodingCache&) {
    std::lock_guard lock(mu);
    protobuf.reset();
    return *this;
  }
  mutable std::mutex mu;
  mutable std::optional<std::string> protobuf;
};

// One stored version of an object. `text` is its JSON without kind/apiVersion
// (as list items are sent); full_text() adds them (as get and watch send them).
struct Obj {
  Kind kind;
  std::string ns, name, uid;
  uint64_t rv = 0;
  std::map<std::string, std::string> labels;
  std::vector<std::pair<std::string, std::string>> fields;  // for field selectors
  std::string text;
  EncodingCache encoded;  // filled by the server on first use; Obj is immutable once stored

  std::string key() const { return ns.empty() ? name : ns + "/" + name; }
  std::string full_text() const;
  json to_json() const;  // full, parsed
};
using ObjPtr = std::shared_ptr<const Obj>;

enum class EvType { Added, Modified, Deleted };
// One write, as the watch history keeps it; shares the objects, never copies them.
struct Event {
  uint64_t rv;
  Kind kind;
  EvType type;
  ObjPtr obj;  // the new state (the final state for Deleted)
  ObjPtr old;  // the previous state, Modified only
};

// A parsed labelSelector or fieldSelector.
struct Selector {
  struct Term {
    enum Op { Eq, NotEq, In, NotIn, Exists, NotExists } op;
    std::string key;
    std::vector<std::string> values;
  };
  std::vector<Term> terms;
  bool empty() const { return terms.empty(); }
  bool matches(const std::map<std::string, std::string>& labels) const;
  bool matches_fields(const Obj& o) const;
};
// nullopt and *error on a malformed selector.
std::optional<Selector> parse_label_selector(const std::string& s, std::string* error);
std::optional<Selector> parse_field_selector(Kind k, const std::string& s, std::string* error);

// Kubernetes' strategic merge patch for the types served here.
json strategic_merge(json target, const json& patch);

Reply status_reply(int code, const std::string& reason, const std::string& message,
                   const std::string& name = "", const std::string& plural = "");

struct ListRequest {
  Kind kind;
  std::string ns;
  Selector labels, fields;
  int64_t limit = 0;
  std::string continue_token;
};

struct ListPageInfo {
  std::vector<ObjPtr> items;
  std::string resource_version, continue_token;
  int64_t remaining = -1;
};

// kubectl's human output: a meta.k8s.io/v1 Table of the objects, with the
// columns kube-apiserver prints for each kind (`-o wide` ones at priority 1).
// `full_object`: rows carry the whole object instead of its metadata.
std::string table_json(Kind k, const std::vector<ObjPtr>& objs, const std::string& resource_version,
                       const std::string& continue_token, bool full_object);

// The server's data and semantics. Never does I/O; never hands out a
// mutable object (stored objects are replaced, not changed).
class State {
 public:
  explicit State(const Options& opts);

  Reply create(Kind k, const std::string& ns, json obj);
  // status_only: the status subresource.
  Reply update(Kind k, const std::string& ns, const std::string& name, json obj, bool status_only);
  // type: "merge" (RFC 7386), "json" (RFC 6902) or "strategic" (kubectl's).
  Reply patch(Kind k, const std::string& ns, const std::string& name, const json& patch,
              const std::string& type, bool status_only);
  Reply remove(Kind k, const std::string& ns, const std::string& name, const json& options);
  Reply get(Kind k, const std::string& ns, const std::string& name);
  std::vector<ObjPtr> objects(Kind k, const std::string& ns) const;

  // The whole list response body, or an error reply (410 for an expired
  // continue token). `page_info`, when given, receives the page's objects too.
  Reply list(const ListRequest& req, std::string* body, ListPageInfo* page_info = nullptr);

  void compact();
  uint64_t rv() const;
  // False for ClusterNetworkPolicy while its CRD is not installed: every
  // request for it answers 404, and discovery leaves it out.
  bool served(Kind k) const;
  bool served_locked(Kind k) const;

  // For watches; all with mu held.
  mutable std::mutex mu;
  std::condition_variable cv;  // any write, compaction, drop or stop
  uint64_t rv_locked() const { return rv_; }
  uint64_t compacted_locked() const { return compacted_; }
  // Events with rv > from, up to the newest. Precondition: from >= compacted.
  void events_after_locked(uint64_t from, std::vector<Event>& out) const;
  std::vector<ObjPtr> objects_locked(Kind k, const std::string& ns) const;
  uint64_t drop_generation = 0;  // bumped by drop_watches()
  bool stopping = false;
  Faults faults;
  ServerStats stats;
  std::mt19937_64 rng;

 private:
  Reply commit_locked(Kind k, EvType type, json obj, ObjPtr old);
  Reply do_update_locked(Kind k, const ObjPtr& cur, json next, bool status_only,
                         const std::string& precondition_rv);
  // The object the URL names, or nullptr with *missing set to the 404 reply.
  ObjPtr find_locked(Kind k, const std::string& ns, const std::string& name, Reply* missing) const;
  std::string new_uid_locked();
  void after_write_locked();
  void compact_locked();

  Options opts_;
  uint64_t rv_ = 1;         // the initial list of an empty server is at version 1
  uint64_t compacted_ = 1;  // history holds every event with rv in (compacted_, rv_]
  uint64_t writes_ = 0;
  std::map<std::string, ObjPtr> objs_[kKindCount];  // by kind, keyed "ns/name"
  std::deque<Event> history_;
  // Paginated list snapshots, by (kind, rv): what a continue token reads.
  std::map<std::pair<int, uint64_t>, std::shared_ptr<const std::vector<ObjPtr>>> snapshots_;
};

}  // namespace netpol::fakeapi
