// The protobuf front end of the decoder: an object's own protobuf message
// (Pod, Namespace or NetworkPolicy, the `raw` of a runtime.Unknown) into the
// same filtered tree the JSON front end builds, then through decode_guarded(),
// so validation, defaults and error messages are the JSON path's own.
//
// Only the fields the model reads are converted; every other field is skipped
// by the wire reader without a copy. Zero values of non-pointer fields are
// left out, as Go's omitempty does in JSON; pointer fields (NetworkPolicyPort
// protocol/port/endPort, Container restartPolicy) are kept whenever present.
// Field numbers: k8s.io/api core/v1 and networking/v1 generated.proto,
// k8s.io/apimachinery meta/v1 generated.proto.
#include <ctime>

#include "k8s/decode.h"
#include "k8s/decode_internal.h"
#include "k8s/protowire.h"

namespace netpol::k8s {

namespace {

using decoding::json;
using protowire::WireReader;

// The sub-message decoders: each reads one message into `out`, false on a
// wire error (the reader holds it).
using Decode = bool (*)(WireReader&, json&);

template <typename On>
bool each_field(WireReader& r, On on) {
  while (r.next()) {
    // on(): 1 handled, 0 failed, -1 not ours (skipped).
    const int got = on(r.field());
    if (got == 0 || (got < 0 && !r.skip())) return false;
  }
  return r.ok();
}

int sub(WireReader& r, const char* name, json& parent, Decode decode) {
  WireReader m;
  if (!r.message(name, &m)) return 0;
  json& out = parent[name];
  if (!out.is_object()) out = json::object();
  return decode(m, out) ? 1 : (r.fail(m.error()), 0);
}

int append(WireReader& r, const char* name, json& parent, Decode decode) {
  WireReader m;
  if (!r.message(name, &m)) return 0;
  json& list = parent[name];
  if (!list.is_array()) list = json::array();
  json item = json::object();
  if (!decode(m, item)) return r.fail(m.error()), 0;
  list.push_back(std::move(item));
  return 1;
}

// A string; `keep_empty` for pointer fields (present means set).
int str(WireReader& r, json& obj, const char* key, bool keep_empty = false) {
  std::string s;
  if (!r.string(&s)) return 0;
  if (!s.empty() || keep_empty) obj[key] = std::move(s);
  return 1;
}

int str_append(WireReader& r, json& obj, const char* key) {
  std::string s;
  if (!r.string(&s)) return 0;
  json& list = obj[key];
  if (!list.is_array()) list = json::array();
  list.push_back(std::move(s));
  return 1;
}

// int32 as Go encodes it (negative numbers sign-extended to 10 bytes).
int int32(WireReader& r, json& obj, const char* key, bool keep_zero = false) {
  uint64_t v;
  if (!r.varint(&v)) return 0;
  const auto s = static_cast<int64_t>(v);
  if (s < INT32_MIN || s > INT32_MAX)
    return r.fail("value " + std::to_string(s) + " is not an int32"), 0;
  if (s != 0 || keep_zero) obj[key] = s;
  return 1;
}

int boolean(WireReader& r, json& obj, const char* key) {
  uint64_t v;
  if (!r.varint(&v)) return 0;
  if (v > 1) return r.fail("boolean value " + std::to_string(v)), 0;
  if (v) obj[key] = true;
  return 1;
}

// A map<string,string> entry {key 1, value 2}; `prefix` keeps only keys starting with it.
int map_entry(WireReader& r, json& obj, const char* key, std::string_view prefix = {}) {
  WireReader e;
  if (!r.message(key, &e)) return 0;
  std::string k, v;
  if (!each_field(e, [&](uint32_t f) {
        if (f == 1) return e.string(&k) ? 1 : 0;
        if (f == 2) return e.string(&v) ? 1 : 0;
        return -1;
      }))
    return r.fail(e.error()), 0;
  if (!prefix.empty() && k.compare(0, prefix.size(), prefix) != 0) return 1;
  json& map = obj[key];
  if (!map.is_object()) map = json::object();
  map[k] = std::move(v);
  return 1;
}

// metav1.Time {seconds 1, nanos 2} as RFC 3339 (the decoder only tests presence).
int time_field(WireReader& r, json& obj, const char* key) {
  WireReader t;
  if (!r.message(key, &t)) return 0;
  uint64_t secs = 0, ignored;
  if (!each_field(t, [&](uint32_t f) {
        if (f == 1) return t.varint(&secs) ? 1 : 0;
        if (f == 2) return t.varint(&ignored) ? 1 : 0;
        return -1;
      }))
    return r.fail(t.error()), 0;
  std::time_t tt = static_cast<std::time_t>(static_cast<int64_t>(secs));
  std::tm tm{};
  char buf[32] = "1970-01-01T00:00:00Z";
  if (gmtime_r(&tt, &tm)) std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  obj[key] = buf;
  return 1;
}

// ObjectMeta: name 1, namespace 3, uid 5, resourceVersion 6, deletionTimestamp 9,
// labels 11, annotations 12 (netpol.io/* only: the decoder keeps no other).
bool object_meta(WireReader& r, json& m) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return str(r, m, "name");
      case 3:
        return str(r, m, "namespace");
      case 5:
        return str(r, m, "uid");
      case 6:
        return str(r, m, "resourceVersion");
      case 9:
        return time_field(r, m, "deletionTimestamp");
      case 11:
        return map_entry(r, m, "labels");
      case 12:
        return map_entry(r, m, "annotations", "netpol.io/");
      default:
        return -1;
    }
  });
}

