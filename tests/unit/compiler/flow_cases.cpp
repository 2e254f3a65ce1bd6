#include "tests/unit/compiler/flow_cases.h"

#include <algorithm>

namespace netpol::ctest {

k8s::Objects e2e_model() {
  k8s::Objects o;
  const std::vector<std::string> spaces = {"x", "y", "z"};
  const std::vector<std::string> names = {"a", "b", "c"};
  for (size_t n = 0; n < spaces.size(); ++n) {
    o.namespaces.push_back(ns(spaces[n], {{"ns", spaces[n]}}));
    for (size_t i = 0; i < names.size(); ++i) {
      std::vector<k8s::ContainerPort> ports;
      for (uint16_t number : {80, 81})
        for (Protocol proto : {Protocol::TCP, Protocol::UDP, Protocol::SCTP}) {
          std::string pname = k8s::to_string(proto);
          std::transform(pname.begin(), pname.end(), pname.begin(), ::tolower);
          ports.push_back({"serve-" + std::to_string(number) + "-" + pname, number, proto});
        }
      if (names[i] == "a") ports.push_back({"web", 8080, Protocol::TCP});
      if (names[i] == "b") ports.push_back({"web", 9090, Protocol::TCP});
      std::string n1 = std::to_string(n + 1), i1 = std::to_string(i + 1);
      o.pods.push_back(pod(spaces[n], names[i], names[i] == "c" ? "node-2" : "node-1",
                           {"10.0." + n1 + "." + i1, "fd00::" + n1 + ":" + i1}, {{"pod", names[i]}},
                           ports));
    }
  }
  return o;
}

namespace {

IpAddr resolve(const k8s::Objects& o, const std::string& who) {
  if (auto a = IpAddr::parse(who)) return *a;
  bool v6 = who.size() > 2 && who.substr(who.size() - 2) == "@6";
  std::string key = v6 ? who.substr(0, who.size() - 2) : who;
  for (const auto& p : o.pods) {
    if (p.key() != key) continue;
    for (const auto& a : p.ips)
      if (a.is_v4() != v6) return a;
  }
  ADD_FAILURE() << "test names unknown endpoint " << who;
  return IpAddr{};
}

}  // namespace

void expect_flows(const k8s::Objects& objects, const std::vector<Case>& cases) {
  std::vector<ir::RuleSet> irs;
  for (const auto& node : nodes_of(objects)) irs.push_back(compiler::compile(objects, node));
  std::vector<const ir::RuleSet*> ptrs;
  for (const auto& rs : irs) ptrs.push_back(&rs);
  for (const Case& c : cases) {
    flow::Packet pk{resolve(objects, c.src), resolve(objects, c.dst), static_cast<uint8_t>(c.proto),
                    c.port};
    flow::Verdict v = flow::evaluate(ptrs, pk);
    EXPECT_EQ(v.allowed, c.allow) << c.src << " -> " << c.dst << " " << k8s::to_string(c.proto)
                                  << "/" << c.port << ": expected " << (c.allow ? "allow" : "deny")
                                  << ", got " << v.why;
    EXPECT_TRUE(v.problems.empty()) << v.problems.front();
  }
}

}  // namespace netpol::ctest
