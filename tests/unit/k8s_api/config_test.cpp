// kubeconfig and in-cluster loading, token rotation, base64.
#include "k8s/api/config.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "tests/support/base64.h"
#include "tests/unit/k8s_api/helpers.h"

namespace netpol::k8s::api {
namespace {

using testing::TempDir;

std::string b64(const std::string& s) {
  return testsupport::base64(s);
}

const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: certs/ca.crt
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:443
    certificate-authority-data: %CA%
    insecure-skip-tls-verify: false
users:
- name: dev-user
  user:
    tokenFile: token
- name: prod-user
  user:
    client-certificate-data: %CERT%
    client-key-data: %KEY%
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
)";

std::string fill(std::string s, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars) {
    for (size_t p; (p = s.find(k)) != std::string::npos;) s.replace(p, k.size(), v);
  }
  return s;
}

TEST(Kubeconfig, CurrentContextWithRelativePaths) {
  TempDir d;
  const auto path = d.write(
      "config", fill(kTwoContexts,
                     {{"%CA%", b64("CA PEM")}, {"%CERT%", b64("CERT")}, {"%KEY%", b64("KEY")}}));
  auto cfg = load_kubeconfig(path);
  ASSERT_TRUE(cfg.ok()) << cfg.status().str();
  EXPECT_EQ(cfg.value().server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(cfg.value().ca_file, d.path() + "/certs/ca.crt");
  EXPECT_EQ(cfg.value().token_file, d.path() + "/token");
  EXPECT_EQ(cfg.value().default_namespace, "team-a");
  EXPECT_NE(cfg.value().source.find("context dev"), std::string::npos);
}

TEST(Kubeconfig, ExplicitContextWithInlineData) {
  TempDir d;
  const auto path = d.write(
      "config", fill(kTwoContexts,
                     {{"%CA%", b64("CA PEM")}, {"%CERT%", b64("CERT")}, {"%KEY%", b64("KEY")}}));
  auto cfg = load_kubeconfig(path, "prod");
  ASSERT_TRUE(cfg.ok()) << cfg.status().str();
  EXPECT_EQ(cfg.value().server, "https://10.0.0.1:443");
  EXPECT_EQ(cfg.value().ca_data, "CA PEM");
  EXPECT_EQ(cfg.value().client_cert_data, "CERT");
  EXPECT_EQ(cfg.value().client_key_data, "KEY");
  EXPECT_TRUE(cfg.value().token.empty());
}

TEST(Kubeconfig, ErrorsNameTheProblem) {
  TempDir d;
  struct Case {
    std::string text, context, expect;
  };
  const std::vector<Case> cases = {
      {fill(kTwoContexts, {{"%CA%", "not*base64"}, {"%CERT%", "x"}, {"%KEY%", "x"}}), "prod",
       "certificate-authority-data: not valid base64"},
      {fill(kTwoContexts, {{"%CA%", "x"}, {"%CERT%", "x"}, {"%KEY%", "x"}}), "nope",
       "context \"nope\" not found"},
      {"clusters: [a, b", "", "kubeconfig "},
      {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: gone, user: u}\n", "",
       "names cluster \"gone\", which is not defined"},
      {"current-context: c\nclusters:\n- name: k\n  cluster: {server: ftp://x}\ncontexts:\n- name: "
       "c\n"
       "  context: {cluster: k}\n",
       "", "is not an http(s) URL"},
      {"current-context: c\nclusters:\n- name: k\n  cluster: {server: https://x}\nusers:\n- name: "
       "u\n"
       "  user:\n    exec: {command: aws}\ncontexts:\n- name: c\n  context: {cluster: k, user: "
       "u}\n",
       "", "exec and auth-provider credential plugins are not supported"},
      {"current-context: c\nclusters:\n- name: k\n  cluster: {server: https://x}\nusers:\n- name: "
       "u\n"
       "  user: {client-certificate: c.crt}\ncontexts:\n- name: c\n  context: {cluster: k, user: "
       "u}\n",
       "", "client-certificate and client-key must be given together"},
  };
  for (const auto& c : cases) {
    const auto path = d.write("bad", c.text);
    auto cfg = load_kubeconfig(path, c.context);
    ASSERT_FALSE(cfg.ok()) << c.text;
    EXPECT_EQ(cfg.status().code(), Code::InvalidArgument);
    EXPECT_NE(cfg.status().message().find(c.expect), std::string::npos) << cfg.status().message();
    EXPECT_NE(cfg.status().message().find(path), std::string::npos) << "names the file";
  }
  auto missing = load_kubeconfig(d.file("does-not-exist"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot read"), std::string::npos);
}

TEST(Kubeconfig, KubeconfigListMergesFirstWins) {
  TempDir d;
  const auto a = d.write(
      "a", "current-context: one\nclusters:\n- name: k\n  cluster: {server: https://first}\n");
  const auto b =
      d.write("b",
              "current-context: two\nclusters:\n- name: k\n  cluster: {server: https://second}\n"
              "contexts:\n- name: one\n  context: {cluster: k}\n");
  auto cfg = load_kubeconfig(a + ":" + b);
  ASSERT_TRUE(cfg.ok()) << cfg.status().str();
  EXPECT_EQ(cfg.value().server, "https://first");
}

TEST(InCluster, ReadsEnvironmentAndServiceAccountFiles) {
  TempDir d;
  d.write("token", "tok-1\n");
  d.write("ca.crt", "PEM");
  d.write("namespace", "kube-system\n");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  InClusterEnv ic{d.path(), [&](const std::string& k) -> std::optional<std::string> {
                    auto it = env.find(k);
                    if (it == env.end()) return std::nullopt;
                    return it->second;
                  }};
  auto cfg = in_cluster_config(ic);
  ASSERT_TRUE(cfg.ok()) << cfg.status().str();
  EXPECT_EQ(cfg.value().server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg.value().token_file, d.file("token"));
  EXPECT_EQ(cfg.value().ca_file, d.file("ca.crt"));
  EXPECT_EQ(cfg.value().default_namespace, "kube-system");

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  cfg = in_cluster_config(ic);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg.value().server, "https://[fd00::1]:443");

  env.erase("KUBERNETES_SERVICE_PORT");
  cfg = in_cluster_config(ic);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("KUBERNETES_SERVICE_PORT"), std::string::npos);
}