// LabelSelectorRequirement: key 1, operator 2, values 3.
bool requirement(WireReader& r, json& q) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return str(r, q, "key", true);
    if (f == 2) return str(r, q, "operator", true);
    if (f == 3) return str_append(r, q, "values");
    return -1;
  });
}

// LabelSelector: matchLabels 1, matchExpressions 2.
bool selector(WireReader& r, json& s) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return map_entry(r, s, "matchLabels");
    if (f == 2) return append(r, "matchExpressions", s, requirement);
    return -1;
  });
}

// ContainerPort: name 1, containerPort 3, protocol 4.
bool container_port(WireReader& r, json& p) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return str(r, p, "name");
    if (f == 3) return int32(r, p, "containerPort", true);
    if (f == 4) return str(r, p, "protocol");
    return -1;
  });
}

// Container: name 1, ports 6, restartPolicy 24 (a pointer).
bool container(WireReader& r, json& c) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return str(r, c, "name");
    if (f == 6) return append(r, "ports", c, container_port);
    if (f == 24) return str(r, c, "restartPolicy", true);
    return -1;
  });
}

// PodSpec: containers 2, nodeName 10, hostNetwork 11, initContainers 20.
bool pod_spec(WireReader& r, json& s) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 2:
        return append(r, "containers", s, container);
      case 10:
        return str(r, s, "nodeName");
      case 11:
        return boolean(r, s, "hostNetwork");
      case 20:
        return append(r, "initContainers", s, container);
      default:
        return -1;
    }
  });
}

// PodIP: ip 1 (no omitempty in JSON).
bool pod_ip(WireReader& r, json& p) {
  return each_field(r, [&](uint32_t f) { return f == 1 ? str(r, p, "ip", true) : -1; });
}

// PodStatus: phase 1, podIP 6, podIPs 12.
bool pod_status(WireReader& r, json& s) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return str(r, s, "phase");
    if (f == 6) return str(r, s, "podIP");
    if (f == 12) return append(r, "podIPs", s, pod_ip);
    return -1;
  });
}

// IntOrString: type 1 (0 int, 1 string), intVal 2, strVal 3.
int int_or_string(WireReader& r, json& obj, const char* key) {
  WireReader m;
  if (!r.message(key, &m)) return 0;
  uint64_t type = 0, iv = 0;
  std::string sv;
  if (!each_field(m, [&](uint32_t f) {
        if (f == 1) return m.varint(&type) ? 1 : 0;
        if (f == 2) return m.varint(&iv) ? 1 : 0;
        if (f == 3) return m.string(&sv) ? 1 : 0;
        return -1;
      }))
    return r.fail(m.error()), 0;
  if (type == 0) {
    const auto s = static_cast<int64_t>(iv);
    if (s < INT32_MIN || s > INT32_MAX) return r.fail("IntOrString.intVal is not an int32"), 0;
    obj[key] = s;
  } else if (type == 1) {
    obj[key] = std::move(sv);
  } else {
    return r.fail("IntOrString.type " + std::to_string(type)), 0;
  }
  return 1;
}

