#include "tests/unit/agent/promparse.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace netpol::agent::testing {

namespace {

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(const std::string& s, bool colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i], i == 0, colon)) return false;
  }
  return true;
}

std::optional<double> parse_float(const std::string& s) {
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return std::nullopt;
    }
  }
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// The family a sample name belongs to, given the families declared so far.
std::string family_of(const std::string& sample, const std::map<std::string, MetricFamily>& fams) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (sample.size() > sfx.size() && sample.ends_with(sfx)) {
      const std::string base = sample.substr(0, sample.size() - sfx.size());
      auto it = fams.find(base);
      if (it != fams.end() && (it->second.type == "histogram" || it->second.type == "summary")) {
        return base;
      }
    }
  }
  return sample;
}

}  // namespace

std::optional<double> Exposition::value(const std::string& name,
                                        const std::map<std::string, std::string>& labels) const {
  for (const auto& [_, f] : families) {
    for (const Sample& s : f.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

std::optional<Exposition> parse_exposition(const std::string& text, std::string* error) {
  Exposition out;
  std::set<std::string> finished;  // families whose block has ended
  std::set<std::string> typed, helped;
  std::set<std::string> series;  // name + labels, for duplicates
  std::string current;           // family of the previous sample
  int line_no = 0;
  auto fail = [&](const std::string& what) -> std::optional<Exposition> {
    if (error) *error = "line " + std::to_string(line_no) + ": " + what;
    return std::nullopt;
  };
  if (!text.empty() && text.back() != '\n') {
    line_no = 0;
    return fail("text does not end with a newline");
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream ls(line.substr(1));
      std::string word, name;
      ls >> word;
      if (word != "HELP" && word != "TYPE") continue;  // a plain comment
      if (line.compare(0, 2, "# ") != 0) return fail("want '# " + word + "'");
      ls >> name;
      if (!valid_name(name, true)) return fail("invalid metric name '" + name + "'");
      if (finished.contains(name) || (current == name && !out.families[name].samples.empty())) {
        return fail(word + " for " + name + " after its samples");
      }
      std::string rest;
      std::getline(ls, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      auto& fam = out.families[name];
      fam.name = name;
      if (word == "TYPE") {
        if (!typed.insert(name).second) return fail("second TYPE for " + name);
        if (rest != "counter" && rest != "gauge" && rest != "histogram" && rest != "summary" &&
            rest != "untyped") {
          return fail("unknown type '" + rest + "'");
        }
        fam.type = rest;
      } else {
        if (!helped.insert(name).second) return fail("second HELP for " + name);
        for (size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\') {
            if (i + 1 >= rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n')) {
              return fail("bad escape in HELP");
            }
            ++i;
          }
        }
        fam.help = rest;
      }
      if (current != name) {
        if (!current.empty()) finished.insert(current);
        current = name;
      }
      continue;
    }
    // A sample: name{labels} value [timestamp]
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    Sample s;
    s.name = line.substr(0, i);
    if (!valid_name(s.name, true)) return fail("invalid metric name '" + s.name + "'");
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool first = true;
      while (true) {
        if (i >= line.size()) return fail("unterminated label set");
        if (line[i] == '}') {
          if (!first) return fail("trailing comma in label set");
          ++i;
          break;
        }
        size_t j = i;
        while (j < line.size() && line[j] != '=') ++j;
        const std::string lname = line.substr(i, j - i);
        if (!valid_name(lname, false)) return fail("invalid label name '" + lname + "'");
        if (j + 1 >= line.size() || line[j + 1] != '"') return fail("label value not quoted");
        std::string value;
        size_t k = j + 2;
        for (;; ++k) {
          if (k >= line.size()) return fail("unterminated label value");
          if (line[k] == '"') break;
          if (line[k] == '\\') {
            if (k + 1 >= line.size()) return fail("unterminated escape");
            const char e = line[k + 1];
            if (e == '\\' || e == '"') {
              value += e;
            } else if (e == 'n') {
              value += '\n';
            } else {
              return fail(std::string("bad escape \\") + e + " in label value");
            }
            ++k;
          } else {
            value += line[k];
          }
        }
        if (!s.labels.emplace(lname, value).second) return fail("duplicate label " + lname);
        i = k + 1;
        if (i < line.size() && line[i] == ',') {
          ++i;
          first = false;
          if (i < line.size() && line[i] == '}') return fail("trailing comma in label set");
          first = true;
        } else if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        } else {
          return fail("want ',' or '}' after a label");
        }
      }
    }
    if (i >= line.size() || line[i] != ' ') return fail("want a space before the value");
    std::istringstream vs(line.substr(i + 1));
    std::string value_text, ts, extra;
    vs >> value_text >> ts >> extra;
    if (!extra.empty()) return fail("junk after the timestamp");
    auto v = parse_float(value_text);
    if (!v) return fail("value '" + value_text + "' is not a float");
    if (!ts.empty()) {
      for (char c : ts) {
        if (!(c >= '0' && c <= '9') && c != '-') return fail("bad timestamp");
      }
    }
    s.value = *v;
    const std::string fam_name = family_of(s.name, out.families);
    if (fam_name != current) {
      if (finished.contains(fam_name)) return fail("samples of " + fam_name + " not in one block");
      if (!current.empty()) finished.insert(current);
      current = fam_name;
    }
    std::string key = s.name + "{";
    for (const auto& [k, val] : s.labels) key += k + "=" + val + ",";
    if (!series.insert(key).second) return fail("duplicate series " + key);
    auto& fam = out.families[fam_name];
    fam.name = fam_name;
    if (fam.type == "counter" && !(s.value >= 0)) return fail("negative counter " + s.name);
    if (fam.type == "histogram" && s.name == fam_name) {
      return fail("histogram sample without _bucket/_sum/_count: " + s.name);
    }
    fam.samples.push_back(std::move(s));
  }

  // Histogram structure, per label set without le.
  for (const auto& [name, fam] : out.families) {
    if (fam.type != "histogram") continue;
    struct Series {
      std::vector<std::pair<double, double>> buckets;
      std::optional<double> sum, count;
    };
    std::map<std::map<std::string, std::string>, Series> by;
    for (const Sample& s : fam.samples) {
      auto labels = s.labels;
      if (s.name == name + "_bucket") {
        auto le = labels.find("le");
        if (le == labels.end()) {
          line_no = 0;
          return fail("bucket of " + name + " without le");
        }
        auto bound = parse_float(le->second);
        if (!bound) return fail("le '" + le->second + "' is not a float");
        labels.erase(le);
        by[labels].buckets.emplace_back(*bound, s.value);
      } else if (s.name == name + "_sum") {
        by[labels].sum = s.value;
      } else if (s.name == name + "_count") {
        by[labels].count = s.value;
      }
    }
    line_no = 0;
    for (const auto& [labels, ser] : by) {
      if (!ser.sum || !ser.count) return fail(name + ": _sum or _count missing");
      if (ser.buckets.empty() || !std::isinf(ser.buckets.back().first)) {
        return fail(name + ": no le=\"+Inf\" bucket last");
      }
      for (size_t b = 1; b < ser.buckets.size(); ++b) {
        if (!(ser.buckets[b].first > ser.buckets[b - 1].first)) {
          return fail(name + ": le not increasing");
        }
        if (ser.buckets[b].second < ser.buckets[b - 1].second) {
          return fail(name + ": buckets not cumulative");
        }
      }
      if (ser.buckets.back().second != *ser.count) return fail(name + ": +Inf bucket != _count");
    }
  }
  return out;
}

}  // namespace netpol::agent::testing
