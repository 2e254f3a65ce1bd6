// A strict protobuf wire reader and the decoders of the few Kubernetes
// messages the fake API server accepts as protobuf. Written from the wire
// format and the field numbers of k8s.io/api's generated.proto, each one
// checked against bytes kubectl v1.32 sends (`protoc --decode_raw`).
#include "tests/fakeapi/protobuf.h"

#include <ctime>
#include <limits>

namespace netpol::fakeapi {

namespace {

// What a message decoder did with one field.
enum class Read { Ok, Failed, Unknown };
Read done(bool ok) {
  return ok ? Read::Ok : Read::Failed;
}

// Calls on(field number) for every field of r's message; fields it answers
// Unknown are skipped, whatever their wire type. False on the first error.
template <typename On>
bool each_field(WireReader& r, On on) {
  while (r.next()) {
    const Read got = on(r.field());
    if (got == Read::Failed || (got == Read::Unknown && !r.skip())) return false;
  }
  return r.ok();
}

// Decodes the current field as a message with `decode(sub, json&)`; a
// failure inside is reported by the parent, naming the sub-message.
template <typename Decode>
bool sub_message(WireReader& r, const std::string& name, json& out, Decode decode) {
  WireReader sub;
  if (!r.message(name, &sub)) return false;
  if (!out.is_object()) out = json::object();
  if (decode(sub, out)) return true;
  return r.fail(sub.error());
}

// A repeated message field: decodes one more element onto the array `list`.
template <typename Decode>
bool append_message(WireReader& r, const char* name, json& list, Decode decode) {
  if (!list.is_array()) list = json::array();
  json item = json::object();
  if (!sub_message(r, std::string(name) + "[" + std::to_string(list.size()) + "]", item, decode))
    return false;
  list.push_back(std::move(item));
  return true;
}

// Go leaves empty strings out of JSON (omitempty); so does the decoder.
bool put_string(WireReader& r, json& obj, const char* key) {
  std::string s;
  if (!r.string(&s)) return false;
  if (s.empty()) {
    if (obj.is_object()) obj.erase(key);
  } else {
    obj[key] = std::move(s);
  }
  return true;
}

bool put_int32(WireReader& r, json& obj, const char* key) {
  uint64_t v;
  if (!r.varint(&v)) return false;
  // int32 travels sign-extended to 64 bits.
  const auto s = static_cast<int64_t>(v);
  if (s < std::numeric_limits<int32_t>::min() || s > std::numeric_limits<int32_t>::max())
    return r.fail(std::string(key) + ": " + std::to_string(s) + " is out of int32 range");
  obj[key] = s;
  return true;
}

// A message of string fields only: field number -> JSON key.
struct StringField {
  uint32_t number;
  const char* key;
};
template <size_t N>
bool decode_strings(WireReader& r, json& obj, const StringField (&fields)[N]) {
  return each_field(r, [&](uint32_t f) {
    for (const StringField& s : fields)
      if (s.number == f) return done(put_string(r, obj, s.key));
    return Read::Unknown;
  });
}

// map<string,string>: repeated entries {key = 1, value = 2}; a missing value
// is "", and the last entry of a key wins.
bool put_map_entry(WireReader& r, const char* name, json& map) {
  json entry = json::object();
  if (!sub_message(r, name, entry, [](WireReader& e, json& out) {
        return decode_strings(e, out, {{1, "key"}, {2, "value"}});
      }))
    return false;
  if (!map.is_object()) map = json::object();
  map[entry.value("key", "")] = entry.value("value", "");
  return true;
}

bool decode_object_meta(WireReader& r, json& meta) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return done(put_string(r, meta, "name"));
      case 2:
        return done(put_string(r, meta, "generateName"));
      case 3:
        return done(put_string(r, meta, "namespace"));
      case 6:
        return done(put_string(r, meta, "resourceVersion"));
      case 11:
        return done(put_map_entry(r, "labels", meta["labels"]));
      case 12:
        return done(put_map_entry(r, "annotations", meta["annotations"]));
      default:
        return Read::Unknown;
    }
  });
}

