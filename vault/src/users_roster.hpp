// The users roster's canonical encoding, its Ed25519 signature and its storage in vault_meta
// (FORMAT.md §8), plus the rules a roster must keep (names, roles, uids, municipalities).
// Pure functions over bytes and a Db; the Vault methods that use them are in users.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.hpp"
#include "manifest.hpp"
#include "sqlite_db.hpp"
#include "tillid/users.hpp"

namespace tillid::detail {

struct Roster {
  std::uint64_t version = 0;  // 0: the vault has no roster yet (created without users)
  std::vector<User> users;    // sorted by name, names unique
};

// FORMAT.md §8.1. The encoding names the vault, so one vault's signed roster is not another's.
std::vector<unsigned char> encode_roster(const Id16& vault_id, const Roster& roster);
// Strict: exactly one encoding per roster (sorted, no duplicates, no trailing bytes, every
// field within its rules); anything else is Errc::corrupt.
Result<Roster> decode_roster(const Id16& vault_id, std::span<const unsigned char> bytes);

Signature sign_roster(const Secret& signing_sk, std::span<const unsigned char> encoding);
bool verify_roster(const PublicKey& pk, std::span<const unsigned char> encoding,
                   std::span<const unsigned char> sig);

// A user's fields against FORMAT.md §8.2 (name, municipality only for caseworkers).
Result<void> check_new_user(const NewUser& u);

// vault_meta 'roster' / 'roster_sig': read and check the signature (no rows: version 0, no
// users); write both (inside the caller's transaction).
Result<Roster> load_roster(Db& db, const Id16& vault_id, const PublicKey& pk);
Result<void> store_roster(Db& db, const Id16& vault_id, const Secret& signing_sk, const Roster& roster);

// The log details of user_enrolled / user_revoked (LOG-FORMAT.md §2): "user NAME role ROLE
// roster N". The roster version in them is what the rollback check at unlock reads (§8.4).
std::string user_event_details(const User& u, std::uint64_t roster_version);
// The roster version named by such details or by vault_init's ("…, roster N"); none if absent.
std::optional<std::uint64_t> roster_version_in_details(std::string_view details);

}  // namespace tillid::detail
