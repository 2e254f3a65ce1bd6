// Manifest decoding: text -> JSON tree -> validated model objects.
//
// Two front ends produce the same nlohmann::json tree:
//  * YAML through yaml-cpp's event API (not YAML::Node), so scalar typing,
//    anchors, duplicate keys and nesting depth are all under our control;
//  * JSON through nlohmann's SAX parser, which keeps only the subtrees the
//    model needs (managedFields, container images, conditions... are never
//    materialised) -- this is the watch-event fast path.
// One decoder then walks the tree, validates and defaults. Parser exceptions
// never leave this file: every failure becomes an Error value.
#include "k8s/decode.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <streambuf>

#include "k8s/decode_cnp.h"
#include "k8s/validate.h"

namespace netpol::k8s {
namespace {

using json = nlohmann::json;
using validate::quote;

// Real objects nest about 10 deep; 100 leaves room for anything sane while
// keeping yaml-cpp's recursive parser far from the end of the stack.
constexpr size_t kMaxDepth = 100;
// Aliases may copy whole subtrees; cap the copies per document so a
// "billion laughs" document cannot exhaust memory.
constexpr size_t kMaxAliasNodes = 1'000'000;
// Parser messages may quote the offending token; never echo a huge one.
constexpr size_t kMaxParserMessage = 200;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "list";
    case json::value_t::object:
      return "object";
    default:
      return "binary";
  }
}

std::string line_col(int line0, int col0) {
  return "line " + std::to_string(line0 + 1) + ", column " + std::to_string(col0 + 1);
}

std::string short_text(std::string s) {
  if (s.size() > kMaxParserMessage) {
    s.resize(kMaxParserMessage);
    s += "...";
  }
  return s;
}

// A parse failure: where (e.g. "line 3, column 7", may be empty) and what.
struct ParseFailure {
  std::string where;
  std::string message;
};

// ---------------------------------------------------------------- JSON (SAX)

// Which parts of an object the model reads. Arrays pass their node on to
// their elements; kSkip subtrees are parsed but never built.
enum class Keep : uint8_t { kRoot, kMeta, kSpec, kContainer, kStatus, kAll, kSkip };

Keep keep_child(Keep parent, std::string_view key) {
  switch (parent) {
    case Keep::kRoot:
      if (key == "metadata") return Keep::kMeta;
      if (key == "spec") return Keep::kSpec;
      if (key == "status") return Keep::kStatus;
      if (key == "items") return Keep::kRoot;
      if (key == "kind" || key == "apiVersion") return Keep::kAll;
      return Keep::kSkip;
    case Keep::kMeta:
      if (key == "name" || key == "namespace" || key == "uid" || key == "resourceVersion" ||
          key == "labels" || key == "annotations") {
        return Keep::kAll;
      }
      return Keep::kSkip;
    case Keep::kSpec:
      if (key == "containers" || key == "initContainers") return Keep::kContainer;
      if (key == "nodeName" || key == "hostNetwork" || key == "podSelector" ||
          key == "policyTypes" || key == "ingress" || key == "egress" || key == "tier" ||
          key == "priority" || key == "subject") {
        return Keep::kAll;
      }
      return Keep::kSkip;
    case Keep::kContainer:
      if (key == "ports" || key == "restartPolicy") return Keep::kAll;
      return Keep::kSkip;
    case Keep::kStatus:
      if (key == "phase" || key == "podIP" || key == "podIPs" || key == "addresses") {
        return Keep::kAll;
      }
      return Keep::kSkip;
    case Keep::kAll:
      return Keep::kAll;
    case Keep::kSkip:
      return Keep::kSkip;
  }
  return Keep::kSkip;
}

// nlohmann SAX handler building a filtered tree with a depth limit and
// duplicate-key detection. Never throws; a `false` return stops the parser.
class JsonBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  json root;
  std::optional<ParseFailure> failure;

  bool null() { return put(json()); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(number_integer_t v) { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) { return put(json(v)); }
  bool string(string_t& v) { return put(json(std::move(v))); }
  bool binary(binary_t&) { return put(json()); }

  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    if (skip_ > 0) return true;
    Frame& f = frames_.back();
    f.child = keep_child(f.keep, k);
    if (f.child != Keep::kSkip && f.value.contains(k)) {
      failure = ParseFailure{path(), "duplicate key " + quote(k)};
      return false;
    }
    f.key = std::move(k);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    // what() reads "[json.exception.parse_error.101] parse error at line 3,
    // column 7: syntax error while parsing ..."; keep our own framing.
    std::string what = ex.what();
    const std::string marker = "parse error at ";
    size_t at = what.find(marker);
    size_t colon = at == std::string::npos ? at : what.find(": ", at);
    if (colon == std::string::npos) {
      failure = ParseFailure{"", short_text(what)};
    } else {
      at += marker.size();
      failure = ParseFailure{what.substr(at, colon - at), short_text(what.substr(colon + 2))};
    }
    return false;
  }

 private:
  struct Frame {
    json value;
    Keep keep;
    Keep child = Keep::kSkip;  // node of the member whose key came last
    std::string key;
  };

  // The node a value arriving now belongs to.
  Keep incoming() const {
    if (frames_.empty()) return Keep::kRoot;
    const Frame& f = frames_.back();
    return f.value.is_array() ? f.keep : f.child;
  }

  bool open(json::value_t type) {
    if (++depth_ > kMaxDepth) {
      failure = ParseFailure{
          path(), "nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)"};
      return false;
    }
    if (skip_ > 0 || incoming() == Keep::kSkip) {
      ++skip_;
      return true;
    }
    Keep k = incoming();
    frames_.push_back(Frame{json(type), k});
    return true;
  }

  bool close() {
    --depth_;
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    json v = std::move(frames_.back().value);
    frames_.pop_back();
    return put(std::move(v));
  }

  bool put(json&& v) {
    if (skip_ > 0) return true;
    if (frames_.empty()) {
      root = std::move(v);
      return true;
    }
    Frame& f = frames_.back();
    if (f.value.is_array()) {
      f.value.push_back(std::move(v));
    } else if (f.child != Keep::kSkip) {
      f.value.emplace(std::move(f.key), std::move(v));
    }
    return true;
  }

  std::string path() const {
    std::string out;
    for (const Frame& f : frames_) {
      if (f.value.is_array()) {
        out += "[" + std::to_string(f.value.size()) + "]";
      } else if (&f != &frames_.back()) {
        if (!out.empty()) out += '.';
        out += f.key.size() > validate::kQuoteLimit ? f.key.substr(0, validate::kQuoteLimit) + "..."
                                                    : f.key;
      }
    }
    return out;
  }

  std::vector<Frame> frames_;
  size_t depth_ = 0;
  size_t skip_ = 0;  // > 0 while inside a skipped subtree
};