TEST(InCluster, MissingTokenIsReported) {
  TempDir d;
  InClusterEnv ic{d.path(), [](const std::string& k) -> std::optional<std::string> {
                    return k == "KUBERNETES_SERVICE_HOST" ? "10.0.0.1" : "443";
                  }};
  auto cfg = in_cluster_config(ic);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find(d.file("token")), std::string::npos);
}

TEST(TokenSource, FixedToken) {
  TokenSource t("abc");
  EXPECT_EQ(t.current().value(), "abc");
}

TEST(TokenSource, RereadsTheFileWhenItChanges) {
  TempDir d;
  d.write("token", "first\n");
  TokenSource t("", d.file("token"));
  EXPECT_EQ(t.current().value(), "first");
  // The kubelet rotates by writing a new file and renaming it over the old one.
  d.write("token.new", "second");
  std::filesystem::rename(d.file("token.new"), d.file("token"));
  EXPECT_EQ(t.current().value(), "second");
  // A briefly missing file keeps the last good token.
  std::filesystem::remove(d.file("token"));
  EXPECT_EQ(t.current().value(), "second");
  TokenSource never("", d.file("never"));
  EXPECT_FALSE(never.current().ok());
}

TEST(Base64, DecodesStandardAndUrlAlphabets) {
  EXPECT_EQ(base64_decode("aGVsbG8gd29ybGQ=").value(), "hello world");
  EXPECT_EQ(base64_decode("aGVsbG8gd29ybGQ").value(), "hello world");
  EXPECT_EQ(base64_decode("aGVs\nbG8=").value(), "hello");
  EXPECT_EQ(base64_decode("-_8=").value(), base64_decode("+/8=").value());
  EXPECT_FALSE(base64_decode("a$b="));
  EXPECT_FALSE(base64_decode("aGk=aGk="));
}

}  // namespace
}  // namespace netpol::k8s::api
