// The protobuf wire reader and Kubernetes' protobuf framing (k8s/protowire.h).
// Written from the wire format and the field numbers of k8s.io/api's and
// k8s.io/apimachinery's generated.proto.
#include "k8s/protowire.h"

#include <cstring>

namespace netpol::k8s::protowire {

namespace {

constexpr uint32_t kMaxFieldNumber = (1u << 29) - 1;
constexpr int kMaxGroupDepth = 32;  // nested unknown groups; real bodies have none

}  // namespace

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;  // the sequence runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

bool is_media_type(std::string_view ct) {
  if (ct.substr(0, kMediaType.size()) != kMediaType) return false;
  const std::string_view rest = ct.substr(kMediaType.size());
  return rest.empty() || rest[0] == ';' || rest[0] == ' ';
}

WireReader::WireReader(std::string_view data, std::string where, size_t offset)
    : data_(data), where_(std::move(where)), offset_(offset) {}

bool WireReader::fail(const std::string& what) {
  if (error_.empty())
    error_ = where_ + ": " + what + " (at byte " + std::to_string(offset_ + pos_) + ")";
  return false;
}

bool WireReader::raw_varint(uint64_t* out) {
  const size_t start = pos_;
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (pos_ >= data_.size()) {
      pos_ = start;
      return fail("truncated varint");
    }
    const auto b = static_cast<uint8_t>(data_[pos_++]);
    if (i == 9 && (b & 0x80)) {
      pos_ = start;
      return fail("varint longer than 10 bytes");
    }
    if (i == 9 && b > 1) {
      pos_ = start;
      return fail("varint does not fit in 64 bits");
    }
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;  // not reached: the tenth byte either ends the varint or fails
}

bool WireReader::next() {
  if (!error_.empty() || pos_ >= data_.size()) return false;
  uint64_t key;
  if (!raw_varint(&key)) return false;
  const uint64_t field = key >> 3;
  wire_ = static_cast<int>(key & 7);
  if (field == 0) return fail("field number 0");
  if (field > kMaxFieldNumber) return fail("field number " + std::to_string(field) + " too large");
  field_ = static_cast<uint32_t>(field);
  if (wire_ == 6 || wire_ == 7)
    return fail("field " + std::to_string(field_) + ": invalid wire type " + std::to_string(wire_));
  if (wire_ == EndGroup)
    return fail("field " + std::to_string(field_) + ": end-group without a start");
  return true;
}

bool WireReader::want(int wire) {
  if (!error_.empty()) return false;
  if (wire_ == wire) return true;
  return fail("field " + std::to_string(field_) + ": wire type " + std::to_string(wire_) +
              ", want " + std::to_string(wire));
}

bool WireReader::varint(uint64_t* out) {
  return want(Varint) && raw_varint(out);
}

bool WireReader::bytes(std::string_view* out) {
  if (!want(Bytes)) return false;
  uint64_t len;
  if (!raw_varint(&len)) return false;
  const size_t left = data_.size() - pos_;
  if (len > left)
    return fail("field " + std::to_string(field_) + ": length " + std::to_string(len) +
                " runs past the end of the message (" + std::to_string(left) + " bytes left)");
  *out = data_.substr(pos_, len);
  pos_ += len;
  return true;
}

bool WireReader::string(std::string* out) {
  std::string_view v;
  const size_t start = pos_;
  if (!bytes(&v)) return false;
  if (!valid_utf8(v)) {
    pos_ = start;
    return fail("field " + std::to_string(field_) + ": string is not valid UTF-8");
  }
  out->assign(v);
  return true;
}

bool WireReader::message(const std::string& name, WireReader* out) {
  std::string_view v;
  if (!bytes(&v)) return false;
  *out = WireReader(v, where_ + "." + name, offset_ + pos_ - v.size());
  return true;
}

bool WireReader::skip() {
  return skip_value(field_, wire_, 0);
}

bool WireReader::skip_value(uint32_t field, int wire, int depth) {
  if (!error_.empty()) return false;
  uint64_t ignored;
  std::string_view ignored_bytes;
  const auto fixed = [&](size_t n) {
    if (data_.size() - pos_ < n)
      return fail("field " + std::to_string(field) + ": truncated " + std::to_string(n * 8) +
                  "-bit value");
    pos_ += n;
    return true;
  };
  switch (wire) {
    case Varint:
      return raw_varint(&ignored);
    case Fixed64:
      return fixed(8);
    case Fixed32:
      return fixed(4);
    case Bytes:
      return bytes(&ignored_bytes);
    case StartGroup:
      if (depth >= kMaxGroupDepth) return fail("groups nested too deep");
      // A group ends with an end-group key of the same field number.
      for (;;) {
        if (pos_ >= data_.size())
          return fail("field " + std::to_string(field) + ": group without an end");
        uint64_t key;
        if (!raw_varint(&key)) return false;
        const uint64_t f = key >> 3;
        const int w = static_cast<int>(key & 7);
        if (f == 0 || f > kMaxFieldNumber || w == 6 || w == 7)
          return fail("field " + std::to_string(field) + ": malformed key inside a group");
        if (w == EndGroup) {
          if (f != field)
            return fail("field " + std::to_string(field) + ": group ended by field " +
                        std::to_string(f));
          return true;
        }
        wire_ = w;  // bytes() checks the current wire type
        field_ = static_cast<uint32_t>(f);
        if (!skip_value(static_cast<uint32_t>(f), w, depth + 1)) return false;
      }
    default:
      return fail("field " + std::to_string(field) + ": invalid wire type " + std::to_string(wire));
  }
}

bool read_envelope(std::string_view body, std::string_view where, Unknown* out,
                   std::string* error) {
  if (body.size() < kMagic.size() || body.substr(0, kMagic.size()) != kMagic) {
    *error = std::string(where) + ": not a Kubernetes protobuf body (no \"k8s\\0\" prefix)";
    return false;
  }
  WireReader r(body.substr(kMagic.size()), std::string(where) + " runtime.Unknown", kMagic.size());
  std::string encoding;
  while (r.next()) {
    if (r.field() == 1) {
      WireReader tm;
      if (!r.message("typeMeta", &tm)) break;
      while (tm.next()) {
        if (tm.field() == 1) {
          if (!tm.string(&out->api_version)) break;
        } else if (tm.field() == 2) {
          if (!tm.string(&out->kind)) break;
        } else if (!tm.skip()) {
          break;
        }
      }
      if (!tm.ok()) {
        *error = tm.error();
        return false;
      }
    } else if (r.field() == 2) {
      if (!r.bytes(&out->raw)) break;
    } else if (r.field() == 3) {
      if (!r.string(&encoding)) break;
    } else if (!r.skip()) {
      break;
    }
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  if (!encoding.empty()) {
    *error =
        std::string(where) + ": runtime.Unknown.contentEncoding " + encoding + " is not supported";
    return false;
  }
  return true;
}

bool read_watch_event(std::string_view event, std::string* type, std::string_view* object,
                      std::string* error) {
  WireReader r(event, "WatchEvent");
  while (r.next()) {
    if (r.field() == 1) {
      if (!r.string(type)) break;
    } else if (r.field() == 2) {
      WireReader raw;
      if (!r.message("object", &raw)) break;
      while (raw.next()) {
        if (raw.field() == 1) {
          if (!raw.bytes(object)) break;
        } else if (!raw.skip()) {
          break;
        }
      }
      if (!raw.ok()) {
        *error = raw.error();
        return false;
      }
    } else if (!r.skip()) {
      break;
    }
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  return true;
}

bool read_status(std::string_view status, StatusObject* out, std::string* error) {
  WireReader r(status, "Status");
  while (r.next()) {
    uint64_t v;
    if (r.field() == 3) {
      if (!r.string(&out->message)) break;
    } else if (r.field() == 4) {
      if (!r.string(&out->reason)) break;
    } else if (r.field() == 6) {
      if (!r.varint(&v)) break;
      out->code = static_cast<int32_t>(static_cast<uint32_t>(v));
    } else if (!r.skip()) {
      break;
    }
  }
  if (!r.ok()) {
    *error = r.error();
    return false;
  }
  return true;
}

Frame next_frame(std::string_view buf, size_t max_frame, std::string_view* frame,
                 size_t* consumed) {
  if (buf.size() < 4) return Frame::Incomplete;
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(buf[i])); };
  const uint32_t len = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
  if (len > max_frame) return Frame::TooLarge;
  if (buf.size() - 4 < len) return Frame::Incomplete;
  *frame = buf.substr(4, len);
  *consumed = 4 + static_cast<size_t>(len);
  return Frame::Complete;
}

}  // namespace netpol::k8s::protowire
