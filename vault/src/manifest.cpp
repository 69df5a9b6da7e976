// Item manifest encoding and signing: see manifest.hpp and FORMAT.md §5.
#include "manifest.hpp"

namespace tillid::detail {

std::vector<unsigned char> encode_manifest(const Manifest& m) {
  // FORMAT.md §5.1: fixed order, fixed widths, little-endian, one length-prefixed string.
  std::vector<unsigned char> out;
  put_str(out, m.version == 2 ? "tillid.manifest.v2" : "tillid.manifest.v1");
  out.push_back(0);
  put_bytes(out, m.item_id);
  put_bytes(out, m.case_id);
  out.push_back(m.kind == ItemKind::recording ? 2 : 1);
  put_u64le(out, m.size);
  put_bytes(out, m.sha256);
  put_u64le(out, static_cast<std::uint64_t>(m.created_unix));
  put_u32le(out, static_cast<std::uint32_t>(m.creator.size()));
  put_str(out, m.creator);
  if (m.version == 2) {
    // FORMAT.md §5.3: the recording's duration, whether recovery sealed it after a cut, when
    // the cut happened, and the digest of its bookmarks.
    put_u64le(out, static_cast<std::uint64_t>(m.duration_ms));
    out.push_back(m.interrupted ? 1 : 0);
    put_u64le(out, static_cast<std::uint64_t>(m.interrupted_unix));
    put_bytes(out, m.bookmarks_sha256);
  }
  return out;
}

std::array<unsigned char, 32> bookmarks_digest(std::span<const StoredBookmark> bookmarks) {
  std::vector<unsigned char> enc;
  put_str(enc, "tillid.bookmarks.v1");
  enc.push_back(0);
  put_u32le(enc, static_cast<std::uint32_t>(bookmarks.size()));
  for (const auto& b : bookmarks) {
    put_u32le(enc, static_cast<std::uint32_t>(b.seq));
    put_u64le(enc, static_cast<std::uint64_t>(b.offset_ms));
    put_u64le(enc, static_cast<std::uint64_t>(b.created_unix));
    put_u32le(enc, static_cast<std::uint32_t>(b.label_sealed.size()));
    put_bytes(enc, b.label_sealed);
  }
  std::array<unsigned char, 32> out{};
  crypto_hash_sha256(out.data(), enc.data(), enc.size());
  return out;
}

Signature sign_manifest(const Secret& signing_sk, const Manifest& m) {
  auto msg = encode_manifest(m);
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), signing_sk.data());
  return sig;
}

bool verify_manifest(const PublicKey& pk, const Manifest& m, std::span<const unsigned char> sig) {
  if (sig.size() != crypto_sign_BYTES) return false;
  auto msg = encode_manifest(m);
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

}  // namespace tillid::detail
