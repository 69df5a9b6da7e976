// secretstream with OpenSSL primitives: see secretstream.hpp.
#include "secretstream.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

namespace tillid::detail {

namespace {

constexpr std::size_t kBlock = 64;          // one ChaCha20 block
constexpr std::size_t kCounterBytes = 4;    // state nonce = counter (4, LE) || inonce (8)
constexpr std::size_t kINonceBytes = 8;
// Cipher and MAC alternate over slices this size so the MAC reads ciphertext still in L1/L2.
constexpr std::size_t kSlice = 64 * 1024;

const unsigned char kZeros[kBlock] = {};

void store64_le(unsigned char out[8], std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

// After every chunk: inonce ^= mac[0..8), counter += 1, rekey on TAG_REKEY or counter wrap.
void advance(SecretStreamState& st, const unsigned char* mac, unsigned char tag) {
  for (std::size_t i = 0; i < kINonceBytes; ++i) st.nonce[kCounterBytes + i] ^= mac[i];
  sodium_increment(st.nonce, kCounterBytes);
  if ((tag & crypto_secretstream_xchacha20poly1305_TAG_REKEY) != 0 || sodium_is_zero(st.nonce, kCounterBytes))
    crypto_secretstream_xchacha20poly1305_rekey(&st);
}

}  // namespace

SecretStreamCodec::SecretStreamCodec() {
  chacha_ = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  cipher_ = EVP_CIPHER_CTX_new();
  poly_ = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
  if (poly_ != nullptr) mac_ = EVP_MAC_CTX_new(poly_);
  if (chacha_ == nullptr || cipher_ == nullptr || poly_ == nullptr || mac_ == nullptr) release();
}

SecretStreamCodec::~SecretStreamCodec() { release(); }

SecretStreamCodec::SecretStreamCodec(SecretStreamCodec&& o) noexcept
    : chacha_(std::exchange(o.chacha_, nullptr)),
      cipher_(std::exchange(o.cipher_, nullptr)),
      poly_(std::exchange(o.poly_, nullptr)),
      mac_(std::exchange(o.mac_, nullptr)) {}

SecretStreamCodec& SecretStreamCodec::operator=(SecretStreamCodec&& o) noexcept {
  if (this != &o) {
    release();
    chacha_ = std::exchange(o.chacha_, nullptr);
    cipher_ = std::exchange(o.cipher_, nullptr);
    poly_ = std::exchange(o.poly_, nullptr);
    mac_ = std::exchange(o.mac_, nullptr);
  }
  return *this;
}

void SecretStreamCodec::release() {
  // The *_free functions wipe the key schedules they hold.
  EVP_MAC_CTX_free(mac_);
  EVP_MAC_free(poly_);
  EVP_CIPHER_CTX_free(cipher_);
  EVP_CIPHER_free(chacha_);
  mac_ = nullptr;
  poly_ = nullptr;
  cipher_ = nullptr;
  chacha_ = nullptr;
}

bool SecretStreamCodec::start_chunk(const SecretStreamState& st, unsigned char poly_key[32]) {
  // OpenSSL's ChaCha20 IV is the 32-bit block counter (LE) followed by the 96-bit IETF nonce.
  unsigned char iv[16] = {0, 0, 0, 0};
  std::memcpy(iv + 4, st.nonce, sizeof st.nonce);
  unsigned char block0[kBlock];
  int n = 0;
  bool ok = EVP_EncryptInit_ex2(cipher_, chacha_, st.k, iv, nullptr) == 1 &&
            EVP_EncryptUpdate(cipher_, block0, &n, kZeros, kBlock) == 1 && n == static_cast<int>(kBlock);
  std::memcpy(poly_key, block0, 32);
  OPENSSL_cleanse(block0, sizeof block0);
  return ok && EVP_MAC_init(mac_, poly_key, 32, nullptr) == 1;
}

void SecretStreamCodec::push(SecretStreamState& st, unsigned char* out, std::span<const unsigned char> m,
                             unsigned char tag) {
  if (mac_ != nullptr && push_openssl(st, out, m, tag)) return;
  crypto_secretstream_xchacha20poly1305_push(&st, out, nullptr, m.data(), m.size(), nullptr, 0, tag);
}

bool SecretStreamCodec::pull(SecretStreamState& st, unsigned char* m, unsigned char* tag,
                             std::span<const unsigned char> in) {
  if (mac_ != nullptr) {
    int r = pull_openssl(st, m, tag, in);
    if (r >= 0) return r == 1;
  }
  unsigned long long mlen = 0;
  return crypto_secretstream_xchacha20poly1305_pull(&st, m, &mlen, tag, in.data(), in.size(), nullptr, 0) == 0;
}

// The chunk, as libsodium computes it (keystream block 0 keys Poly1305; block 1 encrypts the
// tag byte and 63 zeros, of which only the first byte is sent; blocks 2.. encrypt the message):
//   out = E(tag block)[0] || E(m) || Poly1305(E(tag block) || E(m) || 0^(mlen mod 16) ||
//                                             LE64(0) || LE64(64 + mlen))
bool SecretStreamCodec::push_openssl(SecretStreamState& st, unsigned char* out,
                                     std::span<const unsigned char> m, unsigned char tag) {
  unsigned char poly_key[32];
  bool ok = start_chunk(st, poly_key);
  OPENSSL_cleanse(poly_key, sizeof poly_key);
  unsigned char block[kBlock] = {tag};
  int n = 0;
  ok = ok && EVP_EncryptUpdate(cipher_, block, &n, block, kBlock) == 1 && EVP_MAC_update(mac_, block, kBlock) == 1;
  out[0] = block[0];
  unsigned char* c = out + 1;
  for (std::size_t at = 0; ok && at < m.size(); at += kSlice) {
    const std::size_t len = std::min(kSlice, m.size() - at);
    ok = EVP_EncryptUpdate(cipher_, c + at, &n, m.data() + at, static_cast<int>(len)) == 1 &&
         n == static_cast<int>(len) && EVP_MAC_update(mac_, c + at, len) == 1;
  }
  unsigned char lens[16];
  store64_le(lens, 0);  // no additional data
  store64_le(lens + 8, kBlock + m.size());
  unsigned char* mac = c + m.size();
  std::size_t maclen = 0;
  ok = ok && EVP_MAC_update(mac_, kZeros, m.size() & 0xf) == 1 && EVP_MAC_update(mac_, lens, sizeof lens) == 1 &&
       EVP_MAC_final(mac_, mac, &maclen, 16) == 1 && maclen == 16;
  OPENSSL_cleanse(block, sizeof block);
  if (!ok) return false;  // nothing of the state changed: the caller redoes it with libsodium
  advance(st, mac, tag);
  return true;
}

int SecretStreamCodec::pull_openssl(SecretStreamState& st, unsigned char* m, unsigned char* tag,
                                    std::span<const unsigned char> in) {
  if (in.size() < crypto_secretstream_xchacha20poly1305_ABYTES) return 0;
  const std::size_t mlen = in.size() - crypto_secretstream_xchacha20poly1305_ABYTES;
  const unsigned char* c = in.data() + 1;
  const unsigned char* stored_mac = c + mlen;
  unsigned char poly_key[32];
  bool ok = start_chunk(st, poly_key);
  OPENSSL_cleanse(poly_key, sizeof poly_key);
  // Rebuild the encrypted tag block the sender MACed: its first byte as received, the rest
  // keystream (it encrypted zeros). Decrypting the first byte gives the tag.
  unsigned char block[kBlock] = {in[0]};
  int n = 0;
  ok = ok && EVP_EncryptUpdate(cipher_, block, &n, block, kBlock) == 1;
  const unsigned char t = block[0];
  block[0] = in[0];
  ok = ok && EVP_MAC_update(mac_, block, kBlock) == 1 && EVP_MAC_update(mac_, c, mlen) == 1;
  unsigned char lens[16];
  store64_le(lens, 0);
  store64_le(lens + 8, kBlock + mlen);
  unsigned char mac[16];
  std::size_t maclen = 0;
  ok = ok && EVP_MAC_update(mac_, kZeros, mlen & 0xf) == 1 && EVP_MAC_update(mac_, lens, sizeof lens) == 1 &&
       EVP_MAC_final(mac_, mac, &maclen, sizeof mac) == 1 && maclen == sizeof mac;
  OPENSSL_cleanse(block, sizeof block);
  if (!ok) return -1;
  if (CRYPTO_memcmp(mac, stored_mac, sizeof mac) != 0) {
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
  }
  // Authenticated: decrypt (the cipher is at block 2 now; ChaCha20 decryption is the same
  // XOR, and OpenSSL refuses DecryptUpdate on a context keyed for encryption).
  for (std::size_t at = 0; at < mlen; at += kSlice) {
    const std::size_t len = std::min(kSlice, mlen - at);
    if (EVP_EncryptUpdate(cipher_, m + at, &n, c + at, static_cast<int>(len)) != 1 || n != static_cast<int>(len)) {
      // Leave no partial plaintext behind; the caller redoes the chunk with libsodium.
      OPENSSL_cleanse(m, mlen);
      return -1;
    }
  }
  *tag = t;
  advance(st, mac, t);
  return 1;
}

}  // namespace tillid::detail
