// Vault::State: everything a Vault holds — its directory, the acting user, the SQLite
// connection, and (once unlocked) the key hierarchy — plus the mutex that serialises calls
// from several threads, and the single seam through which every operation reports itself
// to the access log.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "crypto.hpp"
#include "manifest.hpp"
#include "sqlite_db.hpp"
#include "tillid/vault.hpp"

namespace tillid {

namespace detail {

// Layout of a vault directory (FORMAT.md §1).
inline constexpr const char* kMarkerName = "TILLID-VAULT";
inline constexpr const char* kDbName = "vault.db";
inline constexpr const char* kObjectsDir = "objects";
inline constexpr const char* kTmpDir = "tmp";
inline constexpr std::string_view kMarkerContent = "Tillid vault\nformat 1\n";

enum class AuditAction {
  vault_created,
  unlock,
  key_slot_added,
  key_slot_removed,
  case_added,
  cases_listed,
  case_viewed,
  item_added,
  items_listed,
  item_viewed,
  item_fetched,
  verify_run,
  recovery,
};

enum class AuditOutcome { ok, failed };

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

  std::filesystem::path db_path() const { return dir / detail::kDbName; }
  std::filesystem::path objects_dir() const { return dir / detail::kObjectsDir; }
  std::filesystem::path tmp_dir() const { return dir / detail::kTmpDir; }
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

  // The one place every operation reports what it did, for whom, and how it ended.
  // `details` never holds content, titles, names, CPR numbers or key material.
  void record_event(detail::AuditAction action, std::string_view case_id, std::string_view item_id,
                    detail::AuditOutcome outcome, std::string_view details) {
    // access log: wired in by the access-log change
    (void)action;
    (void)case_id;
    (void)item_id;
    (void)outcome;
    (void)details;
  }
};

namespace detail {
// Recovery of work a crash interrupted (recovery.cpp). Runs at unlock, under the mutex.
Result<void> recover_interrupted_work(Vault::State& s);
}  // namespace detail

}  // namespace tillid
