#include "compiler/policyc/audit_query.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "k8s/rfc3339.h"

namespace netpol::policyc {

namespace {

using nlohmann::json;

// Members of a line that may be missing or of the wrong type: a corrupt line
// must never make the reader throw or read out of bounds.
const json& at(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

uint64_t u64(const json& j, const char* key) {
  const json& v = at(j, key);
  return v.is_number_unsigned() ? v.get<uint64_t>() : 0;
}

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "ns/pod", "external" (or the IP when asked) for an endpoint object.
std::string end_name(const json& e, bool with_ip) {
  if (!e.is_object()) return "?";
  std::string ns = str(e, "namespace"), pod = str(e, "pod");
  if (!pod.empty()) return ns + "/" + pod;
  return with_ip ? str(e, "ip") : "external";
}

std::string port_text(const json& e) {
  auto it = e.find("port");
  if (it == e.end() || !it->is_number_unsigned()) return "";
  return ":" + std::to_string(it->get<uint64_t>());
}

// An end and its port: "x/a:80", "10.0.0.1:80", "[2001:db8::1]:80".
std::string end_port(const json& e) {
  std::string name = end_name(e, true), port = port_text(e);
  if (!port.empty() && str(e, "pod").empty() && name.find(':') != std::string::npos) {
    name = "[" + name + "]";
  }
  return name + port;
}

bool full(const std::shared_ptr<RE2>& re, const std::string& s) {
  return RE2::FullMatch(s, *re);
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::optional<AuditTime> parse_time_arg(std::string_view text, AuditTime now) {
  if (auto t = parse_rfc3339_utc(text)) return t;
  if (text.size() < 2) return std::nullopt;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || end != text.data() + text.size() - 1) return std::nullopt;
  uint64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return std::nullopt;
  }
  return now - std::chrono::seconds(n * unit);
}

std::optional<AuditRecord> parse_audit_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  AuditRecord r;
  r.j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!r.j.is_object()) return std::nullopt;
  auto v = r.j.find("schema_version");
  if (v == r.j.end() || !v->is_number_integer() || v->get<int64_t>() < kAuditSchemaMin ||
      v->get<int64_t>() > kAuditSchemaMax) {
    return std::nullopt;
  }
  r.schema = static_cast<int>(v->get<int64_t>());
  r.event = str(r.j, "event");
  auto t = parse_rfc3339_utc(str(r.j, "time"));
  if (r.event.empty() || !t) return std::nullopt;
  if (r.event == "connection" && (!r.j.contains("src") || !r.j["src"].is_object() ||
                                  !r.j.contains("dst") || !r.j["dst"].is_object())) {
    return std::nullopt;
  }
  r.time = *t;
  r.raw = std::string(line);
  return r;
}

std::string audit_tier(const AuditRecord& r) {
  if (r.event != "connection" && r.event != "suppressed") return "";
  if (r.schema < 2) return "NetworkPolicy";
  return str(r.j, "tier");
}

std::string audit_cnp(const AuditRecord& r) {
  if (r.schema < 2) return "";
  return str(at(r.j, "cnp"), "name");
}

bool matches(const AuditRecord& r, const AuditFilter& f) {
  const json& j = r.j;
  if (f.event && r.event != *f.event) return false;
  if (f.since && r.time < *f.since) return false;
  if (f.until && r.time >= *f.until) return false;
  if (r.event == "lost") {
    // Says something about every line: shown unless a filter looks at flows.
    return !f.verdict && !f.direction && !f.ns && !f.pod && !f.policy && !f.port && !f.protocol &&
           !f.tier && !f.cnp;
  }
  if (f.tier && audit_tier(r) != *f.tier) return false;
  if (f.cnp) {
    std::string cnp = audit_cnp(r);
    if (cnp.empty() || !full(f.cnp, cnp)) return false;
  }
  if (f.verdict && str(j, "verdict") != *f.verdict) return false;
  if (f.direction && str(j, "direction") != *f.direction) return false;
  // The ends: both for a connection, the chain's pod for "suppressed".
  std::vector<const json*> ends;
  if (r.event == "connection") {
    ends = {&at(j, "src"), &at(j, "dst")};
  } else if (j.contains("pod") && j["pod"].is_object()) {
    ends = {&at(j, "pod")};
  }
  if (f.ns) {
    bool hit = false;
    for (const json* e : ends) hit = hit || full(f.ns, str(*e, "namespace"));
    if (!hit) return false;
  }
  if (f.pod) {
    bool hit = false;
    for (const json* e : ends) {
      std::string pod = str(*e, "pod");
      if (pod.empty()) continue;
      hit = hit || full(f.pod, pod) || full(f.pod, str(*e, "namespace") + "/" + pod);
    }
    if (!hit) return false;
  }
  if (f.policy) {
    bool hit = false;
    for (const char* key : {"policies", "isolated_by"}) {
      auto it = j.find(key);
      if (it == j.end() || !it->is_array()) continue;
      for (const json& p : *it)
        hit = hit || (p.is_string() && full(f.policy, p.get<std::string>()));
    }
    if (!hit) return false;
  }
  if (f.port) {
    if (r.event != "connection") return false;
    const json& dst = at(j, "dst");
    auto it = dst.find("port");
    if (it == dst.end() || !it->is_number_unsigned() || it->get<uint64_t>() != *f.port) {
      return false;
    }
  }
  if (f.protocol) {
    if (r.event != "connection" || upper(str(j, "protocol")) != upper(*f.protocol)) return false;
  }
  return true;
}

