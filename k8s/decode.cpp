// Manifest decoding: text -> JSON tree -> validated model objects.
//
// Two front ends produce the same nlohmann::json tree:
//  * YAML through yaml-cpp's event API (not YAML::Node), so scalar typing,
//    anchors, duplicate keys and nesting depth are all under our control;
//  * JSON through nlohmann's SAX parser, which keeps only the subtrees the
//    model needs (managedFields, container images, conditions... are never
//    materialised) -- this is the watch-event fast path.
// One decoder then walks the tree, validates and defaults. Parser exceptions
// never leave the decoder: every failure becomes an Error value. This file
// turns documents and lists into objects and holds the public entry points;
// the pieces are listed in k8s/decode_internal.h.
#include "k8s/decode.h"

#include <exception>
#include <nlohmann/json.hpp>

#include "k8s/decode_cnp.h"
#include "k8s/decode_internal.h"
#include "k8s/validate.h"

namespace netpol::k8s {
namespace decoding {

using validate::quote;

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

std::string short_text(std::string s) {
  if (s.size() > kMaxParserMessage) {
    s.resize(kMaxParserMessage);
    s += "...";
  }
  return s;
}

const json& empty_object() {
  static const json v = json::object();
  return v;
}

namespace {

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
  d.identify(obj, kind != "Namespace", prefix);
  if (!d.api_version(obj, kind, want_api)) return;
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

std::string_view skip_space(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM
  size_t i = text.find_first_not_of(" \t\r\n");
  return i == std::string_view::npos ? std::string_view() : text.substr(i);
}

}  // namespace

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

}  // namespace decoding

using decoding::decode_guarded;
using decoding::decode_yaml;
using decoding::json;
using decoding::parse_json;
using decoding::ParseFailure;
using decoding::Sink;
using decoding::skip_space;
using decoding::syntax_error;

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
