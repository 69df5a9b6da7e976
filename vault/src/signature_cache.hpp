// A bounded memory of Ed25519 signatures this process has already found valid, so that
// listing the same stored rows again (the daemon answers `ls` many times a second) does not
// re-verify every item's and case's signature (FORMAT.md §5.1, §5.4) each time.
//
// Sound by construction: an entry is the BLAKE2b-256 of the exact public key, signature and
// signed message, and only a successful verification is remembered. Any byte changed on disk
// changes the manifest built from the row (or the signature read with it), so it misses and
// is verified afresh; a failed verification is never remembered, so a repaired row is not
// held against. `verify` (the full check) does not use it.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <unordered_set>

#include "manifest.hpp"

namespace tillid::detail {

class SignatureCache {
 public:
  // Entries kept at most; when full it starts afresh (a listing re-verifies once).
  static constexpr std::size_t kMaxEntries = 8192;

  // crypto_sign_verify_detached(sig, msg, pk) == 0, remembered when true.
  bool verify(const PublicKey& pk, std::span<const unsigned char> msg, std::span<const unsigned char> sig);
  std::size_t size() const { return ok_.size(); }
  void clear() { ok_.clear(); }

 private:
  using Key = std::array<unsigned char, 32>;
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  std::unordered_set<Key, KeyHash> ok_;
};

// verify_manifest (version 3 only) and verify_case_manifest through the cache.
bool verify_manifest_cached(SignatureCache& cache, const PublicKey& pk, const Manifest& m,
                            std::span<const unsigned char> sig);
bool verify_case_manifest_cached(SignatureCache& cache, const PublicKey& pk, const CaseManifest& m,
                                 std::span<const unsigned char> sig);

}  // namespace tillid::detail
