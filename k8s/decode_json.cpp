// The JSON front end: nlohmann's SAX parser building only the subtrees the
// model reads (managedFields, container images, conditions... are never
// materialised) -- the watch-event fast path. Never throws.
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>

#include "k8s/decode_internal.h"
#include "k8s/validate.h"

namespace netpol::k8s::decoding {
namespace {

using validate::quote;

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
          key == "deletionTimestamp" || key == "labels" || key == "annotations") {
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

}  // namespace

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

}  // namespace netpol::k8s::decoding
