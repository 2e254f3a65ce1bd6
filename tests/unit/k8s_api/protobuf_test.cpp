// The fake API server's protobuf decoding: the bytes kubectl v1.32 really
// sends (captured from `kubectl create namespace`, `kubectl debug --copy-to
// --replace`), hand-built messages for every kept field and every wire type,
// and malformed bodies, which must be refused with a 400 naming the problem,
// never a crash, whether decoded directly or sent over HTTP.
#include "tests/fakeapi/protobuf.h"

#include <gtest/gtest.h>

#include "tests/support/raw_http.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using namespace testing;
using fakeapi::decode_protobuf_object;
using fakeapi::WireReader;

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// Captured with a logging proxy between kubectl v1.32.4 and the fake
// (`protoc --decode_raw` reads the same fields):
// `kubectl create namespace pb`
const std::string kKubectlNamespace = from_hex(
    "6b3873000a0f0a02763112094e616d657370616365121a0a120a02706212001a0022002a0032003800420012001a"
    "020a001a002200");
// `kubectl debug full -n pb --copy-to=copy --keep-labels --keep-annotations --same-node
// --profile=general --image=busybox --container=dbg --replace -- sleep 1`, where pod
// full has labels app=web, tier=fe, annotation a=1, nodeName node1, hostNetwork and
// ports http/80/TCP, dns/53/UDP, 9/SCTP: the create of the copy ...
const std::string kKubectlPod = from_hex(
    "6b3873000a090a0276311203506f6412b0020a360a04636f707912001a02706222002a003200380042005a0a0a03"
    "61707012037765625a0a0a04746965721202666562060a016112013112e30112560a046d61696e1205696d673a31"
    "2a0032110a04687474701000185022035443502a0032100a03646e731000183522035544502a00320e0a00100918"
    "092204534354502a0042006a007200800100880100900100a2010012400a03646267120762757379626f781a0573"
    "6c6565701a01312a0042006a0072007a0e0a0c0a0a5359535f505452414345800100880100900100a2010446696c"
    "651a06416c77617973201e320c436c7573746572466972737442004a0052056e6f6465315801600068008201008a"
    "01009a011164656661756c742d7363686564756c6572c20100d801011a100a001a0022002a0032004a005a007200"
    "1a002200");
// ... and the delete of the original.
const std::string kKubectlDeleteOptions =
    from_hex("6b3873000a130a027631120d44656c6574654f7074696f6e73120208001a002200");

// A tiny encoder for hand-built messages.
std::string varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  s += static_cast<char>(v);
  return s;
}
std::string key(uint32_t field, int wire) {
  return varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire));
}
std::string len(uint32_t field, std::string_view v) {
  return key(field, 2) + varint(v.size()) + std::string(v);
}
std::string num(uint32_t field, uint64_t v) {
  return key(field, 0) + varint(v);
}
std::string entry(uint32_t field, const std::string& k, const std::string& v) {
  return len(field, len(1, k) + len(2, v));
}
const std::string kMagic("k8s\0", 4);
std::string envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return kMagic + len(1, len(1, api_version) + len(2, kind)) + len(2, raw) + len(3, "") +
         len(4, "");
}

// Every kept field of a pod, in field order.
std::string full_pod_raw(const std::string& extra_meta = "") {
  const std::string meta = len(1, "web") + len(2, "") + len(3, "team-a") + len(6, "7") +
                           entry(11, "app", "web") + entry(11, "tier", "fe") +
                           entry(12, "note", "hi") + extra_meta;
  const std::string port = len(1, "http") + num(2, 0) + num(3, 8080) + len(4, "TCP");
  const std::string container = len(1, "main") + len(2, "img:1") + len(6, port);
  const std::string spec = len(2, container) + len(10, "node1") + num(11, 1);
  const std::string status = len(1, "Running") + len(6, "10.0.0.1") + len(12, len(1, "10.0.0.1")) +
                             len(12, len(1, "fd00::1"));
  return len(1, meta) + len(2, spec) + len(3, status);
}

const json kFullPod = json::parse(R"({
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "namespace": "team-a", "resourceVersion": "7",
               "labels": {"app": "web", "tier": "fe"}, "annotations": {"note": "hi"}},
  "spec": {"containers": [{"name": "main", "image": "img:1",
                           "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}],
           "nodeName": "node1", "hostNetwork": true},
  "status": {"phase": "Running", "podIP": "10.0.0.1",
             "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}})");

TEST(Protobuf, DecodesTheNamespaceKubectlSends) {
  auto r = decode_protobuf_object(kKubectlNamespace);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.object, json::parse(R"({"apiVersion":"v1","kind":"Namespace",
                                      "metadata":{"name":"pb"}})"));
}

TEST(Protobuf, DecodesThePodKubectlSends) {
  auto r = decode_protobuf_object(kKubectlPod);
  ASSERT_TRUE(r.ok()) << r.error;
  // Empty strings and false are left out, as Go's JSON encoding leaves them out.
  EXPECT_EQ(r.object, json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "copy", "namespace": "pb", "labels": {"app": "web", "tier": "fe"},
                 "annotations": {"a": "1"}},
    "spec": {"containers": [
               {"name": "main", "image": "img:1", "ports": [
                  {"name": "http", "containerPort": 80, "protocol": "TCP"},
                  {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"containerPort": 9, "protocol": "SCTP"}]},
               {"name": "dbg", "image": "busybox"}],
             "nodeName": "node1", "hostNetwork": true},
    "status": {}})"));
}

