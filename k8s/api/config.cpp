// kubeconfig / in-cluster loading. yaml-cpp throws on malformed input; every
// call into it sits inside a try block so nothing escapes as an exception.
#include "k8s/api/config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace netpol::k8s::api {

namespace {

Status invalid(std::string msg) {
  return Status(Code::InvalidArgument, std::move(msg));
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return base_dir + "/" + p;
}

// One named entry of clusters/users/contexts, remembered with the file it came
// from (relative paths inside it are relative to that file).
struct Named {
  YAML::Node node;
  std::string dir;
};

struct Merged {
  std::map<std::string, Named> clusters, users, contexts;
  std::string current_context;
  std::string first_file;
};

std::string scalar(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

Status merge_file(const std::string& path, Merged& m) {
  const auto text = read_file(path);
  if (!text) return invalid("kubeconfig " + path + ": cannot read file");
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return invalid("kubeconfig " + path + ": " + e.what());
  }
  if (!root || root.IsNull()) return Status::Ok();  // an empty file is allowed, as in kubectl
  if (!root.IsMap()) return invalid("kubeconfig " + path + ": top level is not a mapping");
  const std::string dir = dir_of(path);
  try {
    for (const char* section : {"clusters", "users", "contexts"}) {
      const YAML::Node list = root[section];
      if (!list) continue;
      if (!list.IsSequence())
        return invalid("kubeconfig " + path + ": " + section + ": not a list");
      const std::string inner = std::string(section).substr(0, std::string(section).size() - 1);
      auto& target = section == std::string("clusters") ? m.clusters
                     : section == std::string("users")  ? m.users
                                                        : m.contexts;
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string name = scalar(list[i], "name");
        if (name.empty())
          return invalid("kubeconfig " + path + ": " + section + "[" + std::to_string(i) +
                         "].name: missing");
        if (!target.count(name)) target[name] = Named{list[i][inner], dir};
      }
    }
    if (m.current_context.empty()) m.current_context = scalar(root, "current-context");
  } catch (const YAML::Exception& e) {
    return invalid("kubeconfig " + path + ": " + e.what());
  }
  return Status::Ok();
}

// A "*-data" field (base64) or a file field, into PEM text or a path.
Status pem_field(const Named& entry, const std::string& where, const char* data_key,
                 const char* file_key, std::string& data_out, std::string& file_out) {
  const std::string data = scalar(entry.node, data_key);
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) return invalid(where + "." + data_key + ": not valid base64");
    data_out = std::move(*decoded);
    return Status::Ok();
  }
  const std::string file = scalar(entry.node, file_key);
  if (!file.empty()) file_out = resolve(entry.dir, file);
  return Status::Ok();
}

std::vector<std::string> split_paths(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : list) {
    if (c == ':') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::optional<std::string> real_getenv(const std::string& name) {
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only use
  if (!v) return std::nullopt;
  return std::string(v);
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;  // '-' and '_': the URL-safe alphabet too
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    if (padding) return std::nullopt;  // data after padding
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing sextet carries no byte
  return out;
}

Result<ClientConfig> load_kubeconfig(const std::string& path, const std::string& context) {
  const auto files = split_paths(path);
  if (files.empty()) return invalid("kubeconfig: empty path");
  Merged m;
  m.first_file = files.front();
  for (const auto& f : files) {
    if (Status st = merge_file(f, m); !st.ok()) return st;
  }
  const std::string label = "kubeconfig " + path;
  const std::string ctx_name = context.empty() ? m.current_context : context;
  if (ctx_name.empty()) return invalid(label + ": no current-context and no context given");
  const auto ctx_it = m.contexts.find(ctx_name);
  if (ctx_it == m.contexts.end())
    return invalid(label + ": context \"" + ctx_name + "\" not found");

  ClientConfig cfg;
  cfg.source = label + " (context " + ctx_name + ")";
  try {
    const YAML::Node ctx = ctx_it->second.node;
    if (!ctx || !ctx.IsMap()) return invalid(label + ": context \"" + ctx_name + "\" is empty");
    const std::string cluster_name = scalar(ctx, "cluster");
    const std::string user_name = scalar(ctx, "user");
    cfg.default_namespace = scalar(ctx, "namespace");

    const auto cl_it = m.clusters.find(cluster_name);
    if (cl_it == m.clusters.end())
      return invalid(label + ": context \"" + ctx_name + "\" names cluster \"" + cluster_name +
                     "\", which is not defined");
    const Named& cl = cl_it->second;
    const std::string cl_where = label + ": cluster \"" + cluster_name + "\"";
    cfg.server = scalar(cl.node, "server");
    if (cfg.server.empty()) return invalid(cl_where + ".server: missing");
    while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
    if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0)
      return invalid(cl_where + ".server: \"" + cfg.server + "\" is not an http(s) URL");
    if (Status st = pem_field(cl, cl_where, "certificate-authority-data", "certificate-authority",
                              cfg.ca_data, cfg.ca_file);
        !st.ok())
      return st;
    const std::string insecure = scalar(cl.node, "insecure-skip-tls-verify");
    cfg.insecure_skip_tls_verify = insecure == "true";

    if (!user_name.empty()) {
      const auto u_it = m.users.find(user_name);
      if (u_it == m.users.end())
        return invalid(label + ": context \"" + ctx_name + "\" names user \"" + user_name +
                       "\", which is not defined");
      const Named& u = u_it->second;
      const std::string u_where = label + ": user \"" + user_name + "\"";
      if (u.node && u.node.IsMap()) {
        if (u.node["exec"] || u.node["auth-provider"])
          return invalid(u_where +
                         ": exec and auth-provider credential plugins are not "
                         "supported; use a token, tokenFile or client certificate");
        if (Status st = pem_field(u, u_where, "client-certificate-data", "client-certificate",
                                  cfg.client_cert_data, cfg.client_cert_file);
            !st.ok())
          return st;
        if (Status st = pem_field(u, u_where, "client-key-data", "client-key", cfg.client_key_data,
                                  cfg.client_key_file);
            !st.ok())
          return st;
        cfg.token = scalar(u.node, "token");
        const std::string tf = scalar(u.node, "tokenFile");
        if (!tf.empty()) cfg.token_file = resolve(u.dir, tf);
        const bool has_cert = !cfg.client_cert_data.empty() || !cfg.client_cert_file.empty();
        const bool has_key = !cfg.client_key_data.empty() || !cfg.client_key_file.empty();
        if (has_cert != has_key)
          return invalid(u_where + ": client-certificate and client-key must be given together");
      }
    }
  } catch (const YAML::Exception& e) {
    return invalid(label + ": " + e.what());
  }
  return cfg;
}