// NetworkPolicyPort: protocol 1, port 2, endPort 3 (all pointers).
bool policy_port(WireReader& r, json& p) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return str(r, p, "protocol", true);
    if (f == 2) return int_or_string(r, p, "port");
    if (f == 3) return int32(r, p, "endPort", true);
    return -1;
  });
}

// IPBlock: cidr 1, except 2.
bool ip_block(WireReader& r, json& b) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return str(r, b, "cidr", true);
    if (f == 2) return str_append(r, b, "except");
    return -1;
  });
}

// NetworkPolicyPeer: podSelector 1, namespaceSelector 2, ipBlock 3.
bool peer(WireReader& r, json& p) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return sub(r, "podSelector", p, selector);
    if (f == 2) return sub(r, "namespaceSelector", p, selector);
    if (f == 3) return sub(r, "ipBlock", p, ip_block);
    return -1;
  });
}

// NetworkPolicyIngressRule {ports 1, from 2}; EgressRule {ports 1, to 2}.
bool ingress_rule(WireReader& r, json& rule) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return append(r, "ports", rule, policy_port);
    if (f == 2) return append(r, "from", rule, peer);
    return -1;
  });
}
bool egress_rule(WireReader& r, json& rule) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return append(r, "ports", rule, policy_port);
    if (f == 2) return append(r, "to", rule, peer);
    return -1;
  });
}

// NetworkPolicySpec: podSelector 1, ingress 2, egress 3, policyTypes 4.
bool policy_spec(WireReader& r, json& s) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return sub(r, "podSelector", s, selector);
      case 2:
        return append(r, "ingress", s, ingress_rule);
      case 3:
        return append(r, "egress", s, egress_rule);
      case 4:
        return str_append(r, s, "policyTypes");
      default:
        return -1;
    }
  });
}

// Pod, Namespace and NetworkPolicy: metadata 1, spec 2, status 3 (Pod only).
bool object(WireReader& r, json& o, std::string_view kind) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return sub(r, "metadata", o, object_meta);
    if (kind == "Pod" && f == 2) return sub(r, "spec", o, pod_spec);
    if (kind == "Pod" && f == 3) return sub(r, "status", o, pod_status);
    if (kind == "NetworkPolicy" && f == 2) return sub(r, "spec", o, policy_spec);
    return -1;
  });
}

}  // namespace

DecodeResult decode_protobuf_object(std::string_view message, std::string_view kind,
                                    std::string_view api_version, std::string_view source) {
  DecodeResult result;
  decoding::Sink sink{source, result};
  if (kind != "Pod" && kind != "Namespace" && kind != "NetworkPolicy") {
    decoding::syntax_error(sink, "", "protobuf: unsupported kind \"" + std::string(kind) + "\"");
    return result;
  }
  WireReader r(message, std::string(kind));
  json doc = json::object();
  doc["kind"] = std::string(kind);
  if (!api_version.empty()) doc["apiVersion"] = std::string(api_version);
  try {
    if (!object(r, doc, kind)) {
      decoding::syntax_error(sink, "", "protobuf: " + r.error());
      return result;
    }
  } catch (const std::exception& e) {
    decoding::syntax_error(sink, "", std::string("protobuf: ") + e.what());
    return result;
  }
  decoding::decode_guarded(doc, sink);
  return result;
}

ProtobufIds protobuf_object_ids(std::string_view message) {
  ProtobufIds ids;
  WireReader r(message, "object");
  while (r.next()) {
    if (r.field() != 1) {
      if (!r.skip()) break;
      continue;
    }
    WireReader m;
    if (!r.message("metadata", &m)) break;
    while (m.next()) {
      bool ok = true;
      switch (m.field()) {
        case 1:
          ok = m.string(&ids.name);
          break;
        case 3:
          ok = m.string(&ids.ns);
          break;
        case 5:
          ok = m.string(&ids.uid);
          break;
        case 6:
          ok = m.string(&ids.resource_version);
          break;
        case 12: {  // annotations: only the watch-list's end marker is wanted
          constexpr const char* kEnd = "k8s.io/initial-events-end";
          json a;
          ok = map_entry(m, a, "annotations", kEnd) == 1;
          if (ok && a.contains("annotations") && a["annotations"].value(kEnd, "") == "true")
            ids.initial_events_end = true;
          break;
        }
        default:
          ok = m.skip();
      }
      if (!ok) break;
    }
    break;
  }
  return ids;
}

}  // namespace netpol::k8s