bool decode_container_port(WireReader& r, json& port) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return done(put_string(r, port, "name"));
      case 3:
        return done(put_int32(r, port, "containerPort"));
      case 4:
        return done(put_string(r, port, "protocol"));
      default:
        return Read::Unknown;
    }
  });
}

bool decode_container(WireReader& r, json& c) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return done(put_string(r, c, "name"));
      case 2:
        return done(put_string(r, c, "image"));
      case 6:
        return done(append_message(r, "ports", c["ports"], decode_container_port));
      default:
        return Read::Unknown;
    }
  });
}

bool decode_pod_spec(WireReader& r, json& spec) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 2:
        return done(append_message(r, "containers", spec["containers"], decode_container));
      case 10:
        return done(put_string(r, spec, "nodeName"));
      case 11: {
        uint64_t v;
        if (!r.varint(&v)) return Read::Failed;
        if (v) {
          spec["hostNetwork"] = true;
        } else if (spec.is_object()) {
          spec.erase("hostNetwork");  // false is left out, like an empty string
        }
        return Read::Ok;
      }
      default:
        return Read::Unknown;
    }
  });
}

bool decode_pod_status(WireReader& r, json& status) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return done(put_string(r, status, "phase"));
      case 6:
        return done(put_string(r, status, "podIP"));
      case 12:
        return done(append_message(r, "podIPs", status["podIPs"], [](WireReader& s, json& ip) {
          return decode_strings(s, ip, {{1, "ip"}});
        }));
      default:
        return Read::Unknown;
    }
  });
}

// A top-level object: metadata = 1 for both kinds, spec = 2 and status = 3
// for pods (a namespace's spec and status belong to the server).
bool decode_kind(WireReader& r, bool pod, json& obj) {
  return each_field(r, [&](uint32_t f) {
    if (f == 1) return done(sub_message(r, "metadata", obj["metadata"], decode_object_meta));
    if (pod && f == 2) return done(sub_message(r, "spec", obj["spec"], decode_pod_spec));
    if (pod && f == 3) return done(sub_message(r, "status", obj["status"], decode_pod_status));
    return Read::Unknown;
  });
}

// meta/v1 DeleteOptions: gracePeriodSeconds 1, preconditions 2 {uid 1,
// resourceVersion 2}, propagationPolicy 4. Unlike strings, a zero grace
// period is kept: in Go it is a pointer, and 0 means "now".
bool decode_delete_options(WireReader& r, json& obj) {
  return each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1: {
        uint64_t v;
        if (!r.varint(&v)) return Read::Failed;
        obj["gracePeriodSeconds"] = static_cast<int64_t>(v);
        return Read::Ok;
      }
      case 2:
        return done(
            sub_message(r, "preconditions", obj["preconditions"], [](WireReader& p, json& out) {
              return decode_strings(p, out, {{1, "uid"}, {2, "resourceVersion"}});
            }));
      case 4:
        return done(put_string(r, obj, "propagationPolicy"));
      default:
        return Read::Unknown;
    }
  });
}

