// ClusterNetworkPolicy and Node decoding: the CRD's schema and CEL rules as
// a user meets them (objects in, model or exact error text out), in YAML
// and in JSON (the API client's fast path), plus the recipes in policies/.
#include "k8s/cnp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "k8s/decode.h"
#include "tests/unit/k8s/decode_errors.h"

namespace netpol::k8s {
namespace {

Cidr cidr(const char* s) {
  return Cidr::parse(s).value();
}

// The identity every decoded object keeps from its metadata.
template <typename T>
void expect_identity(const T& o, const char* name, const char* uid, const char* rv) {
  EXPECT_EQ(o.name, name);
  EXPECT_EQ(o.uid, uid);
  EXPECT_EQ(o.resource_version, rv);
}

constexpr const char* kFull = R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: guardrails
  uid: 6f1c
  resourceVersion: "42"
  labels: {team: sec}
spec:
  tier: Admin
  priority: 10
  subject:
    pods:
      namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchExpressions: [{key: app, operator: In, values: [db, cache]}]}
  ingress:
  - name: deny-db
    action: Deny
    from:
    - namespaces: {matchLabels: {env: dev}}
    - pods:
        podSelector: {matchLabels: {role: scanner}}
    protocols:
    - tcp: {destinationPort: {number: 5432}}
    - udp: {destinationPort: {range: {start: 1000, end: 2000}}}
    - destinationNamedPort: metrics
  - action: Pass
    from: [{namespaces: {}}]
  egress:
  - name: to-nodes
    action: Accept
    to:
    - nodes: {matchLabels: {node-role.kubernetes.io/control-plane: ""}}
    - networks: [10.0.0.0/8, "fd00::/8", 10.0.0.0/8x]
    protocols: [{sctp: {destinationPort: {number: 9}}}]
  - action: Deny
    to: [{futureField: {a: b}}]
)";

