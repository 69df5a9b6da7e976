// The court export bundle, format version 2 (vault/EXPORT-FORMAT.md): file names, the
// pieces both the writer (export_bundle.cpp) and the offline checker (export_verify.cpp)
// must agree on, and small encoders (PEM, ISO time, item manifest decoding).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "manifest.hpp"
#include "tillid/result.hpp"
#include "tillid/vault.hpp"

namespace tillid::exportfmt {

inline constexpr std::string_view kFormatName = "tillid-export";
inline constexpr int kFormatVersion = 2;

// Fixed file names (EXPORT-FORMAT.md §1). The content file's name varies.
inline constexpr const char* kManifestJson = "manifest.json";
inline constexpr const char* kManifestJsonSig = "manifest.json.sig";
inline constexpr const char* kManifestBin = "manifest.bin";
inline constexpr const char* kManifestSig = "manifest.sig";
inline constexpr const char* kAppliancePem = "appliance.pem";
inline constexpr const char* kCheckpoint = "checkpoint.txt";
inline constexpr const char* kReadme = "README.txt";
inline constexpr const char* kSums = "SHA256SUMS";

// Every fixed name, so a document's own file name can never take one of them.
bool is_reserved_name(std::string_view name);

// The content file's name (EXPORT-FORMAT.md §2): "<item id>.opus" for a recording; for a
// document its original file name reduced to one safe path component (no separators, no
// control characters, no leading dot, valid UTF-8, at most 200 bytes), or "<item id>.bin".
std::string content_file_name(const ItemInfo& item);

// Ed25519 public key as a PEM "PUBLIC KEY" (RFC 8410 SubjectPublicKeyInfo), what
// `openssl pkeyutl -pubin -inkey` reads.
std::string ed25519_pem(std::span<const unsigned char, 32> pk);
std::optional<std::array<unsigned char, 32>> parse_ed25519_pem(std::string_view pem);

// "2026-11-22T22:27:51Z" (RFC 3339, UTC); milliseconds variant for log entries.
std::string iso_time(std::int64_t unix_seconds);
std::string iso_time_ms(std::int64_t unix_ms);

// Strict decoder of the canonical item manifest, v3 (FORMAT.md §5.1) or the pre-v3 v1/v2
// (§5.3): exactly one encoding each.
Result<detail::Manifest> decode_manifest(std::span<const unsigned char> bytes);

// Lowercase or uppercase hex of exactly the decoded length; nullopt for anything else.
std::optional<std::vector<unsigned char>> unhex(std::string_view text);

}  // namespace tillid::exportfmt