Result<ClientConfig> in_cluster_config(const InClusterEnv& env) {
  auto get = env.getenv ? env.getenv : real_getenv;
  const auto host = get("KUBERNETES_SERVICE_HOST");
  const auto port = get("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty())
    return invalid(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  ClientConfig cfg;
  // An IPv6 service address needs brackets in a URL.
  const bool v6 = host->find(':') != std::string::npos;
  cfg.server = "https://" + (v6 ? "[" + *host + "]" : *host) + ":" + *port;
  const std::string dir = env.service_account_dir;
  cfg.token_file = dir + "/token";
  cfg.ca_file = dir + "/ca.crt";
  cfg.source = "in-cluster (" + dir + ")";
  struct stat st {};
  if (::stat(cfg.token_file.c_str(), &st) != 0)
    return invalid("in-cluster config: cannot read the service-account token " + cfg.token_file);
  if (::stat(cfg.ca_file.c_str(), &st) != 0)
    return invalid("in-cluster config: cannot read the cluster CA " + cfg.ca_file);
  if (auto ns = read_file(dir + "/namespace")) cfg.default_namespace = trim(*ns);
  return cfg;
}

Result<ClientConfig> default_config(const std::string& kubeconfig, const std::string& context) {
  if (!kubeconfig.empty()) return load_kubeconfig(kubeconfig, context);
  if (auto env = real_getenv("KUBECONFIG"); env && !env->empty())
    return load_kubeconfig(*env, context);
  if (auto host = real_getenv("KUBERNETES_SERVICE_HOST"); host && !host->empty())
    return in_cluster_config();
  if (auto home = real_getenv("HOME"); home && !home->empty())
    return load_kubeconfig(*home + "/.kube/config", context);
  return invalid("no kubeconfig given, $KUBECONFIG and $HOME unset, and not in a cluster");
}

TokenSource::TokenSource(std::string token, std::string token_file)
    : token_(std::move(token)), file_(std::move(token_file)) {}

Result<std::string> TokenSource::current() {
  MutexLock lock(mu_);
  if (file_.empty()) return token_;
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0) {
    // Keep using the last good token while the file is briefly missing (the
    // kubelet replaces it through a symlink swap).
    if (stamp_) return token_;
    return Status(Code::InvalidArgument, "token file " + file_ + ": cannot stat");
  }
  const bool changed = !stamp_ || stamp_->ino != st.st_ino || stamp_->size != st.st_size ||
                       stamp_->mtime.tv_sec != st.st_mtim.tv_sec ||
                       stamp_->mtime.tv_nsec != st.st_mtim.tv_nsec;
  if (changed) {
    auto text = read_file(file_);
    if (!text) {
      if (stamp_) return token_;
      return Status(Code::InvalidArgument, "token file " + file_ + ": cannot read");
    }
    token_ = trim(*text);
    stamp_ = FileStamp{st.st_ino, st.st_size, st.st_mtim};
  }
  return token_;
}

void TokenSource::invalidate() {
  MutexLock lock(mu_);
  stamp_.reset();
}

}  // namespace netpol::k8s::api
