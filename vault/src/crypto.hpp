// The vault's key hierarchy and AEAD helpers (FORMAT.md §2).
//
//   passphrase --Argon2id(salt, opslimit, memlimit)--> slot key --unwraps--> master key
//   master key --crypto_kdf "tillidv1"--> subkeys: 1 item-key wrapping, 2 metadata sealing,
//                                          3 signing-key wrapping, 6 the X25519 recording key (§7.6)
//
// All symmetric wrapping and sealing is XChaCha20-Poly1305-IETF with a random 24-byte nonce
// stored in front of the ciphertext ("nonce || ciphertext || tag").
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid::detail {

inline constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "tillidv1";
inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
inline constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;       // 16

// Subkey ids under context "tillidv1" (FORMAT.md §2.2). Never reuse or renumber.
enum class Subkey : std::uint64_t {
  item_key_wrap = 1,
  metadata_seal = 2,
  signing_key_wrap = 3,
  work_mac = 4,        // MACs of work-in-progress records (FORMAT.md §6)
  log_entry_mac = 5,   // MACs of access-log entries (LOG-FORMAT.md §3)
  recording_box = 6,   // seed of the X25519 key pair recordings made while locked are sealed to (§7.6)
};

Secret derive_subkey(const Secret& master, Subkey id);

// Argon2id (crypto_pwhash ALG_ARGON2ID13) of the passphrase to a 32-byte key.
Result<Secret> derive_passphrase_key(const Passphrase& passphrase,
                                     std::span<const unsigned char> salt,
                                     unsigned long long opslimit, std::size_t memlimit);

// nonce || XChaCha20-Poly1305(key, nonce, ad, plaintext). `fixed_nonce` only for vectors.
std::vector<unsigned char> aead_seal(const Secret& key, std::span<const unsigned char> plaintext,
                                     std::span<const unsigned char> ad,
                                     const unsigned char* fixed_nonce = nullptr);
// Open nonce||ct; false if it does not authenticate. Plaintext goes to `out` (sized by caller:
// sealed.size() - kNonceBytes - kTagBytes).
bool aead_open(const Secret& key, std::span<const unsigned char> sealed,
               std::span<const unsigned char> ad, std::span<unsigned char> out);
// Open into a Secret (for wrapped keys).
Result<Secret> aead_open_secret(const Secret& key, std::span<const unsigned char> sealed,
                                std::span<const unsigned char> ad, std::string_view what);

// Little-endian helpers shared by the binary encodings.
void put_u32le(std::vector<unsigned char>& out, std::uint32_t v);
void put_u64le(std::vector<unsigned char>& out, std::uint64_t v);
std::uint32_t get_u32le(const unsigned char* p);
std::uint64_t get_u64le(const unsigned char* p);
void put_bytes(std::vector<unsigned char>& out, std::span<const unsigned char> b);
void put_str(std::vector<unsigned char>& out, std::string_view s);
std::span<const unsigned char> as_bytes(std::string_view s);

// Ids: 16 random bytes, shown as 32 lowercase hex characters.
using Id16 = std::array<unsigned char, 16>;
Id16 random_id();
bool parse_id(std::string_view hex, Id16& out);

}  // namespace tillid::detail