std::variant<json, ParseFailure> parse_json(std::string_view text) {
  JsonBuilder b;
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &b);
  } catch (const std::exception& e) {
    return ParseFailure{"", std::string("cannot parse: ") + short_text(e.what())};
  }
  if (!ok || b.failure) {
    return b.failure.value_or(ParseFailure{"", "invalid JSON"});
  }
  return std::move(b.root);
}

// ---------------------------------------------------------------- YAML

// istream over caller-owned bytes, so yaml-cpp reads without a copy.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view s) {
    char* p = const_cast<char*>(s.data());  // get area only: never written
    setg(p, p, p + s.size());
  }
};

bool all_of(std::string_view s, size_t from, bool (*pred)(char)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i) {
    if (!pred(s[i])) return false;
  }
  return true;
}

bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
bool is_oct(char c) {
  return c >= '0' && c <= '7';
}
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::optional<json> yaml_int(std::string_view s) {
  int base = 10;
  std::string_view digits = s;
  bool negative = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits = s.substr(2);
    if (!all_of(digits, 0, base == 16 ? is_hex : is_oct)) return std::nullopt;
  } else {
    size_t start = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (!all_of(s, start, is_dec)) return std::nullopt;
    negative = s[0] == '-';
    digits = s.substr(start);
  }
  uint64_t u = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
  if (ec != std::errc() || p != digits.data() + digits.size()) {
    // Out of range: keep the magnitude as a number so range checks reject it.
    return json(std::strtod(std::string(s).c_str(), nullptr));
  }
  if (!negative) return json(u);
  if (u > uint64_t(INT64_MAX) + 1) return json(-double(u));
  return json(u == uint64_t(INT64_MAX) + 1 ? INT64_MIN : -int64_t(u));
}

std::optional<json> yaml_float(std::string_view s) {
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return json(negative ? -HUGE_VAL : HUGE_VAL);
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return json(std::nan(""));
  // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit before the exponent.
  size_t i = 0, mantissa_digits = 0;
  while (i < body.size() && is_dec(body[i])) ++i, ++mantissa_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && is_dec(body[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
    if (!all_of(body, i, is_dec)) return std::nullopt;
    i = body.size();
  }
  if (i != body.size()) return std::nullopt;
  return json(std::strtod(std::string(s).c_str(), nullptr));
}

// YAML 1.2 core schema for untagged plain scalars: null, booleans (only
// true/false spellings: "yes"/"on" stay strings), integers, floats.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json();
  if (s == "true" || s == "True" || s == "TRUE") return json(true);
  if (s == "false" || s == "False" || s == "FALSE") return json(false);
  char c = s[0];
  if (is_dec(c) || c == '-' || c == '+' || c == '.') {
    if (auto v = yaml_int(s)) return *v;
    if (auto v = yaml_float(s)) return *v;
  }
  return json(s);
}

// Thrown inside this file only, from YamlBuilder through yaml-cpp to decode_yaml.
struct YamlFailure {
  YAML::Mark mark;
  std::string message;
};

size_t count_nodes(const json& v) {
  size_t n = 1;
  if (v.is_structured()) {
    for (const auto& child : v) n += count_nodes(child);
  }
  return n;
}

// yaml-cpp event handler building one document as a json tree. Throws
// YamlFailure (caught in this file) to stop the parser early.
class YamlBuilder : public YAML::EventHandler {
 public:
  std::optional<json> root;

