// Where the API server is and how to prove who we are: kubeconfig files and
// the in-cluster service-account layout, turned into one ClientConfig.
//
// Loading never throws and never touches the network; every problem comes back
// as a Status naming the file and the field. TokenSource re-reads a token file
// when it changes on disk, because bound service-account tokens rotate
// (the kubelet swaps the file about every hour).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "k8s/api/status.h"
#include "k8s/thread_annotations.h"

namespace netpol::k8s::api {

// Everything needed to reach one API server as one identity. Plain data: it
// never opens files or sockets itself (make_http_client reads the files).
struct ClientConfig {
  std::string server;  // "https://host:port" or "http://host:port", no trailing slash

  // TLS. PEM text in *_data (already base64-decoded), or a path in *_file.
  std::string ca_file, ca_data;
  std::string client_cert_file, client_cert_data;
  std::string client_key_file, client_key_data;
  bool insecure_skip_tls_verify = false;

  // Bearer token: a fixed value, or a file re-read when it changes (wins if both).
  std::string token;
  std::string token_file;

  std::string default_namespace;  // context namespace / service-account namespace
  // No byte received for this long fails a list or get (Code::Timeout).
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // A watch that receives nothing, not even a bookmark (the API server sends
  // one about every minute), for this long is ended like one the server
  // closed, so a dead connection is replaced. Its connect and headers wait
  // this long too.
  std::chrono::milliseconds watch_idle_timeout{std::chrono::seconds(150)};
  std::string user_agent = "netpol-agent/0.1";
  // Lists and watches of Pods, Namespaces and NetworkPolicies ask for
  // application/vnd.kubernetes.protobuf (with JSON as the fallback the server
  // may answer instead) unless false; custom resources always ask for JSON.
  bool protobuf = true;
  // Where this came from, for messages: "kubeconfig /root/.kube/config (context kind)".
  std::string source;
};

// Reads a kubeconfig (YAML). `context` empty means current-context. Relative
// file paths are resolved against the kubeconfig's directory, as kubectl does.
// `path` may be a ':'-separated list, merged as kubectl merges $KUBECONFIG
// (first file to define a name or current-context wins).
Result<ClientConfig> load_kubeconfig(const std::string& path, const std::string& context = "");

// The in-cluster layout: $KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT and
// token, ca.crt and namespace under `service_account_dir`. Both are injectable
// so tests can point it at a temp dir.
struct InClusterEnv {
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  // Environment lookup; the real getenv when empty.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};
Result<ClientConfig> in_cluster_config(const InClusterEnv& env = {});

// kubectl's order: an explicit kubeconfig path, else $KUBECONFIG, else the
// in-cluster layout when $KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
Result<ClientConfig> default_config(const std::string& kubeconfig = "",
                                    const std::string& context = "");

// The bearer token to send, thread-safe. With a file, each current() call
// stats it (cheap) and re-reads it when its inode, size or mtime changed; a
// 401 calls invalidate() so the next request reads it again regardless.
class TokenSource {
 public:
  TokenSource() = default;
  explicit TokenSource(std::string token, std::string token_file = "");

  // The token, or a Status naming the file if it cannot be read.
  Result<std::string> current();
  void invalidate();
  bool empty() const {
    MutexLock lock(mu_);
    return token_.empty() && file_.empty();
  }

 private:
  struct FileStamp {
    ino_t ino = 0;
    off_t size = -1;
    struct timespec mtime {};
  };

  mutable Mutex mu_;
  std::string token_ GUARDED_BY(mu_);
  std::string file_;
  std::optional<FileStamp> stamp_ GUARDED_BY(mu_);  // of the last successful read
};

// Standard base64 (with or without padding, whitespace ignored); nullopt on junk.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace netpol::k8s::api
