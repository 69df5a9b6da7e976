// Secret key material lives only here: in sodium_malloc'ed memory (guard pages, mlock'ed,
// never swapped), wiped when released, never copied by accident and never printed.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "tillid/result.hpp"

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

// Plaintext buffers (PCM, Ogg pages, document blocks): a fixed number of trivially copyable
// elements in a Secret, so audio and documents are locked out of swap, kept out of core
// dumps' heap and wiped when the buffer goes (issue 10, class 7).
template <class T>
class SecureArray {
  static_assert(std::is_trivially_copyable_v<T>, "SecureArray holds plain data only");

 public:
  SecureArray() = default;
  explicit SecureArray(std::size_t count) : mem_(count * sizeof(T)), count_(count) {}
  // sodium_malloc puts the region right before a guard page, so the start is aligned for T
  // whenever the byte size is a multiple of alignof(T), which count * sizeof(T) is.
  T* data() { return reinterpret_cast<T*>(mem_.data()); }
  const T* data() const { return reinterpret_cast<const T*>(mem_.data()); }
  std::size_t size() const { return count_; }
  std::span<T> span() { return {data(), count_}; }
  std::span<const T> span() const { return {data(), count_}; }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }

 private:
  Secret mem_;
  std::size_t count_ = 0;
};

// A growable byte buffer in sodium memory with cheap appends at the end and removal from
// the front: the Ogg pages waiting to be handed on as a chunk.
class SecureBytes {
 public:
  explicit SecureBytes(std::size_t initial_capacity = 0);
  void append(std::span<const unsigned char> bytes);
  void erase_front(std::size_t n);
  void clear() { erase_front(size_); }
  const unsigned char* data() const { return mem_.data(); }
  std::size_t size() const { return size_; }

 private:
  Secret mem_;
  std::size_t size_ = 0;
};

// Identifying text (a child's name, CPR number, notes, titles, interviewer, bookmark labels)
// cannot always live in sodium memory: the vault's API takes std::string. wipe() overwrites
// the characters before the string is cleared, so the heap holds no copy once we are done.
void wipe(std::string& text) noexcept;

// Wipes the strings it names when the scope ends, however it ends.
class WipeOnExit {
 public:
  WipeOnExit(std::initializer_list<std::string*> texts) : texts_(texts) {}
  ~WipeOnExit() {
    for (std::string* t : texts_) wipe(*t);
  }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::vector<std::string*> texts_;
};

// Called first thing by every program that holds vault keys or plaintext: RLIMIT_CORE 0
// (soft and hard, so a child or a later setrlimit cannot raise it) and PR_SET_DUMPABLE 0 (no
// core even through a core_pattern pipe, and no ptrace or /proc/PID/mem by other processes of
// the same user). Keys are in sodium memory anyway, but names, titles and audio pass through
// ordinary heap in libraries we do not control (libopusenc, SQLite, JSON parsing).
Result<void> disable_core_dumps();

}  // namespace tillid
