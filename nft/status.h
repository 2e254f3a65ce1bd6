// Error values for the nft layer: Status (ok or a message) and Result<T>
// (a value or a message).
//
// The message names the object that failed ("add rule egress-X: set @s-v4 does
// not exist"), so a caller can log it once and move on. These types never throw
// and never hold an exception: every public nft API reports failure through them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace netpol::nft {

// A failure description; wrapping the string keeps Result<std::string> unambiguous.
struct Error {
  std::string message;
};

class [[nodiscard]] Status {
 public:
  Status() = default;                                // ok
  Status(Error e) : error_(std::move(e.message)) {}  // NOLINT: implicit by design

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
  Result(Error e) : v_(std::move(e)) {}      // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  // Only valid when ok(); checked by the caller, as with std::optional.
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  // Empty when ok().
  const std::string& message() const {
    static const std::string kEmpty;
    return ok() ? kEmpty : std::get<Error>(v_).message;
  }
  Status status() const { return ok() ? Status() : Status(std::get<Error>(v_)); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace netpol::nft
