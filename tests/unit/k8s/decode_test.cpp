// Decoding and validation of manifests: what a user feeds policyc (and the
// API client feeds the agent) and what they get back, object or error text.
#include "k8s/decode.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/k8s/decode_errors.h"

namespace netpol::k8s {
namespace {

DecodeResult decode(std::string_view text, std::string_view file = "t.yaml") {
  return decode_manifests(text, file);
}

IpAddr ip(const char* s) {
  return IpAddr::parse(s).value();
}
Cidr cidr(const char* s) {
  return Cidr::parse(s).value();
}

// ---------------------------------------------------------------- good input

constexpr const char* kPodYaml = R"(
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  uid: 1b4e28ba-2fa1-11d2-883f-0016d3cca427
  resourceVersion: "4711"
  labels:
    app: web
    tier: ""
    example.com/role: Front_end.1
  annotations:
    note: ignored for pods
  managedFields: [{manager: kubectl}]
spec:
  nodeName: node-a
  containers:
  - name: app
    image: nginx
    ports:
    - containerPort: 8080
      name: http
    - containerPort: 53
      protocol: UDP
  - name: metrics
    ports:
    - {containerPort: 9090, name: metrics, protocol: SCTP}
  initContainers:
  - name: setup
    ports: [{containerPort: 1111, name: setup}]
  - name: proxy
    restartPolicy: Always
    ports: [{containerPort: 15001, name: proxy}]
status:
  phase: Running
  podIP: 10.0.0.5
  podIPs:
  - ip: 10.0.0.5
  - ip: fd00::5
)";

TEST(DecodePod, KeepsWhatEnforcementNeeds) {
  DecodeResult r = decode(kPodYaml);
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  ASSERT_EQ(r.objects.pods.size(), 1u);
  const Pod& p = r.objects.pods[0];
  EXPECT_EQ(p.ns, "shop");
  EXPECT_EQ(p.name, "web-1");
  EXPECT_EQ(p.uid, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  EXPECT_EQ(p.resource_version, "4711");
  EXPECT_EQ(p.node_name, "node-a");
  EXPECT_FALSE(p.host_network);
  EXPECT_EQ(p.labels, (Labels{{"app", "web"}, {"tier", ""}, {"example.com/role", "Front_end.1"}}));
  // Plain init containers have exited; only the sidecar's port is served.
  EXPECT_EQ(p.ports, (std::vector<ContainerPort>{{"http", 8080, Protocol::TCP},
                                                 {"", 53, Protocol::UDP},
                                                 {"metrics", 9090, Protocol::SCTP},
                                                 {"proxy", 15001, Protocol::TCP}}));
  EXPECT_EQ(p.phase, PodPhase::Running);
  EXPECT_EQ(p.ips, (std::vector<IpAddr>{ip("10.0.0.5"), ip("fd00::5")}));
  EXPECT_TRUE(p.enforceable());
}

TEST(DecodePod, Defaults) {
  DecodeResult r = decode("kind: Pod\napiVersion: v1\nmetadata: {name: p}\n");
  ASSERT_TRUE(r.ok());
  const Pod& p = r.objects.pods.at(0);
  EXPECT_EQ(p.ns, "default");
  EXPECT_EQ(p.phase, PodPhase::Pending);
  EXPECT_TRUE(p.ips.empty());
  EXPECT_TRUE(p.ports.empty());
  EXPECT_FALSE(p.enforceable());
}

TEST(DecodePod, PodIpsUnionKeepsOrderAndDeduplicates) {
  DecodeResult r = decode(R"(kind: Pod
metadata: {name: p}
spec: {hostNetwork: true}
status: {phase: Succeeded, podIP: "fd00::1", podIPs: [{ip: "10.1.1.1"}, {ip: "fd00:0::1"}]}
)");
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  const Pod& p = r.objects.pods.at(0);
  EXPECT_EQ(p.ips, (std::vector<IpAddr>{ip("fd00::1"), ip("10.1.1.1")}));
  EXPECT_TRUE(p.host_network);
  EXPECT_EQ(p.phase, PodPhase::Succeeded);
}

TEST(DecodePod, DeletionTimestampMarksThePodTerminatingInYamlJsonAndTheWatchPath) {
  DecodeResult y = decode(R"(kind: Pod
metadata: {name: p, deletionTimestamp: "2026-12-01T10:00:00Z"}
status: {phase: Running, podIP: "10.0.0.1"}
)");
  ASSERT_TRUE(y.ok()) << error_strings(y)[0];
  EXPECT_TRUE(y.objects.pods.at(0).terminating);
  const char* live = R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u"}})";
  const char* going = R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u",
    "deletionTimestamp":"2026-12-01T10:00:00Z","deletionGracePeriodSeconds":30}})";
  DecodeResult a = decode_json_object(live, "watch");
  DecodeResult b = decode_json_object(going, "watch");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a.objects.pods.at(0).terminating);
  EXPECT_TRUE(b.objects.pods.at(0).terminating);
  DecodeResult d = decode("kind: Pod\nmetadata: {name: p}\n");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d.objects.pods.at(0).terminating);
}

TEST(DecodeNamespace, NameLabelIsAlwaysSet) {
  DecodeResult r = decode(R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  uid: u1
  labels: {team: a, kubernetes.io/metadata.name: spoofed}
)");
  ASSERT_TRUE(r.ok());
  const Namespace& n = r.objects.namespaces.at(0);
  EXPECT_EQ(n.name, "shop");
  EXPECT_EQ(n.uid, "u1");
  EXPECT_EQ(n.labels, (Labels{{"team", "a"}, {"kubernetes.io/metadata.name", "shop"}}));
}

constexpr const char* kPolicyYaml = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web.allow
  namespace: shop
  annotations:
    netpol.io/log: "denied"
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions:
    - {key: tier, operator: NotIn, values: [b, a, b]}
    - {key: legacy, operator: DoesNotExist}
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
      namespaceSelector: {}
    - ipBlock:
        cidr: 10.1.2.3/16
        except: [10.1.128.0/17, 10.1.0.0/24]
    ports:
    - port: 80
    - {protocol: UDP, port: dns}
    - {port: 30000, endPort: 30100, protocol: SCTP}
    - {protocol: TCP}
  egress:
  - to:
    - namespaceSelector: {matchLabels: {team: db}}
  - {}
)";

