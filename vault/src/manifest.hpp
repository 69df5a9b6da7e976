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
};

std::vector<unsigned char> encode_manifest(const Manifest& m);
Signature sign_manifest(const Secret& signing_sk, const Manifest& m);
bool verify_manifest(const PublicKey& pk, const Manifest& m, std::span<const unsigned char> sig);

}  // namespace tillid::detail
