// Structured logs: one line per event with a time, a level, a message and
// key=value fields, as logfmt (default, for humans and grep) or JSON lines
// (for log pipelines).
//
//   time=2026-01-02T03:04:05.678Z level=info msg="first sync applied" ops=812 ms=4.1
//
// Thread-safe: a line is written with one write() so lines of different
// threads never interleave. Never throws; a failing sink drops the line.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "k8s/thread_annotations.h"

namespace netpol::agent {

// Severity of a line; lines below the logger's minimum are dropped.
enum class LogLevel : uint8_t { Debug, Info, Warn, Error };
const char* to_string(LogLevel l);
std::optional<LogLevel> log_level_from_string(std::string_view s);

// How a line is written: logfmt for humans and grep, JSON for pipelines.
enum class LogFormat : uint8_t { Logfmt, Json };

// One key=value field; numbers are formatted by the caller's overload.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, double v);
  Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), number(true) {}

  std::string key;
  std::string value;
  bool number = false;  // unquoted in JSON
};

// Formats and writes lines; shared by every thread of the agent. Never
// blocks on anything but its sink and never throws.
class Logger {
 public:
  // Writes each finished line (with its newline) to `sink`; stderr when empty.
  explicit Logger(LogLevel min = LogLevel::Info, LogFormat format = LogFormat::Logfmt,
                  std::function<void(std::string_view)> sink = {});

  void log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields = {});
  void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
    log(LogLevel::Debug, msg, f);
  }
  void info(std::string_view msg, std::initializer_list<Field> f = {}) {
    log(LogLevel::Info, msg, f);
  }
  void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
    log(LogLevel::Warn, msg, f);
  }
  void error(std::string_view msg, std::initializer_list<Field> f = {}) {
    log(LogLevel::Error, msg, f);
  }
  bool enabled(LogLevel level) const { return level >= min_; }

  // The line log() would write (without time when `with_time` is false); for tests.
  std::string format(LogLevel level, std::string_view msg, std::initializer_list<Field> fields,
                     bool with_time = true) const;

 private:
  LogLevel min_;
  LogFormat format_;
  std::function<void(std::string_view)> sink_;
  Mutex mu_;  // one line at a time into the sink
};

}  // namespace netpol::agent