TEST(DecodePolicy, FullPolicy) {
  DecodeResult r = decode(kPolicyYaml);
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  const NetworkPolicy& np = r.objects.policies.at(0);
  EXPECT_EQ(np.key(), "shop/web.allow");
  EXPECT_EQ(np.annotations, (Labels{{"netpol.io/log", "denied"}}));
  EXPECT_EQ(np.pod_selector.str(), "app=web,!legacy,tier notin (a,b)");
  EXPECT_EQ(np.pod_selector.match_labels, (Labels{{"app", "web"}}));
  // Requirements sorted by key; values sorted and deduplicated.
  ASSERT_EQ(np.pod_selector.match_expressions.size(), 2u);
  EXPECT_EQ(np.pod_selector.match_expressions[0],
            (Requirement{"legacy", Requirement::Op::DoesNotExist, {}}));
  EXPECT_EQ(np.pod_selector.match_expressions[1],
            (Requirement{"tier", Requirement::Op::NotIn, {"a", "b"}}));
  EXPECT_TRUE(np.affects_ingress);
  EXPECT_TRUE(np.affects_egress);  // egress rules exist

  ASSERT_EQ(np.ingress.size(), 1u);
  const PolicyRule& in = np.ingress[0];
  ASSERT_EQ(in.peers.size(), 2u);
  EXPECT_EQ(in.peers[0].pod_selector->match_labels, (Labels{{"role", "client"}}));
  ASSERT_TRUE(in.peers[0].namespace_selector);
  EXPECT_TRUE(in.peers[0].namespace_selector->empty());
  EXPECT_FALSE(in.peers[0].ip_block);
  ASSERT_TRUE(in.peers[1].ip_block);
  EXPECT_FALSE(in.peers[1].pod_selector);
  EXPECT_EQ(in.peers[1].ip_block->cidr, cidr("10.1.0.0/16"));  // host bits cleared
  EXPECT_EQ(in.peers[1].ip_block->except,
            (std::vector<Cidr>{cidr("10.1.0.0/24"), cidr("10.1.128.0/17")}));
  ASSERT_EQ(in.ports.size(), 4u);
  EXPECT_EQ(in.ports[0], (PolicyPort{Protocol::TCP, uint16_t(80), std::nullopt}));
  EXPECT_EQ(in.ports[1], (PolicyPort{Protocol::UDP, std::string("dns"), std::nullopt}));
  EXPECT_EQ(in.ports[2], (PolicyPort{Protocol::SCTP, uint16_t(30000), uint16_t(30100)}));
  EXPECT_EQ(in.ports[3], (PolicyPort{Protocol::TCP, std::monostate{}, std::nullopt}));

  ASSERT_EQ(np.egress.size(), 2u);
  EXPECT_EQ(np.egress[0].peers.at(0).namespace_selector->match_labels, (Labels{{"team", "db"}}));
  EXPECT_FALSE(np.egress[0].peers.at(0).pod_selector);
  // `{}`: every destination, every port.
  EXPECT_TRUE(np.egress[1].peers.empty());
  EXPECT_TRUE(np.egress[1].ports.empty());
}

struct TypesCase {
  const char* spec;
  bool ingress;
  bool egress;
  size_t ingress_rules;
  size_t egress_rules;
};

TEST(DecodePolicy, PolicyTypesDefaulting) {
  const TypesCase cases[] = {
      {"{podSelector: {}}", true, false, 0, 0},
      {"{podSelector: {}, ingress: []}", true, false, 0, 0},
      {"{podSelector: {}, egress: []}", true, false, 0, 0},
      {"{podSelector: {}, egress: [{}]}", true, true, 0, 1},
      {"{podSelector: {}, ingress: [{}], egress: [{}]}", true, true, 1, 1},
      {"{podSelector: {}, policyTypes: [Egress]}", false, true, 0, 0},
      {"{podSelector: {}, policyTypes: [Ingress]}", true, false, 0, 0},
      // Listed types are taken as they are, even against the rules present.
      {"{podSelector: {}, policyTypes: [Ingress], egress: [{}]}", true, false, 0, 1},
      {"{podSelector: {}, policyTypes: [Egress, Ingress]}", true, true, 0, 0},
      // An empty list is defaulted like a missing one (as the API server does).
      {"{podSelector: {}, policyTypes: [], egress: [{}]}", true, true, 0, 1},
      // A missing podSelector is the empty selector.
      {"{}", true, false, 0, 0},
      {"null", true, false, 0, 0},
  };
  for (const auto& c : cases) {
    std::string doc = std::string("kind: NetworkPolicy\napiVersion: networking.k8s.io/v1\n") +
                      "metadata: {name: p}\nspec: " + c.spec + "\n";
    DecodeResult r = decode(doc);
    ASSERT_TRUE(r.ok()) << c.spec << ": " << error_strings(r)[0];
    const NetworkPolicy& np = r.objects.policies.at(0);
    EXPECT_EQ(np.affects_ingress, c.ingress) << c.spec;
    EXPECT_EQ(np.affects_egress, c.egress) << c.spec;
    EXPECT_EQ(np.ingress.size(), c.ingress_rules) << c.spec;
    EXPECT_EQ(np.egress.size(), c.egress_rules) << c.spec;
    EXPECT_TRUE(np.pod_selector.empty()) << c.spec;
    EXPECT_EQ(np.ns, "default");
  }
}

TEST(DecodePolicy, MissingOrEmptyPeerListMeansAllPeers) {
  DecodeResult r = decode(R"(kind: NetworkPolicy
metadata: {name: p}
spec:
  ingress:
  - from: []
    ports: [{port: 80}]
  - ports: [{port: 81}]
  - from:
  -
)");
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  const auto& rules = r.objects.policies.at(0).ingress;
  ASSERT_EQ(rules.size(), 4u);
  for (const PolicyRule& rule : rules) EXPECT_TRUE(rule.peers.empty());
  EXPECT_EQ(rules[1].ports.at(0).port, PortRef(uint16_t(81)));
  // A null rule is Go's zero value: every peer, every port.
  EXPECT_TRUE(rules[3].ports.empty());
}

TEST(DecodeDocuments, MultiDocumentEmptyDocumentsAndLists) {
  DecodeResult r = decode(R"(---
# only a comment
---
kind: Namespace
apiVersion: v1
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {kind: Pod, apiVersion: v1, metadata: {name: p1, namespace: a}}
- {kind: Namespace, apiVersion: v1, metadata: {name: b}}
---
apiVersion: v1
kind: PodList
metadata: {resourceVersion: "99"}
items:
- metadata: {name: p2, namespace: b}
- metadata: {name: p3}
...
---
kind: NetworkPolicyList
apiVersion: networking.k8s.io/v1
items:
- metadata: {name: np}
  spec: {podSelector: {}}
)");
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  ASSERT_EQ(r.objects.namespaces.size(), 2u);
  EXPECT_EQ(r.objects.namespaces[0].name, "a");
  EXPECT_EQ(r.objects.namespaces[1].name, "b");
  ASSERT_EQ(r.objects.pods.size(), 3u);
  EXPECT_EQ(r.objects.pods[0].key(), "a/p1");
  EXPECT_EQ(r.objects.pods[1].key(), "b/p2");
  EXPECT_EQ(r.objects.pods[2].key(), "default/p3");
  ASSERT_EQ(r.objects.policies.size(), 1u);
  EXPECT_EQ(r.objects.policies[0].key(), "default/np");
}

TEST(DecodeDocuments, EmptyInputIsNoObjectsAndNoErrors) {
  for (const char* text : {"", "\n", "---\n", "# nothing\n", "---\n...\n---\n"}) {
    DecodeResult r = decode(text);
    EXPECT_TRUE(r.ok()) << '"' << text << '"';
    EXPECT_TRUE(r.objects.pods.empty() && r.objects.namespaces.empty() &&
                r.objects.policies.empty());
  }
}