ProtobufObject decode(std::string_view body) {
  ProtobufObject out;
  out.code = 400;
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, kMagic.size()) != kMagic) {
    out.error =
        "protobuf body does not start with the magic bytes \"k8s\\x00\" of the Kubernetes "
        "protobuf encoding";
    return out;
  }
  WireReader r(body.substr(kMagic.size()), "runtime.Unknown", kMagic.size());
  json type_meta = json::object(), unknown = json::object();
  std::string_view raw;
  bool have_raw = false;
  const bool read = each_field(r, [&](uint32_t f) {
    switch (f) {
      case 1:
        return done(sub_message(r, "typeMeta", type_meta, [](WireReader& t, json& tm) {
          return decode_strings(t, tm, {{1, "apiVersion"}, {2, "kind"}});
        }));
      case 2:
        have_raw = r.bytes(&raw);
        return done(have_raw);
      case 3:
        return done(put_string(r, unknown, "contentEncoding"));
      case 4:
        return done(put_string(r, unknown, "contentType"));
      default:
        return Read::Unknown;
    }
  });
  if (!read) {
    out.error = "protobuf body: " + r.error();
    return out;
  }
  const std::string encoding = unknown.value("contentEncoding", "");
  const std::string content_type = unknown.value("contentType", "");
  const std::string api_version = type_meta.value("apiVersion", "");
  const std::string kind = type_meta.value("kind", "");
  if (!encoding.empty()) {
    out.error = "protobuf body: contentEncoding \"" + encoding + "\" is not supported";
    return out;
  }
  if (!content_type.empty() && !is_protobuf_media_type(content_type)) {
    out.error = "protobuf body: contentType \"" + content_type + "\" is not supported";
    return out;
  }
  if (!have_raw) {
    out.error = "protobuf body: runtime.Unknown has no raw object (field 2)";
    return out;
  }
  const bool delete_options =
      kind == "DeleteOptions" && (api_version == "v1" || api_version == "meta.k8s.io/v1");
  if (!delete_options && (api_version != "v1" || (kind != "Namespace" && kind != "Pod"))) {
    out.code = 415;
    out.error =
        "fake-apiserver decodes protobuf only for v1 Namespace, v1 Pod and DeleteOptions, not " +
        (kind.empty() ? std::string("an object without a kind") : kind) +
        (api_version.empty() ? "" : " (" + api_version + ")") + "; send it as JSON";
    return out;
  }
  const size_t raw_offset = static_cast<size_t>(raw.data() - body.data());
  WireReader obj_reader(raw, kind, raw_offset);
  json obj = {{"apiVersion", api_version}, {"kind", kind}};
  const bool good = delete_options ? decode_delete_options(obj_reader, obj)
                                   : decode_kind(obj_reader, kind == "Pod", obj);
  if (!good) {
    out.error = "protobuf body: " + obj_reader.error();
    return out;
  }
  out.code = 200;
  out.object = std::move(obj);
  return out;
}

}  // namespace

ProtobufObject decode_protobuf_object(std::string_view body) {
  // The decoders guard every JSON access; this keeps the promise of never
  // throwing should one be missed (or memory run out).
  try {
    return decode(body);
  } catch (const std::exception& e) {
    ProtobufObject out;
    out.code = 400;
    out.error = std::string("protobuf body: cannot be decoded: ") + e.what();
    return out;
  }
}

}  // namespace netpol::fakeapi

// ---- Encoding ----
namespace netpol::fakeapi {

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void put_key(std::string& out, uint32_t field, int wire) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire));
}
void put_bytes(std::string& out, uint32_t field, std::string_view b) {
  put_key(out, field, 2);
  put_varint(out, b.size());
  out.append(b);
}
void put_int(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));  // negative: sign-extended, as Go does
}
const json* get(const json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}
std::string text(const json& o, const char* key) {
  const json* v = get(o, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}
// A non-pointer string: always written, as Go's marshallers do.
void put_str(std::string& out, uint32_t field, const json& o, const char* key) {
  put_bytes(out, field, text(o, key));
}
// A pointer string: only when set.
void put_opt_str(std::string& out, uint32_t field, const json& o, const char* key) {
  if (const json* v = get(o, key); v && v->is_string())
    put_bytes(out, field, v->get<std::string>());
}
void put_strs(std::string& out, uint32_t field, const json& o, const char* key) {
  if (const json* v = get(o, key); v && v->is_array())
    for (const auto& s : *v)
      if (s.is_string()) put_bytes(out, field, s.get<std::string>());
}
void put_map(std::string& out, uint32_t field, const json& o, const char* key) {
  const json* m = get(o, key);
  if (!m || !m->is_object()) return;
  for (const auto& [k, v] : m->items()) {
    std::string e;
    put_bytes(e, 1, k);
    put_bytes(e, 2, v.is_string() ? v.get<std::string>() : std::string());
    put_bytes(out, field, e);
  }
}
template <typename F>
void put_msg(std::string& out, uint32_t field, const json& v, F f) {
  std::string m;
  f(m, v);
  put_bytes(out, field, m);
}
template <typename F>
void put_msgs(std::string& out, uint32_t field, const json& o, const char* key, F f) {
  if (const json* v = get(o, key); v && v->is_array())
    for (const auto& item : *v) put_msg(out, field, item, f);
}
// metav1.Time from RFC 3339 seconds (the fake's timestamps are UTC "...Z").
void put_time(std::string& out, uint32_t field, const json& o, const char* key) {
  const std::string s = text(o, key);
  if (s.empty()) return;
  std::tm tm{};
  int64_t secs = 0;
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) secs = timegm(&tm);
  std::string t;
  put_int(t, 1, secs);
  put_int(t, 2, 0);
  put_bytes(out, field, t);
}

