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
// Strict (the wire reader of k8s/protowire.h): truncated input, a length past the end of its
// message, a varint longer than 10 bytes, field number 0, wire types 6 and 7, a known field with
// the wrong wire type and strings that are not UTF-8 are errors that name the problem and the byte
// offset. It never throws and never reads outside the body. Test infrastructure only: never linked
// into the agent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/protowire.h"
#include "tests/fakeapi/fake_apiserver.h"

namespace netpol::fakeapi {

// What kubectl's typed clients send and accept besides JSON.
inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";
inline constexpr const char* kProtobufContentType = "application/vnd.kubernetes.protobuf";
inline constexpr const char* kProtobufWatchContentType =
    "application/vnd.kubernetes.protobuf;stream=watch";

// True for "application/vnd.kubernetes.protobuf", with or without parameters.
inline bool is_protobuf_media_type(std::string_view content_type) {
  return k8s::protowire::is_media_type(content_type);
}

// The agent's strict wire reader (k8s/protowire.h).
using k8s::protowire::WireReader;

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

namespace netpol::fakeapi {

// ---- Encoding (responses) ----
// Lists and watch events of Pods, Namespaces and NetworkPolicies are sent as
// protobuf to clients that ask for it (the agent), with these fields, in
// Go's field order and, like Go's generated marshallers, non-pointer strings
// even when empty:
//   ObjectMeta: name 1, generateName 2, namespace 3, uid 5, resourceVersion 6,
//               generation 7, creationTimestamp 8, deletionTimestamp 9,
//               labels 11, annotations 12
//   Pod: metadata 1, spec 2 {containers 2 {name 1, image 2, ports 6,
//        restartPolicy 24}, restartPolicy 3, nodeName 10, hostNetwork 11,
//        initContainers 20}, status 3 {phase 1, hostIP 5, podIP 6, podIPs 12}
//   Namespace: metadata 1, spec 2 {finalizers 1}, status 3 {phase 1}
//   NetworkPolicy: metadata 1, spec 2 {podSelector 1, ingress 2, egress 3,
//        policyTypes 4} with every field of the rules, peers and ports
// Other JSON fields are not encoded: the fake's objects carry few others.

// The object's own message (no envelope). `kind`: "Pod", "Namespace" or "NetworkPolicy".
std::string encode_protobuf_object(const json& obj, std::string_view kind);
// "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}.
std::string protobuf_envelope(std::string_view api_version, std::string_view kind,
                              std::string_view raw);
// A list body: envelope of <kind>List{ListMeta{resourceVersion, continue}, items}.
std::string encode_protobuf_list(std::string_view api_version, std::string_view kind,
                                 const std::vector<std::string>& items,
                                 const std::string& resource_version,
                                 const std::string& continue_token);
// One watch frame: 4-byte big-endian length + WatchEvent{type, object{raw: envelope}}.
std::string encode_protobuf_watch_event(std::string_view type, std::string_view api_version,
                                        std::string_view kind, std::string_view raw);
// metav1.Status (ERROR events): status 2, message 3, reason 4, code 6.
std::string encode_protobuf_status(const json& status);

}  // namespace netpol::fakeapi
