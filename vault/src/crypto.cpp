// Key hierarchy and AEAD helpers: see crypto.hpp and FORMAT.md §2.
#include "crypto.hpp"

#include <string>

#include "tillid/vault.hpp"

namespace tillid::detail {

Secret derive_subkey(const Secret& master, Subkey id) {
  Secret k(kKeyBytes);
  // crypto_kdf_derive_from_key only fails for out-of-range lengths, which are constants here.
  crypto_kdf_derive_from_key(k.data(), k.size(), static_cast<std::uint64_t>(id), kKdfContext,
                             master.data());
  return k;
}

Result<Secret> derive_passphrase_key(const Passphrase& passphrase,
                                     std::span<const unsigned char> salt,
                                     unsigned long long opslimit, std::size_t memlimit) {
  if (salt.size() != crypto_pwhash_SALTBYTES)
    return make_error(Errc::corrupt, "key slot salt has the wrong length");
  if (opslimit < crypto_pwhash_OPSLIMIT_MIN || memlimit < crypto_pwhash_MEMLIMIT_MIN ||
      opslimit > crypto_pwhash_OPSLIMIT_MAX || memlimit > crypto_pwhash_MEMLIMIT_MAX)
    return make_error(Errc::invalid_argument, "Argon2id cost is out of range");
  Secret k(kKeyBytes);
  if (crypto_pwhash(k.data(), k.size(), reinterpret_cast<const char*>(passphrase.data()),
                    passphrase.size(), salt.data(), opslimit, memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0)
    return make_error(Errc::io, "Argon2id could not allocate its memory; lower the KDF cost or free memory");
  return k;
}

std::vector<unsigned char> aead_seal(const Secret& key, std::span<const unsigned char> plaintext,
                                     std::span<const unsigned char> ad,
                                     const unsigned char* fixed_nonce) {
  std::vector<unsigned char> out(kNonceBytes + plaintext.size() + kTagBytes);
  if (fixed_nonce != nullptr)
    std::copy(fixed_nonce, fixed_nonce + kNonceBytes, out.begin());
  else
    randombytes_buf(out.data(), kNonceBytes);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonceBytes, &clen, plaintext.data(),
                                             plaintext.size(), ad.data(), ad.size(), nullptr,
                                             out.data(), key.data());
  return out;
}

bool aead_open(const Secret& key, std::span<const unsigned char> sealed,
               std::span<const unsigned char> ad, std::span<unsigned char> out) {
  if (sealed.size() < kNonceBytes + kTagBytes) return false;
  if (out.size() != sealed.size() - kNonceBytes - kTagBytes) return false;
  unsigned long long mlen = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &mlen, nullptr,
                                                    sealed.data() + kNonceBytes,
                                                    sealed.size() - kNonceBytes, ad.data(),
                                                    ad.size(), sealed.data(), key.data()) == 0;
}

Result<Secret> aead_open_secret(const Secret& key, std::span<const unsigned char> sealed,
                                std::span<const unsigned char> ad, std::string_view what) {
  if (sealed.size() < kNonceBytes + kTagBytes)
    return make_error(Errc::corrupt, std::string(what) + ": wrapped key is too short");
  Secret out(sealed.size() - kNonceBytes - kTagBytes);
  if (!aead_open(key, sealed, ad, out.bytes()))
    return make_error(Errc::corrupt, std::string(what) + ": wrapped key does not authenticate");
  return out;
}

void put_u32le(std::vector<unsigned char>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
void put_u64le(std::vector<unsigned char>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
std::uint32_t get_u32le(const unsigned char* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}
std::uint64_t get_u64le(const unsigned char* p) {
  return std::uint64_t(get_u32le(p)) | std::uint64_t(get_u32le(p + 4)) << 32;
}
void put_bytes(std::vector<unsigned char>& out, std::span<const unsigned char> b) {
  out.insert(out.end(), b.begin(), b.end());
}
void put_str(std::vector<unsigned char>& out, std::string_view s) { put_bytes(out, as_bytes(s)); }
std::span<const unsigned char> as_bytes(std::string_view s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

Id16 random_id() {
  Id16 id;
  randombytes_buf(id.data(), id.size());
  return id;
}

bool parse_id(std::string_view hex, Id16& out) {
  if (hex.size() != 32) return false;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  std::size_t bin_len = 0;
  return sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &bin_len,
                        nullptr) == 0 &&
         bin_len == out.size();
}

}  // namespace tillid::detail

namespace tillid {

std::string to_hex(std::span<const unsigned char> bytes) {
  std::string s(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), bytes.data(), bytes.size());
  s.pop_back();
  return s;
}

std::string to_string(ItemKind kind) {
  return kind == ItemKind::recording ? "recording" : "document";
}

KdfCost KdfCost::interactive() {
  return {crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
}
KdfCost KdfCost::moderate() {
  return {crypto_pwhash_argon2id_OPSLIMIT_MODERATE, crypto_pwhash_argon2id_MEMLIMIT_MODERATE};
}
KdfCost KdfCost::minimum() {
  return {crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN};
}

}  // namespace tillid
