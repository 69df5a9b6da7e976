// Item and case manifest encodings and signing: see manifest.hpp and FORMAT.md §5.
#include "manifest.hpp"

namespace tillid::detail {

namespace {
void put_lstr(std::vector<unsigned char>& out, std::string_view s) {
  put_u32le(out, static_cast<std::uint32_t>(s.size()));
  put_str(out, s);
}
}  // namespace

Digest32 sealed_digest(std::span<const unsigned char> sealed) {
  Digest32 out{};
  crypto_hash_sha256(out.data(), sealed.data(), sealed.size());
  return out;
}

std::vector<unsigned char> encode_manifest(const Manifest& m) {
  // FORMAT.md §5.1 (v3) and §5.3 (v1, v2): fixed order, fixed widths, little-endian,
  // length-prefixed strings. Versions 1 and 2 are a prefix of the same layout.
  std::vector<unsigned char> out;
  put_str(out, m.version == 3 ? "tillid.manifest.v3" : m.version == 2 ? "tillid.manifest.v2" : "tillid.manifest.v1");
  out.push_back(0);
  put_bytes(out, m.item_id);
  put_bytes(out, m.case_id);
  out.push_back(m.kind == ItemKind::recording ? 2 : 1);
  put_u64le(out, m.size);
  put_bytes(out, m.sha256);
  put_u64le(out, static_cast<std::uint64_t>(m.created_unix));
  put_u32le(out, static_cast<std::uint32_t>(m.creator.size()));
  put_str(out, m.creator);
  if (m.version == 3) {
    // FORMAT.md §5.1: the case's clear fields and the sealed fields' digests, then the
    // recording fields for every kind (zero for documents), so one layout serves both.
    put_lstr(out, m.case_number);
    put_lstr(out, m.municipality);
    put_bytes(out, m.title_sealed_sha256);
    put_bytes(out, m.file_name_sealed_sha256);
    out.push_back(m.has_interviewer ? 1 : 0);
    put_bytes(out, m.interviewer_sealed_sha256);
  }
  if (m.version >= 2) {
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

bool verify_manifest(const PublicKey& pk, const Manifest& m, std::span<const unsigned char> sig,
                     bool allow_legacy) {
  if (sig.size() != crypto_sign_BYTES) return false;
  if (m.version != kManifestVersion && !(allow_legacy && (m.version == 1 || m.version == 2))) return false;
  auto msg = encode_manifest(m);
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

std::vector<unsigned char> encode_case_manifest(const CaseManifest& m) {
  // FORMAT.md §5.4. The tag differs from the item manifests' and from a checkpoint's origin
  // line, so no signature can be replayed from one kind of signed message to another.
  std::vector<unsigned char> out;
  put_str(out, "tillid.case.v1");
  out.push_back(0);
  put_bytes(out, m.case_id);
  put_lstr(out, m.case_number);
  put_lstr(out, m.municipality);
  put_u64le(out, static_cast<std::uint64_t>(m.created_unix));
  put_lstr(out, m.creator);
  put_bytes(out, m.child_name_sealed_sha256);
  put_bytes(out, m.cpr_sealed_sha256);
  put_bytes(out, m.notes_sealed_sha256);
  return out;
}

Signature sign_case_manifest(const Secret& signing_sk, const CaseManifest& m) {
  auto msg = encode_case_manifest(m);
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), signing_sk.data());
  return sig;
}

bool verify_case_manifest(const PublicKey& pk, const CaseManifest& m, std::span<const unsigned char> sig) {
  if (sig.size() != crypto_sign_BYTES) return false;
  auto msg = encode_case_manifest(m);
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

}  // namespace tillid::detail
