// The one error type across layers: Status (ok or a message) and Result<T>
// (a value or a message), used by k8s/api, nft and agent. (Decoding of
// manifests reports lists of structured k8s::Error instead, see k8s/decode.h.)
//
// The message names the object that failed ("add rule egress-X: set @s-v4 does
// not exist"), so a caller can log it once and move on. These types never throw
// and never hold an exception: every public API reports failure through them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace netpol {

// A failure description; wrapping the string keeps Result<std::string> unambiguous.
struct StatusError {
  std::string message;
};

class [[nodiscard]] Status {
 public:
  Status() = default;                                // ok
  Status(StatusError e) : error_(std::move(e.message)) {}  // NOLINT: implicit by design

  static Status Ok() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  // Empty when ok().
  const std::string& message() const {
    static const std::string kEmpty;
    return error_ ? *error_ : kEmpty;
  }

 private:
  std::optional<std::string> error_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(StatusError e) : v_(std::move(e)) {}      // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Only valid when ok(); checked by the caller, as with std::optional.
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  // Empty when ok().
  const std::string& message() const {
    static const std::string kEmpty;
    return ok() ? kEmpty : std::get<StatusError>(v_).message;
  }
  Status status() const { return ok() ? Status() : Status(std::get<StatusError>(v_)); }

 private:
  std::variant<T, StatusError> v_;
};

}  // namespace netpol
