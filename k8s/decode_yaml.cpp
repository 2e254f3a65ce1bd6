// The YAML front end: yaml-cpp's event API (not YAML::Node), so scalar
// typing, anchors, duplicate keys and nesting depth are all under our
// control. yaml-cpp exceptions never leave this file.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <streambuf>

#include "k8s/decode_internal.h"
#include "k8s/validate.h"

namespace netpol::k8s::decoding {
namespace {

using validate::quote;

// Aliases may copy whole subtrees; cap the copies per document so a
// "billion laughs" document cannot exhaust memory.
constexpr size_t kMaxAliasNodes = 1'000'000;

std::string line_col(int line0, int col0) {
  return "line " + std::to_string(line0 + 1) + ", column " + std::to_string(col0 + 1);
}

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

}  // namespace

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

}  // namespace netpol::k8s::decoding
