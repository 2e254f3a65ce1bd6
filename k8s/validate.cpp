// The API server's name rules, written as character loops: the regexes in
// k8s.io/apimachinery/pkg/util/validation are the reference, but a regex
// engine is not needed for these shapes and a hand loop is visibly linear.
#include "k8s/validate.h"

#include <cstdint>
#include <cstdio>

namespace netpol::k8s::validate {
namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool alnum(char c) {
  return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

constexpr std::string_view kLabelReason =
    "must be a lowercase RFC 1123 label: at most 63 characters of [a-z0-9-], starting and "
    "ending with an alphanumeric character";
constexpr std::string_view kSubdomainReason =
    "must be a lowercase RFC 1123 subdomain: at most 253 characters of [a-z0-9.-], each "
    "dot-separated part starting and ending with an alphanumeric character";
constexpr std::string_view kNameChars =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";

// [a-z0-9]([-a-z0-9]*[a-z0-9])? without the length limit.
bool label_shape(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') return false;
  }
  return true;
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the name part of a label key
// and the whole of a label value.
bool name_shape(std::string_view s) {
  if (s.empty() || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string quote(std::string_view text) {
  std::string out = "\"";
  size_t shown = text.size() > kQuoteLimit ? kQuoteLimit : text.size();
  for (size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (shown < text.size()) {
    out += "...\" (" + std::to_string(text.size()) + " bytes)";
  } else {
    out += '"';
  }
  return out;
}

std::string_view dns1123_label(std::string_view s) {
  if (s.size() > 63 || !label_shape(s)) return kLabelReason;
  return {};
}

std::string_view dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return kSubdomainReason;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!label_shape(part)) return kSubdomainReason;
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

std::string_view qualified_name(std::string_view s) {
  std::string_view name = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      return "must be a name with an optional DNS subdomain prefix and '/' (e.g. "
             "'example.com/MyName')";
    }
    if (prefix.empty()) return "prefix part must be non-empty";
    if (!dns1123_subdomain(prefix).empty()) {
      return "prefix part must be a lowercase RFC 1123 subdomain: at most 253 characters of "
             "[a-z0-9.-], each dot-separated part starting and ending with an alphanumeric "
             "character";
    }
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part must be no more than 63 characters";
  if (!name_shape(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character";
  }
  return {};
}

std::string_view label_value(std::string_view s) {
  if (s.empty()) return {};
  if (s.size() > 63) return "must be no more than 63 characters";
  if (!name_shape(s)) return kNameChars;
  return {};
}

std::string_view iana_svc_name(std::string_view s) {
  constexpr std::string_view reason =
      "must be an IANA service name: 1-15 characters of [a-z0-9-], at least one letter, no "
      "leading, trailing or double '-'";
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return reason;
  bool letter = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '-') {
      if (s[i - 1] == '-') return reason;
    } else if (!lower_alnum(c)) {
      return reason;
    }
    letter = letter || (c >= 'a' && c <= 'z');
  }
  if (!letter) return reason;
  return {};
}

bool utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07;
    } else {
      return false;  // continuation byte first, 0xc0/0xc1 overlong, or > U+10FFFF lead
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace netpol::k8s::validate
