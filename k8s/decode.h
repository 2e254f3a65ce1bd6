// Decoding and validation of manifests (YAML or JSON) into the compact model.
//
// Accepts single objects, multi-document YAML, `kind: List` (and *List kinds
// such as PodList), for Namespace (v1), Pod (v1) and NetworkPolicy
// (networking.k8s.io/v1). Validation follows the API server's rules for the
// fields we keep; every problem becomes an Error naming file, kind,
// namespace/name and field. Never throws, never aborts on bad input.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "k8s/model.h"

namespace netpol::k8s {

struct Error {
  std::string file;    // path, "-" for stdin, or a label such as "watch"
  std::string kind;    // "Pod", "NetworkPolicy", "Namespace", or "" when unknown
  std::string object;  // "namespace/name", "name" for cluster-scoped, "" when unknown
  std::string field;   // JSON path such as "spec.ingress[0].from[1].ipBlock.cidr"
  std::string message;

  // "FILE: KIND NAMESPACE/NAME: FIELD: message" (parts that are unknown are
  // left out, e.g. "FILE: line 3, column 7: message" for a syntax error).
  std::string str() const;
};

// The file each decoded object came from, parallel to Objects' vectors; used
// to name both files in duplicate reports. Hand-built results may leave it empty.
struct Origins {
  std::vector<std::string> namespaces;
  std::vector<std::string> pods;
  std::vector<std::string> policies;
  std::vector<std::string> cluster_policies;
  std::vector<std::string> nodes;
};

struct DecodeResult {
  Objects objects;
  std::vector<Error> errors;
  Origins origins;
  bool ok() const { return errors.empty(); }
};

// Decode every object in `text`. `file` only labels errors. Unknown kinds are
// reported as errors (policyc refuses to guess what the user meant).
DecodeResult decode_manifests(std::string_view text, std::string_view file);

// Decode files: a path may be a file, a directory (every *.yaml, *.yml,
// *.json in it, sorted by name, not recursive) or "-" for standard input.
DecodeResult load_manifests(const std::vector<std::string>& paths);

// Single-object decoders on a JSON text, for the API client (issue 4): the
// same validation, errors labelled with `source`.
DecodeResult decode_json_object(std::string_view json, std::string_view source);

// The same on an object's protobuf message (application/vnd.kubernetes.protobuf:
// the `raw` of the runtime.Unknown, without the "k8s\0" envelope) of `kind`
// "Pod", "Namespace" or "NetworkPolicy": the same model objects, validation
// and error messages as JSON. A malformed message is one error naming the
// message path and byte offset. Never throws, never reads outside `message`.
DecodeResult decode_protobuf_object(std::string_view message, std::string_view kind,
                                    std::string_view api_version, std::string_view source);

// metadata name, namespace, uid and resourceVersion of an object's protobuf
// message, as far as they can be read (for reporting objects that fail to
// decode, and for watch bookmarks, whose only content is metadata).
struct ProtobufIds {
  std::string name, ns, uid, resource_version;
  // metadata.annotations["k8s.io/initial-events-end"] == "true": the bookmark
  // that ends a watch-list's initial events.
  bool initial_events_end = false;
};
ProtobufIds protobuf_object_ids(std::string_view message);

// After decoding: Namespaces referenced by pods or policies but not given are
// synthesised (name + kubernetes.io/metadata.name label), so a policy file with
// only pods still compiles. Duplicate objects (same kind and ns/name) are errors.
void complete_snapshot(DecodeResult& result);

// Limits that protect the decoder (documented in docs/decoding.md).
inline constexpr size_t kMaxManifestBytes = 64u << 20;  // per file / stdin

}  // namespace netpol::k8s
