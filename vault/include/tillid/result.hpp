// Errors as values: every expected failure (wrong passphrase, tampered object, full disk,
// refused access) is returned as an Error with a code a program can act on and a message a
// person can act on. Exceptions are kept for bugs.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tillid {

enum class Errc {
  invalid_argument,   // the caller asked for something malformed
  not_found,          // no such case, item, key slot or file
  already_exists,     // target exists and will not be overwritten
  not_a_vault,        // the directory is not a Tillid vault (or an unsupported version)
  locked,             // the operation needs an unlocked vault
  wrong_passphrase,   // no key slot opens with this passphrase
  last_key_slot,      // removing the only key slot would lock the vault forever
  io,                 // the operating system refused a read or write
  no_space,           // the disk is full (ENOSPC / EDQUOT)
  corrupt,            // stored data failed authentication or is malformed
  unsupported,        // a format version this build does not understand
  denied,             // the actor's role does not allow this
  internal,           // a bug: an invariant did not hold
};

struct Error {
  Errc code;
  std::string message;  // says what failed and what to do; never holds a secret
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

// The code's name ("wrong_passphrase"): safe for logs, unlike a message that may name a file.
constexpr const char* to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::already_exists: return "already_exists";
    case Errc::not_a_vault: return "not_a_vault";
    case Errc::locked: return "locked";
    case Errc::wrong_passphrase: return "wrong_passphrase";
    case Errc::last_key_slot: return "last_key_slot";
    case Errc::io: return "io";
    case Errc::no_space: return "no_space";
    case Errc::corrupt: return "corrupt";
    case Errc::unsupported: return "unsupported";
    case Errc::denied: return "denied";
    case Errc::internal: return "internal";
  }
  return "internal";
}

// Result<T>: a T, or the Error that prevented it. Inspect with ok() before value().
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(failed_); return error_; }

 private:
  Error error_{Errc::internal, {}};
  bool failed_ = false;
};

}  // namespace tillid

// TILLID_TRY(expr): evaluate a Result<void>-valued expression; return its Error on failure.
#define TILLID_TRY(expr)                                   \
  do {                                                     \
    auto tillid_try_result_ = (expr);                      \
    if (!tillid_try_result_.ok()) return tillid_try_result_.error(); \
  } while (0)

// TILLID_ASSIGN(decl, expr): declare `decl` from a Result<T>'s value, or return its Error.
#define TILLID_CONCAT_INNER(a, b) a##b
#define TILLID_CONCAT(a, b) TILLID_CONCAT_INNER(a, b)
#define TILLID_ASSIGN(decl, expr) TILLID_ASSIGN_IMPL(TILLID_CONCAT(tillid_assign_, __COUNTER__), decl, expr)
#define TILLID_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                        \
  if (!tmp.ok()) return tmp.error();        \
  decl = std::move(tmp).value()