TEST(DecodeCnp, FullObjectYamlAndJsonAgree) {
  // One typo in the text above is deliberate: fix it here so the base is valid.
  std::string yaml = kFull;
  yaml.replace(yaml.find("10.0.0.0/8x"), 11, "192.168.1.7/16");
  DecodeResult r = decode_manifests(yaml, "g.yaml");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(error_strings(r));
  ASSERT_EQ(r.objects.cluster_policies.size(), 1u);
  const ClusterNetworkPolicy& p = r.objects.cluster_policies[0];
  expect_identity(p, "guardrails", "6f1c", "42");
  EXPECT_EQ(p.labels.at("team"), "sec");
  EXPECT_EQ(p.tier, CnpTier::Admin);
  EXPECT_EQ(p.priority, 10);
  EXPECT_EQ(p.subject.kind, CnpSubject::Kind::Pods);
  EXPECT_EQ(p.subject.namespaces.str(), "env=prod");
  EXPECT_EQ(p.subject.pods.str(), "app in (cache,db)");
  ASSERT_EQ(p.ingress.size(), 2u);
  const CnpRule& deny = p.ingress[0];
  EXPECT_EQ(deny.name, "deny-db");
  EXPECT_EQ(deny.action, CnpAction::Deny);
  ASSERT_EQ(deny.peers.size(), 2u);
  EXPECT_EQ(deny.peers[0].kind, CnpPeer::Kind::Namespaces);
  EXPECT_EQ(deny.peers[0].namespaces.str(), "env=dev");
  EXPECT_EQ(deny.peers[1].kind, CnpPeer::Kind::Pods);
  EXPECT_TRUE(deny.peers[1].namespaces.empty());  // absent namespaceSelector: all namespaces
  EXPECT_EQ(deny.peers[1].pods.str(), "role=scanner");
  ASSERT_EQ(deny.ports.size(), 3u);
  EXPECT_EQ(deny.ports[0], (CnpPort{Protocol::TCP, 5432, 5432, ""}));
  EXPECT_EQ(deny.ports[1], (CnpPort{Protocol::UDP, 1000, 2000, ""}));
  EXPECT_EQ(deny.ports[2], (CnpPort{std::nullopt, 0, 0, "metrics"}));
  EXPECT_EQ(p.ingress[1].name, "");
  EXPECT_EQ(p.ingress[1].action, CnpAction::Pass);
  EXPECT_TRUE(p.ingress[1].ports.empty());
  ASSERT_EQ(p.egress.size(), 2u);
  const CnpRule& out = p.egress[0];
  EXPECT_EQ(out.action, CnpAction::Accept);
  EXPECT_EQ(out.peers[0].kind, CnpPeer::Kind::Nodes);
  EXPECT_EQ(out.peers[0].nodes.str(), "node-role.kubernetes.io/control-plane=");
  EXPECT_EQ(out.peers[1].kind, CnpPeer::Kind::Networks);
  // Sorted; host bits cleared as the API does.
  EXPECT_EQ(out.peers[1].networks,
            (std::vector<Cidr>{cidr("10.0.0.0/8"), cidr("192.168.0.0/16"), cidr("fd00::/8")}));
  EXPECT_EQ(out.ports[0], (CnpPort{Protocol::SCTP, 9, 9, ""}));
  // A field of a newer CRD: kept, flagged for the fail-closed rule.
  ASSERT_EQ(p.egress[1].peers.size(), 1u);
  EXPECT_TRUE(p.egress[1].peers[0].unknown());
  EXPECT_EQ(p.egress[1].peers[0].unknown_field, "futureField");

  // The same object as JSON goes through the filtering SAX path.
  std::string json = R"({"apiVersion":"policy.networking.k8s.io/v1alpha2",
    "kind":"ClusterNetworkPolicy","metadata":{"name":"guardrails","uid":"6f1c",
    "resourceVersion":"42","labels":{"team":"sec"},"managedFields":[{"x":1}]},
    "spec":{"tier":"Admin","priority":10,
      "subject":{"pods":{"namespaceSelector":{"matchLabels":{"env":"prod"}},
        "podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["db","cache"]}]}}},
      "ingress":[{"name":"deny-db","action":"Deny","from":[{"namespaces":{"matchLabels":{"env":"dev"}}},
          {"pods":{"podSelector":{"matchLabels":{"role":"scanner"}}}}],
        "protocols":[{"tcp":{"destinationPort":{"number":5432}}},
          {"udp":{"destinationPort":{"range":{"start":1000,"end":2000}}}},
          {"destinationNamedPort":"metrics"}]},
        {"action":"Pass","from":[{"namespaces":{}}]}],
      "egress":[{"name":"to-nodes","action":"Accept","to":[
          {"nodes":{"matchLabels":{"node-role.kubernetes.io/control-plane":""}}},
          {"networks":["10.0.0.0/8","fd00::/8","192.168.1.7/16"]}],
        "protocols":[{"sctp":{"destinationPort":{"number":9}}}]},
        {"action":"Deny","to":[{"futureField":{"a":"b"}}]}]},
    "status":{"conditions":[]}})";
  DecodeResult j = decode_json_object(json, "watch");
  ASSERT_TRUE(j.ok()) << testing::PrintToString(error_strings(j));
  ASSERT_EQ(j.objects.cluster_policies.size(), 1u);
  EXPECT_EQ(j.objects.cluster_policies[0], p);
}

TEST(DecodeCnp, BaselineWithNamespacesSubjectAndListKinds) {
  DecodeResult r = decode_manifests(R"(
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicyList
items:
- metadata: {name: b}
  spec:
    tier: Baseline
    priority: 1000
    subject: {namespaces: {}}
- metadata: {name: a}
  spec: {tier: Admin, priority: 0, subject: {namespaces: {matchLabels: {x: y}}}}
)",
                                    "l.yaml");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(error_strings(r));
  ASSERT_EQ(r.objects.cluster_policies.size(), 2u);
  const auto& b = r.objects.cluster_policies[0];
  EXPECT_EQ(b.tier, CnpTier::Baseline);
  EXPECT_EQ(b.priority, 1000);
  EXPECT_EQ(b.subject.kind, CnpSubject::Kind::Namespaces);
  EXPECT_TRUE(b.subject.namespaces.empty());
  EXPECT_TRUE(b.ingress.empty());
  EXPECT_TRUE(b.egress.empty());
  EXPECT_EQ(r.objects.cluster_policies[1].priority, 0);
  EXPECT_EQ(r.origins.cluster_policies, (std::vector<std::string>{"l.yaml", "l.yaml"}));
}

