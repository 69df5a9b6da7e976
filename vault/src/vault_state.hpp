// Vault::State: everything a Vault holds — its directory, the acting user, the SQLite
// connection, and (once unlocked) the key hierarchy — plus the mutex that serialises calls
// from several threads, and the single seam through which every operation reports itself
// to the access log.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "crypto.hpp"
#include "manifest.hpp"
#include "recording_locked.hpp"
#include "signature_cache.hpp"
#include "sqlite_db.hpp"
#include "tillid/access_log.hpp"
#include "tillid/vault.hpp"

namespace tillid {

namespace detail {

// Layout of a vault directory (FORMAT.md §1).
inline constexpr const char* kMarkerName = "TILLID-VAULT";
inline constexpr const char* kDbName = "vault.db";
inline constexpr const char* kObjectsDir = "objects";
inline constexpr const char* kTmpDir = "tmp";
inline constexpr const char* kLogDir = "log";
inline constexpr std::string_view kMarkerContent = "Tillid vault\nformat 1\n";

// Keys that exist only while the vault is unlocked, all in sodium_malloc'ed memory.
struct UnlockedKeys {
  Secret master;
  Secret item_wrap;   // Subkey::item_key_wrap
  Secret meta;        // Subkey::metadata_seal
  Secret signing_sk;  // Ed25519 secret key (64 bytes)
};

}  // namespace detail

struct Vault::State {
  std::filesystem::path dir;
  Actor actor;
  detail::Db db;
  std::mutex mutex;
  detail::Id16 vault_id{};
  detail::PublicKey signing_pk{};
  std::optional<detail::UnlockedKeys> keys;
  std::optional<AccessLog> log;  // <vault>/log, open while the vault is open
  bool defer_checkpoints = false;  // the daemon signs on a timer instead (vault_log.cpp)
  // Item and case signatures already found valid over exactly these bytes (listing, fetch).
  detail::SignatureCache signatures;
  // Recordings this process is writing now (recording.cpp): verify skips them, since their
  // objects are still growing; recovery never sees them (one writer process per vault).
  std::set<std::string> live_recordings;
  // The highest users-roster version this Vault has seen or written (FORMAT.md §8.4): a
  // stored roster older than this was rolled back and is refused.
  std::uint64_t roster_floor = 0;
  bool roster_log_checked = false;  // the log's roster versions were read (first unlock)
  // What this object captured while locked (recording_locked.hpp, FORMAT.md §7.6): in memory
  // only, so only this process's own captures are ever adopted and signed.
  detail::LockedCaptures locked_captures;

  std::filesystem::path db_path() const { return dir / detail::kDbName; }
  std::filesystem::path objects_dir() const { return dir / detail::kObjectsDir; }
  std::filesystem::path tmp_dir() const { return dir / detail::kTmpDir; }
  std::filesystem::path log_dir() const { return dir / detail::kLogDir; }
  std::filesystem::path object_path(std::string_view item_id) const {
    return objects_dir() / std::string(item_id);
  }
  std::filesystem::path tmp_object_path(std::string_view item_id) const {
    return tmp_dir() / (std::string(item_id) + ".tmp");
  }

  Result<void> require_unlocked() const {
    if (!keys) return make_error(Errc::locked, "the vault is locked; unlock it with a key slot passphrase first");
    return {};
  }

  // The one place every operation reports what it did, for whom, and how it ended: an entry
  // in the access log, durable before this returns, then a fresh signed checkpoint when the
  // signing key is available (LOG-FORMAT.md). An operation whose entry cannot be written
  // fails: evidence is never handed out unlogged. `details` never holds content, titles,
  // names, CPR numbers, file paths or key material.
  Result<void> record_event(LogAction action, std::string_view case_id, std::string_view item_id,
                            LogOutcome outcome, std::string_view details);

  // record_event for an operation's result: ok with `ok_details`, or the error's code name
  // (never its message, which may name a file) as refused/failed.
  template <class T>
  Result<void> record_result(LogAction action, std::string_view case_id, std::string_view item_id,
                             const Result<T>& r, std::string_view ok_details = "") {
    if (r.ok()) return record_event(action, case_id, item_id, LogOutcome::ok, ok_details);
    return record_failure(action, case_id, item_id, r.error());
  }
  Result<void> record_failure(LogAction action, std::string_view case_id, std::string_view item_id,
                              const Error& error);
};

namespace detail {
// An item id as the log may hold it: the caller's text if it is a well-formed id (32 lowercase
// hex characters), else empty — a mistyped id is not worth refusing the log entry over.
inline std::string_view loggable_id(std::string_view id) {
  if (id.size() != 32) return {};
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  return id;
}

// The access log's origin line and key name for this vault: "tillid.local/<vault id hex>".
std::string log_origin(const Id16& vault_id);
// Recovery of work a crash interrupted (recovery.cpp). Runs at unlock, under the mutex.
Result<void> recover_interrupted_work(Vault::State& s);
// FORMAT.md §8.4 (users.cpp): at unlock, refuse a users roster older than the newest version
// the authenticated access log records.
Result<void> check_roster_rollback(Vault::State& s);
}  // namespace detail

}  // namespace tillid
