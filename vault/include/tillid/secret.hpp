// Secret key material lives only here: in sodium_malloc'ed memory (guard pages, mlock'ed,
// never swapped), wiped when released, never copied by accident and never printed.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace tillid {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::size_t size);  // zero-filled; throws std::bad_alloc if sodium_malloc fails
  static Secret random(std::size_t size);
  static Secret copy_of(std::span<const unsigned char> bytes);
  ~Secret();

  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;

  unsigned char* data() { return data_; }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const unsigned char> bytes() const { return {data_, size_}; }
  std::span<unsigned char> bytes() { return {data_, size_}; }

  // Constant-time comparison (sodium_memcmp).
  bool equals(const Secret& other) const;

 private:
  void release();
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

// A passphrase as typed or read from a file: a Secret holding UTF-8 bytes, without a
// trailing newline. Never logged.
using Passphrase = Secret;
Passphrase passphrase_from(std::string_view text);

}  // namespace tillid
