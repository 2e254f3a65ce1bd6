// Prometheus metrics: counters, gauges and histograms with labels, and the
// text exposition format (version 0.0.4) that /metrics serves.
//
// A Registry owns metric families; each family has a name, help text, a type
// and a fixed list of label names, and hands out one child per label-value
// tuple. Children are updated lock-free (atomics) from the sync thread and
// read by the HTTP thread. Values that live elsewhere (informer store sizes)
// are read at scrape time through collectors.
//
// The output is strictly valid exposition text: names and label names are
// checked when a family is registered (an invalid one is a programming
// error: it asserts), label values and help text are escaped, every family
// has HELP and TYPE lines and its samples in one block, histogram buckets are
// cumulative and end with le="+Inf" equal to _count. Never throws, never
// blocks on I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/thread_annotations.h"

namespace netpol::agent {

// The exposition TYPE of a family.
enum class MetricType : uint8_t { Counter, Gauge, Histogram };

// A double updated atomically (add through compare-exchange).
class AtomicDouble {
 public:
  void add(double d);
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  double get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// A value that only goes up (events, errors); never decremented.
class Counter {
 public:
  void inc(double d = 1) { v_.add(d); }
  double value() const { return v_.get(); }

 private:
  AtomicDouble v_;
};

// A value that goes up and down (sizes, times, flags).
class Gauge {
 public:
  void set(double v) { v_.set(v); }
  void add(double d) { v_.add(d); }
  double value() const { return v_.get(); }

 private:
  AtomicDouble v_;
};

// Buckets are upper bounds in increasing order; +Inf is implicit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Non-cumulative count of bucket i (i == bounds().size(): above the last bound).
  uint64_t bucket(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.get(); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> count_{0};
  AtomicDouble sum_;
};

// Bucket bounds for latencies in seconds, 100 µs to 10 s.
std::vector<double> latency_buckets();

template <typename T>
class Family;

// Everything /metrics shows, in registration order.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> bounds,
                               std::vector<std::string> labels = {});

  // Runs before each render, on the scraping thread: sets gauges from state
  // that lives elsewhere.
  void add_collector(std::function<void()> fn);

  // The exposition text, every family in registration order.
  std::string render() const;

 private:
  struct Entry;
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ GUARDED_BY(mu_);
};

// One metric name with its children, keyed by label values.
template <typename T>
class Family {
 public:
  // The child for these label values (as many as the family's label names),
  // created on first use. The reference stays valid for the registry's life.
  T& with(std::vector<std::string> values = {});

  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(std::string name, std::vector<std::string> labels, std::vector<double> bounds)
      : name_(std::move(name)), labels_(std::move(labels)), bounds_(std::move(bounds)) {}
  void render(std::string& out) const;

  std::string name_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;  // histograms only
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ GUARDED_BY(mu_);
};

// Exposition helpers, exposed for tests.
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value: integers without a fraction, "+Inf", "-Inf", "NaN", else
// the shortest text that reads back as the same double.
std::string format_value(double v);

}  // namespace netpol::agent
