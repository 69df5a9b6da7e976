// RFC 9162 §2.1 Merkle tree hashing for the access log: leaf and node hashes, an in-memory
// append-only tree that keeps every complete aligned subtree (so appends are amortised O(1)
// hashes and any MTH(D[0:n]), inclusion or consistency proof costs O(log n) lookups).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tillid/access_log.hpp"

struct evp_md_ctx_st;
struct evp_md_st;

namespace tillid::merkle {

// SHA-256 through one reused OpenSSL EVP context (SHA-NI when present). Not thread-safe:
// each thread or owner keeps its own.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  LogHash leaf(std::span<const unsigned char> entry);        // SHA-256(0x00 || entry)
  LogHash node(const LogHash& left, const LogHash& right);   // SHA-256(0x01 || l || r)
  LogHash plain(std::span<const unsigned char> bytes);       // SHA-256(bytes)

 private:
  evp_md_ctx_st* ctx_ = nullptr;
  evp_md_st* md_ = nullptr;
};

LogHash empty_root();  // MTH({}) = SHA-256("")

class Tree {
 public:
  std::uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  void append(Hasher& h, const LogHash& leaf);
  const LogHash& leaf(std::uint64_t index) const { return levels_[0][index]; }
  // MTH(D[begin:end]); O(log n) when begin is aligned as in RFC 9162 recursions.
  LogHash range_hash(Hasher& h, std::uint64_t begin, std::uint64_t end) const;
  LogHash root_at(Hasher& h, std::uint64_t n) const;  // n <= size()
  std::vector<LogHash> inclusion_path(Hasher& h, std::uint64_t index, std::uint64_t n) const;
  std::vector<LogHash> consistency_path(Hasher& h, std::uint64_t m, std::uint64_t n) const;
  void reserve(std::uint64_t n);

 private:
  // levels_[k][i] = hash of the complete subtree over leaves [i*2^k, (i+1)*2^k).
  std::vector<std::vector<LogHash>> levels_;
};

}  // namespace tillid::merkle
