// Internal to the manifest decoder (k8s/decode*.cpp); never include it
// anywhere else. It is the one place outside those .cpp files that sees
// nlohmann::json, and it is not part of netpol_k8s's interface (k8s/decode.h).
//
// The pieces of the decoder and what they share:
//  * decode_json.cpp: the JSON front end (nlohmann SAX, filtered tree);
//  * decode_yaml.cpp: the YAML front end (yaml-cpp events -> the same tree);
//  * decode_fields.cpp: ObjectDecoder's typed field readers, selectors, metadata;
//  * decode_objects.cpp: ObjectDecoder's Namespace, Pod and NetworkPolicy;
//  * decode_cnp.cpp: ClusterNetworkPolicy and Node, on ObjectDecoder's readers;
//  * decode.cpp: documents and lists -> objects, and the public entry points.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "k8s/decode.h"

namespace netpol::k8s::decoding {

using json = nlohmann::json;

// Real objects nest about 10 deep; 100 leaves room for anything sane while
// keeping yaml-cpp's recursive parser far from the end of the stack.
inline constexpr size_t kMaxDepth = 100;
// Parser messages may quote the offending token; never echo a huge one.
inline constexpr size_t kMaxParserMessage = 200;

// "null", "integer", "list"...: the JSON type as error messages name it.
const char* type_name(const json& v);
// `s` cut to kMaxParserMessage bytes (with "..." when cut).
std::string short_text(std::string s);

// A parse failure: where (e.g. "line 3, column 7", may be empty) and what.
struct ParseFailure {
  std::string where;
  std::string message;
};

// The JSON front end: the subtrees the model reads, or where the text is bad.
std::variant<json, ParseFailure> parse_json(std::string_view text);

// Where decoded objects and errors of one input go, and the label for both.
struct Sink {
  std::string_view file;
  DecodeResult& out;
};

// A syntax error of the input (no kind or object known).
void syntax_error(Sink& sink, std::string where, std::string message);

// One parsed document (object, List, *List or null) into `sink`. Never
// throws: a bug (or bad_alloc) becomes an error on this input.
void decode_guarded(const json& doc, Sink& sink);

// The YAML front end: every document of `text` through decode_guarded().
// Returns false when the text is not well-formed YAML (the error is recorded).
bool decode_yaml(std::string_view text, Sink& sink);

// A JSON path built on the stack; rendered only when an error needs it.
// Holds a pointer to its parent: never keep a Path whose parent was a
// temporary beyond the full expression that made it.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  size_t index = 0;
  bool is_index = false;

  Path operator/(std::string_view k) const { return Path{this, k}; }
  Path operator[](size_t i) const { return Path{this, {}, i, true}; }

  std::string str() const {
    std::string out = parent ? parent->str() : std::string();
    if (is_index) {
      out += "[" + std::to_string(index) + "]";
    } else if (!key.empty()) {
      if (!out.empty()) out += '.';
      out += key;
    }
    return out;
  }
};

// The shared `{}` that absent objects read as.
const json& empty_object();

// Decoding state of one object: who it is (for error labels) and how many
// errors it has produced so far. Every decode_* returns nullopt once the
// object has any error: a half-valid object must never reach the store.
class ObjectDecoder {
 public:
  ObjectDecoder(std::string_view file, std::vector<Error>& errors)
      : file_(file), errors_(errors), start_(errors.size()) {}

  bool failed() const { return errors_.size() != start_; }
  // Errors recorded so far (all objects): a reader compares it before and after.
  size_t error_count() const { return errors_.size(); }
  void set_kind(std::string kind) { kind_ = std::move(kind); }
  void set_object(std::string object) { object_ = std::move(object); }
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

  void fail(const Path& at, std::string message);

  // An integer field in [lo, hi].
  std::optional<int64_t> integer(const json& v, const Path& at, int64_t lo, int64_t hi);

  // A port number field: integer 1..65535.
  std::optional<uint16_t> port_number(const json& v, const Path& at);

  // NetworkPolicyPort / ContainerPort protocol; absent means TCP.
  std::optional<Protocol> protocol(const json& parent, const Path& at);

  // A string map (labels, matchLabels, annotations). `keep` filters keys;
  // `check_values` applies the label-value rule.
  Labels string_map(const json* v, const Path& at, bool check_values,
                    std::string_view keep_prefix = {});

  // metav1.LabelSelector `key` of `parent`; nothing when absent or not an object.
  std::optional<LabelSelector> selector(const json& parent, std::string_view key, const Path& at);
  // The selector `v`, already known to be an object.
  LabelSelector label_selector(const json& v, const Path& at);