TEST(DecodeNode, KeepsLabelsAndInternalAndExternalAddresses) {
  DecodeResult r = decode_json_object(R"({"apiVersion":"v1","kind":"Node",
    "metadata":{"name":"node-a","uid":"u1","resourceVersion":"7","labels":{"zone":"a"}},
    "spec":{"podCIDR":"10.244.0.0/24"},
    "status":{"addresses":[{"type":"InternalIP","address":"192.168.0.10"},
      {"type":"Hostname","address":"node-a"},{"type":"ExternalIP","address":"2001:db8::10"},
      {"type":"InternalIP","address":"192.168.0.10"}],"capacity":{"cpu":"2"}}})",
                                      "watch");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(error_strings(r));
  ASSERT_EQ(r.objects.nodes.size(), 1u);
  const Node& n = r.objects.nodes[0];
  expect_identity(n, "node-a", "u1", "7");
  EXPECT_EQ(n.labels.at("zone"), "a");
  EXPECT_EQ(n.addresses, (std::vector<IpAddr>{IpAddr::parse("192.168.0.10").value(),
                                              IpAddr::parse("2001:db8::10").value()}));
}

// One valid object, mutated by one edit per case: every CRD rule, each with
// the exact error a user sees.
constexpr const char* kBase = R"(apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: c}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {}}
  ingress:
  - {name: i, action: Accept, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 80}}}]}
  egress:
  - {name: e, action: Deny, to: [{networks: [10.0.0.0/8]}]}
)";

struct Case {
  const char* what;
  std::string from;  // replaced in kBase (must occur)
  std::string to;
  std::string error;  // "" = valid
};

std::string peers(int n, const char* peer) {
  std::string out = "[";
  for (int i = 0; i < n; ++i) out += std::string(i ? ", " : "") + peer;
  return out + "]";
}

std::string rules(int n) {
  std::string out = "  ingress:\n";
  for (int i = 0; i < n; ++i) out += "  - {action: Deny, from: [{namespaces: {}}]}\n";
  return out;
}

const char* const kIngressRule =
    "  - {name: i, action: Accept, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: "
    "{number: 80}}}]}\n";
const char* const kEgressRule = "  - {name: e, action: Deny, to: [{networks: [10.0.0.0/8]}]}\n";

const std::string kE = "t.yaml: ClusterNetworkPolicy c: ";

