// Decoding and validation of ClusterNetworkPolicy and Node (k8s/cnp.h).
//
// The rules are those of the v0.2.0 CRD's OpenAPI schema and CEL rules
// (required fields, enums, MinItems/MaxItems, MinProperties/MaxProperties = 1
// for the one-of structs, port ranges, CIDRs), applied to the tree the
// front ends in decode.cpp build. Scalars, selectors, string maps and
// metadata go through ObjectDecoder's readers (k8s/decode_fields.cpp), so
// they read and fail exactly as for the other kinds. As for the other kinds,
// an object with any error never reaches the result, and nothing here
// throws on bad input.
#include "k8s/decode_cnp.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "k8s/cnp.h"
#include "k8s/decode_internal.h"
#include "k8s/validate.h"

namespace netpol::k8s {
namespace {

using decoding::json;
using decoding::Path;
using validate::quote;

constexpr const char* kCnpApiVersion = "policy.networking.k8s.io/v1alpha2";

// The object's own path: fields below it are "spec.tier", "status.addresses"...
const Path kRoot;

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

// The cluster-scoped kinds: ObjectDecoder's readers plus the CRD's own rules
// (bounded lists, enums, one-of structs).
class Decoder : public decoding::ObjectDecoder {
 public:
  Decoder(std::string_view file, const std::string& kind, std::vector<Error>& errors)
      : ObjectDecoder(file, errors) {
    set_kind(kind);
  }

  const json* required_object(const json& parent, std::string_view key, const Path& at) {
    if (!member(parent, key)) {
      fail(at, "required value");
      return nullptr;
    }
    return object(parent, key, at);
  }

