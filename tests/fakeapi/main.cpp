// fake-apiserver: the fake API server as a standalone program, for pointing
// kubectl or the agent at by hand. Serves until SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>

#include "tests/fakeapi/fake_apiserver.h"

int main(int argc, char** argv) {
  netpol::fakeapi::Options o;
  std::string port_file;
  std::string token_file;
  int64_t bookmark_ms = 1000;
  int64_t hang_ms = 0;
  bool verbose = false;
  bool no_cnp_crd = false;
  bool print_cnp_crd = false;
  CLI::App app{
      "fake-apiserver: a stand-in kube-apiserver serving Namespaces, Pods, NetworkPolicies, Nodes "
      "and ClusterNetworkPolicies"};
  app.add_option("--listen", o.listen, "ADDR:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--tls-cert", o.tls_cert_file, "PEM certificate (chain): serve HTTPS");
  app.add_option("--tls-key", o.tls_key_file, "PEM private key of --tls-cert");
  app.add_option("--client-ca", o.client_ca_file, "accept client certificates signed by this CA");
  app.add_option("--token", o.tokens,
                 "accepted bearer token (repeatable); none: no authentication");
  app.add_option("--token-file", token_file, "read one more accepted token from this file");
  app.add_option("--port-file", port_file, "write the chosen port here once listening");
  app.add_flag(
      "--gone-as-http-status", o.gone_as_http_status,
      "watch from a compacted resourceVersion answers HTTP 410 (default: 200 + ERROR event)");
  app.add_option("--bookmark-interval-ms", bookmark_ms, "bookmark period for watches (0: none)")
      ->capture_default_str();
  app.add_option("--history-limit", o.history_limit, "watch events kept before compaction")
      ->capture_default_str();
  app.add_flag("--keep-pod-status", o.keep_pod_status,
               "keep .status given in pod create/update (stand in for the kubelet)");
  app.add_option("--drop-watch-after", o.faults.drop_watch_after,
                 "fault: cut every watch after N events");
  app.add_option("--error-rate", o.faults.error_rate,
                 "fault: answer this fraction of resource requests 500");
  app.add_option("--hang-rate", o.faults.hang_rate,
                 "fault: hang this fraction of resource requests");
  app.add_option("--hang-ms", hang_ms, "fault: how long a hang lasts");
  app.add_option("--compact-every", o.faults.compact_every,
                 "fault: compact the history every N writes");
  app.add_option("--seed", o.seed, "seed for uids and fault dice")->capture_default_str();
  bool no_watch_list = false;
  app.add_flag("--no-watch-list", no_watch_list,
               "answer like a server before Kubernetes 1.27: no watch-list (sendInitialEvents); "
               "resourceVersionMatch on a watch is 422 Invalid");
  app.add_flag("--no-cnp-crd", no_cnp_crd,
               "start without the ClusterNetworkPolicy CRD: policy.networking.k8s.io answers 404 "
               "until the CRD is created (see --print-cnp-crd)");
  app.add_flag("--print-cnp-crd", print_cnp_crd,
               "print the ClusterNetworkPolicy CRD as JSON and exit (for kubectl apply -f -)");
  app.add_flag("-v,--verbose", verbose, "log every request to stderr");
  CLI11_PARSE(app, argc, argv);
  o.watch_list = !no_watch_list;

  if (print_cnp_crd) {
    std::cout << netpol::fakeapi::cnp_crd_object().dump(2) << "\n";
    return 0;
  }
  o.install_cnp_crd = !no_cnp_crd;
  o.bookmark_interval = std::chrono::milliseconds(bookmark_ms);
  o.faults.hang_for = std::chrono::milliseconds(hang_ms);
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string tok;
    if (!(in >> tok)) {
      std::cerr << "fake-apiserver: cannot read a token from " << token_file << "\n";
      return 2;
    }
    o.tokens.push_back(tok);
  }
  if (verbose) o.log = [](const std::string& line) { std::cerr << line << "\n"; };

  // Block the signals before any thread starts, then wait for one.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::string error;
  auto server = netpol::fakeapi::Server::start(o, &error);
  if (!server) {
    std::cerr << "fake-apiserver: " << error << "\n";
    return 1;
  }
  std::cout << "fake-apiserver: serving " << server->url() << std::endl;
  if (!port_file.empty()) {
    // Write then rename, so a reader never sees a half-written file.
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << server->port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  server->stop();
  return 0;
}