TEST(Protobuf, DecodesTheDeleteOptionsKubectlSends) {
  auto r = decode_protobuf_object(kKubectlDeleteOptions);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.object, json::parse(R"({"apiVersion":"v1","kind":"DeleteOptions",
                                      "gracePeriodSeconds":0})"));
  const std::string pre = len(1, "uid-1") + len(2, "42");
  auto p = decode_protobuf_object(
      envelope("meta.k8s.io/v1", "DeleteOptions", len(2, pre) + len(4, "Foreground")));
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.object["preconditions"], json({{"uid", "uid-1"}, {"resourceVersion", "42"}}));
  EXPECT_EQ(p.object["propagationPolicy"], "Foreground");
}

TEST(Protobuf, DecodesEveryKeptPodField) {
  auto r = decode_protobuf_object(envelope("v1", "Pod", full_pod_raw()));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.object, kFullPod);
}

TEST(Protobuf, SkipsUnknownFieldsOfEveryWireType) {
  const std::string group = key(43, 3) + num(1, 5) + len(2, "x") + key(3, 3) + key(3, 4) +
                            key(43, 4);  // a group holding a nested group
  const std::string unknown = num(40, 300) + key(41, 1) + std::string(8, '\x7f') + len(42, "zz") +
                              group + key(44, 5) + std::string(4, '\x01');
  const std::string raw = full_pod_raw(unknown) + unknown;
  auto r = decode_protobuf_object(envelope("v1", "Pod", raw) + unknown);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.object, kFullPod);
}

TEST(Protobuf, MapsAndNumbersFollowProtobufRules) {
  // The last entry of a key wins; an entry without a value is "".
  const std::string meta =
      len(1, "p") + entry(11, "a", "1") + entry(11, "a", "2") + len(11, len(1, "bare"));
  // int32 -1 travels sign-extended as ten bytes.
  const std::string port = num(3, static_cast<uint64_t>(-1));
  const std::string spec = len(2, len(1, "c") + len(6, port));
  auto r = decode_protobuf_object(envelope("v1", "Pod", len(1, meta) + len(2, spec)));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.object["metadata"]["labels"], json({{"a", "2"}, {"bare", ""}}));
  EXPECT_EQ(r.object["spec"]["containers"][0]["ports"][0]["containerPort"], -1);

  auto big = decode_protobuf_object(
      envelope("v1", "Pod", len(2, len(2, len(6, num(3, uint64_t{1} << 40))))));
  EXPECT_EQ(big.code, 400);
  EXPECT_NE(big.error.find("out of int32 range"), std::string::npos) << big.error;
}

TEST(Protobuf, VarintLimits) {
  std::string max = key(1, 0) + std::string(9, '\xff') + '\x01';  // 2^64-1 in ten bytes
  WireReader r(max, "m");
  uint64_t v = 0;
  ASSERT_TRUE(r.next());
  ASSERT_TRUE(r.varint(&v)) << r.error();
  EXPECT_EQ(v, UINT64_MAX);

  std::string over = key(1, 0) + std::string(9, '\xff') + '\x02';
  WireReader o(over, "m");
  ASSERT_TRUE(o.next());
  EXPECT_FALSE(o.varint(&v));
  EXPECT_NE(o.error().find("does not fit in 64 bits"), std::string::npos) << o.error();

  std::string eleven = key(1, 0) + std::string(10, '\xff') + '\x01';
  WireReader e(eleven, "m");
  ASSERT_TRUE(e.next());
  EXPECT_FALSE(e.varint(&v));
  EXPECT_NE(e.error().find("longer than 10 bytes"), std::string::npos) << e.error();
}

struct Bad {
  const char* what;
  std::string body;
  int code;
  const char* message;  // a part of the error that names the problem
};