std::vector<Case> cases() {
  std::string ir = kIngressRule;
  std::string er = kEgressRule;
  return {
      {"base is valid", "tier: Admin", "tier: Admin", ""},
      {"baseline tier", "tier: Admin", "tier: Baseline", ""},
      {"tier required", "  tier: Admin\n", "", kE + "spec.tier: required value"},
      {"tier enum", "tier: Admin", "tier: admin",
       kE + R"(spec.tier: unsupported value "admin": supported values: "Admin", "Baseline")"},
      {"priority required", "  priority: 5\n", "", kE + "spec.priority: required value"},
      {"priority 0", "priority: 5", "priority: 0", ""},
      {"priority 1000", "priority: 5", "priority: 1000", ""},
      {"priority too big", "priority: 5", "priority: 1001",
       kE + "spec.priority: invalid value 1001: must be between 0 and 1000, inclusive"},
      {"priority negative", "priority: 5", "priority: -1",
       kE + "spec.priority: invalid value -1: must be between 0 and 1000, inclusive"},
      {"priority type", "priority: 5", "priority: \"5\"",
       kE + "spec.priority: must be an integer, got string"},
      {"spec required", "spec:\n  tier: Admin\n", "xspec:\n  tier: Admin\n",
       kE + "spec: required value"},
      {"subject required", "  subject: {namespaces: {}}\n", "",
       kE + "spec.subject: required value"},
      {"subject empty", "subject: {namespaces: {}}", "subject: {}",
       kE + "spec.subject: must specify exactly one of namespaces or pods"},
      {"subject both", "subject: {namespaces: {}}",
       "subject: {namespaces: {}, pods: {podSelector: {}}}",
       kE + "spec.subject: must specify exactly one of namespaces or pods"},
      {"subject pods needs podSelector", "subject: {namespaces: {}}",
       "subject: {pods: {namespaceSelector: {}}}",
       kE + "spec.subject.pods.podSelector: required value"},
      {"subject selector checked", "subject: {namespaces: {}}",
       "subject: {namespaces: {matchExpressions: [{key: a, operator: Has}]}}",
       kE + "spec.subject.namespaces.matchExpressions[0].operator: unsupported operator \"Has\": "
            "must be one of In, NotIn, Exists, DoesNotExist"},
      {"rule name 100 bytes", "name: i,", "name: " + std::string(100, 'n') + ",", ""},
      {"rule name too long", "name: i,", "name: " + std::string(101, 'n') + ",",
       kE + "spec.ingress[0].name: invalid value \"" + std::string(64, 'n') +
           "...\" (101 bytes): may not be longer than 100 characters"},
      {"action required", "name: i, action: Accept,", "name: i,",
       kE + "spec.ingress[0].action: required value"},
      {"action enum", "action: Accept", "action: Allow",
       kE +
           R"(spec.ingress[0].action: unsupported value "Allow": supported values: "Accept", "Deny", "Pass")"},
      {"pass action", "action: Accept", "action: Pass", ""},
      {"from required", "from: [{namespaces: {}}], ", "",
       kE + "spec.ingress[0].from: required value"},
      {"from empty", "from: [{namespaces: {}}]", "from: []",
       kE + "spec.ingress[0].from: must have at least 1 item"},
      {"25 peers", "from: [{namespaces: {}}]", "from: " + peers(25, "{namespaces: {}}"), ""},
      {"26 peers", "from: [{namespaces: {}}]", "from: " + peers(26, "{namespaces: {}}"),
       kE + "spec.ingress[0].from: must have at most 25 items, got 26"},
      {"25 rules", "  ingress:\n" + ir, rules(25), ""},
      {"26 rules", "  ingress:\n" + ir, rules(26),
       kE + "spec.ingress: must have at most 25 items, got 26"},
      {"26 egress rules", er,
       [] {
         std::string s;
         for (int i = 0; i < 26; ++i) s += "  - {action: Deny, to: [{namespaces: {}}]}\n";
         return s;
       }(),
       kE + "spec.egress: must have at most 25 items, got 26"},
      {"peer empty", "from: [{namespaces: {}}]", "from: [{}]",
       kE + "spec.ingress[0].from[0]: must specify exactly one of namespaces or pods"},
      {"peer two fields", "from: [{namespaces: {}}]",
       "from: [{namespaces: {}, pods: {podSelector: {}}}]",
       kE + "spec.ingress[0].from[0]: must specify exactly one of namespaces or pods; got "
            "namespaces, pods"},
      {"peer known and unknown", "from: [{namespaces: {}}]", "from: [{namespaces: {}, zz: {}}]",
       kE + "spec.ingress[0].from[0]: must specify exactly one of namespaces or pods; got "
            "namespaces, \"zz\""},
      {"unknown peer field is kept", "from: [{namespaces: {}}]", "from: [{services: {}}]", ""},
      {"networks in ingress", "from: [{namespaces: {}}]", "from: [{networks: [10.0.0.0/8]}]",
       kE + "spec.ingress[0].from[0].networks: networks peers are only allowed in egress rules"},
      {"nodes in ingress", "from: [{namespaces: {}}]", "from: [{nodes: {}}]",
       kE + "spec.ingress[0].from[0].nodes: nodes peers are only allowed in egress rules"},
      {"domainNames rejected", "to: [{networks: [10.0.0.0/8]}]", "to: [{domainNames: [a.io]}]",
       kE + "spec.egress[0].to[0].domainNames: domainNames peers are not supported: netpol does "
            "not implement this experimental field (use networks with the addresses instead)"},
      {"egress peer four kinds", "to: [{networks: [10.0.0.0/8]}]", "to: [{}]",
       kE + "spec.egress[0].to[0]: must specify exactly one of namespaces, pods, nodes or "
            "networks"},
      {"egress nodes", "to: [{networks: [10.0.0.0/8]}]", "to: [{nodes: {matchLabels: {a: b}}}]",
       ""},
      {"egress pods", "to: [{networks: [10.0.0.0/8]}]",
       "to: [{pods: {namespaceSelector: {}, podSelector: {}}}]", ""},
      {"networks empty", "networks: [10.0.0.0/8]", "networks: []",
       kE + "spec.egress[0].to[0].networks: must have at least 1 item"},
      {"networks bad cidr", "networks: [10.0.0.0/8]", "networks: [10.0.0.300/8]",
       kE +
           R"(spec.egress[0].to[0].networks[0]: invalid value "10.0.0.300/8": must be a CIDR such as 10.0.0.0/8 or fd00::/8)"},
      {"networks bare address", "networks: [10.0.0.0/8]", "networks: [10.0.0.1]",
       kE +
           R"(spec.egress[0].to[0].networks[0]: invalid value "10.0.0.1": must be a CIDR such as 10.0.0.0/8 or fd00::/8)"},
      {"networks duplicate", "networks: [10.0.0.0/8]", "networks: [10.0.0.0/8, 10.0.0.0/8]",
       kE + R"(spec.egress[0].to[0].networks[1]: duplicate value "10.0.0.0/8")"},
      {"networks too long", "networks: [10.0.0.0/8]",
       "networks: [\"" + std::string(40, '1') + "/128\"]",
       kE + "spec.egress[0].to[0].networks[0]: invalid value \"" + std::string(40, '1') +
           "/128\": may not be longer than 43 characters"},
      {"networks 26", "networks: [10.0.0.0/8]",
       [] {
         std::string s = "networks: [";
         for (int i = 0; i < 26; ++i) s += (i ? ", 10.0." : "10.0.") + std::to_string(i) + ".0/24";
         return s + "]";
       }(),
       kE + "spec.egress[0].to[0].networks: must have at most 25 items, got 26"},
      {"protocols empty", "protocols: [{tcp: {destinationPort: {number: 80}}}]", "protocols: []",
       kE + "spec.ingress[0].protocols: must have at least 1 item"},
      {"protocol empty", "protocols: [{tcp: {destinationPort: {number: 80}}}]", "protocols: [{}]",
       kE + "spec.ingress[0].protocols[0]: must specify exactly one of tcp, udp, sctp or "
            "destinationNamedPort"},
      {"protocol two", "protocols: [{tcp: {destinationPort: {number: 80}}}]",
       "protocols: [{tcp: {destinationPort: {number: 80}}, udp: {destinationPort: {number: 80}}}]",
       kE + "spec.ingress[0].protocols[0]: must specify exactly one of tcp, udp, sctp or "
            "destinationNamedPort; got \"tcp\", \"udp\""},
      {"protocol unknown", "protocols: [{tcp: {destinationPort: {number: 80}}}]",
       "protocols: [{icmp: {}}]",
       kE + "spec.ingress[0].protocols[0]: unsupported field \"icmp\": must specify exactly one "
            "of tcp, udp, sctp or destinationNamedPort"},
      {"destinationPort required", "{tcp: {destinationPort: {number: 80}}}", "{udp: {}}",
       kE + "spec.ingress[0].protocols[0].udp.destinationPort: required value"},
      {"port number or range", "{number: 80}", "{}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort: must specify exactly one of "
            "number or range"},
      {"port both", "{number: 80}", "{number: 80, range: {start: 1, end: 2}}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort: must specify exactly one of "
            "number or range"},
      {"port 0", "{number: 80}", "{number: 0}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort.number: invalid value 0: must be "
            "between 1 and 65535, inclusive"},
      {"port 65536", "{number: 80}", "{number: 65536}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort.number: invalid value 65536: must "
            "be between 1 and 65535, inclusive"},
      {"port 65535", "{number: 80}", "{number: 65535}", ""},
      {"range ok", "{number: 80}", "{range: {start: 1, end: 65535}}", ""},
      {"range start = end", "{number: 80}", "{range: {start: 80, end: 80}}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort.range: invalid range 80-80: start "
            "must be less than end"},
      {"range reversed", "{number: 80}", "{range: {start: 90, end: 80}}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort.range: invalid range 90-80: start "
            "must be less than end"},
      {"range end required", "{number: 80}", "{range: {start: 90}}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort.range.end: required value"},
      {"range end too big", "{number: 80}", "{range: {start: 90, end: 70000}}",
       kE + "spec.ingress[0].protocols[0].tcp.destinationPort.range.end: invalid value 70000: "
            "must be between 1 and 65535, inclusive"},
      {"named port", "{tcp: {destinationPort: {number: 80}}}", "{destinationNamedPort: http}", ""},
      {"named port checked", "{tcp: {destinationPort: {number: 80}}}",
       "{destinationNamedPort: Not_A_Name}",
       kE + "spec.ingress[0].protocols[0].destinationNamedPort: invalid value \"Not_A_Name\": "
            "must be an IANA service name: 1-15 characters of [a-z0-9-], at least one letter, no "
            "leading, trailing or double '-'"},
      {"named port with networks", "to: [{networks: [10.0.0.0/8]}]}",
       "to: [{networks: [10.0.0.0/8]}], protocols: [{destinationNamedPort: http}]}",
       kE + "spec.egress[0]: networks and nodes peers cannot be combined with "
            "destinationNamedPort: they have no named ports"},
      {"name required", "metadata: {name: c}", "metadata: {labels: {a: b}}",
       "t.yaml: ClusterNetworkPolicy: metadata.name: required value"},
      {"name checked", "metadata: {name: c}", "metadata: {name: C_1}",
       "t.yaml: ClusterNetworkPolicy C_1: metadata.name: invalid value \"C_1\": must be a "
       "lowercase RFC 1123 subdomain: at most 253 characters of [a-z0-9.-], each dot-separated "
       "part starting and ending with an alphanumeric character"},
      {"apiVersion", "policy.networking.k8s.io/v1alpha2", "policy.networking.k8s.io/v1alpha1",
       kE + "apiVersion: unsupported apiVersion \"policy.networking.k8s.io/v1alpha1\" for kind "
            "ClusterNetworkPolicy: want \"policy.networking.k8s.io/v1alpha2\""},
  };
}

