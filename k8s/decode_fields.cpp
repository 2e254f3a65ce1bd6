// ObjectDecoder's typed field readers: scalars, ports, protocols, string
// maps, label selectors and object metadata. Every reader reports what is
// wrong with the field it reads and returns nothing for it.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "k8s/decode_internal.h"
#include "k8s/validate.h"

namespace netpol::k8s::decoding {

using validate::quote;

void ObjectDecoder::fail(const Path& at, std::string message) {
  std::string field = at.str();
  if (!prefix_.empty()) field = field.empty() ? prefix_ : prefix_ + "." + field;
  errors_.push_back(Error{std::string(file_), kind_, object_, field, std::move(message)});
}

std::optional<int64_t> ObjectDecoder::integer(const json& v, const Path& at, int64_t lo,
                                              int64_t hi) {
  if (!v.is_number_integer()) {
    fail(at, std::string("must be an integer, got ") + type_name(v));
    return std::nullopt;
  }
  bool in_range = v.is_number_unsigned()
                      ? v.get<uint64_t>() <= uint64_t(hi) && int64_t(v.get<uint64_t>()) >= lo
                      : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!in_range) {
    fail(at, "invalid value " + v.dump() + ": must be between " + std::to_string(lo) + " and " +
                 std::to_string(hi) + ", inclusive");
    return std::nullopt;
  }
  return v.get<int64_t>();
}

std::optional<uint16_t> ObjectDecoder::port_number(const json& v, const Path& at) {
  auto n = integer(v, at, 1, 65535);
  if (!n) return std::nullopt;
  return uint16_t(*n);
}

std::optional<Protocol> ObjectDecoder::protocol(const json& parent, const Path& at) {
  const json* v = member(parent, "protocol");
  if (!v) return Protocol::TCP;
  if (!v->is_string()) {
    fail(at, std::string("must be a string, got ") + type_name(*v));
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  auto p = protocol_from_string(s);
  if (!p) fail(at, "unsupported value " + quote(s) + R"(: supported values: "TCP", "UDP", "SCTP")");
  return p;
}

Labels ObjectDecoder::string_map(const json* v, const Path& at, bool check_values,
                                 std::string_view keep_prefix) {
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

std::optional<LabelSelector> ObjectDecoder::selector(const json& parent, std::string_view key,
                                                     const Path& at) {
  const json* v = object(parent, key, at);
  if (!v) return std::nullopt;
  return label_selector(*v, at);
}

LabelSelector ObjectDecoder::label_selector(const json& v, const Path& at) {
  LabelSelector sel;
  sel.match_labels = string_map(member(v, "matchLabels"), at / "matchLabels", true);
  Path exprs_at = at / "matchExpressions";
  if (const json* exprs = list(v, "matchExpressions", exprs_at)) {
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

std::optional<Requirement> ObjectDecoder::requirement(const json& item, const Path& at) {
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
    each_string(*values, values_at, [&](const std::string& s, const Path& v_at) {
      if (auto why = validate::label_value(s); !why.empty()) {
        fail(v_at, "invalid value " + quote(s) + ": " + std::string(why));
        return;
      }
      r.values.push_back(s);
    });
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

void ObjectDecoder::identify(const json& obj, bool namespaced, const std::string& list_prefix) {
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

bool ObjectDecoder::api_version(const json& obj, const std::string& kind, std::string_view want) {
  const json* api = member(obj, "apiVersion");
  if (!api) return true;
  Path root;
  if (!api->is_string()) {
    fail(root / "apiVersion", std::string("must be a string, got ") + type_name(*api));
    return false;
  }
  if (api->get_ref<const std::string&>() != want) {
    fail(root / "apiVersion", "unsupported apiVersion " + quote(api->get<std::string>()) +
                                  " for kind " + kind + ": want \"" + std::string(want) + "\"");
    return false;
  }
  return true;
}

ObjectDecoder::Meta ObjectDecoder::metadata(const json& obj, Scope scope,
                                            const std::string& list_prefix) {
  const bool namespaced = scope == Scope::Namespaced;
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
    // Namespaces are DNS labels; the other kinds' names DNS subdomains.
    auto why = scope == Scope::Namespace ? validate::dns1123_label(*name)
                                         : validate::dns1123_subdomain(*name);
    if (!why.empty()) fail(at / "name", "invalid value " + quote(*name) + ": " + std::string(why));
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
  if (const json* del = member(mj, "deletionTimestamp"); del && !del->is_null()) {
    m.deleting = !string(mj, "deletionTimestamp", at / "deletionTimestamp").value_or("").empty();
  }
  return m;
}

Labels ObjectDecoder::labels(const json& obj) {
  Path md;
  const json* meta = member(obj, "metadata");
  if (!meta || !meta->is_object()) return {};
  return string_map(member(*meta, "labels"), md / "metadata" / "labels", true);
}

}  // namespace netpol::k8s::decoding