std::vector<Bad> bad_bodies() {
  const std::string meta = len(1, len(1, "p"));
  return {
      {"wrong magic", std::string("k8x\0", 4) + meta, 400, "magic bytes"},
      {"empty", "", 400, "magic bytes"},
      {"truncated varint in a key", kMagic + "\x0a\x80", 400, "truncated varint"},
      {"truncated varint in a length", kMagic + "\x0a", 400, "truncated varint"},
      {"length past the end", kMagic + len(1, len(1, "v1")).substr(0, 5), 400, "runs past the end"},
      {"raw length past the end", kMagic + key(2, 2) + varint(1000) + "abc", 400,
       "length 1000 runs past the end of the message (3 bytes left)"},
      {"varint longer than 10 bytes", kMagic + key(5, 0) + std::string(11, '\x80') + '\x01', 400,
       "longer than 10 bytes"},
      {"field number 0", kMagic + key(0, 0) + varint(1), 400, "field number 0"},
      {"wire type 7", kMagic + key(1, 7), 400, "invalid wire type 7"},
      {"end group without a start", kMagic + key(9, 4), 400, "end-group without a start"},
      {"group without an end", kMagic + key(9, 3) + num(1, 1), 400, "group without an end"},
      {"truncated fixed64", kMagic + key(9, 1) + "1234", 400, "truncated 64-bit value"},
      {"truncated fixed32", kMagic + key(9, 5) + "12", 400, "truncated 32-bit value"},
      {"wrong wire type for a known field", envelope("v1", "Pod", len(1, num(1, 5))), 400,
       "Pod.metadata: field 1: wire type 0, want 2"},
      {"truncated object inside raw",
       envelope("v1", "Pod", len(2, len(2, key(1, 2) + varint(10) + "main"))), 400,
       "Pod.spec.containers[0]: field 1: length 10 runs past the end"},
      {"invalid UTF-8", envelope("v1", "Namespace", len(1, len(1, "\xff\xfe"))), 400,
       "not valid UTF-8"},
      {"no raw object", kMagic + len(1, len(1, "v1") + len(2, "Pod")), 400, "no raw object"},
      {"compressed", kMagic + len(1, len(1, "v1") + len(2, "Pod")) + len(2, meta) + len(3, "gzip"),
       400, "contentEncoding \"gzip\""},
      {"NetworkPolicy", envelope("networking.k8s.io/v1", "NetworkPolicy", meta), 415,
       "NetworkPolicy (networking.k8s.io/v1)"},
  };
}

TEST(Protobuf, MalformedBodiesNameTheProblem) {
  for (const Bad& b : bad_bodies()) {
    auto r = decode_protobuf_object(b.body);
    EXPECT_FALSE(r.ok()) << b.what;
    EXPECT_EQ(r.code, b.code) << b.what << ": " << r.error;
    EXPECT_NE(r.error.find(b.message), std::string::npos) << b.what << ": " << r.error;
  }
}

TEST(Protobuf, EveryTruncationAndByteChangeIsHandled) {
  // Cut anywhere before the end of the raw object: always an error.
  const std::string body = envelope("v1", "Pod", full_pod_raw());
  const size_t raw_end = body.size() - len(3, "").size() - len(4, "").size();
  for (size_t n = 0; n < raw_end; ++n) {
    auto r = decode_protobuf_object(std::string_view(body).substr(0, n));
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error.find("cannot be decoded"), std::string::npos) << r.error;
  }
  // Any value at any position: an answer, and a decoded object that can be stored.
  size_t decoded = 0;
  for (size_t i = 0; i < kKubectlNamespace.size(); ++i) {
    for (int v = 0; v < 256; ++v) {
      std::string b = kKubectlNamespace;
      b[i] = static_cast<char>(v);
      auto r = decode_protobuf_object(b);
      if (!r.ok()) {
        // A decoder error, not the catch-all for an exception.
        EXPECT_EQ(r.error.find("cannot be decoded"), std::string::npos) << r.error;
        continue;
      }
      ++decoded;
      EXPECT_NO_THROW((void)r.object.dump());
    }
  }
  EXPECT_GT(decoded, 0u);
}

// One HTTP/1.1 request on a fresh connection; the status code and body.
testsupport::RawHttpAnswer http_request(uint16_t port, const std::string& method,
                                        const std::string& path, const std::string& content_type,
                                        const std::string& body) {
  return testsupport::raw_http(port, method, path,
                               "Content-Type: " + content_type +
                                   "\r\nAccept: " + std::string(fakeapi::kProtobufMediaType) +
                                   ",application/json\r\n",
                               body);
}

const std::string kProtobuf(fakeapi::kProtobufMediaType);
testsupport::RawHttpAnswer post_protobuf(uint16_t port, const std::string& path,
                                         const std::string& body) {
  return http_request(port, "POST", path, kProtobuf, body);
}