TEST(DecodeCnp, SchemaAndCelRulesTable) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.what);
    std::string text = kBase;
    size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    DecodeResult r = decode_manifests(text, "t.yaml");
    if (c.error.empty()) {
      EXPECT_TRUE(r.ok()) << testing::PrintToString(error_strings(r));
      EXPECT_EQ(r.objects.cluster_policies.size(), 1u);
    } else {
      EXPECT_EQ(error_strings(r), std::vector<std::string>{c.error});
      EXPECT_TRUE(r.objects.cluster_policies.empty());  // never half-valid
    }
  }
}

TEST(DecodeCnp, UnknownPeerFieldIsFlaggedInBothActions) {
  for (const char* action : {"Accept", "Deny", "Pass"}) {
    std::string text = kBase;
    text.replace(
        text.find("action: Accept, from: [{namespaces: {}}]"), 40,
        std::string("action: ") + action + ", from: [{namespaces: {}}, {serviceAccounts: {x: 1}}]");
    DecodeResult r = decode_manifests(text, "t.yaml");
    ASSERT_TRUE(r.ok()) << action << testing::PrintToString(error_strings(r));
    const CnpRule& rule = r.objects.cluster_policies.at(0).ingress.at(0);
    ASSERT_EQ(rule.peers.size(), 2u);
    EXPECT_FALSE(rule.peers[0].unknown());
    EXPECT_TRUE(rule.peers[1].unknown());
    EXPECT_EQ(rule.peers[1].unknown_field, "serviceAccounts");
  }
}

