// Item manifests (FORMAT.md §5): the canonical, versioned byte encoding of what the appliance
// vouches for about an item, and its Ed25519 signature. Signed at ingest, checked by verify.
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

struct Manifest {
  Id16 item_id{};
  Id16 case_id{};
  ItemKind kind = ItemKind::document;
  std::uint64_t size = 0;
  std::array<unsigned char, 32> sha256{};
  std::int64_t created_unix = 0;
  std::string creator;
  // Version 2 (FORMAT.md §5.3), used for recordings: v1's fields, then these. Documents
  // keep version 1, so every existing signature stays valid.
  int version = 1;
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

std::vector<unsigned char> encode_manifest(const Manifest& m);
Signature sign_manifest(const Secret& signing_sk, const Manifest& m);
bool verify_manifest(const PublicKey& pk, const Manifest& m, std::span<const unsigned char> sig);

}  // namespace tillid::detail
