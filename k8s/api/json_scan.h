// Finding JSON values in text without building a DOM: the watch stream is cut
// into events and a list body into items by scanning, so each object is
// parsed exactly once (by k8s::decode_json_object) on the hot path.
//
// The scanner only finds boundaries (strings, escapes, nesting); it never
// validates numbers or literals -- the decoder that parses each piece does.
// It never allocates except in Framer's buffer and never throws.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace netpol::k8s::api::json {

inline bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

inline size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size() && is_ws(s[i])) ++i;
  return i;
}

// Index just past the value starting at s[i], or npos when the text ends
// first or the value is malformed at the structural level.
inline size_t skip_value(std::string_view s, size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  const char c = s[i];
  if (c == '"') {
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        return i + 1;
      }
    }
    return std::string_view::npos;
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      const char d = s[i];
      if (d == '"') {
        const size_t end = skip_value(s, i);
        if (end == std::string_view::npos) return end;
        i = end - 1;
      } else if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return std::string_view::npos;
  }
  // A scalar: ends at a delimiter.
  const size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i])) ++i;
  return i == start ? std::string_view::npos : i;
}

// Calls fn(key, value) for each top-level member of the object `s` (key is
// the raw text between the quotes; escapes are left as they are). Stops early
// when fn returns false. Returns false when `s` is not a structurally sound object.
template <typename Fn>
bool for_each_member(std::string_view s, Fn&& fn) {
  size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  i = skip_ws(s, i + 1);
  if (i < s.size() && s[i] == '}') return true;
  while (i < s.size()) {
    if (s[i] != '"') return false;
    const size_t kend = skip_value(s, i);
    if (kend == std::string_view::npos) return false;
    const std::string_view key = s.substr(i + 1, kend - i - 2);
    i = skip_ws(s, kend);
    if (i >= s.size() || s[i] != ':') return false;
    i = skip_ws(s, i + 1);
    const size_t vend = skip_value(s, i);
    if (vend == std::string_view::npos) return false;
    if (!fn(key, s.substr(i, vend - i))) return true;
    i = skip_ws(s, vend);
    if (i < s.size() && s[i] == ',') {
      i = skip_ws(s, i + 1);
      continue;
    }
    return i < s.size() && s[i] == '}';
  }
  return false;
}

// Calls fn(element) for each element of the array `s`.
template <typename Fn>
bool for_each_element(std::string_view s, Fn&& fn) {
  size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '[') return false;
  i = skip_ws(s, i + 1);
  if (i < s.size() && s[i] == ']') return true;
  while (i < s.size()) {
    const size_t vend = skip_value(s, i);
    if (vend == std::string_view::npos) return false;
    if (!fn(s.substr(i, vend - i))) return true;
    i = skip_ws(s, vend);
    if (i < s.size() && s[i] == ',') {
      i = skip_ws(s, i + 1);
      continue;
    }
    return i < s.size() && s[i] == ']';
  }
  return false;
}

// The value of a top-level member, or nullopt.
inline std::optional<std::string_view> member(std::string_view object, std::string_view key) {
  std::optional<std::string_view> out;
  for_each_member(object, [&](std::string_view k, std::string_view v) {
    if (k != key) return true;
    out = v;
    return false;
  });
  return out;
}

// The contents of a JSON string literal without its quotes, when it has no
// escapes (resource versions, types, UIDs never do); nullopt otherwise.
inline std::optional<std::string_view> plain_string(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::nullopt;
  const std::string_view inner = v.substr(1, v.size() - 2);
  if (inner.find('\\') != std::string_view::npos) return std::nullopt;
  return inner;
}

// Cuts a byte stream of concatenated JSON objects (a watch body) into whole
// objects, whatever the chunking and whitespace. Scans each byte once.
class Framer {
 public:
  explicit Framer(size_t max_object_bytes = 64u << 20) : max_(max_object_bytes) {}

  void feed(std::string_view bytes) {
    // Drop what was already returned once it is most of the buffer, so the
    // cost per byte stays constant however many events a chunk carries.
    if (head_ > 0 && head_ * 2 >= buf_.size()) {
      buf_.erase(0, head_);
      pos_ -= head_;
      start_ -= head_;
      head_ = 0;
    }
    buf_.append(bytes);
  }

  // The next complete object, if one is buffered. Sets error() and returns
  // nullopt on a non-object at the top level or an object over the limit.
  std::optional<std::string> next() {
    if (error_) return std::nullopt;
    if (depth_ == 0) {
      // Between objects: skip whitespace, expect '{'.
      const size_t i = skip_ws(buf_, pos_);
      pos_ = i;
      if (i >= buf_.size()) return std::nullopt;
      if (buf_[i] != '{') {
        error_ = true;
        return std::nullopt;
      }
      start_ = i;
    }
    for (; pos_ < buf_.size(); ++pos_) {
      const char c = buf_[pos_];
      if (in_string_) {
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
      } else if (c == '}' || c == ']') {
        if (--depth_ == 0) {
          ++pos_;
          head_ = pos_;
          return buf_.substr(start_, pos_ - start_);
        }
      }
    }
    if (depth_ > 0 && buf_.size() - start_ > max_) error_ = true;
    return std::nullopt;
  }

  bool error() const { return error_; }
  // True when an object has started but not ended (a torn stream if the body ends here).
  bool partial() const { return depth_ > 0; }

 private:
  std::string buf_;
  size_t max_;
  size_t head_ = 0;   // bytes already returned
  size_t pos_ = 0;    // next byte to scan
  size_t start_ = 0;  // start of the object being scanned
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  bool error_ = false;
};

}  // namespace netpol::k8s::api::json
