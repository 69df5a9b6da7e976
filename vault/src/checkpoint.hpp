// Signed checkpoints (C2SP tlog-checkpoint inside a C2SP signed note) and verifier keys.
#pragma once

#include <string>
#include <string_view>

#include "tillid/access_log.hpp"

namespace tillid::checkpoint {

// Whether `name` may be a signed-note key name / origin: non-empty, at most 128 bytes of
// printable ASCII without spaces and without '+'.
bool valid_key_name(std::string_view name);

// The checkpoint body (the signed text), LOG-FORMAT.md §4.
std::string body(std::string_view origin, std::uint64_t size, const LogHash& root, std::int64_t time_unix);

// Sign `body` as a signed note with key name `name`. sk: libsodium 64-byte Ed25519 secret key.
Result<std::string> sign(std::string_view body, std::string_view name, const Secret& sk,
                         std::span<const unsigned char, 32> pk);

// Parse a signed note's checkpoint body without checking any signature (the log's own file;
// signatures are the auditor's business). Strict: exactly our line layout.
Result<Checkpoint> parse_unverified(std::string_view note);

// Check a verifier key string; returns its key name.
Result<std::string> check_verifier_key(std::string_view verifier_key);

}  // namespace tillid::checkpoint
