// Item and case manifests (FORMAT.md §5): the canonical, versioned byte encodings of what the
// appliance vouches for about an item or a case, and their Ed25519 signatures. Signed when the
// item is sealed or the case created (or at the v3 upgrade, §5.5), checked by verify, fetch
// and export.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto.hpp"
#include "tillid/secret.hpp"
#include "tillid/vault.hpp"

namespace tillid::detail {

using Signature = std::array<unsigned char, crypto_sign_BYTES>;
using PublicKey = std::array<unsigned char, crypto_sign_PUBLICKEYBYTES>;
using Digest32 = std::array<unsigned char, 32>;

// The manifest version every item is signed with now (FORMAT.md §5.1). Versions 1 and 2
// (§5.3) are only read: to check a pre-v3 signature before the upgrade re-signs it (§5.5),
// and in court bundles made before the upgrade.
inline constexpr int kManifestVersion = 3;

struct Manifest {
  Id16 item_id{};
  Id16 case_id{};
  ItemKind kind = ItemKind::document;
  std::uint64_t size = 0;
  std::array<unsigned char, 32> sha256{};
  std::int64_t created_unix = 0;
  std::string creator;
  int version = kManifestVersion;
  // Version 3 (FORMAT.md §5.1): the case's clear fields, and digests of the item's sealed
  // fields (ciphertext, so the signature, checkable with the public key, reveals nothing).
  std::string case_number;
  std::string municipality;
  Digest32 title_sealed_sha256{};
  Digest32 file_name_sealed_sha256{};
  bool has_interviewer = false;  // recordings; documents have none
  Digest32 interviewer_sealed_sha256{};
  // Versions 2 and 3: recordings (documents: 0, false, 0, digest of no bookmarks in v3).
  std::int64_t duration_ms = 0;
  bool interrupted = false;
  std::int64_t interrupted_unix = 0;
  std::array<unsigned char, 32> bookmarks_sha256{};  // bookmarks_digest() of the stored rows
};

// SHA-256 over the bookmarks as stored (FORMAT.md §5.3): binds their number, order, offsets,
// times and sealed labels (the ciphertext, so the signature reveals nothing about a label).
struct StoredBookmark {
  std::int64_t seq = 0;
  std::int64_t offset_ms = 0;
  std::int64_t created_unix = 0;
  std::vector<unsigned char> label_sealed;
};
std::array<unsigned char, 32> bookmarks_digest(std::span<const StoredBookmark> bookmarks);

// SHA-256 of a sealed field's stored bytes (nonce ‖ ciphertext), FORMAT.md §5.1.
Digest32 sealed_digest(std::span<const unsigned char> sealed);

// The encoding of m.version (1, 2 or 3); signing always uses version 3.
std::vector<unsigned char> encode_manifest(const Manifest& m);
Signature sign_manifest(const Secret& signing_sk, const Manifest& m);
// True only for a valid signature over m's encoding. `allow_legacy` admits versions 1 and 2
// (the upgrade's check of a pre-v3 signature, FORMAT.md §5.5); otherwise only version 3.
bool verify_manifest(const PublicKey& pk, const Manifest& m, std::span<const unsigned char> sig,
                     bool allow_legacy = false);

// Case manifest (FORMAT.md §5.4): what the appliance vouches for about a case.
struct CaseManifest {
  Id16 case_id{};
  std::string case_number;
  std::string municipality;
  std::int64_t created_unix = 0;
  std::string creator;
  Digest32 child_name_sealed_sha256{};
  Digest32 cpr_sealed_sha256{};
  Digest32 notes_sealed_sha256{};
};
std::vector<unsigned char> encode_case_manifest(const CaseManifest& m);
Signature sign_case_manifest(const Secret& signing_sk, const CaseManifest& m);
bool verify_case_manifest(const PublicKey& pk, const CaseManifest& m, std::span<const unsigned char> sig);

}  // namespace tillid::detail
