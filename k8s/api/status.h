// Error values of the Kubernetes API client: Status (ok, or a code and a
// message) and Result<T> (a value or a Status).
//
// Every message names what failed, e.g.
// "GET https://10.0.0.1:443/api/v1/pods?limit=500: 401 Unauthorized: ...",
// so a caller can log it once and move on. These types never throw and never
// carry an exception: cpprestsdk/Boost exceptions stop inside the .cpp files
// of k8s/api and come out as one of these.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace netpol::k8s::api {

// Categories a caller acts on differently (retry, relist, give up, tell a human).
enum class Code : unsigned char {
  Ok,
  InvalidArgument,  // bad configuration or request built by us
  Unauthorized,     // HTTP 401: token/certificate rejected
  Forbidden,        // HTTP 403: authenticated but not allowed (RBAC)
  NotFound,         // HTTP 404
  Conflict,         // HTTP 409
  Gone,             // HTTP 410 or a watch ERROR event with code 410: relist
  Unavailable,      // connection refused/reset, TLS failure, 5xx, 429
  Timeout,          // no byte from the server within the configured time
  Cancelled,        // stopped by us
  Malformed,        // the server sent something that is not what the API promises
};
const char* to_string(Code c);

// Ok, or what failed: a Code to act on and a message for humans. Never
// thrown, never holds an exception.
class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message, int http_status = 0)
      : code_(code), http_status_(http_status), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::Ok; }
  Code code() const { return code_; }
  // The HTTP status code when the failure came from a response, else 0.
  int http_status() const { return http_status_; }
  // Empty when ok().
  const std::string& message() const { return message_; }
  // "Unauthorized: GET https://...: 401 ..." for logs.
  std::string str() const;

 private:
  Code code_ = Code::Ok;
  int http_status_ = 0;
  std::string message_;
};

// A value or the Status saying why there is none. Never built from an ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Only valid when ok(); checked by the caller, as with std::optional.
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace netpol::k8s::api
