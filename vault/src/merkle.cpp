// RFC 9162 Merkle tree: hashing, the in-memory tree, proof generation (§2.1.3.1, §2.1.4.1)
// and the independent proof verifiers (§2.1.3.2, §2.1.4.2), which use hashes only.
#include "merkle.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>

namespace tillid::merkle {

Hasher::Hasher() {
  ctx_ = EVP_MD_CTX_new();
  md_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (ctx_ == nullptr || md_ == nullptr) throw std::bad_alloc();
}

Hasher::~Hasher() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

namespace {
// A failure here means OpenSSL itself is broken; there is no sensible way to continue.
void check(int ok) {
  if (ok != 1) throw std::bad_alloc();
}
}  // namespace

LogHash Hasher::leaf(std::span<const unsigned char> entry) {
  static constexpr unsigned char prefix = 0x00;
  LogHash out;
  check(EVP_DigestInit_ex2(ctx_, md_, nullptr));
  check(EVP_DigestUpdate(ctx_, &prefix, 1));
  check(EVP_DigestUpdate(ctx_, entry.data(), entry.size()));
  check(EVP_DigestFinal_ex(ctx_, out.data(), nullptr));
  return out;
}

LogHash Hasher::node(const LogHash& left, const LogHash& right) {
  unsigned char buf[65];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), 32);
  std::memcpy(buf + 33, right.data(), 32);
  LogHash out;
  check(EVP_DigestInit_ex2(ctx_, md_, nullptr));
  check(EVP_DigestUpdate(ctx_, buf, sizeof buf));
  check(EVP_DigestFinal_ex(ctx_, out.data(), nullptr));
  return out;
}

LogHash Hasher::plain(std::span<const unsigned char> bytes) {
  LogHash out;
  check(EVP_DigestInit_ex2(ctx_, md_, nullptr));
  check(EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()));
  check(EVP_DigestFinal_ex(ctx_, out.data(), nullptr));
  return out;
}

LogHash empty_root() {
  Hasher h;
  return h.plain({});
}

namespace {
// Largest power of two strictly smaller than n (n >= 2): the RFC 9162 split point k.
std::uint64_t split(std::uint64_t n) { return std::bit_floor(n - 1); }
}  // namespace

void Tree::reserve(std::uint64_t n) {
  for (std::size_t k = 0; (n >> k) > 0; ++k) {
    if (levels_.size() <= k) levels_.emplace_back();
    levels_[k].reserve(n >> k);
  }
}

void Tree::append(Hasher& h, const LogHash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  // Each time a level gains an even count, a complete subtree one level up is finished.
  for (std::size_t k = 0; levels_[k].size() % 2 == 0; ++k) {
    const auto& lv = levels_[k];
    LogHash parent = h.node(lv[lv.size() - 2], lv[lv.size() - 1]);
    if (levels_.size() == k + 1) levels_.emplace_back();
    levels_[k + 1].push_back(parent);
  }
}

LogHash Tree::range_hash(Hasher& h, std::uint64_t begin, std::uint64_t end) const {
  const std::uint64_t n = end - begin;
  if (n == 0) return empty_root();
  if (std::has_single_bit(n) && begin % n == 0) {
    const auto k = static_cast<std::size_t>(std::countr_zero(n));
    return levels_[k][begin >> k];
  }
  const std::uint64_t k = split(n);
  return h.node(range_hash(h, begin, begin + k), range_hash(h, begin + k, end));
}

LogHash Tree::root_at(Hasher& h, std::uint64_t n) const { return range_hash(h, 0, n); }

// RFC 9162 §2.1.3.1 PATH(m, D[n]), iteratively: descend from the root, remembering the
// sibling subtree at each split; the proof lists them leaf-first.
std::vector<LogHash> Tree::inclusion_path(Hasher& h, std::uint64_t m, std::uint64_t n) const {
  std::vector<LogHash> rev;
  std::uint64_t begin = 0, end = n;
  while (end - begin > 1) {
    const std::uint64_t k = split(end - begin);
    if (m - begin < k) {
      rev.push_back(range_hash(h, begin + k, end));
      end = begin + k;
    } else {
      rev.push_back(range_hash(h, begin, begin + k));
      begin += k;
    }
  }
  return {rev.rbegin(), rev.rend()};
}

// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), iteratively in the same way.
std::vector<LogHash> Tree::consistency_path(Hasher& h, std::uint64_t m, std::uint64_t n) const {
  std::vector<LogHash> rev;
  if (m == 0 || m >= n) return rev;
  std::uint64_t begin = 0, end = n;
  bool whole = true;  // b: the subtree D[begin:begin+m] is the whole old tree so far
  for (;;) {
    const std::uint64_t size = end - begin, mm = m - begin;
    if (mm == size) {
      if (!whole) rev.push_back(range_hash(h, begin, end));
      break;
    }
    const std::uint64_t k = split(size);
    if (mm <= k) {
      rev.push_back(range_hash(h, begin + k, end));
      end = begin + k;
    } else {
      rev.push_back(range_hash(h, begin, begin + k));
      begin += k;
      whole = false;
    }
  }
  return {rev.rbegin(), rev.rend()};
}

LogHash subtree_hash(Hasher& h, std::span<const LogHash> leaves) {
  if (leaves.empty()) return empty_root();
  if (leaves.size() == 1) return leaves[0];
  const std::size_t k = split(leaves.size());
  return h.node(subtree_hash(h, leaves.first(k)), subtree_hash(h, leaves.subspan(k)));
}

void BlockTree::append(Hasher& h, const LogHash& leaf) {
  partial_.push_back(leaf);
  if (partial_.size() == kBlockLeaves) {
    blocks_.append(h, subtree_hash(h, partial_));
    partial_.clear();
  }
}

void BlockTree::append_block(Hasher& h, const LogHash& block_hash) {
  if (!partial_.empty()) throw std::logic_error("BlockTree::append_block after a partial block");
  blocks_.append(h, block_hash);
}

BlockTree BlockTree::prefix(Hasher& h, std::uint64_t blocks) const {
  BlockTree t;
  t.blocks_.reserve(blocks);
  for (std::uint64_t b = 0; b < blocks && b < blocks_.size(); ++b) t.blocks_.append(h, blocks_.leaf(b));
  return t;
}

// At most the blocks of the two ends of a proof are read in one call.
struct BlockTree::Loaded {
  std::vector<std::pair<std::uint64_t, std::vector<LogHash>>> blocks;
};

Result<LogHash> BlockTree::range(Hasher& h, std::uint64_t begin, std::uint64_t end, const BlockLeaves& load,
                                 Loaded& cache) const {
  const std::uint64_t n = end - begin;
  if (n == 0) return empty_root();
  if (std::has_single_bit(n) && begin % n == 0) {
    if (n >= kBlockLeaves) return blocks_.range_hash(h, begin / kBlockLeaves, end / kBlockLeaves);
    const std::uint64_t b = begin / kBlockLeaves, at = begin % kBlockLeaves;
    if (b == blocks_.size()) return subtree_hash(h, std::span(partial_).subspan(at, n));
    const std::vector<LogHash>* leaves = nullptr;
    for (const auto& [id, l] : cache.blocks)
      if (id == b) leaves = &l;
    if (leaves == nullptr) {
      TILLID_ASSIGN(auto l, load(b));
      // What was read is used only if it is the block the tree holds (LOG-FORMAT.md §3.7).
      if (l.size() != kBlockLeaves || subtree_hash(h, l) != blocks_.leaf(b))
        return make_error(Errc::corrupt, "access log entries " + std::to_string(b * kBlockLeaves) + ".." +
                                             std::to_string((b + 1) * kBlockLeaves - 1) +
                                             " on disk differ from the ones the log holds: they were altered");
      cache.blocks.emplace_back(b, std::move(l));
      leaves = &cache.blocks.back().second;
    }
    return subtree_hash(h, std::span(*leaves).subspan(at, n));
  }
  const std::uint64_t k = split(n);
  TILLID_ASSIGN(LogHash left, range(h, begin, begin + k, load, cache));
  TILLID_ASSIGN(LogHash right, range(h, begin + k, end, load, cache));
  return h.node(left, right);
}