  // A list with the CRD's MinItems/MaxItems.
  const json* bounded_list(const json& parent, std::string_view key, const Path& at,
                           size_t min_items, size_t max_items) {
    const json* v = list(parent, key, at);
    if (!v) return nullptr;
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

  // An enum string field.
  template <typename E, size_t N>
  std::optional<E> enumerated(const json& parent, std::string_view key, const Path& at,
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

  // metadata of a cluster-scoped object: name, uid, resourceVersion, labels.
  template <typename T>
  void cluster_metadata(T& o, const json& obj, const std::string& prefix) {
    assign(o, metadata(obj, Scope::Cluster, prefix));
    o.labels = labels(obj);
  }

  // ---------------------------------------------------------- CNP

  // NamespacedPod: podSelector required, namespaceSelector optional (empty: all).
  void namespaced_pod(const json& v, const Path& at, LabelSelector& namespaces,
                      LabelSelector& pods) {
    if (auto ns = selector(v, "namespaceSelector", at / "namespaceSelector")) {
      namespaces = std::move(*ns);
    }
    Path pods_at = at / "podSelector";
    if (!member(v, "podSelector")) {
      fail(pods_at, "required value");
    } else if (auto p = selector(v, "podSelector", pods_at)) {
      pods = std::move(*p);
    }
  }

  void subject(const json& spec, const Path& at, CnpSubject& out) {
    const json* s = required_object(spec, "subject", at);
    if (!s) return;
    size_t before = error_count();
    const json* ns = object(*s, "namespaces", at / "namespaces");
    const json* pods = object(*s, "pods", at / "pods");
    if (bool(ns) == bool(pods)) {
      if (error_count() == before) {
        fail(at, "must specify exactly one of " + one_of({"namespaces", "pods"}));
      }
      return;
    }
    if (ns) {
      out.kind = CnpSubject::Kind::Namespaces;
      out.namespaces = label_selector(*ns, at / "namespaces");
    } else {
      out.kind = CnpSubject::Kind::Pods;
      namespaced_pod(*pods, at / "pods", out.namespaces, out.pods);
    }
  }

  std::vector<Cidr> networks(const json& v, const Path& at) {
    std::vector<Cidr> out;
    const json* list_v = bounded_list(v, "networks", at, 1, kCnpMaxNetworks);
    if (!list_v) return out;
    std::vector<std::string> seen;
    each_string(*list_v, at, [&](const std::string& s, const Path& e_at) {
      if (s.size() > 43) {
        fail(e_at, "invalid value " + quote(s) + ": may not be longer than 43 characters");
        return;
      }
      auto c = Cidr::parse(s);
      if (!c) {
        fail(e_at, "invalid value " + quote(s) + ": must be a CIDR such as 10.0.0.0/8 or fd00::/8");
        return;
      }
      if (std::find(seen.begin(), seen.end(), s) != seen.end()) {
        fail(e_at, "duplicate value " + quote(s));  // listType=set
        return;
      }
      seen.push_back(s);
      out.push_back(*c);
    });
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::optional<CnpPeer> peer(const json& item, const Path& at, bool egress) {
    const json* v = element(item, at);
    if (!v) return std::nullopt;
    size_t before = error_count();
    if (member(*v, "domainNames")) {
      fail(at / "domainNames",
           "domainNames peers are not supported: netpol does not implement this experimental "
           "field (use networks with the addresses instead)");
      return std::nullopt;
    }
    if (!egress) {
      for (const char* k : {"nodes", "networks"}) {
        if (member(*v, k)) {
          fail(at / k, std::string(k) + " peers are only allowed in egress rules");
        }
      }
      if (error_count() != before) return std::nullopt;
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
    Path k_at = at / k;
    if (k == "networks") {
      p.kind = CnpPeer::Kind::Networks;
      p.networks = networks(*v, k_at);
    } else if (const json* sel = object(*v, k, k_at)) {
      if (k == "namespaces") {
        p.kind = CnpPeer::Kind::Namespaces;
        p.namespaces = label_selector(*sel, k_at);
      } else if (k == "pods") {
        p.kind = CnpPeer::Kind::Pods;
        namespaced_pod(*sel, k_at, p.namespaces, p.pods);
      } else {
        p.kind = CnpPeer::Kind::Nodes;
        p.nodes = label_selector(*sel, k_at);
      }
    }
    if (error_count() != before) return std::nullopt;
    return p;
  }

  // A required port number field `key` of `v`.
  std::optional<uint16_t> required_port(const json& v, std::string_view key, const Path& at) {
    const json* n = member(v, key);
    if (!n) {
      fail(at, "required value");
      return std::nullopt;
    }
    return port_number(*n, at);
  }

  std::optional<CnpPort> protocol(const json& item, const Path& at) {
    const json* v = element(item, at);
    if (!v) return std::nullopt;
    size_t before = error_count();
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
    Path k_at = at / k;
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
    Path port_at = k_at / "destinationPort";
    const json* port = required_object(*proto, "destinationPort", port_at);
    if (!port) return std::nullopt;
    const json* number = member(*port, "number");
    const json* range = member(*port, "range");
    if (bool(number) == bool(range)) {
      fail(port_at, "must specify exactly one of " + one_of({"number", "range"}));
      return std::nullopt;
    }
    Path r_at = port_at / "range";
    if (number) {
      auto n = required_port(*port, "number", port_at / "number");
      if (n) out.port = out.end_port = *n;
    } else if (const json* r = object(*port, "range", r_at)) {
      auto start = required_port(*r, "start", r_at / "start");
      auto end = required_port(*r, "end", r_at / "end");
      if (start && end && *start >= *end) {
        fail(r_at, "invalid range " + std::to_string(*start) + "-" + std::to_string(*end) +
                       ": start must be less than end");
      } else if (start && end) {
        out.port = *start;
        out.end_port = *end;
      }
    }
    if (error_count() != before) return std::nullopt;
    return out;
  }

  std::vector<CnpRule> rules(const json& spec, bool egress, const Path& at) {
    std::vector<CnpRule> out;
    const json* list_v = bounded_list(spec, egress ? "egress" : "ingress", at, 0, kCnpMaxRules);
    if (!list_v) return out;
    const char* peers_key = egress ? "to" : "from";
    static const std::pair<const char*, CnpAction> actions[] = {
        {"Accept", CnpAction::Accept}, {"Deny", CnpAction::Deny}, {"Pass", CnpAction::Pass}};
    each_object(*list_v, at, [&](const json& r, const Path& r_at) {
      CnpRule rule;
      if (auto name = string(r, "name", r_at / "name")) {
        if (name->size() > kCnpMaxRuleName) {
          fail(r_at / "name", "invalid value " + quote(*name) + ": may not be longer than " +
                                  std::to_string(kCnpMaxRuleName) + " characters");
        }
        rule.name = *name;
      }
      if (auto a = enumerated(r, "action", r_at / "action", actions)) rule.action = *a;
      Path peers_at = r_at / peers_key;
      if (!member(r, peers_key)) fail(peers_at, "required value");
      if (const json* peers = bounded_list(r, peers_key, peers_at, 1, kCnpMaxPeers)) {
        for (size_t j = 0; j < peers->size(); ++j) {
          if (auto p = peer((*peers)[j], peers_at[j], egress)) rule.peers.push_back(std::move(*p));
        }
      }
      Path protos_at = r_at / "protocols";
      if (const json* protos = bounded_list(r, "protocols", protos_at, 1, kCnpMaxProtocols)) {
        for (size_t j = 0; j < protos->size(); ++j) {
          if (auto p = protocol((*protos)[j], protos_at[j])) rule.ports.push_back(std::move(*p));
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
    });
    return out;
  }

  std::optional<ClusterNetworkPolicy> decode_cnp(const json& obj, const std::string& prefix) {
    ClusterNetworkPolicy cnp;
    cluster_metadata(cnp, obj, prefix);
    Path spec_at = kRoot / "spec";
    const json* spec = required_object(obj, "spec", spec_at);
    if (!spec) return std::nullopt;
    static const std::pair<const char*, CnpTier> tiers[] = {{"Admin", CnpTier::Admin},
                                                            {"Baseline", CnpTier::Baseline}};
    if (auto t = enumerated(*spec, "tier", spec_at / "tier", tiers)) cnp.tier = *t;
    if (const json* p = member(*spec, "priority")) {
      if (auto n = integer(*p, spec_at / "priority", 0, kCnpMaxPriority))
        cnp.priority = int32_t(*n);
    } else {
      fail(spec_at / "priority", "required value");
    }
    subject(*spec, spec_at / "subject", cnp.subject);
    cnp.ingress = rules(*spec, false, spec_at / "ingress");
    cnp.egress = rules(*spec, true, spec_at / "egress");
    if (failed()) return std::nullopt;
    return cnp;
  }

  // ---------------------------------------------------------- Node

  std::optional<Node> decode_node(const json& obj, const std::string& prefix) {
    Node node;
    cluster_metadata(node, obj, prefix);
    Path status_at = kRoot / "status";
    Path addrs_at = status_at / "addresses";
    const json* status = object(obj, "status", status_at);
    if (const json* addrs = status ? list(*status, "addresses", addrs_at) : nullptr) {
      each_object(*addrs, addrs_at, [&](const json& a, const Path& a_at) {
        auto type = string(a, "type", a_at / "type");
        auto address = string(a, "address", a_at / "address");
        if (!type || (*type != "InternalIP" && *type != "ExternalIP") || !address) return;
        auto ip = IpAddr::parse(*address);
        if (!ip) {
          fail(a_at / "address", "invalid value " + quote(*address) + ": must be an IP address");
          return;
        }
        if (std::find(node.addresses.begin(), node.addresses.end(), *ip) == node.addresses.end()) {
          node.addresses.push_back(*ip);
        }
      });
    }
    if (failed()) return std::nullopt;
    return node;
  }
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
  d.identify(obj, false, prefix);
  if (!d.api_version(obj, kind, want_api)) return true;
  if (cnp) {
    if (auto p = d.decode_cnp(obj, prefix)) {
      out.objects.cluster_policies.push_back(std::move(*p));
      out.origins.cluster_policies.emplace_back(file);
    }
  } else if (auto n = d.decode_node(obj, prefix)) {
    out.objects.nodes.push_back(std::move(*n));
    out.origins.nodes.emplace_back(file);
  }
  return true;
}

}  // namespace netpol::k8s
