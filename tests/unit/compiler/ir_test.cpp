// IR value operations: diff() is canonical and minimal, apply() inverts it,
// to_json() is the documented, stable form (docs/semantics.md).
#include "compiler/ir.h"

#include <gtest/gtest.h>

#include "tests/unit/compiler/flow_cases.h"

namespace netpol::ctest {
namespace {

ir::Element host(std::string_view a) {
  return ir::Element{ip(a), ip(a), 0, 0};
}

ir::Set pods_set(std::string name, std::vector<std::string_view> ips) {
  ir::Set s{std::move(name), ir::SetKind::Pods, "pods app=web in ns x", {}};
  for (auto a : ips) s.elements.insert(host(a));
  return s;
}

ir::LocalPod local(std::string ns, std::string name, std::string_view addr) {
  ir::LocalPod p;
  p.ns = std::move(ns);
  p.name = std::move(name);
  p.ips = {ip(addr)};
  return p;
}

ir::RuleSet base() {
  ir::RuleSet rs;
  rs.node = "n1";
  rs.sets["pods-AAAAAAAA"] = pods_set("pods-AAAAAAAA", {"10.0.0.1", "10.0.0.2"});
  rs.sets["pods-BBBBBBBB"] = pods_set("pods-BBBBBBBB", {"10.0.0.3"});
  ir::LocalPod a = local("x", "a", "10.0.0.1");
  a.ingress = ir::Chain{
      {"x/p"},
      {ir::Rule{"x/p", 0, {ir::PeerMatch::Kind::Set, "pods-AAAAAAAA"}, 6, {{80, 80}}, ""}}};
  rs.pods["x/a"] = a;
  rs.pods["x/b"] = local("x", "b", "10.0.0.2");
  return rs;
}

TEST(Diff, IdenticalRuleSetsGiveAnEmptyDelta) {
  EXPECT_TRUE(ir::diff(base(), base()).empty());
}

TEST(Diff, IsSortedMinimalAndInvertedByApply) {
  ir::RuleSet from = base();
  ir::RuleSet to = base();
  to.sets.erase("pods-BBBBBBBB");
  to.sets["pods-AAAAAAAA"].elements.erase(host("10.0.0.1"));
  to.sets["pods-AAAAAAAA"].elements.insert(host("10.0.0.9"));
  to.sets["cidr-CCCCCCCC"] = ir::Set{
      "cidr-CCCCCCCC", ir::SetKind::Cidr, "10.0.0.0/8", {{ip("10.0.0.0"), ip("10.255.255.255")}}};
  to.pods.erase("x/b");
  to.pods["x/c"] = local("x", "c", "10.0.0.4");
  to.pods["x/a"].ips.push_back(ip("fd00::1"));

  ir::Delta d = ir::diff(from, to);
  ASSERT_EQ(d.sets.size(), 3u);
  EXPECT_EQ(d.sets[0].name, "cidr-CCCCCCCC");
  EXPECT_TRUE(d.sets[0].created.has_value());
  EXPECT_EQ(d.sets[1].name, "pods-AAAAAAAA");
  EXPECT_EQ(d.sets[1].add, (std::vector<ir::Element>{host("10.0.0.9")}));
  EXPECT_EQ(d.sets[1].del, (std::vector<ir::Element>{host("10.0.0.1")}));
  EXPECT_FALSE(d.sets[1].created.has_value());
  EXPECT_EQ(d.sets[2].name, "pods-BBBBBBBB");
  EXPECT_TRUE(d.sets[2].removed);
  ASSERT_EQ(d.pods.size(), 3u);
  EXPECT_EQ(d.pods[0].key, "x/a");
  EXPECT_TRUE(d.pods[0].before && d.pods[0].after);
  EXPECT_EQ(d.pods[1].key, "x/b");
  EXPECT_FALSE(d.pods[1].after.has_value());
  EXPECT_EQ(d.pods[2].key, "x/c");
  EXPECT_FALSE(d.pods[2].before.has_value());

  ir::RuleSet applied = from;
  ir::patch(applied, d);
  EXPECT_TRUE(applied == to);
  // And back.
  ir::patch(applied, ir::diff(to, from));
  EXPECT_TRUE(applied == from);
}

TEST(Diff, ASetThatChangedDefinitionIsRecreated) {
  ir::RuleSet from = base();
  ir::RuleSet to = base();
  to.sets["pods-BBBBBBBB"].comment = "pods app=db in ns x";
  ir::Delta d = ir::diff(from, to);
  ASSERT_EQ(d.sets.size(), 1u);
  ASSERT_TRUE(d.sets[0].created.has_value());
  ir::patch(from, d);
  EXPECT_EQ(from.sets.at("pods-BBBBBBBB").comment, "pods app=db in ns x");
}

TEST(ToJson, DocumentedLayout) {
  ir::RuleSet rs;
  rs.node = "n1";
  ir::LocalPod a = local("x", "a", "10.0.0.1");
  a.ips.push_back(ip("fd00::1"));
  a.ingress = ir::Chain{
      {"x/p"},
      {ir::Rule{"x/p", 0, {ir::PeerMatch::Kind::Set, "cidr-C"}, 6, {{80, 80}, {8000, 8100}}, ""},
       ir::Rule{"x/p", 1, {}, std::nullopt, {}, ""}}};
  a.egress = ir::Chain{{"x/q"}, {ir::Rule{"x/q", 0, {}, 132, {}, "nport-N"}}};
  rs.pods["x/a"] = a;
  rs.sets["cidr-C"] =
      ir::Set{"cidr-C",
              ir::SetKind::Cidr,
              "10.0.0.0/8 except 10.1.0.0/16",
              {{ip("10.0.0.0"), ip("10.0.255.255")}, {ip("10.2.0.0"), ip("10.255.255.255")}}};
  rs.sets["nport-N"] = ir::Set{"nport-N",
                               ir::SetKind::NamedPort,
                               "named port web/SCTP",
                               {{ip("10.0.0.7"), ip("10.0.0.7"), 132, 8080}}};
  rs.sets["pods-P"] = ir::Set{
      "pods-P", ir::SetKind::Pods, "pods * in all namespaces", {host("10.0.0.1"), host("fd00::1")}};
  rs.warnings = {"IP 10.0.0.5 held by x/a and x/b; enforcing for x/a"};
  const char* want = R"({
  "version": 1,
  "node": "n1",
  "pods": [
    {
      "namespace": "x",
      "name": "a",
      "ips": [
        "10.0.0.1",
        "fd00::1"
      ],
      "ingress": {
        "policies": [
          "x/p"
        ],
        "rules": [
          {
            "policy": "x/p",
            "rule": 0,
            "peer": "cidr-C",
            "protocol": "TCP",
            "ports": [
              "80",
              "8000-8100"
            ],
            "named_port_set": null
          },
          {
            "policy": "x/p",
            "rule": 1,
            "peer": "any",
            "protocol": null,
            "ports": [],
            "named_port_set": null
          }
        ]
      },
      "egress": {
        "policies": [
          "x/q"
        ],
        "rules": [
          {
            "policy": "x/q",
            "rule": 0,
            "peer": "any",
            "protocol": "SCTP",
            "ports": [],
            "named_port_set": "nport-N"
          }
        ]
      }
    }
  ],
  "sets": [
    {
      "name": "cidr-C",
      "kind": "cidr",
      "comment": "10.0.0.0/8 except 10.1.0.0/16",
      "elements": [
        "10.0.0.0/16",
        "10.2.0.0-10.255.255.255"
      ]
    },
    {
      "name": "nport-N",
      "kind": "named-port",
      "comment": "named port web/SCTP",
      "elements": [
        {
          "ip": "10.0.0.7",
          "protocol": "SCTP",
          "port": 8080
        }
      ]
    },
    {
      "name": "pods-P",
      "kind": "pods",
      "comment": "pods * in all namespaces",
      "elements": [
        "10.0.0.1",
        "fd00::1"
      ]
    }
  ],
  "warnings": [
    "IP 10.0.0.5 held by x/a and x/b; enforcing for x/a"
  ]
}
)";
  EXPECT_EQ(ir::to_json(rs), want);
}

TEST(ToJson, PodWithoutChainsHasNulls) {
  ir::RuleSet rs;
  rs.node = "n";
  rs.pods["x/b"] = local("x", "b", "10.0.0.2");
  std::string j = ir::to_json(rs);
  EXPECT_NE(j.find("\"ingress\": null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"egress\": null"), std::string::npos) << j;
  EXPECT_EQ(j.back(), '\n');
}

}  // namespace
}  // namespace netpol::ctest
