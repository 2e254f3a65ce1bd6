// decode_invocation: which IPs and which host-side interface netpol-cni takes
// from the prevResult of the main plugins it is chained after.
#include "agent/cni/invocation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace netpol::cni {
namespace {

using json = nlohmann::json;

Env add_env() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c1"},
          {"CNI_NETNS", "/run/netns/p"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_ARGS", "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b"}};
}

Request decoded(const json& prev) {
  json c = {{"cniVersion", "1.0.0"}, {"name", "n"}, {"type", "netpol-cni"}, {"prevResult", prev}};
  auto r = decode_invocation(add_env(), c.dump());
  if (auto* e = std::get_if<CniError>(&r)) {
    ADD_FAILURE() << e->json();
    return {};
  }
  return std::get<Invocation>(r).request;
}

TEST(CniInvocation, HostInterfaceIsTheVethPeerForBridgePtpAndCalico) {
  // ptp (kindnet): host veth, then the pod's.
  Request r =
      decoded(json::parse(R"({"interfaces":[{"name":"veth9"},{"name":"eth0","sandbox":"/p"}],
      "ips":[{"address":"10.0.0.5/32","interface":1}]})"));
  EXPECT_EQ(r.host_interface, "veth9");
  EXPECT_EQ(r.ips, std::vector<std::string>{"10.0.0.5"});
  // Calico: only the host side is listed, the IP names no interface.
  r = decoded(
      json::parse(R"({"interfaces":[{"name":"cali1234"}],"ips":[{"address":"10.1.2.3/32"}]})"));
  EXPECT_EQ(r.host_interface, "cali1234");
  EXPECT_EQ(r.ips, std::vector<std::string>{"10.1.2.3"});
  // macvlan: nothing on the host side; IPs only.
  r = decoded(json::parse(R"({"interfaces":[{"name":"eth0","sandbox":"/p"}],
      "ips":[{"address":"192.168.1.9/24","interface":0}]})"));
  EXPECT_EQ(r.host_interface, "");
}

TEST(CniInvocation, IpsAreCanonicalDedupedAndOnlyThePods) {
  Request r = decoded(
      json::parse(R"({"interfaces":[{"name":"br0"},{"name":"veth1"},{"name":"eth0","sandbox":"/p"}],
      "ips":[{"address":"FD00:0::07/64","interface":2},{"address":"fd00::7/64","interface":2},
             {"address":"10.9.0.1/24","interface":0},{"address":"10.9.0.7/24","interface":2}]})"));
  EXPECT_EQ(r.ips, (std::vector<std::string>{"fd00::7", "10.9.0.7"}));
  EXPECT_EQ(r.host_interface, "veth1");
}

TEST(CniInvocation, BadPrevResultsAreInvalidConfig) {
  for (const char* prev :
       {R"({"ips":[{"address":"10.0.0.1"}]})",  // no prefix length
        R"({"ips":[{"address":"10.0.0.1/24","interface":3}]})",
        R"({"ips":{"address":"10.0.0.1/24"}})", R"({"interfaces":[{}]})", R"("x")"}) {
    json c = {{"cniVersion", "1.0.0"}, {"name", "n"}, {"prevResult", json::parse(prev)}};
    auto r = decode_invocation(add_env(), c.dump());
    ASSERT_TRUE(std::holds_alternative<CniError>(r)) << prev;
    EXPECT_EQ(std::get<CniError>(r).code, kInvalidConfig) << prev;
    EXPECT_EQ(std::get<CniError>(r).cni_version, "1.0.0");
  }
}

}  // namespace
}  // namespace netpol::cni
