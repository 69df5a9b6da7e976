// Remembered signature verifications: see signature_cache.hpp.
#include "signature_cache.hpp"

#include <sodium.h>

#include <cstring>

namespace tillid::detail {

std::size_t SignatureCache::KeyHash::operator()(const Key& k) const noexcept {
  std::size_t h;
  std::memcpy(&h, k.data(), sizeof h);  // already a uniform hash
  return h;
}

bool SignatureCache::verify(const PublicKey& pk, std::span<const unsigned char> msg,
                            std::span<const unsigned char> sig) {
  if (sig.size() != crypto_sign_BYTES) return false;
  // pk and sig have fixed sizes, so pk ‖ sig ‖ msg names exactly one triple.
  Key key;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, key.size());
  crypto_generichash_update(&st, pk.data(), pk.size());
  crypto_generichash_update(&st, sig.data(), sig.size());
  crypto_generichash_update(&st, msg.data(), msg.size());
  crypto_generichash_final(&st, key.data(), key.size());
  if (ok_.contains(key)) return true;
  if (crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) != 0) return false;
  if (ok_.size() >= kMaxEntries) ok_.clear();
  ok_.insert(key);
  return true;
}

bool verify_manifest_cached(SignatureCache& cache, const PublicKey& pk, const Manifest& m,
                            std::span<const unsigned char> sig) {
  if (m.version != kManifestVersion) return false;  // as verify_manifest without allow_legacy
  return cache.verify(pk, encode_manifest(m), sig);
}

bool verify_case_manifest_cached(SignatureCache& cache, const PublicKey& pk, const CaseManifest& m,
                                 std::span<const unsigned char> sig) {
  return cache.verify(pk, encode_case_manifest(m), sig);
}

}  // namespace tillid::detail