TEST(DecodeCnp, JsonErrorsMatchYaml) {
  DecodeResult r = decode_json_object(
      R"({"apiVersion":"policy.networking.k8s.io/v1alpha2","kind":"ClusterNetworkPolicy",
      "metadata":{"name":"c"},"spec":{"tier":"Middle","priority":2000,"subject":{},
      "egress":[{"action":"Deny","to":[{"networks":["x"]}]}]}})",
      "watch");
  EXPECT_EQ(
      error_strings(r),
      (std::vector<std::string>{
          R"(watch: ClusterNetworkPolicy c: spec.tier: unsupported value "Middle": supported values: "Admin", "Baseline")",
          "watch: ClusterNetworkPolicy c: spec.priority: invalid value 2000: must be "
          "between 0 and 1000, inclusive",
          "watch: ClusterNetworkPolicy c: spec.subject: must specify exactly one of "
          "namespaces or pods",
          R"(watch: ClusterNetworkPolicy c: spec.egress[0].to[0].networks[0]: invalid value "x": must be a CIDR such as 10.0.0.0/8 or fd00::/8)"}));
}

TEST(DecodeNode, Errors) {
  DecodeResult r = decode_manifests(R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 300.1.1.1}]}
---
apiVersion: v1
kind: NodeList
items:
- metadata: {}
)",
                                    "n.yaml");
  EXPECT_EQ(
      error_strings(r),
      (std::vector<std::string>{
          R"(n.yaml: Node n1: status.addresses[0].address: invalid value "300.1.1.1": must be an IP address)",
          "n.yaml: Node: items[0].metadata.name: required value"}));
  EXPECT_TRUE(r.objects.nodes.empty());
}

