#include "agent/log.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace netpol::agent {

const char* to_string(LogLevel l) {
  switch (l) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

std::optional<LogLevel> log_level_from_string(std::string_view s) {
  if (s == "debug") return LogLevel::Debug;
  if (s == "info") return LogLevel::Info;
  if (s == "warn" || s == "warning") return LogLevel::Warn;
  if (s == "error") return LogLevel::Error;
  return std::nullopt;
}

Field::Field(std::string_view k, double v) : key(k), number(true) {
  char buf[32];
  // Three decimals are plenty for milliseconds and ratios in a log line.
  if (std::isfinite(v)) {
    std::snprintf(buf, sizeof buf, "%.3f", v);
    value = buf;
  } else {
    value = "0";
  }
}

namespace {

void write_all(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n <= 0) return;  // nowhere to report a failing stderr
    text.remove_prefix(static_cast<size_t>(n));
  }
}

std::string now_text() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // sized for any int the format could see
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

// Quoted with \" \\ \n \t and \u00XX for other control characters: valid in
// logfmt and in JSON alike.
void quote(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

Logger::Logger(LogLevel min, LogFormat format, std::function<void(std::string_view)> sink)
    : min_(min), format_(format), sink_(std::move(sink)) {}

std::string Logger::format(LogLevel level, std::string_view msg,
                           std::initializer_list<Field> fields, bool with_time) const {
  std::string out;
  if (format_ == LogFormat::Json) {
    out += '{';
    if (with_time) {
      out += "\"time\":";
      quote(out, now_text());
      out += ',';
    }
    out += "\"level\":";
    quote(out, to_string(level));
    out += ",\"msg\":";
    quote(out, msg);
    for (const Field& f : fields) {
      out += ',';
      quote(out, f.key);
      out += ':';
      if (f.number) {
        out += f.value;
      } else {
        quote(out, f.value);
      }
    }
    out += "}\n";
    return out;
  }
  if (with_time) out += "time=" + now_text() + ' ';
  out += "level=";
  out += to_string(level);
  out += " msg=";
  if (needs_quotes(msg)) {
    quote(out, msg);
  } else {
    out += msg;
  }
  for (const Field& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    if (needs_quotes(f.value)) {
      quote(out, f.value);
    } else {
      out += f.value;
    }
  }
  out += '\n';
  return out;
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  const std::string line = format(level, msg, fields);
  MutexLock lock(mu_);
  if (sink_) {
    sink_(line);
  } else {
    write_all(line);
  }
}

}  // namespace netpol::agent
