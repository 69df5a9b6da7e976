// RFC 9162 §2.1 Merkle tree hashing for the access log: leaf and node hashes, an in-memory
// append-only tree that keeps every complete aligned subtree (so appends are amortised O(1)
// hashes and any MTH(D[0:n]), inclusion or consistency proof costs O(log n) lookups), and the
// writer's compact BlockTree that keeps only whole 256-leaf blocks' hashes in memory.
#pragma once

#include <cstdint>
#include <functional>
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

// Leaves per block of the writer's tree and of the index file (LOG-FORMAT.md §3.7).
inline constexpr std::uint64_t kBlockLeaves = 256;

// MTH of a run of leaf hashes (RFC 9162 §2.1.1), any count.
LogHash subtree_hash(Hasher& h, std::span<const LogHash> leaves);

// The writer's tree (LOG-FORMAT.md §3.7): in memory only the hash of every complete block of
// kBlockLeaves leaves (as the leaves of a Tree, so every level above them too) and the leaves
// of the last, incomplete block — 64 bytes per 256 entries instead of 64 per entry. Hashes
// inside a complete block are recomputed from its leaves, read through `BlockLeaves` (the
// entries file) and used only once they hash to the block's hash. A root of the whole tree
// never needs them.
class BlockTree {
 public:
  // The kBlockLeaves leaf hashes of complete block `block`, as stored.
  using BlockLeaves = std::function<Result<std::vector<LogHash>>(std::uint64_t block)>;

  std::uint64_t size() const { return blocks_.size() * kBlockLeaves + partial_.size(); }
  std::uint64_t complete_blocks() const { return blocks_.size(); }
  const LogHash& block_hash(std::uint64_t b) const { return blocks_.leaf(b); }
  std::span<const LogHash> partial() const { return partial_; }

  void append(Hasher& h, const LogHash& leaf);
  // A whole block known only by its hash (the index); only while no block is partial.
  void append_block(Hasher& h, const LogHash& block_hash);
  // A copy holding only the first `blocks` complete blocks.
  BlockTree prefix(Hasher& h, std::uint64_t blocks) const;

  LogHash root(Hasher& h) const;  // MTH of everything; never reads a block
  Result<LogHash> root_at(Hasher& h, std::uint64_t n, const BlockLeaves& load) const;
  Result<std::vector<LogHash>> inclusion_path(Hasher& h, std::uint64_t m, std::uint64_t n,
                                              const BlockLeaves& load) const;
  Result<std::vector<LogHash>> consistency_path(Hasher& h, std::uint64_t m, std::uint64_t n,
                                                const BlockLeaves& load) const;

 private:
  struct Loaded;  // blocks read during one call
  Result<LogHash> range(Hasher& h, std::uint64_t begin, std::uint64_t end, const BlockLeaves& load,
                        Loaded& cache) const;
  Tree blocks_;                   // leaves = block hashes
  std::vector<LogHash> partial_;  // < kBlockLeaves leaves of the last block
};

}  // namespace tillid::merkle
