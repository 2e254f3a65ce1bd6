// The protobuf wire format, as far as Kubernetes' encoding needs it: a strict
// reader of one message's fields, and the framing of
// application/vnd.kubernetes.protobuf bodies ("k8s\0" + runtime.Unknown) and
// watch streams (4-byte big-endian length + metav1.WatchEvent).
//
// Strict: truncated input, a length past the end of its message, a varint
// longer than 10 bytes, field number 0, wire types 6 and 7, a known field
// with the wrong wire type and strings that are not UTF-8 are errors that
// name the problem, where (e.g. "Pod.spec") and the byte offset. Never
// throws and never reads outside the given bytes. No protobuf library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace netpol::k8s::protowire {

// What the API server sends and accepts besides JSON.
inline constexpr std::string_view kMediaType = "application/vnd.kubernetes.protobuf";
// The 4 bytes every protobuf body (and every embedded object) starts with.
inline constexpr std::string_view kMagic{"k8s\0", 4};

// True for "application/vnd.kubernetes.protobuf", with or without parameters
// (not for ";stream=watch" variants' JSON cousins).
bool is_media_type(std::string_view content_type);

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s);

// A cursor over one protobuf message: field keys, then their values.
// Errors are sticky: after the first, every call returns false and error()
// says what went wrong, where (`where`) and at which byte of the whole body.
class WireReader {
 public:
  enum WireType { Varint = 0, Fixed64 = 1, Bytes = 2, StartGroup = 3, EndGroup = 4, Fixed32 = 5 };

  WireReader() = default;
  // `offset`: where `data` starts in the whole body, for error messages.
  WireReader(std::string_view data, std::string where, size_t offset = 0);

  // Reads the next field key. False at the end of the message or on an error.
  bool next();
  uint32_t field() const { return field_; }
  int wire_type() const { return wire_; }

  // The current field's value. Each checks the wire type first.
  bool varint(uint64_t* out);
  bool bytes(std::string_view* out);
  bool string(std::string* out);  // Bytes holding valid UTF-8
  // A reader over the current (length-delimited) field, named where + "." + name.
  bool message(const std::string& name, WireReader* out);
  // Skips the current field's value, whatever its wire type (groups included).
  bool skip();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // Sets the error (if none yet) at the current position; returns false.
  bool fail(const std::string& what);
  // Where this message starts in the whole body.
  size_t offset() const { return offset_; }

 private:
  bool raw_varint(uint64_t* out);
  bool skip_value(uint32_t field, int wire, int depth);
  bool want(int wire);

  std::string_view data_;
  std::string where_;
  size_t offset_ = 0;
  size_t pos_ = 0;
  uint32_t field_ = 0;
  int wire_ = 0;
  std::string error_;
};

// runtime.Unknown: typeMeta{apiVersion 1, kind 2} 1, raw 2, contentEncoding 3,
// contentType 4. `raw` points into the input.
struct Unknown {
  std::string api_version;
  std::string kind;
  std::string_view raw;
};

// "k8s\0" + runtime.Unknown. False (with *error set) when the magic is
// missing, the message is malformed, or contentEncoding is set (never used
// by the API server; we do not guess). `where` labels errors.
bool read_envelope(std::string_view body, std::string_view where, Unknown* out, std::string* error);

// A list (PodList, NamespaceList, NetworkPolicyList...): ListMeta 1
// {resourceVersion 2, continue 3}, items 2 (each an object's own message).
// Calls on_item(bytes) for every item, in order; bytes point into `list`.
template <typename OnItem>
bool read_list(std::string_view list, std::string_view where, std::string* resource_version,
               std::string* continue_token, std::string* error, OnItem&& on_item);

// metav1.WatchEvent: type 1 (string), object 2 (RawExtension{raw 1}).
// `object` points into `event` and holds "k8s\0" + runtime.Unknown.
bool read_watch_event(std::string_view event, std::string* type, std::string_view* object,
                      std::string* error);

// metav1.Status (the object of a watch ERROR event): message 3, reason 4, code 6.
struct StatusObject {
  std::string message;
  std::string reason;
  int64_t code = 0;
};
bool read_status(std::string_view status, StatusObject* out, std::string* error);

// Watch stream framing: cuts complete frames off the front of `buf` (4-byte
// big-endian length, then that many bytes). Returns the frame (pointing into
// buf) and sets *consumed, or an empty optional-like false when incomplete.
// A frame longer than max_frame is an error.
enum class Frame { Complete, Incomplete, TooLarge };
Frame next_frame(std::string_view buf, size_t max_frame, std::string_view* frame, size_t* consumed);

// ---- template definition ----
template <typename OnItem>
bool read_list(std::string_view list, std::string_view where, std::string* resource_version,
               std::string* continue_token, std::string* error, OnItem&& on_item) {
  WireReader r(list, std::string(where));
  while (r.next()) {
    if (r.field() == 1) {
      WireReader meta;
      if (!r.message("metadata", &meta)) break;
      while (meta.next()) {
        if (meta.field() == 2) {
          if (!meta.string(resource_version)) break;
        } else if (meta.field() == 3) {
          if (!meta.string(continue_token)) break;
        } else if (!meta.skip()) {
          break;
        }
      }
      if (!meta.ok()) {
        *error = meta.error();
        return false;
      }
    } else if (r.field() == 2) {
      std::string_view item;
      if (!r.bytes(&item)) break;
      on_item(item);
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

}  // namespace netpol::k8s::protowire