TEST(DecodeDocuments, JsonYamlAndFastPathAgree) {
  const char* json_text = R"({
  "apiVersion": "networking.k8s.io/v1",
  "kind": "NetworkPolicy",
  "metadata": {"name": "web.allow", "namespace": "shop",
               "annotations": {"netpol.io/log": "denied",
                               "kubectl.kubernetes.io/last-applied-configuration": "{}"},
               "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
  "spec": {
    "podSelector": {"matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["b", "a", "b"]},
                                         {"key": "legacy", "operator": "DoesNotExist"}]},
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}, "namespaceSelector": {}},
                          {"ipBlock": {"cidr": "10.1.2.3/16", "except": ["10.1.128.0/17", "10.1.0.0/24"]}}],
                 "ports": [{"port": 80}, {"protocol": "UDP", "port": "dns"},
                           {"port": 30000, "endPort": 30100, "protocol": "SCTP"}, {"protocol": "TCP"}]}],
    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "db"}}}]}, {}]
  }
})";
  DecodeResult y = decode(kPolicyYaml);
  DecodeResult j = decode(json_text, "p.json");
  DecodeResult f = decode_json_object(json_text, "watch");
  ASSERT_TRUE(y.ok() && j.ok() && f.ok());
  ASSERT_EQ(j.objects.policies.size(), 1u);
  ASSERT_EQ(f.objects.policies.size(), 1u);
  EXPECT_EQ(y.objects.policies[0], j.objects.policies[0]);
  EXPECT_EQ(y.objects.policies[0], f.objects.policies[0]);
}

TEST(DecodeDocuments, FastPathDecodesPodsAndLists) {
  const char* pod = R"({"kind":"Pod","apiVersion":"v1",
    "metadata":{"name":"web-1","namespace":"shop","uid":"u","resourceVersion":"7",
                "labels":{"app":"web"},"managedFields":[{"a":{"b":[1,2,{"c":null}]}}]},
    "spec":{"nodeName":"n1","containers":[{"name":"c","image":"x",
            "env":[{"name":"A","value":"1"}],"ports":[{"containerPort":80,"name":"http"}]}],
            "initContainers":[{"name":"s","restartPolicy":"Always","ports":[{"containerPort":81}]}],
            "volumes":[{"name":"v","emptyDir":{}}]},
    "status":{"phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}],
              "conditions":[{"type":"Ready","status":"True"}]}})";
  DecodeResult f = decode_json_object(pod, "watch");
  ASSERT_TRUE(f.ok()) << error_strings(f)[0];
  const Pod& p = f.objects.pods.at(0);
  EXPECT_EQ(p.key(), "shop/web-1");
  EXPECT_EQ(p.uid, "u");
  EXPECT_EQ(p.resource_version, "7");
  EXPECT_EQ(p.labels, (Labels{{"app", "web"}}));
  EXPECT_EQ(p.node_name, "n1");
  EXPECT_EQ(p.ports,
            (std::vector<ContainerPort>{{"http", 80, Protocol::TCP}, {"", 81, Protocol::TCP}}));
  EXPECT_EQ(p.ips, std::vector<IpAddr>{ip("10.0.0.1")});
  EXPECT_EQ(p.phase, PodPhase::Running);

  DecodeResult list = decode_json_object(
      R"({"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"a"}},
          {"metadata":{"name":"b","namespace":"x"}}]})",
      "list");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.objects.pods.size(), 2u);
  EXPECT_EQ(list.objects.pods[1].key(), "x/b");
}

TEST(DecodeYaml, ScalarTyping) {
  // Quoted scalars stay strings; plain ones are typed (YAML 1.2 core schema).
  DecodeResult r = decode(R"(kind: Pod
metadata:
  name: p
  labels: {a: "1.0", b: 'true', c: yes, d: "null", e: ~, f: "080"}
spec:
  hostNetwork: false
  containers: [{ports: [{containerPort: 0x50}, {containerPort: 0o21}, {containerPort: +22}]}]
)");
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  const Pod& p = r.objects.pods.at(0);
  EXPECT_EQ(
      p.labels,
      (Labels{{"a", "1.0"}, {"b", "true"}, {"c", "yes"}, {"d", "null"}, {"e", ""}, {"f", "080"}}));
  ASSERT_EQ(p.ports.size(), 3u);
  EXPECT_EQ(p.ports[0].port, 80);
  EXPECT_EQ(p.ports[1].port, 17);
  EXPECT_EQ(p.ports[2].port, 22);
}

TEST(DecodeYaml, AnchorsAndAliases) {
  DecodeResult r = decode(R"(kind: NetworkPolicy
metadata:
  name: p
  labels: &l {app: web}
spec:
  podSelector: {matchLabels: *l}
  ingress:
  - from: [{podSelector: {matchLabels: *l}}]
)");
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  const NetworkPolicy& np = r.objects.policies.at(0);
  EXPECT_EQ(np.pod_selector.match_labels, (Labels{{"app", "web"}}));
  EXPECT_EQ(np.ingress.at(0).peers.at(0).pod_selector->match_labels, (Labels{{"app", "web"}}));
}

// ---------------------------------------------------------------- bad input

struct BadCase {
  const char* name;
  std::string text;
  std::vector<std::string> want;
};

std::string policy(const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: "
         "ns}\nspec:\n" +
         spec;
}

std::string pod(const std::string& rest) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns\n" + rest;
}

const std::string kNp = "t.yaml: NetworkPolicy ns/np: ";
const std::string kPod = "t.yaml: Pod ns/p: ";
const std::string kDns1123Label =
    "must be a lowercase RFC 1123 label: at most 63 characters of [a-z0-9-], starting and ending "
    "with an alphanumeric character";
const std::string kDns1123Subdomain =
    "must be a lowercase RFC 1123 subdomain: at most 253 characters of [a-z0-9.-], each "
    "dot-separated part starting and ending with an alphanumeric character";
const std::string kNameChars =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
const std::string kSvcName =
    "must be an IANA service name: 1-15 characters of [a-z0-9-], at least one letter, no "
    "leading, trailing or double '-'";