  explicit YamlBuilder(std::string_view text) : text_(text) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 does not consume a stray ',' after a top-level flow
    // collection or quoted scalar ("{}," or "\"a\",b"): it reports empty
    // documents at the same place forever. A document that starts where the
    // previous one started is that bug.
    if (last_start_ && *last_start_ == mark.pos) {
      std::string what = size_t(mark.pos) < text_.size() ? quote(text_.substr(size_t(mark.pos), 1))
                                                         : std::string("end of input");
      throw YamlFailure{mark, "unexpected " + what};
    }
    last_start_ = mark.pos;
    root.reset();
    frames_.clear();
    anchors_.clear();
    alias_nodes_ = 0;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (expecting_key()) return set_key("null", mark);
    put(json(), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw YamlFailure{mark, "unknown alias"};
    if (expecting_key()) {
      if (!it->second.first.is_string()) throw YamlFailure{mark, "mapping keys must be strings"};
      return set_key(it->second.first.get<std::string>(), mark);
    }
    alias_nodes_ += it->second.second;
    if (alias_nodes_ > kMaxAliasNodes) {
      throw YamlFailure{mark,
                        "aliases expand to more than " + std::to_string(kMaxAliasNodes) + " nodes"};
    }
    put(json(it->second.first), 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    // JSON input gets this check from nlohmann; YAML must match it.
    if (!validate::utf8(value)) throw YamlFailure{mark, "invalid UTF-8 in scalar"};
    if (expecting_key()) {
      if (tag == "?" && value == "<<") throw YamlFailure{mark, "merge keys (<<) are not supported"};
      return set_key(value, mark);
    }
    put(typed(mark, tag, value), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, json::array(), anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, json::object(), anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    json value;
    YAML::anchor_t anchor = 0;
    bool have_key = false;
    std::string key;
  };

  bool expecting_key() const {
    return !frames_.empty() && frames_.back().value.is_object() && !frames_.back().have_key;
  }

  void set_key(std::string key, const YAML::Mark& mark) {
    Frame& f = frames_.back();
    if (f.value.contains(key)) throw YamlFailure{mark, "duplicate key " + quote(key)};
    f.key = std::move(key);
    f.have_key = true;
  }

  json typed(const YAML::Mark& mark, const std::string& tag, const std::string& value) {
    if (tag == "?") return resolve_plain(value);
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "tag:yaml.org,2002:binary") {
      return json(value);
    }
    json v = resolve_plain(value);
    auto want = [&](bool ok) {
      if (!ok) throw YamlFailure{mark, "value " + quote(value) + " does not match tag " + tag};
      return v;
    };
    if (tag == "tag:yaml.org,2002:int") return want(v.is_number_integer());
    if (tag == "tag:yaml.org,2002:float") return want(v.is_number());
    if (tag == "tag:yaml.org,2002:bool") return want(v.is_boolean());
    if (tag == "tag:yaml.org,2002:null") return want(v.is_null());
    throw YamlFailure{mark, "unsupported tag " + quote(tag)};
  }

  void open(const YAML::Mark& mark, json value, YAML::anchor_t anchor) {
    if (expecting_key()) throw YamlFailure{mark, "mapping keys must be strings"};
    if (frames_.size() >= kMaxDepth) {
      throw YamlFailure{mark,
                        "nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)"};
    }
    frames_.push_back(Frame{std::move(value), anchor});
  }

  void close() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    put(std::move(f.value), f.anchor);
  }

  void put(json&& v, YAML::anchor_t anchor) {
    if (anchor != 0) anchors_[anchor] = {v, count_nodes(v)};
    if (frames_.empty()) {
      root = std::move(v);
      return;
    }
    Frame& f = frames_.back();
    if (f.value.is_array()) {
      f.value.push_back(std::move(v));
    } else {
      f.value.emplace(std::move(f.key), std::move(v));
      f.have_key = false;
    }
  }

  std::string_view text_;
  std::optional<int> last_start_;
  std::vector<Frame> frames_;
  std::map<YAML::anchor_t, std::pair<json, size_t>> anchors_;
  size_t alias_nodes_ = 0;
};

// ---------------------------------------------------------------- decoding

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

const json& empty_object() {
  static const json v = json::object();
  return v;
}

// Decoding state of one object: who it is (for error labels) and how many
// errors it has produced so far. Every decode_* returns nullopt once the
// object has any error: a half-valid object must never reach the store.
class ObjectDecoder {
 public:
  ObjectDecoder(std::string_view file, std::vector<Error>& errors)
      : file_(file), errors_(errors), start_(errors.size()) {}

  bool failed() const { return errors_.size() != start_; }
  void set_kind(std::string kind) { kind_ = std::move(kind); }
  void set_object(std::string object) { object_ = std::move(object); }
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

  void fail(const Path& at, std::string message) {
    std::string field = at.str();
    if (!prefix_.empty()) field = field.empty() ? prefix_ : prefix_ + "." + field;
    errors_.push_back(Error{std::string(file_), kind_, object_, field, std::move(message)});
  }

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

  // A port number field: integer 1..65535.
  std::optional<uint16_t> port_number(const json& v, const Path& at) {
    if (!v.is_number_integer()) {
      fail(at, std::string("must be an integer, got ") + type_name(v));
      return std::nullopt;
    }
    bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() >= 1 && v.get<uint64_t>() <= 65535
                                           : v.get<int64_t>() >= 1 && v.get<int64_t>() <= 65535;
    if (!in_range) {
      fail(at, "invalid value " + v.dump() + ": must be between 1 and 65535, inclusive");
      return std::nullopt;
    }
    return uint16_t(v.get<int64_t>());
  }

