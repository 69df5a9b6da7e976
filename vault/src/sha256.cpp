// SHA-256 via OpenSSL EVP: see sha256.hpp.
#include "sha256.hpp"

#include <openssl/evp.h>

#include <utility>

namespace tillid::detail {

Result<Sha256> Sha256::create() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return make_error(Errc::internal, "cannot allocate a SHA-256 context");
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return make_error(Errc::internal, "cannot initialise SHA-256 (OpenSSL)");
  }
  return Sha256(ctx);
}

Sha256::~Sha256() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)), failed_(o.failed_) {}

void Sha256::update(std::span<const unsigned char> bytes) {
  if (bytes.empty() || failed_) return;
  if (EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) failed_ = true;
}

Result<Sha256Digest> Sha256::finish() {
  Sha256Digest d{};
  unsigned int n = 0;
  if (failed_ || EVP_DigestFinal_ex(ctx_, d.data(), &n) != 1 || n != d.size())
    return make_error(Errc::internal, "SHA-256 computation failed (OpenSSL)");
  return d;
}

}  // namespace tillid::detail
