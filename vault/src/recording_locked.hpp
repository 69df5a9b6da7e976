// Recording while the vault is locked (FORMAT.md §7.6; recording_locked.cpp captures,
// recording_adopt.cpp adopts): the vault's X25519 recording key in
// vault_meta, sealing to it, the in-memory account of what THIS Vault captured while locked,
// and the adoption of exactly those captures at the next unlock. A capture the Vault did not
// make itself (planted with the public key, or left by an earlier process) is never adopted.
#pragma once

#include <sodium.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.hpp"
#include "manifest.hpp"
#include "sha256.hpp"
#include "sqlite_db.hpp"
#include "object_format.hpp"
#include "tillid/secret.hpp"
#include "tillid/vault.hpp"

namespace tillid::detail {

using X25519Public = std::array<unsigned char, crypto_box_PUBLICKEYBYTES>;

// Header bytes 56–127 (wrap nonce and wrapped content key): zero while a capture is locked.
inline constexpr std::size_t kObjectWrapBytes = kObjectHeaderBytes - kObjectWrapAdBytes;

// What this Vault object captured while locked, as it wrote it: the only thing adoption
// trusts. Nothing here is secret (digests, ids, sealed bytes), so it is plain memory.
struct LockedCapture {
  std::string item_id;
  std::string case_id;
  std::int64_t created_unix = 0;
  std::string creator;
  Sha256Digest row_digest{};                 // locked_row_digest() of the row as inserted
  std::vector<StoredBookmark> bookmarks;     // as stored, labels sealed to the vault key
  bool finished = false;                     // finish() ran while locked
  std::uint64_t size = 0;                    // at finish: plaintext bytes,
  Sha256Digest sha256{};                     //   their SHA-256,
  std::int64_t duration_ms = 0;              //   the audio duration,
  std::uint64_t object_bytes = 0;            //   and the object's length on disk
  Recording::Impl* live = nullptr;           // the running writer, until it finishes or dies
  std::array<unsigned char, 56> header_ad{};  // object header bytes [0, 56) as written (§3.2)
  dev_t dev = 0;                             // the object file this Vault created
  ino_t ino = 0;
};

struct LockedCaptures {
  // The recording public key this process derived at an unlock or first accepted while
  // locked: a different one on disk later is refused rather than sealed to.
  std::optional<X25519Public> pinned;
  std::vector<LockedCapture> made;
};

// The signed statement binding the recording key to the vault (§7.6): "tillid.recording-key.v1"
// ‖ 0x00 ‖ vault_id ‖ public key.
std::vector<unsigned char> recording_key_statement(const Id16& vault_id, const X25519Public& pk);
// Derive the X25519 pair from the master key (subkey 6 as seed) and store the public key and
// its Ed25519 signature in vault_meta, replacing what is there (inside the caller's commit).
Result<X25519Public> store_recording_key(Db& db, const Id16& vault_id, const Secret& master,
                                         const Secret& signing_sk);

// The recording key pair (subkey 6 as crypto_box seed); only while unlocked.
struct BoxPair {
  X25519Public pk{};
  Secret sk;
};
BoxPair derive_box_pair(const Secret& master);
// Open a value sealed by seal_to_vault for this field and row; refused if the prefix differs.
Result<Secret> open_from_vault(const BoxPair& box, std::string_view field, std::string_view row_id,
                               std::span<const unsigned char> sealed);
// At unlock: pin the derived key and restore vault_meta's copy if missing or altered (logged).
Result<void> ensure_recording_key(Vault::State& s, const BoxPair& box);

// SHA-256 over a locked_recordings row's facts (id, case, time, creator, sealed key, title,
// interviewer): what the in-memory record pins.
Sha256Digest locked_row_digest(std::string_view item_id, std::string_view case_id, std::int64_t created_unix,
                               std::string_view creator, std::span<const unsigned char> sealed_key,
                               std::span<const unsigned char> title, std::span<const unsigned char> interviewer);

// crypto_box_seal to the vault key of "tillid.locked.v1" ‖ 0 ‖ field ‖ 0 ‖ row id ‖ 0 ‖
// sodium_pad(value, 32): the prefix binds the value to its field and row.
std::vector<unsigned char> seal_to_vault(const X25519Public& pk, std::string_view field, std::string_view row_id,
                                         std::span<const unsigned char> value);

// The writer went away (finished, or dropped without finish): forget its pointer.
void forget_live_capture(Vault::State& s, const Recording::Impl* im);

// Begin / bookmark / finish while locked (recording.cpp calls these; caller holds the vault
// mutex). See FORMAT.md §7.6 for what each writes.
struct Begun;
Result<std::unique_ptr<Recording::Impl>> begin_locked_capture(Vault::State& s, Begun& b, const std::string& case_ref,
                                                              const std::string& interviewer, const std::string& title,
                                                              const std::optional<std::filesystem::path>& mirror_dir);
Result<Bookmark> locked_bookmark(Vault::State& s, Recording::Impl& im, Bookmark b);
Result<ItemInfo> finish_locked_capture(Vault::State& s, Recording::Impl& im, const Sha256Digest& sha256);

// At unlock, after recovery (vault.cpp): make sure vault_meta holds this vault's signed
// recording key, then adopt every capture this Vault made while locked whose row and object
// are still exactly what it wrote; log record_adopted ok/failed for each. Errors only when
// the vault itself cannot be written or logged.
Result<void> adopt_locked_recordings(Vault::State& s);

// verify: name every capture still in locked_recordings; add their ids to `known` (they own
// their objects) and `states` (as "locked", for the completeness check).
Result<void> report_locked_captures(Vault::State& s, std::set<std::string>& known,
                                    std::map<std::string, std::string>& states, VerifyReport& rep);

}  // namespace tillid::detail
