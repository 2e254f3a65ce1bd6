#include "agent/metrics.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <limits>

namespace netpol::agent {

void AtomicDouble::add(double d) {
  v_.fetch_add(d, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size() + 1; ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.add(v);
  // Count last: a scrape that sees the count also sees the bucket (close
  // enough for monitoring; buckets are rendered cumulatively and capped).
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  // "le" is the histogram bucket label; a family must not use it itself.
  return name != "le";
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  // Plain decimals where they are short (le="0.0001", not "1e-04").
  const double a = std::fabs(v);
  auto res = (a >= 1e-6 && a < 1e15)
                 ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                 : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

namespace {

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

// {a="1",b="2"} (with an extra label appended, e.g. le), or "" when empty.
std::string label_text(const std::vector<std::string>& names,
                       const std::vector<std::string>& values, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

template <typename T>
T& Family<T>::with(std::vector<std::string> values) {
  assert(values.size() == labels_.size() && "label values must match the family's label names");
  values.resize(labels_.size());
  MutexLock lock(mu_);
  auto& slot = children_[values];
  if (!slot) {
    if constexpr (std::is_same_v<T, Histogram>) {
      slot = std::make_unique<Histogram>(bounds_);
    } else {
      slot = std::make_unique<T>();
    }
  }
  return *slot;
}

template <>
void Family<Counter>::render(std::string& out) const {
  MutexLock lock(mu_);
  for (const auto& [values, c] : children_) {
    out += name_ + label_text(labels_, values) + ' ' + format_value(c->value()) + '\n';
  }
}

template <>
void Family<Gauge>::render(std::string& out) const {
  MutexLock lock(mu_);
  for (const auto& [values, g] : children_) {
    out += name_ + label_text(labels_, values) + ' ' + format_value(g->value()) + '\n';
  }
}

template <>
void Family<Histogram>::render(std::string& out) const {
  MutexLock lock(mu_);
  for (const auto& [values, h] : children_) {
    // Read the count first and cap the cumulative buckets by it, so a scrape
    // racing an observe() never shows a bucket above +Inf.
    const uint64_t count = h->count();
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h->bounds().size(); ++i) {
      cumulative += h->bucket(i);
      out += name_ + "_bucket" + label_text(labels_, values, "le", format_value(h->bounds()[i])) +
             ' ' + std::to_string(std::min(cumulative, count)) + '\n';
    }
    out += name_ + "_bucket" + label_text(labels_, values, "le", "+Inf") + ' ' +
           std::to_string(count) + '\n';
    out += name_ + "_sum" + label_text(labels_, values) + ' ' + format_value(h->sum()) + '\n';
    out += name_ + "_count" + label_text(labels_, values) + ' ' + std::to_string(count) + '\n';
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  std::string name, help;
  MetricType type;
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;
};

namespace {

void check_names(const std::string& name, const std::vector<std::string>& labels) {
  assert(valid_metric_name(name) && "invalid metric name");
  for (const auto& l : labels) {
    assert(valid_label_name(l) && "invalid label name");
    (void)l;
  }
  (void)name;
}

}  // namespace

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> labels) {
  check_names(name, labels);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = std::move(help);
  e->type = MetricType::Counter;
  e->counter.reset(new Family<Counter>(std::move(name), std::move(labels), {}));
  MutexLock lock(mu_);
  entries_.push_back(std::move(e));
  return *entries_.back()->counter;
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> labels) {
  check_names(name, labels);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = std::move(help);
  e->type = MetricType::Gauge;
  e->gauge.reset(new Family<Gauge>(std::move(name), std::move(labels), {}));
  MutexLock lock(mu_);
  entries_.push_back(std::move(e));
  return *entries_.back()->gauge;
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> labels) {
  check_names(name, labels);
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = std::move(help);
  e->type = MetricType::Histogram;
  e->histogram.reset(new Family<Histogram>(std::move(name), std::move(labels), std::move(bounds)));
  MutexLock lock(mu_);
  entries_.push_back(std::move(e));
  return *entries_.back()->histogram;
}

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::add_collector(std::function<void()> fn) {
  MutexLock lock(mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::render() const {
  MutexLock lock(mu_);
  for (const auto& c : collectors_) c();
  std::string out;
  for (const auto& e : entries_) {
    out += "# HELP " + e->name + ' ' + escape_help(e->help) + '\n';
    out += "# TYPE " + e->name + ' ' + type_name(e->type) + '\n';
    if (e->counter) e->counter->render(out);
    if (e->gauge) e->gauge->render(out);
    if (e->histogram) e->histogram->render(out);
  }
  return out;
}

}  // namespace netpol::agent