std::vector<BadCase> bad_cases() {
  return {
      // --- documents and kinds
      {"scalar document", "hello\n", {"t.yaml: must be an object, got string"}},
      {"missing kind", "metadata: {name: x}\n", {"t.yaml: kind: required value"}},
      {"unknown kind",
       "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\n",
       {"t.yaml: Service n/s: kind: unsupported kind \"Service\": only Namespace, Pod and "
        "NetworkPolicy are decoded"}},
      {"wrong apiVersion",
       "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: np}\n",
       {"t.yaml: NetworkPolicy default/np: apiVersion: unsupported apiVersion "
        "\"extensions/v1beta1\" for kind NetworkPolicy: want \"networking.k8s.io/v1\""}},
      {"apiVersion not a string",
       "apiVersion: {a: b}\nkind: NetworkPolicy\nmetadata: {name: np}\n",
       {"t.yaml: NetworkPolicy default/np: apiVersion: must be a string, got object"}},
      {"list items not a list",
       "kind: List\nitems: {a: 1}\n",
       {"t.yaml: List: items: must be a list, got object"}},
      {"list item without name",
       "kind: List\nitems:\n- {kind: Namespace, metadata: {name: ok}}\n- {kind: Pod, metadata: "
       "{namespace: x}}\n",
       {"t.yaml: Pod: items[1].metadata.name: required value"}},
      {"list item not an object",
       "kind: List\nitems: [3]\n",
       {"t.yaml: items[0]: must be an object, got integer"}},

      // --- metadata
      {"missing name",
       "kind: Namespace\nmetadata: {}\n",
       {"t.yaml: Namespace: metadata.name: required value"}},
      {"empty name",
       "kind: Pod\nmetadata: {name: \"\"}\n",
       {"t.yaml: Pod: metadata.name: required value"}},
      {"unknown cluster-scoped kind",
       "kind: ClusterRole\nmetadata: {name: r}\n",
       {"t.yaml: ClusterRole r: kind: unsupported kind \"ClusterRole\": only Namespace, Pod and "
        "NetworkPolicy are decoded"}},
      {"namespace name not a label",
       "kind: Namespace\nmetadata: {name: a.b}\n",
       {"t.yaml: Namespace a.b: metadata.name: invalid value \"a.b\": " + kDns1123Label}},
      {"pod name uppercase",
       "kind: Pod\nmetadata: {name: Web}\n",
       {"t.yaml: Pod default/Web: metadata.name: invalid value \"Web\": " + kDns1123Subdomain}},
      {"pod name too long",
       "kind: Pod\nmetadata: {name: " + std::string(254, 'a') + "}\n",
       {"t.yaml: Pod default/" + std::string(64, 'a') + "...: metadata.name: invalid value \"" +
        std::string(64, 'a') + "...\" (254 bytes): " + kDns1123Subdomain}},
      {"policy namespace invalid",
       "kind: NetworkPolicy\nmetadata: {name: np, namespace: my_ns}\n",
       {"t.yaml: NetworkPolicy my_ns/np: metadata.namespace: invalid value \"my_ns\": " +
        kDns1123Label}},
      {"name wrong type",
       "kind: Pod\nmetadata: {name: [a]}\n",
       {"t.yaml: Pod: metadata.name: must be a string, got list"}},
      {"metadata wrong type",
       "kind: Pod\nmetadata: 5\n",
       {"t.yaml: Pod: metadata: must be an object, got integer",
        "t.yaml: Pod: metadata.name: required value"}},

      // --- labels
      {"labels wrong type",
       pod("  labels: [1, 2]\n"),
       {kPod + "metadata.labels: must be an object, got list"}},
      {"label value wrong type",
       pod("  labels: {a: 1.5}\n"),
       {kPod + "metadata.labels: value of \"a\" must be a string, got number"}},
      {"label key bad chars",
       pod("  labels: {\"a b\": x}\n"),
       {kPod + "metadata.labels: invalid key \"a b\": name part " + kNameChars}},
      {"label key too long",
       pod("  labels: {" + std::string(64, 'k') + ": x}\n"),
       {kPod + "metadata.labels: invalid key \"" + std::string(64, 'k') +
        "\": name part must be no more than 63 characters"}},
      {"label key empty prefix",
       pod("  labels: {/a: x}\n"),
       {kPod + "metadata.labels: invalid key \"/a\": prefix part must be non-empty"}},
      {"label key bad prefix",
       pod("  labels: {Example.com/a: x}\n"),
       {kPod +
        "metadata.labels: invalid key \"Example.com/a\": prefix part must be a lowercase RFC 1123 "
        "subdomain: at most 253 characters of [a-z0-9.-], each dot-separated part starting and "
        "ending with an alphanumeric character"}},
      {"label key two slashes",
       pod("  labels: {a/b/c: x}\n"),
       {kPod +
        "metadata.labels: invalid key \"a/b/c\": must be a name with an optional DNS subdomain "
        "prefix and '/' (e.g. 'example.com/MyName')"}},
      {"label key empty name",
       pod("  labels: {\"a.io/\": x}\n"),
       {kPod + "metadata.labels: invalid key \"a.io/\": name part must be non-empty"}},
      {"label value bad end",
       pod("  labels: {a: x-}\n"),
       {kPod + "metadata.labels: invalid value \"x-\" for key \"a\": " + kNameChars}},
      {"label value too long",
       pod("  labels: {a: " + std::string(64, 'v') + "}\n"),
       {kPod + "metadata.labels: invalid value \"" + std::string(64, 'v') +
        "\" for key \"a\": must be no more than 63 characters"}},
      {"label value control chars quoted safely",
       pod("  labels: {a: \"x\\ty\\\"\"}\n"),
       {kPod + "metadata.labels: invalid value \"x\\x09y\\\"\" for key \"a\": " + kNameChars}},

      // --- pod spec and status
      {"containerPort missing",
       pod("spec: {containers: [{ports: [{name: http}]}]}\n"),
       {kPod + "spec.containers[0].ports[0].containerPort: required value"}},
      {"containerPort zero",
       pod("spec: {containers: [{}, {ports: [{containerPort: 0}]}]}\n"),
       {kPod + "spec.containers[1].ports[0].containerPort: invalid value 0: must be between 1 "
               "and 65535, inclusive"}},
      {"containerPort too big",
       pod("spec: {containers: [{ports: [{containerPort: 65536}]}]}\n"),
       {kPod + "spec.containers[0].ports[0].containerPort: invalid value 65536: must be between "
               "1 and 65535, inclusive"}},
      {"containerPort string",
       pod("spec: {containers: [{ports: [{containerPort: \"80\"}]}]}\n"),
       {kPod + "spec.containers[0].ports[0].containerPort: must be an integer, got string"}},
      {"containerPort float",
       pod("spec: {containers: [{ports: [{containerPort: 80.5}]}]}\n"),
       {kPod + "spec.containers[0].ports[0].containerPort: must be an integer, got number"}},
      {"port name invalid",
       pod("spec: {containers: [{ports: [{containerPort: 80, name: HTTP}]}]}\n"),
       {kPod + "spec.containers[0].ports[0].name: invalid value \"HTTP\": " + kSvcName}},
      {"container protocol lowercase",
       pod("spec: {containers: [{ports: [{containerPort: 80, protocol: tcp}]}]}\n"),
       {kPod + "spec.containers[0].ports[0].protocol: unsupported value \"tcp\": supported "
               "values: \"TCP\", \"UDP\", \"SCTP\""}},
      {"nodeName invalid",
       pod("spec: {nodeName: Node_A}\n"),
       {kPod + "spec.nodeName: invalid value \"Node_A\": " + kDns1123Subdomain}},
      {"invalid UTF-8",
       pod("spec: {nodeName: \"n\xc3\x28\"}\n"),
       {"t.yaml: line 6, column 18: invalid UTF-8 in scalar"}},
      {"containers wrong type",
       pod("spec: {containers: {a: 1}}\n"),
       {kPod + "spec.containers: must be a list, got object"}},
      {"hostNetwork wrong type",
       pod("spec: {hostNetwork: \"true\"}\n"),
       {kPod + "spec.hostNetwork: must be a boolean, got string"}},
      {"bad phase",
       pod("status: {phase: Done}\n"),
       {kPod + "status.phase: unsupported value \"Done\": supported values: \"Pending\", "
               "\"Running\", \"Succeeded\", \"Failed\", \"Unknown\""}},
      {"bad podIP",
       pod("status: {podIP: 10.0.0.256}\n"),
       {kPod + "status.podIP: invalid value \"10.0.0.256\": must be an IP address"}},
      {"zone id in podIPs",
       pod("status: {podIPs: [{ip: \"fe80::1%eth0\"}]}\n"),
       {kPod + "status.podIPs[0].ip: invalid value \"fe80::1%eth0\": must be an IP address"}},
      {"podIPs entry without ip",
       pod("status: {podIPs: [{}]}\n"),
       {kPod + "status.podIPs[0].ip: required value"}},
      {"two IPv4 pod IPs",
       pod("status: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.2}]}\n"),
       {kPod + "status.podIPs: may specify no more than one IP for each IP family"}},

      // --- selectors
      {"unknown operator",
       policy("  podSelector:\n    matchExpressions: [{key: a, operator: Has}]\n"),
       {kNp + "spec.podSelector.matchExpressions[0].operator: unsupported operator \"Has\": must "
              "be one of In, NotIn, Exists, DoesNotExist"}},
      {"In without values",
       policy("  podSelector:\n    matchExpressions: [{key: a, operator: In}]\n"),
       {kNp + "spec.podSelector.matchExpressions[0].values: must be specified when operator is "
              "In or NotIn"}},
      {"NotIn with empty values",
       policy("  podSelector:\n    matchExpressions: [{key: a, operator: NotIn, values: []}]\n"),
       {kNp + "spec.podSelector.matchExpressions[0].values: must be specified when operator is "
              "In or NotIn"}},
      {"Exists with values",
       policy("  podSelector:\n    matchExpressions: [{key: a, operator: Exists, values: [x]}]\n"),
       {kNp + "spec.podSelector.matchExpressions[0].values: must not be specified when operator "
              "is Exists or DoesNotExist"}},
      {"expression without key or operator",
       policy("  podSelector:\n    matchExpressions: [{values: [x]}]\n"),
       {kNp + "spec.podSelector.matchExpressions[0].key: required value",
        kNp + "spec.podSelector.matchExpressions[0].operator: required value"}},
      {"expression bad value",
       policy(
           "  podSelector:\n    matchExpressions: [{key: a, operator: In, values: [ok, -no]}]\n"),
       {kNp +
        "spec.podSelector.matchExpressions[0].values[1]: invalid value \"-no\": " + kNameChars}},
      {"expression bad key",
       policy("  podSelector:\n    matchExpressions: [{key: \"-a\", operator: Exists}]\n"),
       {kNp + "spec.podSelector.matchExpressions[0].key: invalid value \"-a\": name part " +
        kNameChars}},
      {"matchLabels bad value",
       policy("  podSelector: {matchLabels: {app: \"a b\"}}\n"),
       {kNp +
        "spec.podSelector.matchLabels: invalid value \"a b\" for key \"app\": " + kNameChars}},
      {"podSelector wrong type",
       policy("  podSelector: []\n"),
       {kNp + "spec.podSelector: must be an object, got list"}},

      // --- peers
      {"empty peer",
       policy("  ingress: [{from: [{}]}]\n"),
       {kNp + "spec.ingress[0].from[0]: must specify a peer"}},
      {"null peer",
       policy("  egress:\n  - to:\n    -\n"),
       {kNp + "spec.egress[0].to[0]: must specify a peer"}},
      {"ipBlock with selector",
       policy("  ingress:\n  - from:\n    - podSelector: {}\n    - ipBlock: {cidr: 10.0.0.0/8}\n"
              "      namespaceSelector: {}\n"),
       {kNp + "spec.ingress[0].from[1]: may not specify both ipBlock and another peer"}},
      {"bad cidr",
       policy("  ingress: [{from: [{podSelector: {}}, {ipBlock: {cidr: 10.0.0.0/33}}]}]\n"),
       {kNp + "spec.ingress[0].from[1].ipBlock.cidr: invalid value \"10.0.0.0/33\": must be a "
              "CIDR such as 10.0.0.0/8 or fd00::/8"}},
      {"bare address as cidr",
       policy("  egress: [{to: [{ipBlock: {cidr: 10.0.0.1}}]}]\n"),
       {kNp + "spec.egress[0].to[0].ipBlock.cidr: invalid value \"10.0.0.1\": must be a CIDR "
              "such as 10.0.0.0/8 or fd00::/8"}},
      {"cidr missing",
       policy("  egress: [{to: [{ipBlock: {except: [10.0.0.0/8]}}]}]\n"),
       {kNp + "spec.egress[0].to[0].ipBlock.cidr: required value"}},
      {"except not inside",
       policy("  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]\n"),
       {kNp + "spec.ingress[0].from[0].ipBlock.except[0]: invalid value \"10.1.0.0/24\": must "
              "be a strict subset of cidr \"10.0.0.0/16\""}},
      {"except equal to cidr",
       policy("  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/24, "
              "10.0.0.0/16]}}]}]\n"),
       {kNp + "spec.ingress[0].from[0].ipBlock.except[1]: invalid value \"10.0.0.0/16\": must "
              "be a strict subset of cidr \"10.0.0.0/16\""}},
      {"except other family",
       policy("  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [\"fd00::/64\"]}}]}]\n"),
       {kNp + "spec.ingress[0].from[0].ipBlock.except[0]: invalid value \"fd00::/64\": must be "
              "of the same IP family as cidr"}},
      {"except junk",
       policy("  ingress: [{from: [{ipBlock: {cidr: \"::/0\", except: [nope, 7]}}]}]\n"),
       {kNp + "spec.ingress[0].from[0].ipBlock.except[0]: invalid value \"nope\": must be a "
              "CIDR such as 10.0.0.0/8",
        kNp + "spec.ingress[0].from[0].ipBlock.except[1]: must be a string, got integer"}},

      // --- ports
      {"port zero",
       policy("  ingress: [{ports: [{port: 0}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: invalid value 0: must be between 1 and 65535, "
              "inclusive"}},
      {"port negative",
       policy("  ingress: [{ports: [{port: -1}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: invalid value -1: must be between 1 and 65535, "
              "inclusive"}},
      {"port huge",
       policy("  ingress: [{ports: [{port: 99999999999999999999999}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: must be an integer or a string, got number"}},
      {"port boolean",
       policy("  ingress: [{ports: [{port: true}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: must be an integer or a string, got boolean"}},
      {"quoted number is a name",
       policy("  ingress: [{ports: [{port: \"80\"}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: invalid value \"80\": " + kSvcName}},
      {"port name double dash",
       policy("  ingress: [{ports: [{port: a--b}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: invalid value \"a--b\": " + kSvcName}},
      {"port name too long",
       policy("  ingress: [{ports: [{port: abcdefghijklmnop}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].port: invalid value \"abcdefghijklmnop\": " + kSvcName}},
      {"protocol ICMP",
       policy("  egress: [{ports: [{protocol: ICMP}]}]\n"),
       {kNp + "spec.egress[0].ports[0].protocol: unsupported value \"ICMP\": supported values: "
              "\"TCP\", \"UDP\", \"SCTP\""}},
      {"endPort without port",
       policy("  ingress: [{ports: [{endPort: 90}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].endPort: may not be specified when port is not "
              "specified"}},
      {"endPort with named port",
       policy("  ingress: [{ports: [{port: http, endPort: 90}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].endPort: may not be specified when port is non-numeric"}},
      {"endPort below port",
       policy("  ingress: [{ports: [{port: 100, endPort: 90}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].endPort: invalid value 90: must be greater than or equal "
              "to port (100)"}},
      {"endPort too big",
       policy("  ingress: [{ports: [{port: 100, endPort: 70000}]}]\n"),
       {kNp + "spec.ingress[0].ports[0].endPort: invalid value 70000: must be between 1 and "
              "65535, inclusive"}},

      // --- policyTypes, rule shapes, annotations
      {"policyTypes unknown",
       policy("  policyTypes: [Ingress, ingress]\n"),
       {kNp + "spec.policyTypes[1]: unsupported value \"ingress\": supported values: "
              "\"Ingress\", \"Egress\""}},
      {"policyTypes duplicate",
       policy("  policyTypes: [Egress, Egress]\n"),
       {kNp + "spec.policyTypes[1]: duplicate value \"Egress\""}},
      {"policyTypes not a list",
       policy("  policyTypes: Ingress\n"),
       {kNp + "spec.policyTypes: must be a list, got string"}},
      {"ingress not a list",
       policy("  ingress: {from: []}\n"),
       {kNp + "spec.ingress: must be a list, got object"}},
      {"rule not an object",
       policy("  ingress: [5]\n"),
       {kNp + "spec.ingress[0]: must be an object, got integer"}},
      {"from not a list",
       policy("  ingress: [{from: {podSelector: {}}}]\n"),
       {kNp + "spec.ingress[0].from: must be a list, got object"}},
      {"netpol annotation key invalid",
       "kind: NetworkPolicy\nmetadata: {name: np, namespace: ns, annotations: "
       "{\"netpol.io/-x\": a, other: b}}\n",
       {kNp + "metadata.annotations: invalid key \"netpol.io/-x\": name part " + kNameChars}},
      {"annotation value wrong type",
       "kind: NetworkPolicy\nmetadata: {name: np, namespace: ns, annotations: {other: 1}}\n",
       {kNp + "metadata.annotations: value of \"other\" must be a string, got integer"}},
      {"several errors in one object",
       policy("  podSelector: {matchLabels: {\"\": x}}\n  ingress: [{from: [{}], ports: [{port: "
              "0}]}]\n"),
       {kNp + "spec.podSelector.matchLabels: invalid key \"\": name part must be non-empty",
        kNp + "spec.ingress[0].ports[0].port: invalid value 0: must be between 1 and 65535, "
              "inclusive",
        kNp + "spec.ingress[0].from[0]: must specify a peer"}},

      // --- YAML syntax
      {"unclosed flow",
       "kind: Pod\nmetadata: {name: p\n",
       {"t.yaml: line 3, column 1: end of map flow not found"}},
      {"bad indentation",
       "kind: Pod\nmetadata:\n  name: p\n labels: {}\n",
       {"t.yaml: line 4, column 2: end of map not found"}},
      {"duplicate key",
       "kind: Pod\nmetadata:\n  name: p\n  name: q\n",
       {"t.yaml: line 4, column 3: duplicate key \"name\""}},
      {"mapping key not a string",
       "kind: Pod\n? [a]\n: b\n",
       {"t.yaml: line 2, column 3: mapping keys must be strings"}},
      // yaml-cpp 0.7 would loop forever on these.
      {"stray comma after flow collection",
       "kind: Namespace\nmetadata: {name: a}\n---\n[],\n",
       {"t.yaml: must be an object, got list", "t.yaml: line 4, column 3: unexpected \",\""}},
      {"stray comma after quoted scalar",
       "\"a\",b\n",
       {"t.yaml: must be an object, got string", "t.yaml: line 1, column 4: unexpected \",\""}},
      {"merge key",
       "base: &b {a: 1}\nkind: Pod\nmetadata:\n  <<: *b\n",
       {"t.yaml: line 4, column 3: merge keys (<<) are not supported"}},
      {"unknown alias",
       "kind: Pod\nmetadata: *nope\n",
       {"t.yaml: line 2, column 11: the referenced anchor is not defined"}},
      {"bad tag",
       "kind: Pod\nmetadata: {name: !!int abc}\n",
       {"t.yaml: line 2, column 18: value \"abc\" does not match tag tag:yaml.org,2002:int"}},
  };
}