  // NetworkPolicyPort / ContainerPort protocol; absent means TCP.
  std::optional<Protocol> protocol(const json& parent, const Path& at) {
    const json* v = member(parent, "protocol");
    if (!v) return Protocol::TCP;
    if (!v->is_string()) {
      fail(at, std::string("must be a string, got ") + type_name(*v));
      return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    auto p = protocol_from_string(s);
    if (!p)
      fail(at, "unsupported value " + quote(s) + R"(: supported values: "TCP", "UDP", "SCTP")");
    return p;
  }

  // A string map (labels, matchLabels, annotations). `keep` filters keys;
  // `check_values` applies the label-value rule.
  Labels string_map(const json* v, const Path& at, bool check_values,
                    std::string_view keep_prefix = {}) {
    Labels out;
    if (!v) return out;
    if (!v->is_object()) {
      fail(at, std::string("must be an object, got ") + type_name(*v));
      return out;
    }
    if (keep_prefix.empty()) out.reserve(v->size());
    for (const auto& [k, val] : v->items()) {
      std::string value;
      if (val.is_string()) {
        value = val.get<std::string>();
      } else if (!val.is_null()) {
        fail(at, "value of " + quote(k) + " must be a string, got " + type_name(val));
        continue;
      }
      if (!keep_prefix.empty() && k.compare(0, keep_prefix.size(), keep_prefix) != 0) continue;
      if (auto why = validate::qualified_name(k); !why.empty()) {
        fail(at, "invalid key " + quote(k) + ": " + std::string(why));
        continue;
      }
      if (check_values) {
        if (auto why = validate::label_value(value); !why.empty()) {
          fail(at,
               "invalid value " + quote(value) + " for key " + quote(k) + ": " + std::string(why));
          continue;
        }
      }
      out.emplace(k, std::move(value));
    }
    // Kept objects live in stores for their lifetime: no spare capacity
    // (fewer entries than reserved when keys are filtered or rejected).
    out.shrink_to_fit();
    return out;
  }

  std::optional<LabelSelector> selector(const json& parent, std::string_view key, const Path& at) {
    const json* v = object(parent, key, at);
    if (!v) return std::nullopt;
    LabelSelector sel;
    sel.match_labels = string_map(member(*v, "matchLabels"), at / "matchLabels", true);
    Path exprs_at = at / "matchExpressions";
    if (const json* exprs = list(*v, "matchExpressions", exprs_at)) {
      for (size_t i = 0; i < exprs->size(); ++i) {
        if (auto r = requirement((*exprs)[i], exprs_at[i])) {
          sel.match_expressions.push_back(std::move(*r));
        }
      }
    }
    std::sort(sel.match_expressions.begin(), sel.match_expressions.end());
    sel.match_expressions.erase(
        std::unique(sel.match_expressions.begin(), sel.match_expressions.end()),
        sel.match_expressions.end());
    return sel;
  }

  std::optional<Requirement> requirement(const json& item, const Path& at) {
    const json* e = element(item, at);
    if (!e) return std::nullopt;
    size_t before = errors_.size();
    Requirement r;
    auto key = string(*e, "key", at / "key");
    if (!key && !member(*e, "key")) fail(at / "key", "required value");
    if (key) {
      if (auto why = validate::qualified_name(*key); !why.empty()) {
        fail(at / "key", "invalid value " + quote(*key) + ": " + std::string(why));
      }
      r.key = *key;
    }
    auto op = string(*e, "operator", at / "operator");
    bool known_op = false;
    if (op) {
      known_op = true;
      if (*op == "In") {
        r.op = Requirement::Op::In;
      } else if (*op == "NotIn") {
        r.op = Requirement::Op::NotIn;
      } else if (*op == "Exists") {
        r.op = Requirement::Op::Exists;
      } else if (*op == "DoesNotExist") {
        r.op = Requirement::Op::DoesNotExist;
      } else {
        known_op = false;
        fail(at / "operator", "unsupported operator " + quote(*op) +
                                  ": must be one of In, NotIn, Exists, DoesNotExist");
      }
    } else if (!member(*e, "operator")) {
      fail(at / "operator", "required value");
    }
    Path values_at = at / "values";
    if (const json* values = list(*e, "values", values_at)) {
      for (size_t i = 0; i < values->size(); ++i) {
        const json& v = (*values)[i];
        if (!v.is_string()) {
          fail(values_at[i], std::string("must be a string, got ") + type_name(v));
          continue;
        }
        const auto& s = v.get_ref<const std::string&>();
        if (auto why = validate::label_value(s); !why.empty()) {
          fail(values_at[i], "invalid value " + quote(s) + ": " + std::string(why));
          continue;
        }
        r.values.push_back(s);
      }
    }
    if (known_op) {
      bool set_op = r.op == Requirement::Op::In || r.op == Requirement::Op::NotIn;
      const json* values = member(*e, "values");
      bool has_values = values && values->is_array() && !values->empty();
      if (set_op && !has_values) {
        fail(values_at, "must be specified when operator is In or NotIn");
      } else if (!set_op && has_values) {
        fail(values_at, "must not be specified when operator is Exists or DoesNotExist");
      }
    }
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    if (errors_.size() != before) return std::nullopt;
    return r;
  }

  // Labels later errors with "namespace/name" (or, for a list item without
  // a usable name, prefixes fields with "items[i]"). Reports nothing itself.
  void identify(const json& obj, bool namespaced, const std::string& list_prefix) {
    const json* meta = member(obj, "metadata");
    const json& mj = meta && meta->is_object() ? *meta : empty_object();
    auto text = [&](std::string_view key) -> std::string {
      const json* v = member(mj, key);
      if (!v || !v->is_string()) return "";
      const auto& s = v->get_ref<const std::string&>();
      return s.size() > validate::kQuoteLimit ? s.substr(0, validate::kQuoteLimit) + "..." : s;
    };
    std::string name = text("name");
    std::string ns = namespaced ? text("namespace") : "";
    if (namespaced && ns.empty()) ns = "default";
    if (name.empty()) {
      set_prefix(list_prefix);
    } else {
      set_object(namespaced ? ns + "/" + name : name);
    }
  }

  // metadata: name (required), namespace (namespaced kinds, default
  // "default"), uid, resourceVersion.
  struct Meta {
    std::string ns, name, uid, resource_version;
  };
  Meta metadata(const json& obj, bool namespaced, const std::string& list_prefix) {
    identify(obj, namespaced, list_prefix);
    Meta m;
    Path root;
    Path at = root / "metadata";
    const json* meta = object(obj, "metadata", at);
    const json& mj = meta ? *meta : empty_object();
    auto name = string(mj, "name", at / "name");
    if (name ? name->empty() : !member(mj, "name")) {
      fail(at / "name", "required value");
    } else if (name) {
      // Namespaces are DNS labels; pods and policies DNS subdomains.
      auto why = namespaced ? validate::dns1123_subdomain(*name) : validate::dns1123_label(*name);
      if (!why.empty())
        fail(at / "name", "invalid value " + quote(*name) + ": " + std::string(why));
      m.name = *name;
    }
    m.ns = namespaced ? "default" : "";
    if (namespaced) {
      auto ns = string(mj, "namespace", at / "namespace");
      if (ns && !ns->empty()) {
        if (auto why = validate::dns1123_label(*ns); !why.empty()) {
          fail(at / "namespace", "invalid value " + quote(*ns) + ": " + std::string(why));
        }
        m.ns = *ns;
      }
    }
    m.uid = string(mj, "uid", at / "uid").value_or("");
    m.resource_version = string(mj, "resourceVersion", at / "resourceVersion").value_or("");
    return m;
  }

  Labels labels(const json& obj) {
    Path md;
    const json* meta = member(obj, "metadata");
    if (!meta || !meta->is_object()) return {};
    return string_map(member(*meta, "labels"), md / "metadata" / "labels", true);
  }

  std::optional<Namespace> decode_namespace(const json& obj, const std::string& prefix) {
    Namespace ns;
    Meta m = metadata(obj, false, prefix);
    ns.name = m.name;
    ns.uid = m.uid;
    ns.resource_version = m.resource_version;
    ns.labels = labels(obj);
    if (const json* meta = member(obj, "metadata"); meta && meta->is_object()) {
      Path root;
      ns.annotations = string_map(member(*meta, "annotations"), root / "metadata" / "annotations",
                                  false, "netpol.io/");
    }
    // The API server sets this label itself and overrides user values.
    ns.labels[kNamespaceNameLabel] = ns.name;
    ns.labels.shrink_to_fit();  // the insert above may have grown the capacity
    if (failed()) return std::nullopt;
    return ns;
  }

  void container_ports(const json& spec, std::string_view key, const Path& at, Pod& pod) {
    const json* containers = list(spec, key, at);
    if (!containers) return;
    for (size_t i = 0; i < containers->size(); ++i) {
      Path c_at = at[i];
      const json* c = element((*containers)[i], c_at);
      if (!c) continue;
      if (key == "initContainers") {
        // Only restartable init containers (sidecars) run alongside the
        // pod and serve their ports; plain init containers have exited.
        auto policy = string(*c, "restartPolicy", c_at / "restartPolicy");
        if (policy != "Always") continue;
      }
      Path ports_at = c_at / "ports";
      const json* ports = list(*c, "ports", ports_at);
      if (!ports) continue;
      for (size_t j = 0; j < ports->size(); ++j) {
        Path p_at = ports_at[j];
        const json* p = element((*ports)[j], p_at);
        if (!p) continue;
        ContainerPort cp;
        if (auto name = string(*p, "name", p_at / "name")) {
          if (auto why = validate::iana_svc_name(*name); !why.empty()) {
            fail(p_at / "name", "invalid value " + quote(*name) + ": " + std::string(why));
          }
          cp.name = *name;
        }
        if (const json* num = member(*p, "containerPort")) {
          if (auto n = port_number(*num, p_at / "containerPort")) cp.port = *n;
        } else {
          fail(p_at / "containerPort", "required value");
        }
        if (auto proto = protocol(*p, p_at / "protocol")) cp.protocol = *proto;
        pod.ports.push_back(std::move(cp));
      }
    }
  }

  void add_pod_ip(std::string_view text, const Path& at, Pod& pod) {
    auto ip = IpAddr::parse(text);
    if (!ip) {
      fail(at, "invalid value " + quote(text) + ": must be an IP address");
      return;
    }
    if (std::find(pod.ips.begin(), pod.ips.end(), *ip) == pod.ips.end()) pod.ips.push_back(*ip);
  }

  std::optional<Pod> decode_pod(const json& obj, const std::string& prefix) {
    Pod pod;
    Meta m = metadata(obj, true, prefix);
    pod.ns = m.ns;
    pod.name = m.name;
    pod.uid = m.uid;
    pod.resource_version = m.resource_version;
    pod.labels = labels(obj);

    Path root;
    Path spec_at = root / "spec";
    const json* spec = object(obj, "spec", spec_at);
    const json& sj = spec ? *spec : empty_object();
    pod.node_name = string(sj, "nodeName", spec_at / "nodeName").value_or("");
    if (!pod.node_name.empty()) {
      if (auto why = validate::dns1123_subdomain(pod.node_name); !why.empty()) {
        fail(spec_at / "nodeName",
             "invalid value " + quote(pod.node_name) + ": " + std::string(why));
      }
    }
    pod.host_network = boolean(sj, "hostNetwork", spec_at / "hostNetwork").value_or(false);
    container_ports(sj, "containers", spec_at / "containers", pod);
    container_ports(sj, "initContainers", spec_at / "initContainers", pod);

    Path status_at = root / "status";
    const json* status = object(obj, "status", status_at);
    const json& st = status ? *status : empty_object();
    if (auto phase = string(st, "phase", status_at / "phase")) {
      static const std::pair<const char*, PodPhase> phases[] = {{"Pending", PodPhase::Pending},
                                                                {"Running", PodPhase::Running},
                                                                {"Succeeded", PodPhase::Succeeded},
                                                                {"Failed", PodPhase::Failed},
                                                                {"Unknown", PodPhase::Unknown}};
      bool found = false;
      for (const auto& [name, value] : phases) {
        if (*phase == name) {
          pod.phase = value;
          found = true;
        }
      }
      if (!found) {
        fail(status_at / "phase",
             "unsupported value " + quote(*phase) +
                 R"(: supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown")");
      }
    }
    if (auto ip = string(st, "podIP", status_at / "podIP"); ip && !ip->empty()) {
      add_pod_ip(*ip, status_at / "podIP", pod);
    }
    Path ips_at = status_at / "podIPs";
    if (const json* ips = list(st, "podIPs", ips_at)) {
      for (size_t i = 0; i < ips->size(); ++i) {
        const json* e = element((*ips)[i], ips_at[i]);
        if (!e) continue;
        auto ip = string(*e, "ip", ips_at[i] / "ip");
        if (!ip && !member(*e, "ip")) fail(ips_at[i] / "ip", "required value");
        if (ip) add_pod_ip(*ip, ips_at[i] / "ip", pod);
      }
    }
    int v4 = 0, v6 = 0;
    for (const IpAddr& ip : pod.ips) (ip.is_v4() ? v4 : v6)++;
    if (v4 > 1 || v6 > 1) fail(ips_at, "may specify no more than one IP for each IP family");

    if (failed()) return std::nullopt;
    return pod;
  }

  std::optional<IpBlock> ip_block(const json& v, const Path& at) {
    IpBlock block;
    size_t before = errors_.size();
    auto text = string(v, "cidr", at / "cidr");
    if (!text && !member(v, "cidr")) fail(at / "cidr", "required value");
    std::optional<Cidr> cidr;
    if (text) {
      cidr = Cidr::parse(*text);
      if (!cidr) {
        fail(at / "cidr",
             "invalid value " + quote(*text) + ": must be a CIDR such as 10.0.0.0/8 or fd00::/8");
      }
    }
    Path ex_at = at / "except";
    if (const json* ex = list(v, "except", ex_at)) {
      for (size_t i = 0; i < ex->size(); ++i) {
        const json& e = (*ex)[i];
        if (!e.is_string()) {
          fail(ex_at[i], std::string("must be a string, got ") + type_name(e));
          continue;
        }
        const auto& s = e.get_ref<const std::string&>();
        auto c = Cidr::parse(s);
        if (!c) {
          fail(ex_at[i], "invalid value " + quote(s) + ": must be a CIDR such as 10.0.0.0/8");
        } else if (cidr && c->addr.family != cidr->addr.family) {
          fail(ex_at[i], "invalid value " + quote(s) + ": must be of the same IP family as cidr");
        } else if (cidr && !(cidr->contains(*c) && c->prefix > cidr->prefix)) {
          fail(ex_at[i], "invalid value " + quote(s) + ": must be a strict subset of cidr " +
                             quote(cidr->str()));
        } else {
          block.except.push_back(*c);
        }
      }
    }
    if (errors_.size() != before || !cidr) return std::nullopt;
    block.cidr = *cidr;
    std::sort(block.except.begin(), block.except.end());
    block.except.erase(std::unique(block.except.begin(), block.except.end()), block.except.end());
    return block;
  }

  std::optional<Peer> peer(const json& item, const Path& at) {
    const json* v = element(item, at);
    if (!v) return std::nullopt;
    size_t before = errors_.size();
    Peer p;
    p.pod_selector = selector(*v, "podSelector", at / "podSelector");
    p.namespace_selector = selector(*v, "namespaceSelector", at / "namespaceSelector");
    bool has_selector = member(*v, "podSelector") || member(*v, "namespaceSelector");
    Path block_at = at / "ipBlock";
    if (const json* block = object(*v, "ipBlock", block_at)) {
      p.ip_block = ip_block(*block, block_at);
      if (has_selector) fail(at, "may not specify both ipBlock and another peer");
    } else if (!has_selector && errors_.size() == before) {
      fail(at, "must specify a peer");
    }
    if (errors_.size() != before) return std::nullopt;
    return p;
  }

  std::optional<PolicyPort> policy_port(const json& item, const Path& at) {
    const json* v = element(item, at);
    if (!v) return std::nullopt;
    size_t before = errors_.size();
    PolicyPort pp;
    if (auto proto = protocol(*v, at / "protocol")) pp.protocol = *proto;
    const json* port = member(*v, "port");
    if (port) {
      if (port->is_string()) {
        const auto& name = port->get_ref<const std::string&>();
        if (auto why = validate::iana_svc_name(name); !why.empty()) {
          fail(at / "port", "invalid value " + quote(name) + ": " + std::string(why));
        }
        pp.port = name;
      } else if (port->is_number_integer()) {
        if (auto n = port_number(*port, at / "port")) pp.port = *n;
      } else {
        fail(at / "port", std::string("must be an integer or a string, got ") + type_name(*port));
      }
    }
    if (const json* end = member(*v, "endPort")) {
      if (!port) {
        fail(at / "endPort", "may not be specified when port is not specified");
      } else if (port->is_string()) {
        fail(at / "endPort", "may not be specified when port is non-numeric");
      } else if (auto n = port_number(*end, at / "endPort")) {
        const uint16_t* start = std::get_if<uint16_t>(&pp.port);
        if (start && *n < *start) {
          fail(at / "endPort", "invalid value " + std::to_string(*n) +
                                   ": must be greater than or equal to port (" +
                                   std::to_string(*start) + ")");
        }
        pp.end_port = *n;
      }
    }
    if (errors_.size() != before) return std::nullopt;
    return pp;
  }

  std::vector<PolicyRule> rules(const json& spec, std::string_view key, std::string_view peers_key,
                                const Path& at) {
    std::vector<PolicyRule> out;
    const json* list_v = list(spec, key, at);
    if (!list_v) return out;
    for (size_t i = 0; i < list_v->size(); ++i) {
      Path r_at = at[i];
      const json* r = element((*list_v)[i], r_at);
      if (!r) continue;
      PolicyRule rule;
      Path ports_at = r_at / "ports";
      if (const json* ports = list(*r, "ports", ports_at)) {
        for (size_t j = 0; j < ports->size(); ++j) {
          if (auto p = policy_port((*ports)[j], ports_at[j])) rule.ports.push_back(std::move(*p));
        }
      }
      Path peers_at = r_at / peers_key;
      if (const json* peers = list(*r, peers_key, peers_at)) {
        for (size_t j = 0; j < peers->size(); ++j) {
          if (auto p = peer((*peers)[j], peers_at[j])) rule.peers.push_back(std::move(*p));
        }
      }
      out.push_back(std::move(rule));
    }
    return out;
  }

  std::optional<NetworkPolicy> decode_policy(const json& obj, const std::string& prefix) {
    NetworkPolicy np;
    Meta m = metadata(obj, true, prefix);
    np.ns = m.ns;
    np.name = m.name;
    np.uid = m.uid;
    np.resource_version = m.resource_version;
    Path root;
    if (const json* meta = member(obj, "metadata"); meta && meta->is_object()) {
      np.annotations = string_map(member(*meta, "annotations"), root / "metadata" / "annotations",
                                  false, "netpol.io/");
    }
    Path spec_at = root / "spec";
    const json* spec = object(obj, "spec", spec_at);
    const json& sj = spec ? *spec : empty_object();
    // podSelector is required by the OpenAPI schema, but the API server
    // stores a missing one as the zero selector: every pod of the namespace.
    np.pod_selector =
        selector(sj, "podSelector", spec_at / "podSelector").value_or(LabelSelector{});

    Path types_at = spec_at / "policyTypes";
    bool has_types = false, wants_ingress = false, wants_egress = false;
    if (const json* types = list(sj, "policyTypes", types_at)) {
      for (size_t i = 0; i < types->size(); ++i) {
        const json& t = (*types)[i];
        if (!t.is_string()) {
          fail(types_at[i], std::string("must be a string, got ") + type_name(t));
          continue;
        }
        const auto& s = t.get_ref<const std::string&>();
        bool* flag = s == "Ingress" ? &wants_ingress : s == "Egress" ? &wants_egress : nullptr;
        if (!flag) {
          fail(types_at[i],
               "unsupported value " + quote(s) + R"(: supported values: "Ingress", "Egress")");
        } else if (*flag) {
          fail(types_at[i], "duplicate value " + quote(s));
        } else {
          *flag = true;
          has_types = true;
        }
      }
    }
    np.ingress = rules(sj, "ingress", "from", spec_at / "ingress");
    np.egress = rules(sj, "egress", "to", spec_at / "egress");
    // An empty policyTypes list is defaulted like a missing one, as the API
    // server does.
    if (has_types) {
      np.affects_ingress = wants_ingress;
      np.affects_egress = wants_egress;
    } else {
      np.affects_ingress = true;
      const json* egress = member(sj, "egress");
      np.affects_egress = egress && egress->is_array() && !egress->empty();
    }
    if (failed()) return std::nullopt;
    return np;
  }

 private:
  std::string_view file_;
  std::vector<Error>& errors_;
  size_t start_;
  std::string kind_;
  std::string object_;
  std::string prefix_;
};

// Where decoded objects and errors of one input go, and the label for both.
struct Sink {
  std::string_view file;
  DecodeResult& out;
};

void decode_object(const json& obj, std::string_view default_kind, const std::string& prefix,
                   Sink& sink) {
  ObjectDecoder d(sink.file, sink.out.errors);
  Path root;
  if (!obj.is_object()) {
    d.set_prefix(prefix);
    d.fail(root, std::string("must be an object, got ") + type_name(obj));
    return;
  }
  std::string kind(default_kind);
  if (const json* k = ObjectDecoder::member(obj, "kind")) {
    if (!k->is_string()) {
      d.set_prefix(prefix);
      d.fail(root / "kind", std::string("must be a string, got ") + type_name(*k));
      return;
    }
    kind = k->get<std::string>();
  }
  if (kind.empty()) {
    d.set_prefix(prefix);
    d.fail(root / "kind", "required value");
    return;
  }
  if (decode_cluster_kind(obj, kind, prefix, sink.file, sink.out)) return;
  const char* want_api = nullptr;
  if (kind == "Pod" || kind == "Namespace") {
    want_api = "v1";
  } else if (kind == "NetworkPolicy") {
    want_api = "networking.k8s.io/v1";
  }
  d.set_kind(kind.size() > validate::kQuoteLimit ? kind.substr(0, validate::kQuoteLimit) + "..."
                                                 : kind);
  if (!want_api) {
    // Unknown kinds may be cluster-scoped: show a namespace only if given.
    const json* meta = ObjectDecoder::member(obj, "metadata");
    const json* ns = meta ? ObjectDecoder::member(*meta, "namespace") : nullptr;
    d.identify(obj, ns && ns->is_string() && !ns->get_ref<const std::string&>().empty(), prefix);
    d.fail(root / "kind", "unsupported kind " + quote(kind) +
                              ": only Namespace, Pod and NetworkPolicy are decoded");
    return;
  }
  // apiVersion may be left out (list items from the API server carry none);
  // a different one means a schema we do not know.
  if (const json* api = ObjectDecoder::member(obj, "apiVersion")) {
    if (!api->is_string() || api->get_ref<const std::string&>() != want_api) {
      d.identify(obj, kind != "Namespace", prefix);
      if (!api->is_string()) {
        d.fail(root / "apiVersion", std::string("must be a string, got ") + type_name(*api));
      } else {
        d.fail(root / "apiVersion", "unsupported apiVersion " + quote(api->get<std::string>()) +
                                        " for kind " + kind + ": want \"" + want_api + "\"");
      }
      return;
    }
  }
  if (kind == "Pod") {
    if (auto p = d.decode_pod(obj, prefix)) {
      sink.out.objects.pods.push_back(std::move(*p));
      sink.out.origins.pods.emplace_back(sink.file);
    }
  } else if (kind == "Namespace") {
    if (auto n = d.decode_namespace(obj, prefix)) {
      sink.out.objects.namespaces.push_back(std::move(*n));
      sink.out.origins.namespaces.emplace_back(sink.file);
    }
  } else {
    if (auto np = d.decode_policy(obj, prefix)) {
      sink.out.objects.policies.push_back(std::move(*np));
      sink.out.origins.policies.emplace_back(sink.file);
    }
  }
}

// One document: an object, a List/*List of objects, or empty.
void decode_document(const json& doc, Sink& sink) {
  if (doc.is_null()) return;  // empty document
  if (doc.is_object()) {
    const json* kind = ObjectDecoder::member(doc, "kind");
    const json* items = ObjectDecoder::member(doc, "items");
    if (kind && kind->is_string()) {
      const auto& k = kind->get_ref<const std::string&>();
      bool is_list = k == "List" || (k.size() > 4 && k.ends_with("List"));
      if (is_list) {
        std::string item_kind = k == "List" ? "" : k.substr(0, k.size() - 4);
        if (items && !items->is_array()) {
          sink.out.errors.push_back(Error{std::string(sink.file), k, "", "items",
                                          std::string("must be a list, got ") + type_name(*items)});
          return;
        }
        if (!items) return;
        for (size_t i = 0; i < items->size(); ++i) {
          decode_object((*items)[i], item_kind, "items[" + std::to_string(i) + "]", sink);
        }
        return;
      }
    }
  }
  decode_object(doc, "", "", sink);
}

void syntax_error(Sink& sink, std::string where, std::string message) {
  sink.out.errors.push_back(
      Error{std::string(sink.file), "", "", std::move(where), std::move(message)});
}

// decode_document() behind a last line of defence: a bug (or bad_alloc)
// becomes an error on this input instead of an exception leaving the API.
void decode_guarded(const json& doc, Sink& sink) {
  try {
    decode_document(doc, sink);
  } catch (const std::exception& e) {
    syntax_error(sink, "", std::string("internal error while decoding: ") + short_text(e.what()));
  }
}

// Returns false when the text is not well-formed YAML (the error is recorded).
bool decode_yaml(std::string_view text, Sink& sink) {
  ViewBuf buf(text);
  std::istream in(&buf);
  YamlBuilder builder(text);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
      if (builder.root) decode_guarded(*builder.root, sink);
      builder.root.reset();
    }
  } catch (const YamlFailure& f) {
    syntax_error(sink, line_col(f.mark.line, f.mark.column), short_text(f.message));
    return false;
  } catch (const YAML::Exception& e) {
    std::string where = e.mark.is_null() ? "" : line_col(e.mark.line, e.mark.column);
    syntax_error(sink, where, short_text(e.msg));
    return false;
  } catch (const std::exception& e) {
    syntax_error(sink, "", std::string("cannot parse: ") + short_text(e.what()));
    return false;
  }
  return true;
}

