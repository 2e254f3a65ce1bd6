// policyc audit: reading netpol's audit log (docs/audit-log.md, schemas 1 and 2) as
// a consumer does: line by line, filtered, as a table, as JSON, or as a
// ranking of the most frequent flows.
//
// Relies only on the documented format, not on the agent's code. A line that is
// not a JSON object of a known schema (truncated by a crash, corrupted, from a
// future incompatible version) is skipped and counted, never fatal.
#pragma once

#include <re2/re2.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netpol::policyc {

using AuditTime = std::chrono::system_clock::time_point;

// --since/--until: an RFC 3339 time (parse_rfc3339_utc in k8s/rfc3339.h), or a duration before
// `now` ("90s", "15m", "2h", "7d").
std::optional<AuditTime> parse_time_arg(std::string_view text, AuditTime now);

struct AuditFilter {
  std::optional<std::string> verdict;    // "allow" | "deny"
  std::optional<std::string> direction;  // "ingress" | "egress"
  std::optional<std::string> event;      // "connection" | "suppressed" | "lost"
  // RE2, matched against the whole name (anchored): namespace of either end,
  // pod ("name" or "ns/name") of either end, any policy in policies or isolated_by.
  std::shared_ptr<RE2> ns, pod, policy;
  // "Admin" | "Baseline" | "NetworkPolicy": the tier that decided (schema 1
  // lines are all NetworkPolicy's).
  std::optional<std::string> tier;
  std::shared_ptr<RE2> cnp;      // RE2, anchored: the name of the deciding ClusterNetworkPolicy
  std::optional<uint16_t> port;  // destination port
  std::optional<std::string> protocol;    // "TCP", ... (case-insensitive)
  std::optional<AuditTime> since, until;  // since <= time < until
};

// The schema versions this reader understands.
inline constexpr int kAuditSchemaMin = 1, kAuditSchemaMax = 2;

struct AuditRecord {
  std::string raw;  // the line as read, without its newline
  nlohmann::json j;
  std::string event;
  AuditTime time;
  int schema = 0;
};

// "Admin", "Baseline" or "NetworkPolicy" for a connection or suppressed line
// ("NetworkPolicy" for every schema 1 line); "" for others.
std::string audit_tier(const AuditRecord& r);
// The deciding ClusterNetworkPolicy's name; "" when none (or schema 1).
std::string audit_cnp(const AuditRecord& r);

// Parses one line; nullopt for a corrupt or foreign line.
std::optional<AuditRecord> parse_audit_line(std::string_view line);
bool matches(const AuditRecord& r, const AuditFilter& f);

// One row per record: TIME VERDICT DIRECTION PROTO SOURCE DESTINATION POLICY.
std::string table_header();
std::string table_row(const AuditRecord& r);

// The most frequent flows (src ns/pod -> dst ns/pod:port/proto, verdict and
// direction) among connection lines, plus the attempts suppressed per pod.
class AuditSummary {
 public:
  void add(const AuditRecord& r);
  std::string render(size_t top) const;
  size_t flows() const { return flows_.size(); }

 private:
  std::map<std::string, uint64_t> flows_;
  std::map<std::string, uint64_t> suppressed_;
  uint64_t lost_ = 0;
  uint64_t connections_ = 0;
};

}  // namespace netpol::policyc
