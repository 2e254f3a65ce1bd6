// A strict protobuf wire reader and the decoders of the few Kubernetes
// messages the fake API server accepts as protobuf. Written from the wire
// format and the field numbers of k8s.io/api's generated.proto, each one
// checked against bytes kubectl v1.32 sends (`protoc --decode_raw`).
#include "tests/fakeapi/protobuf.h"

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