std::string_view skip_space(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM
  size_t i = text.find_first_not_of(" \t\r\n");
  return i == std::string_view::npos ? std::string_view() : text.substr(i);
}

}  // namespace

DecodeResult decode_manifests(std::string_view text, std::string_view file) {
  DecodeResult result;
  Sink sink{file, result};
  std::string_view body = skip_space(text);
  if (!body.empty() && (body[0] == '{' || body[0] == '[')) {
    // The whole text, not `body`: line numbers must count the skipped lines
    // (nlohmann skips whitespace and a UTF-8 BOM itself).
    auto parsed = parse_json(text);
    if (auto* doc = std::get_if<json>(&parsed)) {
      decode_guarded(*doc, sink);
      return result;
    }
    // Flow-style YAML ({a: b}) also starts with a brace; it gets a second
    // chance unless the file says it is JSON or the failure was structural.
    const auto& failure = std::get<ParseFailure>(parsed);
    bool structural = failure.message.starts_with("nesting too deep") ||
                      failure.message.starts_with("duplicate key");
    if (!file.ends_with(".json") && !structural) {
      DecodeResult yaml;
      Sink ysink{file, yaml};
      if (decode_yaml(text, ysink)) return yaml;
    }
    syntax_error(sink, failure.where, failure.message);
    return result;
  }
  decode_yaml(text, sink);
  return result;
}

DecodeResult decode_json_object(std::string_view text, std::string_view source) {
  DecodeResult result;
  Sink sink{source, result};
  auto parsed = parse_json(text);
  if (auto* doc = std::get_if<json>(&parsed)) {
    decode_guarded(*doc, sink);
  } else {
    const auto& failure = std::get<ParseFailure>(parsed);
    syntax_error(sink, failure.where, failure.message);
  }
  return result;
}

}  // namespace netpol::k8s