TEST(DecodeErrors, Table) {
  for (const BadCase& c : bad_cases()) {
    DecodeResult r = decode(c.text);
    EXPECT_EQ(error_strings(r), c.want) << c.name;
    // An object with errors is never handed on.
    EXPECT_TRUE(r.objects.pods.empty()) << c.name;
    EXPECT_TRUE(r.objects.policies.empty()) << c.name;
  }
}

TEST(DecodeErrors, ValidObjectsNextToBadOnesSurviveAndAllErrorsAreReported) {
  DecodeResult r = decode(pod("") + "---\n" + policy("  ingress: [{from: [{}]}]\n") + "---\n" +
                          "kind: Pod\nmetadata: {name: q, labels: {a: \"-\"}}\n");
  EXPECT_EQ(error_strings(r),
            (std::vector<std::string>{
                kNp + "spec.ingress[0].from[0]: must specify a peer",
                "t.yaml: Pod default/q: metadata.labels: invalid value \"-\" for key \"a\": " +
                    kNameChars}));
  ASSERT_EQ(r.objects.pods.size(), 1u);
  EXPECT_EQ(r.objects.pods[0].key(), "ns/p");
  EXPECT_TRUE(r.objects.policies.empty());
}

TEST(DecodeErrors, JsonSyntaxErrorHasLineAndColumn) {
  DecodeResult r =
      decode("{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\",}\n}\n", "p.json");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(),
            "p.json: line 3, column 28: syntax error while parsing object key - unexpected '}'; "
            "expected string literal");
  DecodeResult f = decode_json_object("{\"kind\": \"Pod\", \"metadata\": ", "watch");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].str(),
            "watch: line 1, column 29: syntax error while parsing value - unexpected end of "
            "input; expected '[', '{', or a literal");
  // Lines before the object count.
  DecodeResult lines = decode("\n\n{\"kind\": \"Pod\" \"x\"}\n", "p.json");
  ASSERT_EQ(lines.errors.size(), 1u);
  EXPECT_EQ(lines.errors[0].field, "line 3, column 18");  // nlohmann points past the token
  DecodeResult dup =
      decode_json_object(R"({"kind":"Pod","metadata":{"name":"a","name":"b"}})", "w");
  EXPECT_EQ(error_strings(dup), std::vector<std::string>{"w: metadata: duplicate key \"name\""});
}

