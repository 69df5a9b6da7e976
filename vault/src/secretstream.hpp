// crypto_secretstream_xchacha20poly1305 push and pull (no additional data), computed with
// OpenSSL's ChaCha20 and Poly1305 instead of libsodium's.
//
// Why: on the appliance's CPU (AVX-512) libsodium 1.0.18 runs secretstream at ~0.8 GB/s
// (AVX2 ChaCha20, then SSE2 Poly1305), OpenSSL 3 at ~1.7 GB/s (AVX-512 for both), and the
// cipher is half the CPU time of adding or fetching a large document.
//
// The bytes are exactly libsodium's (FORMAT.md §3.3 does not change): the same state struct,
// key, nonce, counter and rekey, the same MAC input including libsodium's padding after the
// message, (mlen mod 16) zero bytes, which differs from RFC 8439's for lengths that are not a
// multiple of 8. init_push / init_pull / rekey stay libsodium's own functions. The committed
// vectors (tests/vectors/vault: 16-, 13-byte and empty chunks) pin the equivalence. If
// OpenSSL cannot provide the algorithms, or any OpenSSL call fails, the libsodium function is
// used instead; both give identical results, so the choice is never visible.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <span>

struct evp_cipher_st;
struct evp_cipher_ctx_st;
struct evp_mac_st;
struct evp_mac_ctx_st;

namespace tillid::detail {

using SecretStreamState = crypto_secretstream_xchacha20poly1305_state;

class SecretStreamCodec {
 public:
  SecretStreamCodec();  // never fails: without OpenSSL's algorithms it uses libsodium's
  ~SecretStreamCodec();
  SecretStreamCodec(SecretStreamCodec&& o) noexcept;
  SecretStreamCodec& operator=(SecretStreamCodec&& o) noexcept;
  SecretStreamCodec(const SecretStreamCodec&) = delete;
  SecretStreamCodec& operator=(const SecretStreamCodec&) = delete;

  // = crypto_secretstream_xchacha20poly1305_push(st, out, NULL, m, m.size(), NULL, 0, tag);
  // `out` holds m.size() + ABYTES bytes.
  void push(SecretStreamState& st, unsigned char* out, std::span<const unsigned char> m,
            unsigned char tag);
  // = crypto_secretstream_xchacha20poly1305_pull(st, m, NULL, tag, in, in.size(), NULL, 0) == 0;
  // `m` holds in.size() - ABYTES bytes and is written only once the chunk authenticated.
  bool pull(SecretStreamState& st, unsigned char* m, unsigned char* tag,
            std::span<const unsigned char> in);

 private:
  void release();
  bool push_openssl(SecretStreamState& st, unsigned char* out, std::span<const unsigned char> m,
                    unsigned char tag);
  // 1 ok, 0 forged, -1 an OpenSSL call failed (state untouched).
  int pull_openssl(SecretStreamState& st, unsigned char* m, unsigned char* tag,
                   std::span<const unsigned char> in);
  // Keys the cipher at block 0 and returns the Poly1305 one-time key (keystream block 0).
  bool start_chunk(const SecretStreamState& st, unsigned char poly_key[32]);
  evp_cipher_st* chacha_ = nullptr;
  evp_cipher_ctx_st* cipher_ = nullptr;
  evp_mac_st* poly_ = nullptr;
  evp_mac_ctx_st* mac_ = nullptr;
};

}  // namespace tillid::detail
