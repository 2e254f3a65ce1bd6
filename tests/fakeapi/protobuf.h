// The Kubernetes protobuf encoding, as far as the fake API server reads it:
// create and update bodies of v1 Namespaces and Pods, which kubectl's typed
// clients (`kubectl create namespace`, `kubectl debug --copy-to`) send as
// application/vnd.kubernetes.protobuf, and the DeleteOptions of their
// deletes. The body is the 4 magic bytes "k8s\0"
// and a runtime.Unknown message {typeMeta{apiVersion, kind}, raw,
// contentEncoding, contentType} whose raw bytes are the object's own message.
//
// Decoded into the same JSON a JSON client would send (fields with their
// zero value left out, as Go's omitempty does), so the server goes down its
// one JSON path for validation, defaults and storage. Kept fields:
//   ObjectMeta: name 1, generateName 2, namespace 3, resourceVersion 6,
//               labels 11, annotations 12
//   Namespace:  metadata 1 (spec 2 and status 3 are skipped: the server owns them)
//   Pod:        metadata 1, spec 2, status 3
//   PodSpec:    containers 2, nodeName 10, hostNetwork 11
//   Container:  name 1, image 2, ports 6
//   ContainerPort: name 1, containerPort 3, protocol 4
//   PodStatus:  phase 1, podIP 6, podIPs 12 (PodIP: ip 1)
//   DeleteOptions (the body of a typed client's delete, e.g. `kubectl debug
//   --replace`): gracePeriodSeconds 1, preconditions 2 {uid 1,
//   resourceVersion 2}, propagationPolicy 4 (dryRun 5 is skipped, as the
//   fake's JSON delete ignores it too)
// Every other field, of any wire type, is skipped.
//
// Strict: truncated input, a length past the end of its message, a varint
// longer than 10 bytes, field number 0, wire types 6 and 7, a known field
// with the wrong wire type and strings that are not UTF-8 are errors that
// name the problem and the byte offset. It never throws and never reads
// outside the body. Test infrastructure only: never linked into the agent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fakeapi/fake_apiserver.h"

namespace netpol::fakeapi {

// What kubectl's typed clients send and accept besides JSON.
inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

// True for "application/vnd.kubernetes.protobuf", with or without parameters.
bool is_protobuf_media_type(std::string_view content_type);

// A cursor over one protobuf message: field keys, then their values.
// Errors are sticky: after the first, every call returns false and error()
// says what went wrong, where (`where`, e.g. "Pod.spec") and at which byte of
// the whole body. Reads only inside `data`.
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

// A decoded protobuf request body: the object as JSON (with apiVersion and
// kind from the envelope), or an HTTP code and a message naming the problem.
struct ProtobufObject {
  json object;
  int code = 200;     // 400: malformed; 415: a kind the fake does not decode
  std::string error;  // empty when decoded
  bool ok() const { return error.empty(); }
};

// Decodes "k8s\0" + runtime.Unknown holding a v1 Namespace, a v1 Pod or
// DeleteOptions. Other kinds: code 415.
ProtobufObject decode_protobuf_object(std::string_view body);

}  // namespace netpol::fakeapi
