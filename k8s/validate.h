// Private to k8s/: the string rules of the API server (DNS-1123 names, label
// keys and values, IANA service names) and safe quoting of user values for
// error messages.
//
// Every check is one linear pass without regexes or allocation, so a 10 MB
// value costs a scan and nothing more. A check returns "" when the text is
// valid, else the reason (without the value: callers quote it with quote(),
// which never echoes more than kQuoteLimit bytes).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace netpol::k8s::validate {

inline constexpr size_t kQuoteLimit = 64;

// `"text"` with control and non-ASCII bytes escaped as \xNN; text longer
// than kQuoteLimit is cut and marked `..." (N bytes)`.
std::string quote(std::string_view text);

// Namespace names, label-key prefixes' parts.
std::string_view dns1123_label(std::string_view s);
// Pod and NetworkPolicy names, label-key prefixes.
std::string_view dns1123_subdomain(std::string_view s);
// Label and annotation keys: [prefix/]name.
std::string_view qualified_name(std::string_view s);
// Label values (may be empty).
std::string_view label_value(std::string_view s);
// Named ports (containerPort names and NetworkPolicyPort.port strings).
std::string_view iana_svc_name(std::string_view s);

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF),
// so every string in the model can be written as JSON downstream.
bool utf8(std::string_view s);

}  // namespace netpol::k8s::validate