std::string table_header() {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-20s %-7s %-8s %-6s %-32s %-32s %s\n", "TIME", "VERDICT", "DIR",
                "PROTO", "SOURCE", "DESTINATION", "POLICY");
  return buf;
}

std::string table_row(const AuditRecord& r) {
  const json& j = r.j;
  std::string src, dst, proto, policy;
  if (r.event == "connection") {
    src = end_port(at(j, "src"));
    dst = end_port(at(j, "dst"));
    proto = str(j, "protocol");
    if (std::string cnp = audit_cnp(r); !cnp.empty()) {
      // "Admin cnp/guardrails rule deny-db ingress[0]"
      const json& c = at(j, "cnp");
      policy = audit_tier(r) + " cnp/" + cnp;
      if (std::string rule = str(c, "rule"); !rule.empty()) policy += " rule " + rule;
      if (c.contains("index")) policy += " " + str(j, "direction") + "[" + c["index"].dump() + "]";
    } else if (std::string tier = audit_tier(r); tier == "Admin" || tier == "Baseline") {
      policy = tier + " (a ClusterNetworkPolicy rule the agent could not name)";
    } else if (j.contains("policies") && j["policies"].is_array() && !j["policies"].empty()) {
      const json& rule = j.contains("rule") ? j["rule"] : json();
      policy = j["policies"][0].is_string() ? j["policies"][0].get<std::string>() : "?";
      if (rule.is_object() && rule.contains("index")) {
        policy += " " + str(j, "direction") + "[" + rule["index"].dump() + "]";
      }
    } else {
      policy = "(none allows it; isolated by ";
      if (j.contains("isolated_by") && j["isolated_by"].is_array()) {
        bool first = true;
        for (const json& p : j["isolated_by"]) {
          policy += (first ? "" : ", ") + (p.is_string() ? p.get<std::string>() : "?");
          first = false;
        }
      }
      policy += ")";
    }
  } else if (r.event == "suppressed") {
    dst = end_name(at(j, "pod"), false);
    src = std::to_string(u64(j, "count")) + " more attempts";
    proto = "-";
    policy = "(over the log rate limit)";
    if (std::string cnp = audit_cnp(r); !cnp.empty()) {
      std::string rule = str(at(j, "cnp"), "rule");
      policy = "(over the log rate limit of " + audit_tier(r) + " cnp/" + cnp +
               (rule.empty() ? "" : " rule " + rule) + ")";
    }
  } else if (r.event == "lost") {
    src = std::to_string(u64(j, "count")) + " lines lost";
    dst = str(j, "reason");
    proto = "-";
  } else {
    return "";
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-20s %-7s %-8s %-6s %-32s %-32s %s\n",
                format_rfc3339_seconds(r.time).c_str(),
                r.event == "lost" ? "lost" : str(j, "verdict").c_str(),
                r.event == "lost" ? "-" : str(j, "direction").c_str(), proto.c_str(), src.c_str(),
                dst.c_str(), policy.c_str());
  return buf;
}

void AuditSummary::add(const AuditRecord& r) {
  const json& j = r.j;
  if (r.event == "connection") {
    ++connections_;
    std::string flow = end_name(at(j, "src"), true) + " -> " + end_port(at(j, "dst")) + "/" +
                       str(j, "protocol") + " (" + str(j, "verdict") + ", " + str(j, "direction") +
                       ")";
    ++flows_[flow];
  } else if (r.event == "suppressed") {
    // One row per logging rule's owner: the pod chain, or the CNP of a tier's rule.
    std::string cnp = audit_cnp(r);
    suppressed_[end_name(at(j, "pod"), false) + " " + str(j, "direction") + " (" +
                str(j, "verdict") + (cnp.empty() ? "" : ", " + audit_tier(r) + " cnp/" + cnp) +
                ")"] += u64(j, "count");
  } else if (r.event == "lost") {
    lost_ += u64(j, "count");
  }
}

std::string AuditSummary::render(size_t top) const {
  std::vector<std::pair<std::string, uint64_t>> ranked(flows_.begin(), flows_.end());
  // Most frequent first; ties by name so the output is stable.
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::string out = "top flows (" + std::to_string(connections_) + " connection lines, " +
                    std::to_string(flows_.size()) + " distinct flows):\n";
  char buf[512];
  for (size_t i = 0; i < ranked.size() && i < top; ++i) {
    std::snprintf(buf, sizeof buf, "%8llu  %s\n", static_cast<unsigned long long>(ranked[i].second),
                  ranked[i].first.c_str());
    out += buf;
  }
  if (!suppressed_.empty()) {
    out += "suppressed by the log rate limit (attempts not logged one by one):\n";
    for (const auto& [what, n] : suppressed_) {
      std::snprintf(buf, sizeof buf, "%8llu  %s\n", static_cast<unsigned long long>(n),
                    what.c_str());
      out += buf;
    }
  }
  if (lost_) out += "lost lines: " + std::to_string(lost_) + "\n";
  return out;
}

}  // namespace netpol::policyc
