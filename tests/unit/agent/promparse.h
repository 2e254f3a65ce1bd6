// A strict parser of the Prometheus text exposition format (0.0.4), written
// for these tests (Debian 12 has promtool only inside the prometheus server
// package). It rejects what Prometheus would reject and a few things it
// would only warn about:
//   - metric and label names outside [a-zA-Z_:][a-zA-Z0-9_:]* / [a-zA-Z_][a-zA-Z0-9_]*;
//   - label values with escapes other than \\ \" \n, unterminated quotes,
//     duplicate label names, trailing commas;
//   - values that are not floats (+Inf, -Inf, NaN allowed);
//   - HELP/TYPE for a family given twice, TYPE after its samples, unknown types;
//   - samples of one family not in one block; duplicate series;
//   - histograms: a series without le, le not increasing, buckets not
//     cumulative, no +Inf bucket, +Inf != _count, missing _sum/_count;
//   - counters that are negative.
// Test-only.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace netpol::agent::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;
  std::string type = "untyped";
  std::string help;
  std::vector<Sample> samples;
};

struct Exposition {
  std::map<std::string, MetricFamily> families;
  // The value of the one sample `name{labels}`, if present.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const;
};

// Parses `text`; on error returns nullopt and sets *error to "line N: what".
std::optional<Exposition> parse_exposition(const std::string& text, std::string* error);

}  // namespace netpol::agent::testing
