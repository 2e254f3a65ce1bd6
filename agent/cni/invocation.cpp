#include "agent/cni/invocation.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "k8s/ip.h"

namespace netpol::cni {
namespace {

using ojson = nlohmann::ordered_json;

// sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxSocketPath = 107;
constexpr int64_t kMaxTimeoutSeconds = 3600;

bool supported(std::string_view v) {
  return std::find(std::begin(kSupportedVersions), std::end(kSupportedVersions), v) !=
         std::end(kSupportedVersions);
}

// Names, UIDs, container ids and paths a runtime passes are printable ASCII;
// anything else would not survive the JSON to the agent unchanged.
bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string get_env(const Env& env, std::string_view key) {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

// CNI_ARGS: "K=V;K=V" (the runtime adds IgnoreUnknown=1 and others we skip).
std::optional<std::map<std::string, std::string>> parse_cni_args(std::string_view text,
                                                                 std::string& bad) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const size_t semi = text.find(';');
    std::string_view pair = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      bad = std::string(pair);
      return std::nullopt;
    }
    out[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  return out;
}

struct PodAddressing {
  std::vector<std::string> ips;
  std::string host_interface;
};

// The pod's IPs and its host-side interface from a prevResult (0.4.0 or
// 1.0.0: both have "interfaces" and "ips"; 0.4.0's "version" is ignored).
//
// Host-side interface: the last listed interface without "sandbox". bridge
// lists [bridge, host veth, pod veth], ptp [host veth, pod veth], Calico and
// Cilium the host veth alone, so that is the veth peer in each; a result
// without one (macvlan, ipvlan) binds IPs only. IPs whose "interface" index
// names a host-side interface are not the pod's and are skipped.
std::variant<PodAddressing, std::string> pod_addressing(const ojson& prev) {
  PodAddressing out;
  std::vector<bool> in_sandbox;
  if (auto it = prev.find("interfaces"); it != prev.end() && !it->is_null()) {
    if (!it->is_array()) return std::string("prevResult.interfaces is not a list");
    for (const auto& i : *it) {
      if (!i.is_object()) return std::string("prevResult.interfaces holds a non-object");
      auto name = i.find("name");
      if (name == i.end() || !name->is_string()) {
        return std::string("prevResult.interfaces holds an interface without a name");
      }
      auto sb = i.find("sandbox");
      const bool sandboxed = sb != i.end() && sb->is_string() && !sb->get<std::string>().empty();
      in_sandbox.push_back(sandboxed);
      if (!sandboxed) out.host_interface = name->get<std::string>();
    }
  }
  std::set<std::string> seen;
  if (auto it = prev.find("ips"); it != prev.end() && !it->is_null()) {
    if (!it->is_array()) return std::string("prevResult.ips is not a list");
    for (const auto& ip : *it) {
      if (!ip.is_object()) return std::string("prevResult.ips holds a non-object");
      auto addr = ip.find("address");
      if (addr == ip.end() || !addr->is_string()) {
        return std::string("prevResult.ips holds an entry without an address");
      }
      const std::string text = addr->get<std::string>();
      const size_t slash = text.find('/');
      auto parsed = IpAddr::parse(std::string_view(text).substr(0, slash));
      if (!parsed || slash == std::string::npos) {
        return "prevResult.ips: " + text + " is not an address with a prefix length";
      }
      if (auto idx = ip.find("interface"); idx != ip.end() && !idx->is_null()) {
        if (!idx->is_number_integer() || idx->get<int64_t>() < 0 ||
            static_cast<size_t>(idx->get<int64_t>()) >= in_sandbox.size()) {
          return "prevResult.ips: " + text + " names no interface of prevResult.interfaces";
        }
        if (!in_sandbox[static_cast<size_t>(idx->get<int64_t>())]) continue;
      }
      const std::string canonical = parsed->str();
      if (seen.insert(canonical).second) out.ips.push_back(canonical);
    }
  }
  return out;
}

}  // namespace

std::string CniError::json() const {
  ojson j = {{"cniVersion", cni_version}, {"code", code}, {"msg", msg}};
  if (!details.empty()) j["details"] = details;
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

std::string version_output(std::string_view requested_version) {
  ojson j = {{"cniVersion",
              supported(requested_version) ? std::string(requested_version) : std::string("1.0.0")},
             {"supportedVersions", ojson::array()}};
  for (const char* v : kSupportedVersions) j["supportedVersions"].push_back(v);
  return j.dump() + "\n";
}

std::variant<Invocation, CniError> decode_invocation(const Env& env, std::string_view stdin_text) {
  Invocation inv;
  CniError err;
  auto fail = [&](int code, std::string msg, std::string details = {}) {
    err.code = code;
    err.msg = std::move(msg);
    err.details = std::move(details);
    return err;
  };

  const std::string command = get_env(env, "CNI_COMMAND");
  if (command.empty()) return fail(kInvalidEnvironment, "CNI_COMMAND is not set");
  if (command == "ADD") {
    inv.command = Command::Add;
    inv.request.op = Op::Bind;
  } else if (command == "DEL") {
    inv.command = Command::Del;
    inv.request.op = Op::Release;
  } else if (command == "CHECK") {
    inv.command = Command::Check;
    inv.request.op = Op::Check;
  } else if (command == "VERSION") {
    inv.command = Command::Version;
  } else {
    return fail(kInvalidEnvironment, "unknown CNI_COMMAND " + command,
                "netpol-cni knows ADD, DEL, CHECK and VERSION");
  }

  ojson conf = ojson::parse(stdin_text.begin(), stdin_text.end(), nullptr, false);
  if (inv.command == Command::Version) {
    // VERSION may come with only {"cniVersion": ...} or nothing useful at all.
    if (conf.is_object()) {
      if (auto v = conf.find("cniVersion"); v != conf.end() && v->is_string()) {
        inv.cni_version = v->get<std::string>();
      }
    }
    return inv;
  }
  if (conf.is_discarded()) {
    return fail(kDecodeFailure, "the network configuration on stdin is not JSON");
  }
  if (!conf.is_object()) {
    return fail(kDecodeFailure, "the network configuration on stdin is not a JSON object");
  }
  auto version = conf.find("cniVersion");
  if (version == conf.end() || !version->is_string()) {
    return fail(kInvalidConfig, "the network configuration has no cniVersion");
  }
  inv.cni_version = version->get<std::string>();
  if (!supported(inv.cni_version)) {
    return fail(kIncompatibleVersion, "netpol-cni does not support CNI version " + inv.cni_version,
                "supported versions: 0.4.0, 1.0.0");
  }
  err.cni_version = inv.cni_version;

  auto name = conf.find("name");
  if (name == conf.end() || !name->is_string()) {
    return fail(kInvalidConfig, "the network configuration has no name");
  }
  inv.network_name = name->get<std::string>();
  if (auto s = conf.find("socket"); s != conf.end() && !s->is_null()) {
    if (!s->is_string() || s->get<std::string>().empty() || s->get<std::string>()[0] != '/') {
      return fail(kInvalidConfig, "\"socket\" must be an absolute path");
    }
    inv.socket = s->get<std::string>();
    if (inv.socket.size() > kMaxSocketPath) {
      return fail(kInvalidConfig, "\"socket\" is longer than a unix socket path can be");
    }
  }
  if (auto t = conf.find("timeoutSeconds"); t != conf.end() && !t->is_null()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 1 ||
        t->get<int64_t>() > kMaxTimeoutSeconds) {
      return fail(kInvalidConfig, "\"timeoutSeconds\" must be a whole number from 1 to 3600");
    }
    inv.timeout_seconds = static_cast<uint32_t>(t->get<int64_t>());
  }
  if (auto f = conf.find("failOpen"); f != conf.end() && !f->is_null()) {
    if (!f->is_boolean()) return fail(kInvalidConfig, "\"failOpen\" must be true or false");
    inv.fail_open = f->get<bool>();
  }

  Request& r = inv.request;
  r.container_id = get_env(env, "CNI_CONTAINERID");
  r.netns = get_env(env, "CNI_NETNS");
  r.ifname = get_env(env, "CNI_IFNAME");
  r.timeout_ms = inv.timeout_seconds * 1000;
  if (r.container_id.empty()) return fail(kInvalidEnvironment, "CNI_CONTAINERID is not set");
  const bool del = inv.command == Command::Del;
  if (!del && r.netns.empty()) return fail(kInvalidEnvironment, "CNI_NETNS is not set");
  if (!del && r.ifname.empty()) return fail(kInvalidEnvironment, "CNI_IFNAME is not set");

  std::string bad_pair;
  auto args = parse_cni_args(get_env(env, "CNI_ARGS"), bad_pair);
  if (!args) {
    return fail(kInvalidEnvironment,
                "CNI_ARGS is malformed: \"" + bad_pair + "\" is not KEY=VALUE");
  }
  r.pod_namespace = (*args)["K8S_POD_NAMESPACE"];
  r.pod_name = (*args)["K8S_POD_NAME"];
  r.pod_uid = (*args)["K8S_POD_UID"];
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string&>{"CNI_CONTAINERID", r.container_id},
        {"CNI_NETNS", r.netns},
        {"CNI_IFNAME", r.ifname},
        {"CNI_ARGS K8S_POD_NAMESPACE", r.pod_namespace},
        {"CNI_ARGS K8S_POD_NAME", r.pod_name},
        {"CNI_ARGS K8S_POD_UID", r.pod_uid}}) {
    if (!printable_ascii(value)) {
      return fail(kInvalidEnvironment,
                  std::string(name) + " holds characters other than printable ASCII");
    }
  }
  if (!del && (r.pod_namespace.empty() || r.pod_name.empty())) {
    return fail(kInvalidEnvironment,
                "CNI_ARGS names no pod (K8S_POD_NAMESPACE and K8S_POD_NAME are required)",
                "netpol-cni serves Kubernetes pods; the runtime (containerd, CRI-O) sets them");
  }

  auto prev = conf.find("prevResult");
  if (prev == conf.end() || prev->is_null()) {
    if (!del) {
      return fail(kInvalidConfig, "no prevResult: netpol-cni is a chained plugin",
                  "list it after the main plugin (bridge, ptp, calico, ...) in a conflist");
    }
    return inv;
  }
  if (!prev->is_object()) return fail(kInvalidConfig, "prevResult is not a JSON object");
  auto addressing = pod_addressing(*prev);
  if (auto* msg = std::get_if<std::string>(&addressing)) {
    if (del) return inv;  // DEL releases by container id; a bad prevResult is no reason to fail
    return fail(kInvalidConfig, *msg);
  }
  auto& a = std::get<PodAddressing>(addressing);
  if (!del && a.ips.empty()) {
    return fail(kInvalidConfig, "prevResult gives the pod no IP address",
                "the main plugin before netpol-cni must assign the pod's addresses");
  }
  r.ips = std::move(a.ips);
  r.host_interface = std::move(a.host_interface);
  ojson out = *prev;
  out["cniVersion"] = inv.cni_version;
  inv.prev_result_out = out.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
  return inv;
}

}  // namespace netpol::cni