TEST(CompleteSnapshot, DuplicateCnpsAndNodesAreErrors) {
  DecodeResult r = decode_manifests(R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: c}
spec: {tier: Admin, priority: 1, subject: {namespaces: {}}}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: c}
spec: {tier: Baseline, priority: 1, subject: {namespaces: {}}}
)",
                                    "d.yaml");
  ASSERT_TRUE(r.ok());
  complete_snapshot(r);
  EXPECT_EQ(error_strings(r),
            (std::vector<std::string>{
                "d.yaml: ClusterNetworkPolicy c: metadata.name: duplicate ClusterNetworkPolicy, "
                "also defined in d.yaml",
                "d.yaml: Node n1: metadata.name: duplicate Node, also defined in d.yaml"}));
  ASSERT_EQ(r.objects.cluster_policies.size(), 1u);
  EXPECT_EQ(r.objects.cluster_policies[0].tier, CnpTier::Admin);  // the first one wins
  EXPECT_EQ(r.objects.nodes.size(), 1u);
}

// The recipes in policies/cnp/ decode and validate.
TEST(CnpRecipes, PoliciesDirectoryDecodes) {
  DecodeResult r = load_manifests({std::string(NETPOL_SOURCE_DIR) + "/policies/cnp"});
  ASSERT_TRUE(r.ok()) << testing::PrintToString(error_strings(r));
  std::vector<std::string> names;
  for (const auto& p : r.objects.cluster_policies) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"baseline-default-deny", "delegate-to-namespaces",
                                             "isolate-restricted"}));
}

}  // namespace
}  // namespace netpol::k8s
