// Selector semantics (the truth tables of metav1.LabelSelector) and the enum
// names that appear in errors, comments and the IR.
#include "k8s/model.h"

#include <gtest/gtest.h>

namespace netpol::k8s {
namespace {

using Op = Requirement::Op;

LabelSelector expr(std::string key, Op op, std::vector<std::string> values = {}) {
  LabelSelector s;
  s.match_expressions.push_back({std::move(key), op, std::move(values)});
  return s;
}

struct Row {
  const char* what;
  Labels labels;
  bool want;
};

void check(const LabelSelector& sel, const std::vector<Row>& rows) {
  for (const Row& r : rows) EXPECT_EQ(sel.matches(r.labels), r.want) << sel.str() << ": " << r.what;
}

TEST(LabelSelector, EmptyMatchesEverything) {
  LabelSelector sel;
  EXPECT_TRUE(sel.empty());
  check(sel, {{"no labels", {}, true}, {"some labels", {{"a", "b"}}, true}});
}

TEST(LabelSelector, MatchLabels) {
  LabelSelector sel;
  sel.match_labels = {{"app", "web"}, {"tier", "front"}};
  check(sel, {{"both", {{"app", "web"}, {"tier", "front"}}, true},
              {"both plus more", {{"app", "web"}, {"tier", "front"}, {"x", "y"}}, true},
              {"one missing", {{"app", "web"}}, false},
              {"value differs", {{"app", "web"}, {"tier", "back"}}, false},
              {"none", {}, false}});
  LabelSelector empty_value;
  empty_value.match_labels = {{"flag", ""}};
  check(empty_value, {{"empty value present", {{"flag", ""}}, true},
                      {"absent", {}, false},
                      {"non-empty", {{"flag", "x"}}, false}});
}

TEST(LabelSelector, In) {
  check(expr("env", Op::In, {"dev", "prod"}), {{"first value", {{"env", "dev"}}, true},
                                               {"second value", {{"env", "prod"}}, true},
                                               {"other value", {{"env", "qa"}}, false},
                                               {"key absent", {{"x", "dev"}}, false}});
}

TEST(LabelSelector, NotIn) {
  check(expr("env", Op::NotIn, {"dev", "prod"}), {{"listed value", {{"env", "dev"}}, false},
                                                  {"other value", {{"env", "qa"}}, true},
                                                  {"key absent", {}, true}});
}

TEST(LabelSelector, ExistsAndDoesNotExist) {
  check(expr("legacy", Op::Exists), {{"present", {{"legacy", "yes"}}, true},
                                     {"present empty", {{"legacy", ""}}, true},
                                     {"absent", {{"other", "x"}}, false}});
  check(expr("legacy", Op::DoesNotExist),
        {{"present", {{"legacy", ""}}, false}, {"absent", {{"other", "x"}}, true}});
}

TEST(LabelSelector, EveryTermMustHold) {
  LabelSelector sel;
  sel.match_labels = {{"app", "web"}};
  sel.match_expressions = {{"env", Op::In, {"prod"}}, {"legacy", Op::DoesNotExist, {}}};
  check(sel, {{"all hold", {{"app", "web"}, {"env", "prod"}}, true},
              {"label fails", {{"app", "db"}, {"env", "prod"}}, false},
              {"In fails", {{"app", "web"}, {"env", "dev"}}, false},
              {"DoesNotExist fails", {{"app", "web"}, {"env", "prod"}, {"legacy", "1"}}, false}});
}

TEST(LabelSelector, KeysAreSortedAndUnique) {
  LabelSelector sel;
  sel.match_labels = {{"b", "1"}, {"a", "2"}};
  sel.match_expressions = {{"c", Op::Exists, {}}, {"a", Op::In, {"x"}}};
  EXPECT_EQ(sel.keys(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(LabelSelector{}.keys().empty());
}

TEST(LabelSelector, Str) {
  LabelSelector sel;
  sel.match_labels = {{"app", "web"}};
  sel.match_expressions = {{"tier", Op::In, {"a", "b"}},
                           {"zone", Op::NotIn, {"z1"}},
                           {"legacy", Op::DoesNotExist, {}},
                           {"env", Op::Exists, {}}};
  EXPECT_EQ(sel.str(), "app=web,tier in (a,b),zone notin (z1),!legacy,env");
  EXPECT_EQ(LabelSelector{}.str(), "");
  EXPECT_EQ(expr("x", Op::Exists).str(), "x");
}

TEST(Enums, Names) {
  EXPECT_STREQ(to_string(Protocol::TCP), "TCP");
  EXPECT_STREQ(to_string(Protocol::UDP), "UDP");
  EXPECT_STREQ(to_string(Protocol::SCTP), "SCTP");
  EXPECT_EQ(protocol_from_string("TCP"), Protocol::TCP);
  EXPECT_EQ(protocol_from_string("UDP"), Protocol::UDP);
  EXPECT_EQ(protocol_from_string("SCTP"), Protocol::SCTP);
  EXPECT_FALSE(protocol_from_string("tcp"));
  EXPECT_FALSE(protocol_from_string("ICMP"));
  EXPECT_FALSE(protocol_from_string(""));
  EXPECT_STREQ(to_string(Op::In), "In");
  EXPECT_STREQ(to_string(Op::NotIn), "NotIn");
  EXPECT_STREQ(to_string(Op::Exists), "Exists");
  EXPECT_STREQ(to_string(Op::DoesNotExist), "DoesNotExist");
  EXPECT_STREQ(to_string(PodPhase::Pending), "Pending");
  EXPECT_STREQ(to_string(PodPhase::Running), "Running");
  EXPECT_STREQ(to_string(PodPhase::Succeeded), "Succeeded");
  EXPECT_STREQ(to_string(PodPhase::Failed), "Failed");
  EXPECT_STREQ(to_string(PodPhase::Unknown), "Unknown");
}

TEST(Pod, Enforceable) {
  Pod p;
  p.ips = {*IpAddr::parse("10.0.0.1")};
  p.phase = PodPhase::Running;
  EXPECT_TRUE(p.enforceable());
  Pod host = p;
  host.host_network = true;
  EXPECT_FALSE(host.enforceable());
  Pod done = p;
  done.phase = PodPhase::Succeeded;
  EXPECT_FALSE(done.enforceable());
  Pod no_ip = p;
  no_ip.ips.clear();
  EXPECT_FALSE(no_ip.enforceable());
}

}  // namespace
}  // namespace netpol::k8s
