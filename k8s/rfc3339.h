// RFC 3339 timestamps in UTC, as Kubernetes and the audit log write them.
//
// One parser for the whole project: the agent's audit writer and `policyc
// audit` both read times through it, so what one writes the other reads.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace netpol {

using WallTime = std::chrono::system_clock::time_point;

// "2026-01-02T03:04:05.678901Z": UTC, always six fraction digits.
std::string format_rfc3339_micros(WallTime t);
// "2026-01-02T03:04:05Z": UTC, whole seconds (the fraction is dropped).
std::string format_rfc3339_seconds(WallTime t);
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|z|+00:00). 'T' may be 't' or a space.
// Digits past the sixth fraction digit are read and ignored. Anything else,
// including other UTC offsets, is nullopt.
std::optional<WallTime> parse_rfc3339_utc(std::string_view text);

}  // namespace netpol
