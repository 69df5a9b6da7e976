// SHA-256 through OpenSSL's EVP interface: libcrypto picks the SHA-NI/AVX2 code path at run
// time, several times faster than a portable implementation, which matters for 1 GiB ingests.
#pragma once

#include <array>
#include <span>

#include "tillid/result.hpp"

struct evp_md_ctx_st;

namespace tillid::detail {

using Sha256Digest = std::array<unsigned char, 32>;

class Sha256 {
 public:
  static Result<Sha256> create();
  ~Sha256();
  Sha256(Sha256&& o) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& operator=(Sha256&&) = delete;

  void update(std::span<const unsigned char> bytes);
  // Finish; an earlier update failure is reported here.
  Result<Sha256Digest> finish();

 private:
  explicit Sha256(evp_md_ctx_st* ctx) : ctx_(ctx) {}
  evp_md_ctx_st* ctx_ = nullptr;
  bool failed_ = false;
};

}  // namespace tillid::detail
