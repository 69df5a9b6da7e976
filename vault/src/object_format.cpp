// Encrypted object format v1: see object_format.hpp and FORMAT.md §3.
#include "object_format.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "posix_io.hpp"

namespace tillid::detail {

namespace {
using StreamState = crypto_secretstream_xchacha20poly1305_state;

StreamState* stream(Secret& s) { return reinterpret_cast<StreamState*>(s.data()); }

unsigned char kind_byte(ItemKind k) { return k == ItemKind::recording ? 2 : 1; }

// How much written data to let accumulate before asking the kernel to start writeback.
constexpr std::uint64_t kWritebackStep = 16u << 20;
}  // namespace

std::array<unsigned char, kObjectHeaderBytes> encode_object_header(const ObjectHeader& h) {
  // FORMAT.md §3.2 header layout.
  std::array<unsigned char, kObjectHeaderBytes> out{};
  std::memcpy(out.data(), kObjectMagic, 8);
  out[8] = kObjectVersion;
  out[9] = kind_byte(h.kind);
  out[10] = 0;  // reserved
  out[11] = 0;
  for (int i = 0; i < 4; ++i) out[12 + i] = static_cast<unsigned char>(h.chunk_size >> (8 * i));
  std::memcpy(out.data() + 16, h.item_id.data(), 16);
  std::memcpy(out.data() + 32, h.stream_header.data(), 24);
  std::memcpy(out.data() + 56, h.wrap_nonce.data(), 24);
  std::memcpy(out.data() + 80, h.wrapped_key.data(), 48);
  return out;
}

Result<ObjectHeader> parse_object_header(std::span<const unsigned char> b) {
  if (b.size() < kObjectHeaderBytes)
    return make_error(Errc::corrupt, "object is truncated inside its header");
  if (std::memcmp(b.data(), kObjectMagic, 8) != 0)
    return make_error(Errc::corrupt, "not a Tillid object (bad magic bytes)");
  if (b[8] != kObjectVersion)
    return make_error(Errc::unsupported, "object format version " + std::to_string(b[8]) +
                                             " is not supported by this build (expects 1)");
  ObjectHeader h;
  if (b[9] == 1)
    h.kind = ItemKind::document;
  else if (b[9] == 2)
    h.kind = ItemKind::recording;
  else
    return make_error(Errc::corrupt, "object header has an unknown item kind");
  if (b[10] != 0 || b[11] != 0)
    return make_error(Errc::corrupt, "object header has non-zero reserved bytes");
  h.chunk_size = get_u32le(b.data() + 12);
  if (h.chunk_size == 0 || h.chunk_size > kMaxChunkSize)
    return make_error(Errc::corrupt, "object header has an out-of-range chunk size");
  std::memcpy(h.item_id.data(), b.data() + 16, 16);
  std::memcpy(h.stream_header.data(), b.data() + 32, 24);
  std::memcpy(h.wrap_nonce.data(), b.data() + 56, 24);
  std::memcpy(h.wrapped_key.data(), b.data() + 80, 48);
  return h;
}

Result<ObjectWriter> ObjectWriter::begin(int fd, const Id16& item_id, ItemKind kind,
                                         std::uint32_t chunk_size, const Secret& content_key,
                                         const Secret& item_wrap_key,
                                         const FixedObjectRandomness* fixed) {
  if (chunk_size == 0 || chunk_size > kMaxChunkSize)
    return make_error(Errc::invalid_argument, "object chunk size must be 1 byte to 4 MiB");
  if (content_key.size() != kKeyBytes || item_wrap_key.size() != kKeyBytes)
    return make_error(Errc::internal, "object keys must be 32 bytes");
  ObjectWriter w;
  w.fd_ = fd;
  w.chunk_size_ = chunk_size;
  w.state_ = Secret(sizeof(StreamState));

  ObjectHeader h;
  h.kind = kind;
  h.chunk_size = chunk_size;
  h.item_id = item_id;
  if (fixed == nullptr) {
    crypto_secretstream_xchacha20poly1305_init_push(stream(w.state_), h.stream_header.data(),
                                                    content_key.data());
    randombytes_buf(h.wrap_nonce.data(), h.wrap_nonce.size());
  } else {
    // Vectors only: init_pull derives exactly the state init_push would have derived from this
    // header (HChaCha20 subkey + nonce, counter 1), so pushing from it is the same stream.
    h.stream_header = fixed->stream_header;
    h.wrap_nonce = fixed->wrap_nonce;
    crypto_secretstream_xchacha20poly1305_init_pull(stream(w.state_), h.stream_header.data(),
                                                    content_key.data());
  }
  // FORMAT.md §3.2: wrap the content key under the item-key subkey, AD = header bytes [0,56),
  // which binds magic, version, kind, chunk size, item id and the secretstream header.
  auto bytes = encode_object_header(h);
  auto sealed = aead_seal(item_wrap_key, content_key.bytes(),
                          {bytes.data(), kObjectWrapAdBytes}, h.wrap_nonce.data());
  std::copy(sealed.begin() + kNonceBytes, sealed.end(), h.wrapped_key.begin());
  bytes = encode_object_header(h);
  TILLID_TRY(write_all(fd, bytes, "cannot write the object header"));
  w.object_bytes_ = bytes.size();
  w.buf_.resize(4 + chunk_size + kStreamABytes);
  return w;
}

Result<void> ObjectWriter::append_chunk(std::span<const unsigned char> plaintext, bool final) {
  if (finished_) return make_error(Errc::internal, "chunk appended after the final chunk");
  if (failed_) return make_error(Errc::internal, "chunk appended after a failed write");
  if (plaintext.size() > chunk_size_)
    return make_error(Errc::internal, "chunk larger than the object's chunk size");
  // FORMAT.md §3.3: u32le ciphertext length, then the secretstream ciphertext.
  const std::size_t clen = plaintext.size() + kStreamABytes;
  for (int i = 0; i < 4; ++i) buf_[i] = static_cast<unsigned char>(clen >> (8 * i));
  crypto_secretstream_xchacha20poly1305_push(stream(state_), buf_.data() + 4, nullptr, plaintext.data(),
                                             plaintext.size(), nullptr, 0,
                                             final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                                   : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  auto r = write_all(fd_, {buf_.data(), 4 + clen}, "cannot write an object chunk");
  if (!r.ok()) {
    failed_ = true;
    return r;
  }
  object_bytes_ += 4 + clen;
  plaintext_bytes_ += plaintext.size();
  ++chunks_;
  finished_ = final;
  if (writeback_ && object_bytes_ - written_back_ >= kWritebackStep) {
    // Best effort: failure only means the final fsync does more of the work.
    ::sync_file_range(fd_, static_cast<off_t>(written_back_),
                      static_cast<off_t>(object_bytes_ - written_back_), SYNC_FILE_RANGE_WRITE);
    written_back_ = object_bytes_;
  }
  return {};
}

Result<void> ObjectWriter::sync() { return fsync_fd(fd_, "cannot flush the object to disk"); }

Error ObjectReader::fail(Errc code, const std::string& why) {
  failed_ = true;
  return make_error(code, label_ + ": " + why);
}

Result<ObjectReader> ObjectReader::open(int fd, const Id16& expected_item_id,
                                        const Secret& item_wrap_key, std::string label) {
  ObjectReader r;
  r.fd_ = fd;
  r.label_ = std::move(label);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::array<unsigned char, kObjectHeaderBytes> raw{};
  TILLID_ASSIGN(std::size_t got, read_full(fd, raw, r.label_ + ": cannot read the object header"));
  auto parsed = parse_object_header({raw.data(), got});
  if (!parsed.ok()) return make_error(parsed.error().code, r.label_ + ": " + parsed.error().message);
  r.header_ = parsed.value();
  if (r.header_.item_id != expected_item_id)
    return make_error(Errc::corrupt, r.label_ + ": object belongs to another item (its header names item " +
                                         to_hex(r.header_.item_id) +
                                         "); objects were swapped or renamed");
  // FORMAT.md §3.2: the wrapped key authenticates header bytes [0,56).
  std::vector<unsigned char> sealed(r.header_.wrap_nonce.begin(), r.header_.wrap_nonce.end());
  sealed.insert(sealed.end(), r.header_.wrapped_key.begin(), r.header_.wrapped_key.end());
  Secret content_key(kKeyBytes);
  if (!aead_open(item_wrap_key, sealed, {raw.data(), kObjectWrapAdBytes}, content_key.bytes()))
    return make_error(Errc::corrupt,
                      r.label_ + ": object header altered or object belongs to another item or "
                                 "vault (its content key does not authenticate)");
  r.state_ = Secret(sizeof(StreamState));
  if (crypto_secretstream_xchacha20poly1305_init_pull(stream(r.state_), r.header_.stream_header.data(),
                                                      content_key.data()) != 0)
    return make_error(Errc::corrupt, r.label_ + ": invalid secretstream header");
  r.buf_.resize(r.header_.chunk_size + kStreamABytes);
  r.offset_ = kObjectHeaderBytes;
  return r;
}

Result<ChunkRead> ObjectReader::next(std::span<unsigned char> out) {
  if (failed_) return make_error(Errc::internal, label_ + ": read after a failed chunk");
  if (finished_) return make_error(Errc::internal, label_ + ": read after the final chunk");
  if (out.size() < header_.chunk_size)
    return make_error(Errc::internal, label_ + ": chunk buffer too small");
  const std::string where = "chunk " + std::to_string(chunks_) + " (at byte " + std::to_string(offset_) + ")";
  unsigned char lenbuf[4];
  TILLID_ASSIGN(std::size_t got, read_full(fd_, lenbuf, label_ + ": cannot read " + where));
  if (got == 0)
    return fail(Errc::corrupt, "object is truncated: it ends after " + std::to_string(chunks_) +
                                   " chunks without the final chunk");
  if (got < 4) return fail(Errc::corrupt, "object is truncated inside the length of " + where);
  const std::uint32_t clen = get_u32le(lenbuf);
  if (clen < kStreamABytes || clen > header_.chunk_size + kStreamABytes)
    return fail(Errc::corrupt, where + " has an invalid length " + std::to_string(clen));
  TILLID_ASSIGN(std::size_t body, read_full(fd_, {buf_.data(), clen}, label_ + ": cannot read " + where));
  if (body < clen) return fail(Errc::corrupt, "object is truncated inside " + where);
  const std::size_t mlen = clen - kStreamABytes;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(stream(state_), out.data(), nullptr, &tag, buf_.data(), clen,
                                                 nullptr, 0) != 0)
    return fail(Errc::corrupt, where + " failed authentication (altered, reordered or from another object)");
  if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
      tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)
    return fail(Errc::corrupt, where + " carries a tag format v1 does not use");
  ++chunks_;
  offset_ += 4 + clen;
  ChunkRead cr{mlen, tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL};
  if (cr.final) {
    unsigned char extra;
    TILLID_ASSIGN(std::size_t more, read_full(fd_, {&extra, 1}, label_ + ": cannot read past the final chunk"));
    if (more != 0) return fail(Errc::corrupt, "object has data after its final chunk");
    finished_ = true;
  }
  return cr;
}

}  // namespace tillid::detail