LogHash BlockTree::root(Hasher& h) const {
  // The RFC 9162 split of [0, size) only meets aligned subtrees of at least one block and
  // pieces of the partial block, so the loader is never called.
  Loaded cache;
  auto r = range(h, 0, size(), [](std::uint64_t) -> Result<std::vector<LogHash>> {
    return make_error(Errc::internal, "BlockTree::root read a block");
  }, cache);
  if (!r) throw std::logic_error(r.error().message);
  return *r;
}

Result<LogHash> BlockTree::root_at(Hasher& h, std::uint64_t n, const BlockLeaves& load) const {
  Loaded cache;
  return range(h, 0, n, load, cache);
}

// RFC 9162 §2.1.3.1, as Tree::inclusion_path.
Result<std::vector<LogHash>> BlockTree::inclusion_path(Hasher& h, std::uint64_t m, std::uint64_t n,
                                                       const BlockLeaves& load) const {
  Loaded cache;
  std::vector<LogHash> rev;
  std::uint64_t begin = 0, end = n;
  while (end - begin > 1) {
    const std::uint64_t k = split(end - begin);
    if (m - begin < k) {
      TILLID_ASSIGN(LogHash x, range(h, begin + k, end, load, cache));
      rev.push_back(x);
      end = begin + k;
    } else {
      TILLID_ASSIGN(LogHash x, range(h, begin, begin + k, load, cache));
      rev.push_back(x);
      begin += k;
    }
  }
  return std::vector<LogHash>(rev.rbegin(), rev.rend());
}

// RFC 9162 §2.1.4.1, as Tree::consistency_path.
Result<std::vector<LogHash>> BlockTree::consistency_path(Hasher& h, std::uint64_t m, std::uint64_t n,
                                                         const BlockLeaves& load) const {
  Loaded cache;
  std::vector<LogHash> rev;
  if (m == 0 || m >= n) return rev;
  std::uint64_t begin = 0, end = n;
  bool whole = true;
  for (;;) {
    const std::uint64_t size = end - begin, mm = m - begin;
    if (mm == size) {
      if (!whole) {
        TILLID_ASSIGN(LogHash x, range(h, begin, end, load, cache));
        rev.push_back(x);
      }
      break;
    }
    const std::uint64_t k = split(size);
    if (mm <= k) {
      TILLID_ASSIGN(LogHash x, range(h, begin + k, end, load, cache));
      rev.push_back(x);
      end = begin + k;
    } else {
      TILLID_ASSIGN(LogHash x, range(h, begin, begin + k, load, cache));
      rev.push_back(x);
      begin += k;
      whole = false;
    }
  }
  return std::vector<LogHash>(rev.rbegin(), rev.rend());
}

}  // namespace tillid::merkle

namespace tillid {

LogHash log_leaf_hash(std::span<const unsigned char> entry_bytes) {
  merkle::Hasher h;
  return h.leaf(entry_bytes);
}

// RFC 9162 §2.1.3.2.
bool verify_inclusion(const LogHash& leaf, std::uint64_t index, std::uint64_t tree_size,
                      std::span<const LogHash> path, const LogHash& root) {
  if (index >= tree_size) return false;
  merkle::Hasher h;
  std::uint64_t fn = index, sn = tree_size - 1;
  LogHash r = leaf;
  for (const LogHash& p : path) {
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      r = h.node(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = h.node(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

// RFC 9162 §2.1.4.2, plus the trivial cases: equal sizes need an empty proof and equal
// roots; any tree is consistent with the empty tree.
bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const LogHash& old_root,
                        const LogHash& new_root, std::span<const LogHash> path) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return path.empty() && old_root == new_root;
  if (old_size == 0) return path.empty() && old_root == merkle::empty_root();  // LOG-FORMAT.md §5
  if (path.empty()) return false;
  merkle::Hasher h;
  std::vector<LogHash> p;
  p.reserve(path.size() + 1);
  if (std::has_single_bit(old_size)) p.push_back(old_root);
  p.insert(p.end(), path.begin(), path.end());
  std::uint64_t fn = old_size - 1, sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  LogHash fr = p[0], sr = p[0];
  for (std::size_t i = 1; i < p.size(); ++i) {
    const LogHash& c = p[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = h.node(c, fr);
      sr = h.node(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = h.node(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace tillid
