// The encrypted object format, version 1 (FORMAT.md §3): a 128-byte self-describing header
// (magic, version, kind, chunk size, item id, secretstream header, wrapped content key) and
// then length-prefixed crypto_secretstream_xchacha20poly1305 chunk records, the last tagged
// TAG_FINAL. ObjectWriter produces it one chunk at a time (so a recorder can append ~1 s of
// audio and fsync); ObjectReader yields authenticated chunks and says exactly where
// authentication stopped (so recovery can keep "every chunk that authenticates").
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto.hpp"
#include "tillid/result.hpp"
#include "tillid/secret.hpp"
#include "tillid/vault.hpp"

namespace tillid::detail {

inline constexpr unsigned char kObjectMagic[8] = {'T', 'I', 'L', 'L', 'I', 'D', 'O', 'B'};
inline constexpr unsigned char kObjectVersion = 1;
inline constexpr std::size_t kObjectHeaderBytes = 128;
// The content-key wrap authenticates header bytes [0, 56): everything before the wrap nonce.
inline constexpr std::size_t kObjectWrapAdBytes = 56;
inline constexpr std::uint32_t kMaxChunkSize = 4u << 20;       // FORMAT.md §3.3 bound
inline constexpr std::uint32_t kDocumentChunkSize = 1u << 20;  // chosen by benchmark
inline constexpr std::size_t kStreamABytes = crypto_secretstream_xchacha20poly1305_ABYTES;  // 17
inline constexpr std::size_t kStreamHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;

struct ObjectHeader {
  ItemKind kind = ItemKind::document;
  std::uint32_t chunk_size = 0;
  Id16 item_id{};
  std::array<unsigned char, kStreamHeaderBytes> stream_header{};
  std::array<unsigned char, kNonceBytes> wrap_nonce{};
  std::array<unsigned char, kKeyBytes + kTagBytes> wrapped_key{};
};

// Serialise a header (all 128 bytes) / parse one without authenticating it.
std::array<unsigned char, kObjectHeaderBytes> encode_object_header(const ObjectHeader& h);
Result<ObjectHeader> parse_object_header(std::span<const unsigned char> bytes);

// Only for fixed test vectors: the two random inputs of an object, made deterministic.
struct FixedObjectRandomness {
  std::array<unsigned char, kStreamHeaderBytes> stream_header{};
  std::array<unsigned char, kNonceBytes> wrap_nonce{};
};

class ObjectWriter {
 public:
  // Writes the header to `fd` (not owned) at its current offset, which must be 0.
  static Result<ObjectWriter> begin(int fd, const Id16& item_id, ItemKind kind,
                                    std::uint32_t chunk_size, const Secret& content_key,
                                    const Secret& item_wrap_key,
                                    const FixedObjectRandomness* fixed = nullptr);
  ObjectWriter(ObjectWriter&&) noexcept = default;
  ObjectWriter& operator=(ObjectWriter&&) noexcept = default;

  // Encrypt and write one chunk (≤ chunk_size bytes; may be empty only if final).
  Result<void> append_chunk(std::span<const unsigned char> plaintext, bool final);
  // fsync what has been appended; a recorder calls this after each chunk.
  Result<void> sync();
  // Ask the kernel to start writing back dirty pages as we go, so the final fsync of a large
  // object does not wait for all of it at once (documents; harmless for recordings).
  void set_background_writeback(bool on) { writeback_ = on; }

  bool finished() const { return finished_; }
  std::uint64_t plaintext_bytes() const { return plaintext_bytes_; }
  std::uint64_t object_bytes() const { return object_bytes_; }
  std::uint64_t chunks() const { return chunks_; }

 private:
  ObjectWriter() = default;
  int fd_ = -1;
  std::uint32_t chunk_size_ = 0;
  Secret state_;  // crypto_secretstream state (holds the derived chunk key)
  std::vector<unsigned char> buf_;
  bool finished_ = false;
  bool failed_ = false;
  bool writeback_ = false;
  std::uint64_t plaintext_bytes_ = 0;
  std::uint64_t object_bytes_ = 0;
  std::uint64_t written_back_ = 0;
  std::uint64_t chunks_ = 0;
};

struct ChunkRead {
  std::size_t size = 0;  // plaintext bytes written to the caller's buffer
  bool final = false;
};

class ObjectReader {
 public:
  // Reads and authenticates the header of the object in `fd` (not owned, at offset 0):
  // checks magic, version and bounds, that it names `expected_item_id`, and unwraps the
  // content key with the header as AD. `label` names the object in messages.
  static Result<ObjectReader> open(int fd, const Id16& expected_item_id,
                                   const Secret& item_wrap_key, std::string label);
  ObjectReader(ObjectReader&&) noexcept = default;
  ObjectReader& operator=(ObjectReader&&) noexcept = default;

  const ObjectHeader& header() const { return header_; }
  // Decrypt the next chunk into `out` (at least header().chunk_size bytes). Fails, with the
  // chunk number and byte offset, on truncation, a bad length, failed authentication, or
  // bytes after the final chunk; nothing unauthenticated is ever written to `out`.
  Result<ChunkRead> next(std::span<unsigned char> out);
  bool finished() const { return finished_; }
  // Chunks that authenticated so far, and the file offset just after the last of them.
  std::uint64_t chunks_authenticated() const { return chunks_; }
  std::uint64_t authenticated_offset() const { return offset_; }

 private:
  ObjectReader() = default;
  Error fail(Errc code, const std::string& why);
  int fd_ = -1;
  std::string label_;
  ObjectHeader header_;
  Secret state_;
  std::vector<unsigned char> buf_;
  bool finished_ = false;
  bool failed_ = false;
  std::uint64_t chunks_ = 0;
  std::uint64_t offset_ = 0;
};

}  // namespace tillid::detail
