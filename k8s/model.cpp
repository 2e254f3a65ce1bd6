// Behaviour of the compact model: selector matching and the names of enums.
#include "k8s/model.h"

#include <algorithm>

namespace netpol::k8s {

const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::TCP:
      return "TCP";
    case Protocol::UDP:
      return "UDP";
    case Protocol::SCTP:
      return "SCTP";
  }
  return "?";
}

std::optional<Protocol> protocol_from_string(std::string_view s) {
  // Exact names only: the API server rejects "tcp", so must we.
  if (s == "TCP") return Protocol::TCP;
  if (s == "UDP") return Protocol::UDP;
  if (s == "SCTP") return Protocol::SCTP;
  return std::nullopt;
}

std::optional<AuditLevel> audit_level_from_string(std::string_view s) {
  if (s == "deny") return AuditLevel::Deny;
  if (s == "all") return AuditLevel::All;
  return std::nullopt;
}

const char* to_string(Requirement::Op op) {
  switch (op) {
    case Requirement::Op::In:
      return "In";
    case Requirement::Op::NotIn:
      return "NotIn";
    case Requirement::Op::Exists:
      return "Exists";
    case Requirement::Op::DoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

const char* to_string(PodPhase p) {
  switch (p) {
    case PodPhase::Pending:
      return "Pending";
    case PodPhase::Running:
      return "Running";
    case PodPhase::Succeeded:
      return "Succeeded";
    case PodPhase::Failed:
      return "Failed";
    case PodPhase::Unknown:
      return "Unknown";
  }
  return "?";
}

namespace {

bool contains_value(const std::vector<std::string>& values, const std::string& v) {
  // values are sorted by the decoder, but a hand-built selector may not be.
  return std::find(values.begin(), values.end(), v) != values.end();
}

bool requirement_matches(const Requirement& r, const Labels& labels) {
  auto it = labels.find(r.key);
  bool present = it != labels.end();
  switch (r.op) {
    case Requirement::Op::In:
      return present && contains_value(r.values, it->second);
    case Requirement::Op::NotIn:
      // As in Kubernetes: a missing key satisfies NotIn.
      return !present || !contains_value(r.values, it->second);
    case Requirement::Op::Exists:
      return present;
    case Requirement::Op::DoesNotExist:
      return !present;
  }
  return false;
}

void append_values(std::string& out, const std::vector<std::string>& values) {
  out += " (";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += values[i];
  }
  out += ')';
}

}  // namespace

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const Requirement& r : match_expressions) {
    if (!requirement_matches(r, labels)) return false;
  }
  return true;
}

std::vector<std::string> LabelSelector::keys() const {
  std::vector<std::string> out;
  out.reserve(match_labels.size() + match_expressions.size());
  for (const auto& [k, v] : match_labels) out.push_back(k);
  for (const Requirement& r : match_expressions) out.push_back(r.key);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string LabelSelector::str() const {
  // The kubectl selector syntax, so the text can be pasted into `kubectl get -l`.
  std::string out;
  auto sep = [&] {
    if (!out.empty()) out += ',';
  };
  for (const auto& [k, v] : match_labels) {
    sep();
    out += k;
    out += '=';
    out += v;
  }
  for (const Requirement& r : match_expressions) {
    sep();
    switch (r.op) {
      case Requirement::Op::In:
        out += r.key + " in";
        append_values(out, r.values);
        break;
      case Requirement::Op::NotIn:
        out += r.key + " notin";
        append_values(out, r.values);
        break;
      case Requirement::Op::Exists:
        out += r.key;
        break;
      case Requirement::Op::DoesNotExist:
        out += '!';
        out += r.key;
        break;
    }
  }
  return out;
}

}  // namespace netpol::k8s
