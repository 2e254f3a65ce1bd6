// Decoding and validation of ClusterNetworkPolicy and Node (k8s/cnp.h).
//
// The rules are those of the v0.2.0 CRD's OpenAPI schema and CEL rules
// (required fields, enums, MinItems/MaxItems, MinProperties/MaxProperties = 1
// for the one-of structs, port ranges, CIDRs), applied to the tree the
// front ends in decode.cpp build. As for the other kinds, an object with any
// error never reaches the result, and nothing here throws on bad input.
#include "k8s/decode_cnp.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "k8s/cnp.h"
#include "k8s/validate.h"

namespace netpol::k8s {
namespace {

using json = nlohmann::json;
using validate::quote;

constexpr const char* kCnpApiVersion = "policy.networking.k8s.io/v1alpha2";

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

// Member lookup: JSON null reads as absent, as in Go's encoding/json.
const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& empty_object() {
  static const json v = json::object();
  return v;
}

std::string cut(const std::string& s) {
  return s.size() > validate::kQuoteLimit ? s.substr(0, validate::kQuoteLimit) + "..." : s;
}

// "a, b or c" for the one-of messages.
std::string one_of(std::initializer_list<const char*> names) {
  std::string out;
  size_t i = 0;
  for (const char* n : names) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += n;
    ++i;
  }
  return out;
}

// Decoding state of one object; fields are JSON paths as strings (these
// objects are few and small, so building paths eagerly costs nothing).
class Decoder {
 public:
  Decoder(std::string_view file, std::string kind, std::vector<Error>& errors)
      : file_(file), kind_(std::move(kind)), errors_(errors), start_(errors.size()) {}

  bool failed() const { return errors_.size() != start_; }

  void fail(const std::string& at, std::string message) {
    std::string field = prefix_.empty() ? at : at.empty() ? prefix_ : prefix_ + "." + at;
    errors_.push_back(Error{std::string(file_), kind_, object_, field, std::move(message)});
  }

  // Errors name the object by metadata.name, or a nameless list item by its index.
  void identify(const json& obj, const std::string& list_prefix) {
    const json* meta = member(obj, "metadata");
    const json* name = meta ? member(*meta, "name") : nullptr;
    if (name && name->is_string() && !name->get_ref<const std::string&>().empty()) {
      object_ = cut(name->get<std::string>());
    } else {
      prefix_ = list_prefix;
    }
  }

  const json* object(const json& parent, std::string_view key, const std::string& at) {
    const json* v = member(parent, key);
    if (v && !v->is_object()) {
      fail(at, std::string("must be an object, got ") + type_name(*v));
      return nullptr;
    }
    return v;
  }

  const json* required_object(const json& parent, std::string_view key, const std::string& at) {
    if (!member(parent, key)) {
      fail(at, "required value");
      return nullptr;
    }
    return object(parent, key, at);
  }

  // A list with the CRD's MinItems/MaxItems.
  const json* list(const json& parent, std::string_view key, const std::string& at,
                   size_t min_items, size_t max_items) {
    const json* v = member(parent, key);
    if (!v) return nullptr;
    if (!v->is_array()) {
      fail(at, std::string("must be a list, got ") + type_name(*v));
      return nullptr;
    }
    if (v->size() < min_items) {
      fail(at, "must have at least " + std::to_string(min_items) + " item" +
                   (min_items == 1 ? "" : "s"));
      return nullptr;
    }
    if (v->size() > max_items) {
      fail(at, "must have at most " + std::to_string(max_items) + " items, got " +
                   std::to_string(v->size()));
      return nullptr;
    }
    return v;
  }

  const json* element(const json& v, const std::string& at) {
    if (v.is_null()) return &empty_object();
    if (!v.is_object()) {
      fail(at, std::string("must be an object, got ") + type_name(v));
      return nullptr;
    }
    return &v;
  }

