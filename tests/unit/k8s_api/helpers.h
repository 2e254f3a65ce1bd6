// Shared pieces of the k8s/api tests: a fake server per test, temp dirs,
// certificates made with the openssl CLI, a scripted clock; the object
// manifests come from tests/support/manifests.h.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "k8s/api/client.h"
#include "k8s/api/informer.h"
#include "tests/fakeapi/fake_apiserver.h"
#include "tests/support/eventually.h"
#include "tests/support/manifests.h"

namespace netpol::k8s::api::testing {

using fakeapi::json;
using fakeapi::Kind;

// A directory removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "k8sapi-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
    return file(name);
  }

 private:
  std::string path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs a shell command; returns its exit status and fills *out with stdout+stderr.
inline int run(const std::string& cmd, std::string* out = nullptr) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int st = ::pclose(p);
  if (out) *out = text;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A CA, a server certificate for 127.0.0.1/::1/localhost and a client
// certificate, made once per test program with the openssl CLI.
struct Certs {
  std::string dir, ca_crt, ca_key, server_crt, server_key, client_crt, client_key;
  std::string other_ca_crt;  // a CA that signed nothing we use
};

inline const Certs& certs() {
  static TempDir dir_holder;  // removed at exit; every test of the program shares it
  static TempDir* dir = &dir_holder;
  static Certs c = [] {
    Certs c;
    c.dir = dir->path();
    auto f = [&](const char* n) { return c.dir + "/" + n; };
    c.ca_crt = f("ca.crt");
    c.ca_key = f("ca.key");
    c.server_crt = f("server.crt");
    c.server_key = f("server.key");
    c.client_crt = f("client.crt");
    c.client_key = f("client.key");
    c.other_ca_crt = f("other-ca.crt");
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    dir->write("server.ext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n");
    dir->write("client.ext", "extendedKeyUsage=clientAuth\n");
    const std::string script =
        "set -e; cd " + c.dir + "; " + "openssl req -x509 " + ec +
        " -keyout ca.key -out ca.crt -days 2 -subj /CN=fake-ca; " + "openssl req -x509 " + ec +
        " -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca; " + "openssl req " +
        ec + " -keyout server.key -out server.csr -subj /CN=fake-apiserver; " +
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
        "-days 2 -extfile server.ext; " +
        "openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=netpol-agent; " +
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt "
        "-days 2 -extfile client.ext";
    std::string out;
    if (run("bash -c '" + script + "'", &out) != 0) ADD_FAILURE() << "openssl failed: " << out;
    return c;
  }();
  return c;
}

// The real kubectl: its path on PATH ("" when it is not installed).
inline std::string kubectl_path() {
  std::string out;
  if (run("command -v kubectl", &out) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A kubeconfig for kubectl: the fake server at `url` (TLS, certs()' CA) and a
// bearer token.
inline std::string kubectl_config(const std::string& url, const std::string& token) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
         "clusters:\n- name: fake\n  cluster:\n    server: " +
         url + "\n    certificate-authority: " + certs().ca_crt +
         "\nusers:\n- name: tester\n  user:\n    token: " + token +
         "\ncontexts:\n- name: fake\n  context: {cluster: fake, user: tester}\n";
}

// run() with the command line and its output in the test log ("$ CMD"), so a
// reader can repeat it by hand against build/bin/fake-apiserver.
inline int run_logged(const std::string& cmd, std::string* out = nullptr) {
  std::cout << "$ " << cmd << "\n";
  std::string text;
  const int rc = run(cmd, &text);
  std::cout << text;
  if (out) *out = text;
  return rc;
}

inline std::unique_ptr<fakeapi::Server> start_fake(fakeapi::Options o = {}) {
  std::string err;
  auto s = fakeapi::Server::start(std::move(o), &err);
  EXPECT_TRUE(s) << err;
  return s;
}

inline std::unique_ptr<fakeapi::Server> start_fake_tls(fakeapi::Options o = {}) {
  o.tls_cert_file = certs().server_crt;
  o.tls_key_file = certs().server_key;
  return start_fake(std::move(o));
}

// A client of the fake: protobuf lists and watches (the default), or JSON
// for tests that read the objects' JSON text themselves (json_client_for).
inline std::shared_ptr<ApiClient> client_for(
    const std::string& url, const std::string& token = "",
    std::chrono::milliseconds timeout = std::chrono::seconds(10), bool protobuf = true) {
  ClientConfig cfg;
  cfg.server = url;
  cfg.token = token;
  cfg.request_timeout = timeout;
  cfg.protobuf = protobuf;
  auto c = make_http_client(cfg);
  EXPECT_TRUE(c.ok()) << c.status().str();
  return c.ok() ? c.value() : nullptr;
}

inline std::shared_ptr<ApiClient> json_client_for(const std::string& url) {
  return client_for(url, "", std::chrono::seconds(10), false);
}

// Manifests to feed the fake server: tests/support/manifests.h.
using testsupport::manifest;
using testsupport::ns_json;
using testsupport::pod_json;
using testsupport::pod_status;
using testsupport::policy_json;

// A clock whose sleeps return at once (recording what was asked and moving
// time on by it), or, when gated, block until the test opens the gate.
class FakeClock final : public ManualClock {
 public:
  bool sleep_for(std::chrono::milliseconds d) override {
    advance(d);
    MutexLock lock(mu_);
    sleeps_.push_back(d);
    cv_.notify_all();
    cv_.wait(lock, [&]() REQUIRES(mu_) { return interrupted_ || !gated_; });
    return !interrupted_;
  }
  void interrupt() override {
    MutexLock lock(mu_);
    interrupted_ = true;
    cv_.notify_all();
  }
  void gate(bool closed) {
    MutexLock lock(mu_);
    gated_ = closed;
    cv_.notify_all();
  }
  // Waits until at least n sleeps happened.
  bool wait_sleeps(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    MutexLock lock(mu_);
    return cv_.native().wait_for(lock, timeout,
                                 [&]() REQUIRES(mu_) { return sleeps_.size() >= n; });
  }
  std::vector<std::chrono::milliseconds> sleeps() {
    MutexLock lock(mu_);
    return sleeps_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::vector<std::chrono::milliseconds> sleeps_ GUARDED_BY(mu_);
  bool interrupted_ GUARDED_BY(mu_) = false;
  bool gated_ GUARDED_BY(mu_) = false;
};

using testsupport::eventually;

}  // namespace netpol::k8s::api::testing