TEST(DecodeErrors, FlowYamlThatLooksLikeJsonStillDecodes) {
  DecodeResult r = decode("{kind: Namespace, metadata: {name: a}}\n");
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  EXPECT_EQ(r.objects.namespaces.at(0).name, "a");
}

// ---------------------------------------------------------------- hostile input

// CPU seconds: the machine running the tests may be busy, wall time lies.
double cpu_seconds() {
  return double(std::clock()) / CLOCKS_PER_SEC;
}

TEST(DecodeHostile, TenMegabyteLabelValueIsRejectedFastAndNotEchoed) {
  const std::string value(10u << 20, 'a');
  for (bool as_json : {false, true}) {
    std::string text =
        as_json ? R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","labels":{"big":")" +
                      value + "\"}}}"
                : "kind: Pod\napiVersion: v1\nmetadata:\n  name: p\n  labels:\n    big: " + value +
                      "\n";
    double t0 = cpu_seconds();
    DecodeResult r = as_json ? decode_json_object(text, "w") : decode(text);
    double took = cpu_seconds() - t0;
    ASSERT_EQ(r.errors.size(), 1u);
    const std::string msg = r.errors[0].str();
    EXPECT_LT(msg.size(), 300u) << as_json;
    EXPECT_NE(msg.find("must be no more than 63 characters"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(10485760 bytes)"), std::string::npos) << msg;
    EXPECT_TRUE(r.objects.pods.empty());
    EXPECT_LT(took, 3.0) << (as_json ? "json" : "yaml");
  }
}

TEST(DecodeHostile, DeepNestingIsAnErrorNotACrash) {
  const size_t depth = 100000;
  struct Case {
    const char* name;
    std::string text;
    std::string file;
  };
  const Case cases[] = {
      {"yaml flow",
       "kind: Pod\nmetadata: " + std::string(depth, '[') + std::string(depth, ']') + "\n",
       "t.yaml"},
      {"yaml flow unterminated",
       "kind: Pod\nmetadata: " +
           [&] {
             std::string s;
             for (size_t i = 0; i < depth; ++i) s += "{a: ";
             return s;
           }(),
       "t.yaml"},
      {"yaml block",
       "kind: Pod\nx:\n" +
           [&] {
             std::string s;
             for (size_t i = 0; i < 2000; ++i) s += std::string(i, ' ') + "- \n";
             return s;
           }(),
       "t.yaml"},
      {"json", "{\"kind\":\"Pod\",\"x\":" + std::string(depth, '[') + std::string(depth, ']') + "}",
       "t.json"},
  };
  for (const Case& c : cases) {
    DecodeResult r = decode(c.text, c.file);
    ASSERT_EQ(r.errors.size(), 1u) << c.name;
    EXPECT_NE(r.errors[0].message.find("nesting too deep (more than 100 levels)"),
              std::string::npos)
        << c.name << ": " << r.errors[0].str();
  }
  DecodeResult f = decode_json_object(std::string(depth, '['), "w");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].message, "nesting too deep (more than 100 levels)");
}