  std::optional<std::string> string(const json& parent, std::string_view key,
                                    const std::string& at) {
    const json* v = member(parent, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      fail(at, std::string("must be a string, got ") + type_name(*v));
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  // An integer field in [lo, hi].
  std::optional<int64_t> integer(const json& v, const std::string& at, int64_t lo, int64_t hi) {
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

  Labels string_map(const json* v, const std::string& at) {
    Labels out;
    if (!v) return out;
    if (!v->is_object()) {
      fail(at, std::string("must be an object, got ") + type_name(*v));
      return out;
    }
    out.reserve(v->size());
    for (const auto& [k, val] : v->items()) {
      std::string value;
      if (val.is_string()) {
        value = val.get<std::string>();
      } else if (!val.is_null()) {
        fail(at, "value of " + quote(k) + " must be a string, got " + type_name(val));
        continue;
      }
      if (auto why = validate::qualified_name(k); !why.empty()) {
        fail(at, "invalid key " + quote(k) + ": " + std::string(why));
        continue;
      }
      if (auto why = validate::label_value(value); !why.empty()) {
        fail(at,
             "invalid value " + quote(value) + " for key " + quote(k) + ": " + std::string(why));
        continue;
      }
      out.emplace(k, std::move(value));
    }
    out.shrink_to_fit();
    return out;
  }

  // metav1.LabelSelector, with the API server's messages.
  LabelSelector selector(const json& v, const std::string& at) {
    LabelSelector sel;
    sel.match_labels = string_map(member(v, "matchLabels"), at + ".matchLabels");
    std::string exprs_at = at + ".matchExpressions";
    const json* exprs = member(v, "matchExpressions");
    if (exprs && !exprs->is_array()) {
      fail(exprs_at, std::string("must be a list, got ") + type_name(*exprs));
    } else if (exprs) {
      for (size_t i = 0; i < exprs->size(); ++i) {
        if (auto r = requirement((*exprs)[i], exprs_at + "[" + std::to_string(i) + "]")) {
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

  std::optional<Requirement> requirement(const json& item, const std::string& at) {
    const json* e = element(item, at);
    if (!e) return std::nullopt;
    size_t before = errors_.size();
    Requirement r;
    auto key = string(*e, "key", at + ".key");
    if (!key && !member(*e, "key")) fail(at + ".key", "required value");
    if (key) {
      if (auto why = validate::qualified_name(*key); !why.empty()) {
        fail(at + ".key", "invalid value " + quote(*key) + ": " + std::string(why));
      }
      r.key = *key;
    }
    static const std::pair<const char*, Requirement::Op> ops[] = {
        {"In", Requirement::Op::In},
        {"NotIn", Requirement::Op::NotIn},
        {"Exists", Requirement::Op::Exists},
        {"DoesNotExist", Requirement::Op::DoesNotExist}};
    bool known_op = false;
    if (auto op = string(*e, "operator", at + ".operator")) {
      for (const auto& [name, value] : ops) {
        if (*op == name) r.op = value, known_op = true;
      }
      if (!known_op) {
        fail(at + ".operator", "unsupported operator " + quote(*op) +
                                   ": must be one of In, NotIn, Exists, DoesNotExist");
      }
    } else if (!member(*e, "operator")) {
      fail(at + ".operator", "required value");
    }
    std::string values_at = at + ".values";
    const json* values = member(*e, "values");
    if (values && !values->is_array()) {
      fail(values_at, std::string("must be a list, got ") + type_name(*values));
    } else if (values) {
      for (size_t i = 0; i < values->size(); ++i) {
        const json& v = (*values)[i];
        std::string v_at = values_at + "[" + std::to_string(i) + "]";
        if (!v.is_string()) {
          fail(v_at, std::string("must be a string, got ") + type_name(v));
          continue;
        }
        const auto& s = v.get_ref<const std::string&>();
        if (auto why = validate::label_value(s); !why.empty()) {
          fail(v_at, "invalid value " + quote(s) + ": " + std::string(why));
          continue;
        }
        r.values.push_back(s);
      }
    }
    if (known_op) {
      bool set_op = r.op == Requirement::Op::In || r.op == Requirement::Op::NotIn;
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

  // An enum string field.
  template <typename E, size_t N>
  std::optional<E> enumerated(const json& parent, std::string_view key, const std::string& at,
                              const std::pair<const char*, E> (&values)[N]) {
    if (!member(parent, key)) {
      fail(at, "required value");
      return std::nullopt;
    }
    auto s = string(parent, key, at);
    if (!s) return std::nullopt;
    std::string supported;
    for (const auto& [name, value] : values) {
      if (*s == name) return value;
      supported += std::string(supported.empty() ? "" : ", ") + "\"" + name + "\"";
    }
    fail(at, "unsupported value " + quote(*s) + ": supported values: " + supported);
    return std::nullopt;
  }

  struct Meta {
    std::string name, uid, resource_version;
    Labels labels;
  };
  Meta metadata(const json& obj) {
    Meta m;
    const json* meta = object(obj, "metadata", "metadata");
    const json& mj = meta ? *meta : empty_object();
    auto name = string(mj, "name", "metadata.name");
    if (name ? name->empty() : !member(mj, "name")) {
      fail("metadata.name", "required value");
    } else if (name) {
      if (auto why = validate::dns1123_subdomain(*name); !why.empty()) {
        fail("metadata.name", "invalid value " + quote(*name) + ": " + std::string(why));
      }
      m.name = *name;
    }
    m.uid = string(mj, "uid", "metadata.uid").value_or("");
    m.resource_version = string(mj, "resourceVersion", "metadata.resourceVersion").value_or("");
    m.labels = string_map(member(mj, "labels"), "metadata.labels");
    return m;
  }

  // ---------------------------------------------------------- CNP

  // NamespacedPod: podSelector required, namespaceSelector optional (empty: all).
  void namespaced_pod(const json& v, const std::string& at, LabelSelector& namespaces,
                      LabelSelector& pods) {
    if (const json* ns = object(v, "namespaceSelector", at + ".namespaceSelector")) {
      namespaces = selector(*ns, at + ".namespaceSelector");
    }
    if (const json* p = required_object(v, "podSelector", at + ".podSelector")) {
      pods = selector(*p, at + ".podSelector");
    }
  }

  void subject(const json& spec, const std::string& at, CnpSubject& out) {
    const json* s = required_object(spec, "subject", at);
    if (!s) return;
    size_t before = errors_.size();
    const json* ns = object(*s, "namespaces", at + ".namespaces");
    const json* pods = object(*s, "pods", at + ".pods");
    if (bool(ns) == bool(pods)) {
      if (errors_.size() == before) {
        fail(at, "must specify exactly one of " + one_of({"namespaces", "pods"}));
      }
      return;
    }
    if (ns) {
      out.kind = CnpSubject::Kind::Namespaces;
      out.namespaces = selector(*ns, at + ".namespaces");
    } else {
      out.kind = CnpSubject::Kind::Pods;
      namespaced_pod(*pods, at + ".pods", out.namespaces, out.pods);
    }
  }

  std::vector<Cidr> networks(const json& v, const std::string& at) {
    std::vector<Cidr> out;
    const json* list_v = list(v, "networks", at, 1, kCnpMaxNetworks);
    if (!list_v) return out;
    std::vector<std::string> seen;
    for (size_t i = 0; i < list_v->size(); ++i) {
      const json& e = (*list_v)[i];
      std::string e_at = at + "[" + std::to_string(i) + "]";
      if (!e.is_string()) {
        fail(e_at, std::string("must be a string, got ") + type_name(e));
        continue;
      }
      const auto& s = e.get_ref<const std::string&>();
      if (s.size() > 43) {
        fail(e_at, "invalid value " + quote(s) + ": may not be longer than 43 characters");
        continue;
      }
      auto c = Cidr::parse(s);
      if (!c) {
        fail(e_at, "invalid value " + quote(s) + ": must be a CIDR such as 10.0.0.0/8 or fd00::/8");
        continue;
      }
      if (std::find(seen.begin(), seen.end(), s) != seen.end()) {
        fail(e_at, "duplicate value " + quote(s));  // listType=set
        continue;
      }
      seen.push_back(s);
      out.push_back(*c);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::optional<CnpPeer> peer(const json& item, const std::string& at, bool egress) {
    const json* v = element(item, at);
    if (!v) return std::nullopt;
    size_t before = errors_.size();
    if (member(*v, "domainNames")) {
      fail(at + ".domainNames",
           "domainNames peers are not supported: netpol does not implement this experimental "
           "field (use networks with the addresses instead)");
      return std::nullopt;
    }
    if (!egress) {
      for (const char* k : {"nodes", "networks"}) {
        if (member(*v, k)) {
          fail(at + "." + k, std::string(k) + " peers are only allowed in egress rules");
        }
      }
      if (errors_.size() != before) return std::nullopt;
    }
    std::vector<std::string> known, unknown;
    for (const auto& [k, val] : v->items()) {
      if (val.is_null()) continue;
      bool is_known =
          k == "namespaces" || k == "pods" || (egress && (k == "nodes" || k == "networks"));
      (is_known ? known : unknown).push_back(k);
    }
    std::string fields = egress ? one_of({"namespaces", "pods", "nodes", "networks"})
                                : one_of({"namespaces", "pods"});
    CnpPeer p;
    if (known.empty() && !unknown.empty()) {
      // A field of a newer CRD: kept for the compiler's fail-closed rule.
      p.kind = CnpPeer::Kind::Unknown;
      p.unknown_field = cut(unknown.front());
      return p;
    }
    if (known.size() + unknown.size() != 1) {
      std::string got;
      for (const auto& k : known) got += (got.empty() ? "" : ", ") + k;
      for (const auto& k : unknown) got += (got.empty() ? "" : ", ") + quote(k);
      fail(at, "must specify exactly one of " + fields + (got.empty() ? "" : "; got " + got));
      return std::nullopt;
    }
    const std::string& k = known.front();
    std::string k_at = at + "." + k;
    if (k == "networks") {
      p.kind = CnpPeer::Kind::Networks;
      p.networks = networks(*v, k_at);
    } else if (const json* sel = object(*v, k, k_at)) {
      if (k == "namespaces") {
        p.kind = CnpPeer::Kind::Namespaces;
        p.namespaces = selector(*sel, k_at);
      } else if (k == "pods") {
        p.kind = CnpPeer::Kind::Pods;
        namespaced_pod(*sel, k_at, p.namespaces, p.pods);
      } else {
        p.kind = CnpPeer::Kind::Nodes;
        p.nodes = selector(*sel, k_at);
      }
    }
    if (errors_.size() != before) return std::nullopt;
    return p;
  }

  std::optional<uint16_t> port_number(const json& v, std::string_view key, const std::string& at) {
    const json* n = member(v, key);
    if (!n) {
      fail(at, "required value");
      return std::nullopt;
    }
    auto i = integer(*n, at, 1, 65535);
    if (!i) return std::nullopt;
    return uint16_t(*i);
  }

  std::optional<CnpPort> protocol(const json& item, const std::string& at) {
    const json* v = element(item, at);
    if (!v) return std::nullopt;
    size_t before = errors_.size();
    static const std::pair<const char*, Protocol> protos[] = {
        {"tcp", Protocol::TCP}, {"udp", Protocol::UDP}, {"sctp", Protocol::SCTP}};
    std::vector<std::string> set;
    for (const auto& [k, val] : v->items()) {
      if (!val.is_null()) set.push_back(k);
    }
    if (set.size() != 1) {
      std::string got;
      for (const auto& k : set) got += (got.empty() ? "" : ", ") + quote(k);
      fail(at, "must specify exactly one of " +
                   one_of({"tcp", "udp", "sctp", "destinationNamedPort"}) +
                   (got.empty() ? "" : "; got " + got));
      return std::nullopt;
    }
    CnpPort out;
    const std::string& k = set.front();
    std::string k_at = at + "." + k;
    if (k == "destinationNamedPort") {
      auto name = string(*v, k, k_at);
      if (!name) return std::nullopt;
      if (auto why = validate::iana_svc_name(*name); !why.empty()) {
        fail(k_at, "invalid value " + quote(*name) + ": " + std::string(why));
        return std::nullopt;
      }
      out.named_port = *name;
      return out;
    }
    for (const auto& [name, value] : protos) {
      if (k == name) out.protocol = value;
    }
    if (!out.protocol) {
      fail(at, "unsupported field " + quote(k) + ": must specify exactly one of " +
                   one_of({"tcp", "udp", "sctp", "destinationNamedPort"}));
      return std::nullopt;
    }
    const json* proto = object(*v, k, k_at);
    if (!proto) return std::nullopt;
    std::string port_at = k_at + ".destinationPort";
    const json* port = required_object(*proto, "destinationPort", port_at);
    if (!port) return std::nullopt;
    const json* number = member(*port, "number");
    const json* range = member(*port, "range");
    if (bool(number) == bool(range)) {
      fail(port_at, "must specify exactly one of " + one_of({"number", "range"}));
      return std::nullopt;
    }
    if (number) {
      auto n = port_number(*port, "number", port_at + ".number");
      if (n) out.port = out.end_port = *n;
    } else if (const json* r = object(*port, "range", port_at + ".range")) {
      std::string r_at = port_at + ".range";
      auto start = port_number(*r, "start", r_at + ".start");
      auto end = port_number(*r, "end", r_at + ".end");
      if (start && end && *start >= *end) {
        fail(r_at, "invalid range " + std::to_string(*start) + "-" + std::to_string(*end) +
                       ": start must be less than end");
      } else if (start && end) {
        out.port = *start;
        out.end_port = *end;
      }
    }
    if (errors_.size() != before) return std::nullopt;
    return out;
  }

  std::vector<CnpRule> rules(const json& spec, bool egress, const std::string& at) {
    std::vector<CnpRule> out;
    const json* list_v = list(spec, egress ? "egress" : "ingress", at, 0, kCnpMaxRules);
    if (!list_v) return out;
    const char* peers_key = egress ? "to" : "from";
    static const std::pair<const char*, CnpAction> actions[] = {
        {"Accept", CnpAction::Accept}, {"Deny", CnpAction::Deny}, {"Pass", CnpAction::Pass}};
    for (size_t i = 0; i < list_v->size(); ++i) {
      std::string r_at = at + "[" + std::to_string(i) + "]";
      const json* r = element((*list_v)[i], r_at);
      if (!r) continue;
      CnpRule rule;
      if (auto name = string(*r, "name", r_at + ".name")) {
        if (name->size() > kCnpMaxRuleName) {
          fail(r_at + ".name", "invalid value " + quote(*name) + ": may not be longer than " +
                                   std::to_string(kCnpMaxRuleName) + " characters");
        }
        rule.name = *name;
      }
      if (auto a = enumerated(*r, "action", r_at + ".action", actions)) rule.action = *a;
      std::string peers_at = r_at + "." + peers_key;
      if (!member(*r, peers_key)) fail(peers_at, "required value");
      if (const json* peers = list(*r, peers_key, peers_at, 1, kCnpMaxPeers)) {
        for (size_t j = 0; j < peers->size(); ++j) {
          std::string p_at = peers_at + "[" + std::to_string(j) + "]";
          if (auto p = peer((*peers)[j], p_at, egress)) rule.peers.push_back(std::move(*p));
        }
      }
      std::string protos_at = r_at + ".protocols";
      if (const json* protos = list(*r, "protocols", protos_at, 1, kCnpMaxProtocols)) {
        for (size_t j = 0; j < protos->size(); ++j) {
          std::string p_at = protos_at + "[" + std::to_string(j) + "]";
          if (auto p = protocol((*protos)[j], p_at)) rule.ports.push_back(std::move(*p));
        }
      }
      // The CRD's CEL rule: node and network peers have no named ports.
      bool ip_peer = std::any_of(rule.peers.begin(), rule.peers.end(), [](const CnpPeer& p) {
        return p.kind == CnpPeer::Kind::Nodes || p.kind == CnpPeer::Kind::Networks;
      });
      bool named = std::any_of(rule.ports.begin(), rule.ports.end(),
                               [](const CnpPort& p) { return p.named(); });
      if (ip_peer && named) {
        fail(r_at,
             "networks and nodes peers cannot be combined with destinationNamedPort: "
             "they have no named ports");
      }
      out.push_back(std::move(rule));
    }
    return out;
  }

  std::optional<ClusterNetworkPolicy> decode_cnp(const json& obj) {
    ClusterNetworkPolicy cnp;
    Meta m = metadata(obj);
    cnp.name = std::move(m.name);
    cnp.uid = std::move(m.uid);
    cnp.resource_version = std::move(m.resource_version);
    cnp.labels = std::move(m.labels);
    const json* spec = required_object(obj, "spec", "spec");
    if (!spec) return std::nullopt;
    static const std::pair<const char*, CnpTier> tiers[] = {{"Admin", CnpTier::Admin},
                                                            {"Baseline", CnpTier::Baseline}};
    if (auto t = enumerated(*spec, "tier", "spec.tier", tiers)) cnp.tier = *t;
    if (const json* p = member(*spec, "priority")) {
      if (auto n = integer(*p, "spec.priority", 0, kCnpMaxPriority)) cnp.priority = int32_t(*n);
    } else {
      fail("spec.priority", "required value");
    }
    subject(*spec, "spec.subject", cnp.subject);
    cnp.ingress = rules(*spec, false, "spec.ingress");
    cnp.egress = rules(*spec, true, "spec.egress");
    if (failed()) return std::nullopt;
    return cnp;
  }

  // ---------------------------------------------------------- Node

  std::optional<Node> decode_node(const json& obj) {
    Node node;
    Meta m = metadata(obj);
    node.name = std::move(m.name);
    node.uid = std::move(m.uid);
    node.resource_version = std::move(m.resource_version);
    node.labels = std::move(m.labels);
    const json* status = object(obj, "status", "status");
    const json* addrs = status ? member(*status, "addresses") : nullptr;
    if (addrs && !addrs->is_array()) {
      fail("status.addresses", std::string("must be a list, got ") + type_name(*addrs));
    } else if (addrs) {
      for (size_t i = 0; i < addrs->size(); ++i) {
        std::string a_at = "status.addresses[" + std::to_string(i) + "]";
        const json* a = element((*addrs)[i], a_at);
        if (!a) continue;
        auto type = string(*a, "type", a_at + ".type");
        auto address = string(*a, "address", a_at + ".address");
        if (!type || (*type != "InternalIP" && *type != "ExternalIP") || !address) continue;
        auto ip = IpAddr::parse(*address);
        if (!ip) {
          fail(a_at + ".address", "invalid value " + quote(*address) + ": must be an IP address");
          continue;
        }
        if (std::find(node.addresses.begin(), node.addresses.end(), *ip) == node.addresses.end()) {
          node.addresses.push_back(*ip);
        }
      }
    }
    if (failed()) return std::nullopt;
    return node;
  }

 private:
  std::string_view file_;
  std::string kind_;
  std::vector<Error>& errors_;
  size_t start_;
  std::string object_;
  std::string prefix_;
};

}  // namespace

const char* to_string(CnpTier t) {
  return t == CnpTier::Admin ? "Admin" : "Baseline";
}

const char* to_string(CnpAction a) {
  switch (a) {
    case CnpAction::Accept:
      return "Accept";
    case CnpAction::Deny:
      return "Deny";
    case CnpAction::Pass:
      return "Pass";
  }
  return "?";
}

bool decode_cluster_kind(const json& obj, const std::string& kind, const std::string& prefix,
                         std::string_view file, DecodeResult& out) {
  bool cnp = kind == "ClusterNetworkPolicy";
  if (!cnp && kind != "Node") return false;
  const char* want_api = cnp ? kCnpApiVersion : "v1";
  Decoder d(file, kind, out.errors);
  d.identify(obj, prefix);
  // apiVersion may be left out (list items from the API server carry none).
  if (const json* api = member(obj, "apiVersion")) {
    if (!api->is_string()) {
      d.fail("apiVersion", std::string("must be a string, got ") + type_name(*api));
      return true;
    }
    if (api->get_ref<const std::string&>() != want_api) {
      d.fail("apiVersion", "unsupported apiVersion " + quote(api->get<std::string>()) +
                               " for kind " + kind + ": want \"" + want_api + "\"");
      return true;
    }
  }
  if (cnp) {
    if (auto p = d.decode_cnp(obj)) {
      out.objects.cluster_policies.push_back(std::move(*p));
      out.origins.cluster_policies.emplace_back(file);
    }
  } else if (auto n = d.decode_node(obj)) {
    out.objects.nodes.push_back(std::move(*n));
    out.origins.nodes.emplace_back(file);
  }
  return true;
}

}  // namespace netpol::k8s