void object_meta(std::string& out, const json& m) {
  put_str(out, 1, m, "name");
  put_str(out, 2, m, "generateName");
  put_str(out, 3, m, "namespace");
  put_str(out, 5, m, "uid");
  put_str(out, 6, m, "resourceVersion");
  if (const json* g = get(m, "generation"); g && g->is_number_integer())
    put_int(out, 7, g->get<int64_t>());
  if (get(m, "creationTimestamp")) put_time(out, 8, m, "creationTimestamp");
  put_time(out, 9, m, "deletionTimestamp");
  put_map(out, 11, m, "labels");
  put_map(out, 12, m, "annotations");
}

void selector(std::string& out, const json& s) {
  put_map(out, 1, s, "matchLabels");
  put_msgs(out, 2, s, "matchExpressions", [](std::string& o, const json& r) {
    put_str(o, 1, r, "key");
    put_str(o, 2, r, "operator");
    put_strs(o, 3, r, "values");
  });
}

void container(std::string& out, const json& c) {
  put_str(out, 1, c, "name");
  put_str(out, 2, c, "image");
  put_msgs(out, 6, c, "ports", [](std::string& o, const json& p) {
    put_str(o, 1, p, "name");
    if (const json* h = get(p, "hostPort"); h && h->is_number_integer())
      put_int(o, 2, h->get<int64_t>());
    const json* cp = get(p, "containerPort");
    put_int(o, 3, cp && cp->is_number_integer() ? cp->get<int64_t>() : 0);
    put_str(o, 4, p, "protocol");
  });
  put_opt_str(out, 24, c, "restartPolicy");
}

void pod(std::string& out, const json& p) {
  if (const json* m = get(p, "metadata")) put_msg(out, 1, *m, object_meta);
  if (const json* s = get(p, "spec"))
    put_msg(out, 2, *s, [](std::string& o, const json& spec) {
      put_msgs(o, 2, spec, "containers", container);
      put_str(o, 3, spec, "restartPolicy");
      put_str(o, 10, spec, "nodeName");
      const json* hn = get(spec, "hostNetwork");
      put_int(o, 11, hn && hn->is_boolean() && hn->get<bool>() ? 1 : 0);
      put_msgs(o, 20, spec, "initContainers", container);
    });
  if (const json* s = get(p, "status"))
    put_msg(out, 3, *s, [](std::string& o, const json& st) {
      put_str(o, 1, st, "phase");
      put_str(o, 5, st, "hostIP");
      put_str(o, 6, st, "podIP");
      put_msgs(o, 12, st, "podIPs",
               [](std::string& x, const json& ip) { put_str(x, 1, ip, "ip"); });
    });
}

void name_space(std::string& out, const json& n) {
  if (const json* m = get(n, "metadata")) put_msg(out, 1, *m, object_meta);
  if (const json* s = get(n, "spec"))
    put_msg(out, 2, *s,
            [](std::string& o, const json& spec) { put_strs(o, 1, spec, "finalizers"); });
  if (const json* s = get(n, "status"))
    put_msg(out, 3, *s, [](std::string& o, const json& st) { put_str(o, 1, st, "phase"); });
}

