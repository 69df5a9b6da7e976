// Secret: RAII ownership of sodium_malloc'ed key material.
#include "tillid/secret.hpp"

#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

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

SecureBytes::SecureBytes(std::size_t initial_capacity) : mem_(initial_capacity) {}

void SecureBytes::append(std::span<const unsigned char> bytes) {
  if (bytes.empty()) return;
  if (mem_.size() - size_ < bytes.size()) {
    // Grow by doubling into a fresh region; the old one is wiped when it is freed.
    std::size_t cap = std::max<std::size_t>(mem_.size(), 4096);
    while (cap - size_ < bytes.size()) cap *= 2;
    Secret bigger(cap);
    if (size_ > 0) std::memcpy(bigger.data(), mem_.data(), size_);
    mem_ = std::move(bigger);
  }
  std::memcpy(mem_.data() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

void SecureBytes::erase_front(std::size_t n) {
  n = std::min(n, size_);
  if (n == 0) return;
  std::memmove(mem_.data(), mem_.data() + n, size_ - n);
  sodium_memzero(mem_.data() + (size_ - n), n);
  size_ -= n;
}

void wipe(std::string& text) noexcept {
  // The whole capacity: a string that shrank keeps the old characters past size().
  if (text.capacity() > 0) {
    text.resize(text.capacity());
    sodium_memzero(text.data(), text.size());
  }
  text.clear();
}

Result<void> disable_core_dumps() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    return make_error(Errc::internal, std::string("cannot disable core dumps (RLIMIT_CORE): ") + std::strerror(errno));
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return make_error(Errc::internal, std::string("cannot disable core dumps (PR_SET_DUMPABLE): ") + std::strerror(errno));
  return {};
}

}  // namespace tillid