TEST(DecodeHostile, AliasBombIsRefused) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += prev + (k < 9 ? ", " : "");
    text += "]\n";
  }
  DecodeResult r = decode(text);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("aliases expand to more than 1000000 nodes"),
            std::string::npos)
      << r.errors[0].str();
}

TEST(DecodeHostile, GarbageNeverThrows) {
  const std::string inputs[] = {std::string("\0\0\0", 3),
                                "\xff\xfe\xfd",
                                "{",
                                "[",
                                "]",
                                "}",
                                ": :",
                                "- - - -",
                                "'",
                                "\"",
                                "{\"a\": tru}",
                                "%YAML 9.9\n---\n",
                                "!<x> y",
                                "&a b: *a",
                                "[*a]",
                                "? ? ?",
                                "\t- a",
                                "kind: Pod\nmetadata: {name: p, labels: {a: \xff}}\n"};
  for (const std::string& s : inputs) {
    DecodeResult r = decode(s);
    DecodeResult f = decode_json_object(s, "w");
    EXPECT_TRUE(r.objects.pods.empty());
    EXPECT_FALSE(f.ok()) << s;
  }
}

TEST(DecodeHostile, MutatedManifestsNeverCrashOrYieldInvalidObjects) {
  // Fixed seed: reproducible. Every object that survives a mutation must
  // still satisfy the invariants the compiler relies on.
  std::mt19937 rng(12345);
  const std::string seeds[] = {
      kPodYaml, kPolicyYaml,
      R"({"kind":"NetworkPolicy","metadata":{"name":"n"},"spec":{)"
      R"("ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8",)"
      R"("except":["10.1.0.0/16"]}}],"ports":[{"port":80,"endPort":90}]}]}})"};
  const char alphabet[] = "{}[]:,-\"' \n\t&*!|>#%@`0123456789abcxyz./";
  for (const std::string& seed : seeds) {
    for (int round = 0; round < 300; ++round) {
      std::string text = seed;
      int edits = 1 + int(rng() % 4);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        size_t at = rng() % text.size();
        switch (rng() % 3) {
          case 0:
            text[at] = alphabet[rng() % (sizeof alphabet - 1)];
            break;
          case 1:
            text.erase(at, 1 + rng() % 8);
            break;
          default:
            text.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]);
        }
      }
      for (const DecodeResult& r : {decode(text), decode_json_object(text, "w")}) {
        for (const Pod& p : r.objects.pods) {
          EXPECT_FALSE(p.name.empty()) << text;
          for (const ContainerPort& cp : p.ports) EXPECT_GE(cp.port, 1) << text;
        }
        for (const NetworkPolicy& np : r.objects.policies) {
          EXPECT_FALSE(np.name.empty()) << text;
          for (const auto* rules : {&np.ingress, &np.egress}) {
            for (const PolicyRule& rule : *rules) {
              for (const Peer& peer : rule.peers) {
                EXPECT_TRUE(peer.ip_block || peer.pod_selector || peer.namespace_selector);
                EXPECT_FALSE(peer.ip_block && (peer.pod_selector || peer.namespace_selector));
                if (peer.ip_block) {
                  for (const Cidr& ex : peer.ip_block->except) {
                    EXPECT_TRUE(peer.ip_block->cidr.contains(ex) &&
                                ex.prefix > peer.ip_block->cidr.prefix)
                        << text;
                  }
                }
              }
              for (const PolicyPort& pp : rule.ports) {
                if (pp.end_port) {
                  ASSERT_TRUE(std::holds_alternative<uint16_t>(pp.port)) << text;
                  EXPECT_GE(*pp.end_port, std::get<uint16_t>(pp.port)) << text;
                }
              }
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- files

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("netpol-k8s-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::string str() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(LoadManifests, DirectoryIsSortedAndFiltered) {
  TempDir dir;
  dir.write("b.yml", "kind: Pod\nmetadata: {name: b}\n");
  dir.write("a.json", R"({"kind":"Pod","metadata":{"name":"a"}})");
  dir.write("c.yaml", "kind: Pod\nmetadata: {name: c}\n");
  dir.write("notes.txt", "kind: Pod\nmetadata: {name: ignored}\n");
  dir.write("d.yaml.bak", "kind: Pod\nmetadata: {name: ignored2}\n");
  std::filesystem::create_directories(dir.str() + "/sub.yaml");
  DecodeResult r = load_manifests({dir.str()});
  ASSERT_TRUE(r.ok()) << error_strings(r)[0];
  ASSERT_EQ(r.objects.pods.size(), 3u);
  EXPECT_EQ(r.objects.pods[0].name, "a");
  EXPECT_EQ(r.objects.pods[1].name, "b");
  EXPECT_EQ(r.objects.pods[2].name, "c");
  EXPECT_EQ(r.origins.pods[0], dir.str() + "/a.json");
}

TEST(LoadManifests, ErrorsNameTheFileAndAllFilesAreReported) {
  TempDir dir;
  std::string bad1 = dir.write("bad1.yaml", "kind: Pod\nmetadata: {name: P}\n");
  std::string bad2 = dir.write("bad2.json", "{\"kind\": \"Pod\"\n");
  std::string missing = dir.str() + "/missing.yaml";
  DecodeResult r = load_manifests({bad1, missing, bad2});
  EXPECT_EQ(error_strings(r),
            (std::vector<std::string>{
                bad1 + ": Pod default/P: metadata.name: invalid value \"P\": " + kDns1123Subdomain,
                missing + ": cannot read: No such file or directory",
                bad2 + ": line 2, column 1: syntax error while parsing object - unexpected end of "
                       "input; expected '}'"}));
}

TEST(LoadManifests, TruncatedFileIsAnError) {
  TempDir dir;
  std::string full = std::string(kPolicyYaml);
  // Cut inside the except list: parsed as is, it would allow more than meant.
  size_t cut = full.find("10.1.0.0/24") + 5;
  std::string path = dir.write("cut.yaml", full.substr(0, cut));
  DecodeResult r = load_manifests({path});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), path +
                                   ": line 22, column 38: input ends in the middle of a line "
                                   "(truncated?); a manifest must end with a newline");
  EXPECT_TRUE(r.objects.policies.empty());

  // Cut JSON never parses.
  std::string json_path = dir.write("cut.json", R"({"kind":"Pod","metadata":{"name":"p")");
  DecodeResult j = load_manifests({json_path});
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_NE(j.errors[0].str().find("line 1, column 37: syntax error"), std::string::npos)
      << j.errors[0].str();
  EXPECT_TRUE(j.objects.pods.empty());

  // Every cut of a YAML file either fails or, if at a line end, yields no
  // object that differs from the original silently within a line.
  for (size_t at = 1; at < full.size(); ++at) {
    if (full[at - 1] == '\n') continue;
    std::string p = dir.write("cut2.yaml", full.substr(0, at));
    EXPECT_FALSE(load_manifests({p}).ok()) << at;
  }
}

TEST(LoadManifests, OversizedFileIsRefusedWithoutReadingIt) {
  TempDir dir;
  std::string path = dir.write("huge.yaml", "");
  // Sparse: costs no disk and proves the size check comes before reading.
  std::filesystem::resize_file(path, kMaxManifestBytes + 1);
  DecodeResult r = load_manifests({path});
  // The exact size in the message comes from stat(), not from reading.
  EXPECT_EQ(error_strings(r),
            std::vector<std::string>{path + ": file is larger than the 64 MiB limit (67108865 "
                                            "bytes)"});
}

// ---------------------------------------------------------------- snapshot

TEST(CompleteSnapshot, SynthesisesNamespacesAndReportsDuplicates) {
  TempDir dir;
  std::string a = dir.write("a.yaml", R"(kind: Namespace
metadata: {name: shop, labels: {team: x}}
---
kind: Pod
metadata: {name: p, namespace: shop}
---
kind: Pod
metadata: {name: q, namespace: zoo}
---
kind: NetworkPolicy
metadata: {name: np, namespace: bar}
)");
  std::string b = dir.write("b.yaml", R"(kind: Pod
metadata: {name: p, namespace: shop}
---
kind: Namespace
metadata: {name: shop}
)");
  DecodeResult r = load_manifests({a, b});
  ASSERT_TRUE(r.ok());
  complete_snapshot(r);
  EXPECT_EQ(error_strings(r),
            (std::vector<std::string>{
                b + ": Namespace shop: metadata.name: duplicate Namespace, also defined in " + a,
                b + ": Pod shop/p: metadata.name: duplicate Pod, also defined in " + a}));
  ASSERT_EQ(r.objects.pods.size(), 2u);
  ASSERT_EQ(r.objects.namespaces.size(), 3u);
  // The given namespace keeps its labels; missing ones come sorted by name.
  EXPECT_EQ(r.objects.namespaces[0].labels,
            (Labels{{"team", "x"}, {"kubernetes.io/metadata.name", "shop"}}));
  EXPECT_EQ(r.objects.namespaces[1].name, "bar");
  EXPECT_EQ(r.objects.namespaces[1].labels, (Labels{{"kubernetes.io/metadata.name", "bar"}}));
  EXPECT_EQ(r.objects.namespaces[2].name, "zoo");
}

TEST(CompleteSnapshot, HandBuiltResultsWithoutOrigins) {
  DecodeResult r;
  Pod p;
  p.ns = "x";
  p.name = "p";
  r.objects.pods = {p, p};
  complete_snapshot(r);
  EXPECT_EQ(error_strings(r),
            std::vector<std::string>{
                "Pod x/p: metadata.name: duplicate Pod, also defined in an earlier input"});
  EXPECT_EQ(r.objects.pods.size(), 1u);
  ASSERT_EQ(r.objects.namespaces.size(), 1u);
  EXPECT_EQ(r.objects.namespaces[0].name, "x");
}

TEST(ErrorStr, LeavesOutUnknownParts) {
  EXPECT_EQ((Error{"a.yaml", "Pod", "ns/p", "metadata.name", "bad"}).str(),
            "a.yaml: Pod ns/p: metadata.name: bad");
  EXPECT_EQ((Error{"a.yaml", "", "", "line 3, column 7", "oops"}).str(),
            "a.yaml: line 3, column 7: oops");
  EXPECT_EQ((Error{"a.yaml", "", "", "", "cannot read: x"}).str(), "a.yaml: cannot read: x");
}

}  // namespace
}  // namespace netpol::k8s