  std::optional<Requirement> requirement(const json& item, const Path& at);

  // Labels later errors with "namespace/name" (or, for a list item without
  // a usable name, prefixes fields with "items[i]"). Reports nothing itself.
  void identify(const json& obj, bool namespaced, const std::string& list_prefix);

  // apiVersion may be left out (list items from the API server carry none);
  // a different one means a schema we do not know: reported, and false.
  bool api_version(const json& obj, const std::string& kind, std::string_view want);

  // Member lookup: JSON null reads as absent, as in Go's encoding/json.
  static const json* member(const json& obj, std::string_view key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* object(const json& parent, std::string_view key, const Path& at) {
    const json* v = member(parent, key);
    if (v && !v->is_object()) {
      fail(at, std::string("must be an object, got ") + type_name(*v));
      return nullptr;
    }
    return v;
  }

  const json* list(const json& parent, std::string_view key, const Path& at) {
    const json* v = member(parent, key);
    if (v && !v->is_array()) {
      fail(at, std::string("must be a list, got ") + type_name(*v));
      return nullptr;
    }
    return v;
  }

  // A list element that must be an object; null counts as {} (Go's zero value).
  const json* element(const json& v, const Path& at) {
    if (v.is_null()) return &empty_object();
    if (!v.is_object()) {
      fail(at, std::string("must be an object, got ") + type_name(v));
      return nullptr;
    }
    return &v;
  }

  std::optional<std::string> string(const json& parent, std::string_view key, const Path& at) {
    const json* v = member(parent, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      fail(at, std::string("must be a string, got ") + type_name(*v));
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<bool> boolean(const json& parent, std::string_view key, const Path& at) {
    const json* v = member(parent, key);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) {
      fail(at, std::string("must be a boolean, got ") + type_name(*v));
      return std::nullopt;
    }
    return v->get<bool>();
  }

  // Every element of the list `items` that is an object (null reads as {}),
  // with its path; other elements are reported.
  template <typename F>
  void each_object(const json& items, const Path& at, F&& f) {
    for (size_t i = 0; i < items.size(); ++i) {
      Path item_at = at[i];
      if (const json* v = element(items[i], item_at)) f(*v, item_at);
    }
  }

  // Every string of the list `items` with its path; other items are reported.
  template <typename F>
  void each_string(const json& items, const Path& at, F&& f) {
    for (size_t i = 0; i < items.size(); ++i) {
      const json& v = items[i];
      if (!v.is_string()) {
        fail(at[i], std::string("must be a string, got ") + type_name(v));
        continue;
      }
      f(v.get_ref<const std::string&>(), at[i]);
    }
  }

  // Where a kind's objects live: in a namespace (Pod, NetworkPolicy), in the
  // cluster (ClusterNetworkPolicy, Node), or the Namespace itself (cluster
  // scope, but its name is a DNS label rather than a subdomain).
  enum class Scope { Namespaced, Cluster, Namespace };

  // metadata: name (required), namespace (namespaced kinds, default
  // "default"), uid, resourceVersion.
  struct Meta {
    std::string ns, name, uid, resource_version;
    bool deleting = false;  // deletionTimestamp set
  };
  Meta metadata(const json& obj, Scope scope, const std::string& list_prefix);

  // Meta's fields into the model object `o` (its namespace, if it has one).
  template <typename T>
  static void assign(T& o, Meta&& m) {
    if constexpr (requires { o.ns; }) o.ns = std::move(m.ns);
    o.name = std::move(m.name);
    o.uid = std::move(m.uid);
    o.resource_version = std::move(m.resource_version);
    if constexpr (requires { o.terminating; }) o.terminating = m.deleting;
  }

  Labels labels(const json& obj);

  std::optional<Namespace> decode_namespace(const json& obj, const std::string& prefix);

  void container_ports(const json& spec, std::string_view key, const Path& at, Pod& pod);

  void add_pod_ip(std::string_view text, const Path& at, Pod& pod);

  std::optional<Pod> decode_pod(const json& obj, const std::string& prefix);

  std::optional<IpBlock> ip_block(const json& v, const Path& at);

  std::optional<Peer> peer(const json& item, const Path& at);

  std::optional<PolicyPort> policy_port(const json& item, const Path& at);

  std::vector<PolicyRule> rules(const json& spec, std::string_view key, std::string_view peers_key,
                                const Path& at);

  std::optional<NetworkPolicy> decode_policy(const json& obj, const std::string& prefix);

 private:
  std::string_view file_;
  std::vector<Error>& errors_;
  size_t start_;
  std::string kind_;
  std::string object_;
  std::string prefix_;
};

}  // namespace netpol::k8s::decoding
