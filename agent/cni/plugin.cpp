#include "agent/cni/plugin.h"

#include "agent/cni/socket.h"

namespace netpol::cni {
namespace {

Outcome fail(const Invocation& inv, int code, std::string msg, std::string details = {}) {
  CniError e{code, std::move(msg), std::move(details), inv.cni_version};
  Outcome o;
  o.exit_code = 1;
  o.out = e.json();
  o.err = "netpol-cni: " + e.msg + (e.details.empty() ? "" : " (" + e.details + ")") + "\n";
  return o;
}

// What ADD prints on success (CHECK and DEL print nothing).
Outcome success(const Invocation& inv, std::string warning = {}) {
  Outcome o;
  if (inv.command == Command::Add) o.out = inv.prev_result_out;
  if (!warning.empty()) o.err = "netpol-cni: warning: " + warning + "\n";
  return o;
}

Result<Answer> exchange(const Invocation& inv) {
  const auto deadline = Clock::now() + std::chrono::seconds(inv.timeout_seconds);
  auto fd = connect_unix(inv.socket, deadline);
  if (!fd.ok()) return fd.status();
  if (Status s = write_all(fd.value().get(), encode(inv.request), deadline); !s.ok()) return s;
  auto text = read_message(fd.value().get(), kMaxMessageBytes, deadline);
  if (!text.ok()) return text.status();
  if (text.value().empty()) {
    return StatusError{"the agent closed the connection without an answer", Code::Unavailable};
  }
  return decode_answer(text.value());
}

std::string pod_name(const Request& r) {
  return r.pod_namespace + "/" + r.pod_name;
}

}  // namespace

Outcome run_plugin(const Env& env, std::string_view stdin_text) {
  auto decoded = decode_invocation(env, stdin_text);
  if (auto* e = std::get_if<CniError>(&decoded)) {
    Outcome o;
    o.exit_code = 1;
    o.out = e->json();
    o.err = "netpol-cni: " + e->msg + "\n";
    return o;
  }
  const Invocation& inv = std::get<Invocation>(decoded);
  if (inv.command == Command::Version) return Outcome{0, version_output(inv.cni_version), ""};

  const std::string what = inv.command == Command::Add ? "bind pod " + pod_name(inv.request)
                           : inv.command == Command::Check
                               ? "check pod " + pod_name(inv.request)
                               : "release container " + inv.request.container_id;
  const std::string no_agent_hint = "is netpol-agent running on this node with --cni-socket " +
                                    inv.socket + "? (failOpen: true lets pods start without it)";
  auto answer = exchange(inv);
  if (!answer.ok()) {
    const Status& s = answer.status();
    const bool unreachable = s.code() == Code::Unavailable;
    const bool timeout = s.code() == Code::Timeout;
    if (inv.command == Command::Del) {
      // DEL must not keep a pod from going away; the agent drops bindings of
      // pods the API no longer has.
      return success(inv, what + ": " + s.message() +
                              "; the agent drops the binding once the pod leaves the API");
    }
    if (unreachable || timeout) {
      std::string msg = unreachable ? "no netpol agent on " + inv.socket + ": " + s.message()
                                    : "netpol agent did not answer within " +
                                          std::to_string(inv.timeout_seconds) + "s (" + what + ")";
      if (inv.fail_open) return success(inv, msg + "; failOpen: the pod starts without its rules");
      return fail(inv, kTryAgainLater, msg, no_agent_hint);
    }
    if (s.code() == Code::Malformed) {
      return fail(inv, kAgentProtocol, "netpol agent's answer is not the protocol: " + s.message());
    }
    return fail(inv, kTryAgainLater, what + ": " + s.message(), no_agent_hint);
  }
  const Answer& a = answer.value();
  if (a.ok()) return success(inv);
  if (inv.command == Command::Del) {
    return success(inv, what + ": the agent said " + to_string(a.refusal) + ": " + a.message);
  }
  const std::string said = what + ": " + a.message;
  switch (a.refusal) {
    case Refusal::OtherNode:
      return fail(inv, kPodOnOtherNode, said,
                  "the pod is scheduled on another node than this agent's");
    case Refusal::PodUnknown:
      return fail(inv, kPodUnknown, said,
                  "the agent finds no such pod (namespace, name, UID) in the API");
    case Refusal::Timeout:
    case Refusal::Unavailable:
      if (inv.fail_open) {
        return success(inv, said + "; failOpen: the pod starts without its rules");
      }
      return fail(inv, kTryAgainLater, said,
                  a.refusal == Refusal::Timeout ? "the rules were not in the kernel in time"
                                                : "the agent cannot serve requests yet");
    case Refusal::NotBound:
    case Refusal::Mismatch:
      return fail(inv, kCheckFailed, said);
    case Refusal::BadRequest:
      return fail(inv, kAgentProtocol, said,
                  "netpol-cni and netpol-agent disagree on the protocol");
    case Refusal::Failed:
    case Refusal::None:
      break;
  }
  return fail(inv, kAgentFailed, said);
}

}  // namespace netpol::cni
