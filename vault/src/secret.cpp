// Secret: RAII ownership of sodium_malloc'ed key material.
#include "tillid/secret.hpp"

#include <sodium.h>

#include <algorithm>
#include <new>
#include <utility>

namespace tillid {

Secret::Secret(std::size_t size) : size_(size) {
  if (sodium_init() < 0) throw std::bad_alloc();
  // sodium_malloc(0) is allowed but we still want a valid pointer for data().
  data_ = static_cast<unsigned char*>(sodium_malloc(size == 0 ? 1 : size));
  if (data_ == nullptr) throw std::bad_alloc();
  sodium_memzero(data_, size == 0 ? 1 : size);
}

Secret Secret::random(std::size_t size) {
  Secret s(size);
  randombytes_buf(s.data_, size);
  return s;
}

Secret Secret::copy_of(std::span<const unsigned char> bytes) {
  Secret s(bytes.size());
  if (!bytes.empty()) std::copy(bytes.begin(), bytes.end(), s.data_);
  return s;
}

Secret::~Secret() { release(); }

Secret::Secret(Secret&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

bool Secret::equals(const Secret& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

void Secret::release() {
  // sodium_free wipes the region before unmapping it.
  if (data_ != nullptr) sodium_free(data_);
  data_ = nullptr;
  size_ = 0;
}

Passphrase passphrase_from(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return Secret::copy_of({reinterpret_cast<const unsigned char*>(text.data()), text.size()});
}

}  // namespace tillid
