// The one error type of every layer: Status (ok, or a Code, the errno where
// there is one, and a message) and Result<T> (a value or a failed Status).
//
// The message names the object that failed ("add rule egress-X: set @s-v4 does
// not exist", "GET https://10.0.0.1:443/api/v1/pods: 401 Unauthorized: ..."),
// so a caller can log it once and move on; the Code (and errno) is what a caller
// acts on, never the text. These types never throw and never hold an exception:
// every public API reports failure through them. (Decoding of manifests reports
// lists of structured k8s::Error instead, see k8s/decode.h.)
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace netpol {

// Categories a caller acts on differently (retry, relist, give up, tell a human).
enum class Code : unsigned char {
  Ok,
  Unknown,          // a failure no category below describes
  InvalidArgument,  // bad configuration, input or request built by us
  Unauthorized,     // HTTP 401: token/certificate rejected
  Forbidden,        // HTTP 403: authenticated but not allowed (RBAC)
  NotFound,         // HTTP 404, ENOENT
  Conflict,         // HTTP 409, EEXIST
  Gone,             // HTTP 410 or a watch ERROR event with code 410: relist
  Unavailable,      // connection refused/reset, TLS failure, 5xx, 429, EBUSY
  Timeout,          // no answer within the configured time
  Cancelled,        // stopped by us
  Malformed,        // the peer sent something that is not what it promises
  Unsupported,      // EOPNOTSUPP/ENOTSUP/EPROTONOSUPPORT: not in this kernel
  Resource,         // ENOBUFS, ENOMEM, EMSGSIZE: out of buffer or memory
};
const char* to_string(Code c);
// The Code an errno value falls in (0 is Ok).
Code code_of_errno(int errnum);
// strerror_r's text for errnum, thread-safe.
std::string errno_text(int errnum);

// How a failure is built where a function returns Status or Result<T>:
// `return Error{"add rule X: ..."};` (Code::Unknown), or with a code and errno.
// Wrapping the string keeps Result<std::string> unambiguous.
struct StatusError {
  std::string message;
  Code code = Code::Unknown;
  int errnum = 0;
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusError e)  // NOLINT: implicit by design
      : code_(e.code == Code::Ok ? Code::Unknown : e.code),
        errnum_(e.errnum),
        message_(std::move(e.message)) {}
  Status(Code code, std::string message, int http_status = 0)
      : code_(code), http_status_(http_status), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  // A failed system call: the Code from errno, the errno kept, and
  // "WHAT: strerror" as the message.
  static Status FromErrno(int errnum, const std::string& what) {
    StatusError e{what + ": " + errno_text(errnum), code_of_errno(errnum), errnum};
    return Status(std::move(e));
  }

  bool ok() const { return code_ == Code::Ok; }
  Code code() const { return code_; }
  // The errno behind the failure when it came from the kernel or libc, else 0.
  int errnum() const { return errnum_; }
  // The HTTP status code when the failure came from a response, else 0.
  int http_status() const { return http_status_; }
  // Empty when ok().
  const std::string& message() const { return message_; }
  // "Unauthorized: GET https://...: 401 ..." for logs.
  std::string str() const;

  // The same failure with "CONTEXT: " in front of its message (code, errno
  // and HTTP status kept); ok stays ok. For a caller that adds what it was doing.
  Status context(const std::string& what) const& {
    Status s = *this;
    if (!s.ok()) s.message_ = what + ": " + s.message_;
    return s;
  }

 private:
  Code code_ = Code::Ok;
  int errnum_ = 0;
  int http_status_ = 0;
  std::string message_;
};

// A value or the failed Status saying why there is none. Never built from an
// ok Status (that would be a value-less success: an impossible state).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}         // NOLINT: implicit by design
  Result(StatusError e) : v_(Status(std::move(e))) {}      // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Only valid when ok(); checked by the caller, as with std::optional.
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  // Empty when ok().
  const std::string& message() const {
    static const std::string kEmpty;
    return ok() ? kEmpty : std::get<Status>(v_).message();
  }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace netpol
