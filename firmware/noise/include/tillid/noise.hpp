// The Noise Protocol Framework (revision 34), as the channel uses it:
// Noise_XX_25519_ChaChaPoly_BLAKE2b, written on libsodium's primitives (X25519, IETF
// ChaCha20-Poly1305, BLAKE2b, HMAC-BLAKE2b per Noise §4.3). Other handshake patterns of the
// same suite run too, for the test vectors. Spec of our use: firmware/PROTOCOL.md §1–§3.
// Pure state machines over bytes: no sockets here except the blocking Stream at the end.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid::noise {

inline constexpr std::size_t kMaxMessage = 65535;                  // Noise §3
inline constexpr std::size_t kTagBytes = 16;
inline constexpr std::size_t kMaxPlaintext = kMaxMessage - kTagBytes;  // 65519
inline constexpr std::size_t kKeyBytes = 32;
// Both sides rekey (Noise §11.3) a direction's CipherState after this many transport
// messages in that direction (PROTOCOL.md §3.3).
inline constexpr std::uint64_t kRekeyInterval = 8192;
// The channel's prologue (PROTOCOL.md §2.1), mixed into every handshake hash.
inline constexpr std::string_view kPrologue = "tillid channel v1";

using PublicKey = std::array<unsigned char, 32>;

// An X25519 key pair; the secret half lives in sodium memory.
struct Keypair {
  Secret secret;  // 32 bytes
  PublicKey public_key{};
  static Result<Keypair> generate();
  static Result<Keypair> from_secret(std::span<const unsigned char> secret32);
};

// Noise §5.1. Encrypt/decrypt with n = 4 zero bytes ‖ u64 little-endian nonce. A failed
// decryption leaves the nonce where it was (the session must end: PROTOCOL.md §3.2); a nonce
// of 2^64-1 is never used (an error, never a wrap).
class CipherState {
 public:
  CipherState();
  void initialize_key(std::span<const unsigned char> key32);
  bool has_key() const { return has_key_; }
  std::uint64_t nonce() const { return n_; }
  void set_nonce(std::uint64_t n) { n_ = n; }
  // Appends ciphertext (plaintext + 16) to `out`.
  Result<void> encrypt_with_ad(std::span<const unsigned char> ad, std::span<const unsigned char> plaintext,
                               std::vector<unsigned char>& out);
  // Appends plaintext to `out`; Errc::corrupt on authentication failure.
  Result<void> decrypt_with_ad(std::span<const unsigned char> ad, std::span<const unsigned char> ciphertext,
                               std::vector<unsigned char>& out);
  // In place: buf holds plaintext followed by 16 spare bytes / ciphertext; returns the length.
  Result<std::size_t> encrypt_in_place(std::span<unsigned char> buf, std::size_t plaintext_len);
  Result<std::size_t> decrypt_in_place(std::span<unsigned char> buf, std::size_t ciphertext_len);
  void rekey();  // Noise §4.2 REKEY: k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros)

 private:
  Secret k_;
  std::uint64_t n_ = 0;
  bool has_key_ = false;
};

enum class Role { initiator, responder };

struct HandshakeConfig {
  std::string protocol_name = "Noise_XX_25519_ChaChaPoly_BLAKE2b";  // any *_25519_ChaChaPoly_BLAKE2b of §7 we support
  Role role = Role::initiator;
  std::vector<unsigned char> prologue;
  std::optional<Keypair> s;             // our static key pair (XX: both sides have one)
  std::optional<PublicKey> rs;          // the peer's static key known in advance (K/IK patterns)
  std::optional<Keypair> e;             // fixed ephemeral: vectors only
  std::optional<PublicKey> re;          // pre-message ephemeral: vectors only
};

// The transport after Split(): one CipherState per direction, with the rekey schedule.
struct Transport {
  CipherState send, recv;
  std::uint64_t sent = 0, received = 0;  // messages, for kRekeyInterval
  std::vector<unsigned char> handshake_hash;
  // One transport message (≤ kMaxPlaintext bytes in); rekeys on schedule.
  Result<void> seal(std::span<const unsigned char> plaintext, std::vector<unsigned char>& out);
  Result<void> open(std::span<const unsigned char> message, std::vector<unsigned char>& out);
};

// Noise §5.3. Messages alternate as the pattern says; write_message/read_message fail for a
// message out of turn, one over kMaxMessage, or (reading) a bad key or tag: Errc::corrupt.
class HandshakeState {
 public:
  static Result<HandshakeState> start(HandshakeConfig config);
  HandshakeState(HandshakeState&&) noexcept;
  HandshakeState& operator=(HandshakeState&&) noexcept;
  ~HandshakeState();

  bool my_turn() const;      // the next message is ours to write
  bool complete() const;     // every message of the pattern has been written/read
  Result<void> write_message(std::span<const unsigned char> payload, std::vector<unsigned char>& out);
  Result<void> read_message(std::span<const unsigned char> message, std::vector<unsigned char>& payload_out);
  std::optional<PublicKey> remote_static() const;
  std::vector<unsigned char> handshake_hash() const;
  Result<Transport> split();  // after complete(): initiator sends with c1, responder with c2

  struct State;
 private:
  explicit HandshakeState(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Noise §13 framing on a byte stream: each message is a 2-byte big-endian length, then the message.
std::array<unsigned char, 2> length_prefix(std::size_t message_len);  // ≤ kMaxMessage

// A blocking, deadline-bound Noise XX session over a connected socket (the caseworker's
// client). Writes are split into transport messages of ≤ kMaxPlaintext bytes.
class Stream {
 public:
  using Clock = std::chrono::steady_clock;
  // Runs the initiator's side of XX on `fd` (owned from now on) with our static key; the
  // third message's payload is `payload3` (PROTOCOL.md §2.3). Fails (Errc::denied) if the
  // responder's static key is not `expected_remote`.
  static Result<Stream> connect_initiator(int fd, const Keypair& s, const PublicKey& expected_remote,
                                          std::span<const unsigned char> payload3,
                                          std::chrono::milliseconds timeout);
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;
  ~Stream();
  Result<void> write(std::span<const unsigned char> bytes);
  // Up to buf.size() bytes of plaintext; 0 at a clean end of stream.
  Result<std::size_t> read(std::span<unsigned char> buf);
  void set_timeout(std::chrono::milliseconds timeout);
  int fd() const;

 private:
  struct Impl;
  explicit Stream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tillid::noise
