#include "agent/cni/protocol.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace netpol::cni {
namespace {

using json = nlohmann::json;

constexpr std::pair<Op, const char*> kOps[] = {
    {Op::Bind, "bind"}, {Op::Release, "release"}, {Op::Check, "check"}};
constexpr std::pair<Refusal, const char*> kRefusals[] = {{Refusal::None, "none"},
                                                         {Refusal::BadRequest, "bad-request"},
                                                         {Refusal::PodUnknown, "pod-unknown"},
                                                         {Refusal::OtherNode, "other-node"},
                                                         {Refusal::NotBound, "not-bound"},
                                                         {Refusal::Mismatch, "mismatch"},
                                                         {Refusal::Timeout, "timeout"},
                                                         {Refusal::Unavailable, "unavailable"},
                                                         {Refusal::Failed, "failed"}};

Status malformed(const std::string& what) {
  return Status(Code::Malformed, what);
}

// nullopt when the text is not JSON or not an object.
std::optional<json> parse_object(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// A string member: absent gives "", any other type is an error.
bool get_string(const json& j, const char* key, std::string& out, std::string& err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    err = std::string("\"") + key + "\" is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

Status check_version(const json& j) {
  auto v = j.find("netpolCni");
  if (v == j.end() || !v->is_number_integer()) return malformed("no \"netpolCni\" version");
  if (v->get<int64_t>() != kProtocolVersion) {
    return malformed("protocol version " + std::to_string(v->get<int64_t>()) + ", want " +
                     std::to_string(kProtocolVersion));
  }
  return Status::Ok();
}

}  // namespace

const char* to_string(Op op) {
  for (auto [o, name] : kOps) {
    if (o == op) return name;
  }
  return "?";
}

const char* to_string(Refusal r) {
  for (auto [v, name] : kRefusals) {
    if (v == r) return name;
  }
  return "?";
}

std::string encode(const Request& r) {
  json j = {{"netpolCni", kProtocolVersion},
            {"op", to_string(r.op)},
            {"namespace", r.pod_namespace},
            {"name", r.pod_name},
            {"uid", r.pod_uid},
            {"containerId", r.container_id},
            {"ifname", r.ifname},
            {"netns", r.netns},
            {"ips", r.ips},
            {"hostInterface", r.host_interface},
            {"timeoutMs", r.timeout_ms}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string encode(const Answer& a) {
  json j = {{"netpolCni", kProtocolVersion}, {"ok", a.ok()}};
  if (!a.ok()) {
    j["error"] = to_string(a.refusal);
    j["message"] = a.message;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<Request> decode_request(std::string_view text) {
  auto j = parse_object(text);
  if (!j) return malformed("request is not a JSON object");
  if (Status s = check_version(*j); !s.ok()) return s;
  Request r;
  auto op = j->find("op");
  if (op == j->end() || !op->is_string()) return malformed("no \"op\"");
  bool known = false;
  for (auto [o, name] : kOps) {
    if (*op == name) {
      r.op = o;
      known = true;
    }
  }
  if (!known) return malformed("unknown op " + op->dump());
  std::string err;
  if (!get_string(*j, "namespace", r.pod_namespace, err) ||
      !get_string(*j, "name", r.pod_name, err) || !get_string(*j, "uid", r.pod_uid, err) ||
      !get_string(*j, "containerId", r.container_id, err) ||
      !get_string(*j, "ifname", r.ifname, err) || !get_string(*j, "netns", r.netns, err) ||
      !get_string(*j, "hostInterface", r.host_interface, err)) {
    return malformed(err);
  }
  if (r.container_id.empty()) return malformed("no \"containerId\"");
  // release is keyed by the container alone (a DEL may come without CNI_ARGS).
  if (r.op != Op::Release && (r.pod_namespace.empty() || r.pod_name.empty())) {
    return malformed("no pod \"namespace\" and \"name\"");
  }
  if (auto ips = j->find("ips"); ips != j->end() && !ips->is_null()) {
    if (!ips->is_array()) return malformed("\"ips\" is not a list");
    for (const auto& ip : *ips) {
      if (!ip.is_string()) return malformed("\"ips\" holds a non-string");
      r.ips.push_back(ip.get<std::string>());
    }
  }
  if (auto t = j->find("timeoutMs"); t != j->end() && !t->is_null()) {
    if (!t->is_number_unsigned() || t->get<uint64_t>() > UINT32_MAX) {
      return malformed("\"timeoutMs\" is not a number of milliseconds");
    }
    r.timeout_ms = t->get<uint32_t>();
  }
  return r;
}

Result<Answer> decode_answer(std::string_view text) {
  auto j = parse_object(text);
  if (!j) return malformed("answer is not a JSON object");
  if (Status s = check_version(*j); !s.ok()) return s;
  auto ok = j->find("ok");
  if (ok == j->end() || !ok->is_boolean()) return malformed("no \"ok\"");
  Answer a;
  if (ok->get<bool>()) return a;
  std::string kind, err;
  if (!get_string(*j, "error", kind, err) || !get_string(*j, "message", a.message, err)) {
    return malformed(err);
  }
  a.refusal = Refusal::Failed;  // an error kind from a newer agent is still a failure
  for (auto [v, name] : kRefusals) {
    if (kind == name && v != Refusal::None) a.refusal = v;
  }
  return a;
}

}  // namespace netpol::cni