TEST(FakeApiProtobuf, CreateUpdateDeleteOverHttp) {
  auto s = start_fake();
  ASSERT_TRUE(s);
  auto ns = post_protobuf(s->port(), "/api/v1/namespaces",
                          envelope("v1", "Namespace", len(1, len(1, "team-a")) + len(2, "")));
  ASSERT_EQ(ns.code, 201) << ns.body;
  // Answered in JSON, which kubectl's Accept header allows.
  EXPECT_EQ(json::parse(ns.body)["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");

  auto pod = post_protobuf(s->port(), "/api/v1/namespaces/team-a/pods",
                           envelope("v1", "Pod", full_pod_raw()));
  ASSERT_EQ(pod.code, 201) << pod.body;
  const json stored = s->get(Kind::Pod, "team-a", "web").body;
  EXPECT_EQ(stored["metadata"]["labels"], kFullPod["metadata"]["labels"]);
  EXPECT_EQ(stored["spec"]["containers"][0]["ports"], kFullPod["spec"]["containers"][0]["ports"]);
  EXPECT_EQ(stored["spec"]["nodeName"], "node1");
  EXPECT_EQ(stored["status"], json({{"phase", "Pending"}})) << "the kubelet owns pod status";
  const std::string rv = stored["metadata"]["resourceVersion"];

  // An update carries the resourceVersion it read: a stale one conflicts.
  auto update_with = [&](const std::string& version) {
    const std::string meta =
        len(1, "web") + len(3, "team-a") + len(6, version) + entry(11, "app", "api");
    const std::string spec = len(2, len(1, "main") + len(2, "img:2"));
    return http_request(s->port(), "PUT", "/api/v1/namespaces/team-a/pods/web", kProtobuf,
                        envelope("v1", "Pod", len(1, meta) + len(2, spec)));
  };
  EXPECT_EQ(update_with("1").code, 409);
  auto up = update_with(rv);
  ASSERT_EQ(up.code, 200) << up.body;
  EXPECT_EQ(s->get(Kind::Pod, "team-a", "web").body["metadata"]["labels"], json({{"app", "api"}}));

  // Delete with DeleteOptions preconditions, as a typed client sends them.
  auto del_with = [&](const std::string& uid) {
    return http_request(s->port(), "DELETE", "/api/v1/namespaces/team-a/pods/web", kProtobuf,
                        envelope("v1", "DeleteOptions", num(1, 0) + len(2, len(1, uid))));
  };
  EXPECT_EQ(del_with("not-the-uid").code, 409);
  EXPECT_EQ(del_with(stored["metadata"]["uid"]).code, 200);
  EXPECT_EQ(s->get(Kind::Pod, "team-a", "web").code, 404);

  // A body of the wrong kind for the URL or the verb.
  EXPECT_EQ(post_protobuf(s->port(), "/api/v1/namespaces", kKubectlPod).code, 400);
  EXPECT_EQ(post_protobuf(s->port(), "/api/v1/namespaces", kKubectlDeleteOptions).code, 400);
}

TEST(FakeApiProtobuf, MalformedBodiesGetABadRequestStatus) {
  auto s = start_fake();
  ASSERT_TRUE(s);
  for (const Bad& b : bad_bodies()) {
    auto a = post_protobuf(s->port(), "/api/v1/namespaces", b.body);
    ASSERT_EQ(a.code, b.code) << b.what << ": " << a.body;
    const json st = json::parse(a.body);
    EXPECT_EQ(st["kind"], "Status") << b.what;
    EXPECT_EQ(st["code"], b.code) << b.what;
    EXPECT_EQ(st["reason"], b.code == 400 ? "BadRequest" : "UnsupportedMediaType") << b.what;
    EXPECT_NE(st["message"].get<std::string>().find(b.message), std::string::npos)
        << b.what << ": " << st["message"];
  }
  // Still serving, and nothing was stored.
  EXPECT_TRUE(s->objects(Kind::Namespace).empty());
  EXPECT_EQ(post_protobuf(s->port(), "/api/v1/namespaces", kKubectlNamespace).code, 201);
}

TEST(FakeApiProtobuf, OtherBinaryBodiesAreUnsupportedMediaTypes) {
  auto s = start_fake();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->create(Kind::Namespace, "", ns_json("a")).ok());
  // NetworkPolicies (kubectl never sends one as protobuf), patches and CBOR.
  const std::string np = envelope("networking.k8s.io/v1", "NetworkPolicy", len(1, len(1, "np")));
  EXPECT_EQ(
      post_protobuf(s->port(), "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies", np).code,
      415);
  EXPECT_EQ(
      http_request(s->port(), "PATCH", "/api/v1/namespaces/a", kProtobuf, kKubectlNamespace).code,
      415);
  EXPECT_EQ(http_request(s->port(), "POST", "/api/v1/namespaces", "application/cbor", "\xa0").code,
            415);
}

}  // namespace
}  // namespace netpol::k8s::api