void policy_port(std::string& out, const json& p) {
  put_opt_str(out, 1, p, "protocol");
  if (const json* port = get(p, "port")) {
    std::string ios;
    if (port->is_string()) {
      put_int(ios, 1, 1);
      put_int(ios, 2, 0);
      put_bytes(ios, 3, port->get<std::string>());
    } else if (port->is_number_integer()) {
      put_int(ios, 1, 0);
      put_int(ios, 2, port->get<int64_t>());
      put_bytes(ios, 3, "");
    }
    put_bytes(out, 2, ios);
  }
  if (const json* e = get(p, "endPort"); e && e->is_number_integer())
    put_int(out, 3, e->get<int64_t>());
}

void peer(std::string& out, const json& p) {
  if (const json* s = get(p, "podSelector")) put_msg(out, 1, *s, selector);
  if (const json* s = get(p, "namespaceSelector")) put_msg(out, 2, *s, selector);
  if (const json* b = get(p, "ipBlock"))
    put_msg(out, 3, *b, [](std::string& o, const json& blk) {
      put_str(o, 1, blk, "cidr");
      put_strs(o, 2, blk, "except");
    });
}

void policy(std::string& out, const json& np) {
  if (const json* m = get(np, "metadata")) put_msg(out, 1, *m, object_meta);
  if (const json* s = get(np, "spec"))
    put_msg(out, 2, *s, [](std::string& o, const json& spec) {
      put_msg(o, 1, get(spec, "podSelector") ? *get(spec, "podSelector") : json::object(),
              selector);
      put_msgs(o, 2, spec, "ingress", [](std::string& r, const json& rule) {
        put_msgs(r, 1, rule, "ports", policy_port);
        put_msgs(r, 2, rule, "from", peer);
      });
      put_msgs(o, 3, spec, "egress", [](std::string& r, const json& rule) {
        put_msgs(r, 1, rule, "ports", policy_port);
        put_msgs(r, 2, rule, "to", peer);
      });
      put_strs(o, 4, spec, "policyTypes");
    });
}

}  // namespace

std::string encode_protobuf_object(const json& obj, std::string_view kind) {
  std::string out;
  if (kind == "Pod") {
    pod(out, obj);
  } else if (kind == "Namespace") {
    name_space(out, obj);
  } else if (kind == "NetworkPolicy") {
    policy(out, obj);
  }
  return out;
}

std::string protobuf_envelope(std::string_view api_version, std::string_view kind,
                              std::string_view raw) {
  std::string tm;
  put_bytes(tm, 1, api_version);
  put_bytes(tm, 2, kind);
  std::string out(k8s::protowire::kMagic);
  put_bytes(out, 1, tm);
  put_bytes(out, 2, raw);
  put_bytes(out, 3, "");
  put_bytes(out, 4, "");
  return out;
}

std::string encode_protobuf_list(std::string_view api_version, std::string_view kind,
                                 const std::vector<std::string>& items,
                                 const std::string& resource_version,
                                 const std::string& continue_token) {
  std::string list, meta;
  put_bytes(meta, 1, "");
  put_bytes(meta, 2, resource_version);
  put_bytes(meta, 3, continue_token);
  put_bytes(list, 1, meta);
  for (const auto& item : items) put_bytes(list, 2, item);
  return protobuf_envelope(api_version, std::string(kind) + "List", list);
}

std::string encode_protobuf_watch_event(std::string_view type, std::string_view api_version,
                                        std::string_view kind, std::string_view raw) {
  std::string ext, ev;
  put_bytes(ext, 1, protobuf_envelope(api_version, kind, raw));
  put_bytes(ev, 1, type);
  put_bytes(ev, 2, ext);
  std::string out(4, '\0');
  const auto n = static_cast<uint32_t>(ev.size());
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + ev;
}

std::string encode_protobuf_status(const json& status) {
  std::string out, meta;
  put_bytes(out, 1, meta);
  put_str(out, 2, status, "status");
  put_str(out, 3, status, "message");
  put_str(out, 4, status, "reason");
  const json* c = get(status, "code");
  put_int(out, 6, c && c->is_number_integer() ? c->get<int64_t>() : 0);
  return out;
}

}  // namespace netpol::fakeapi
