// The Vault facade: creating and opening a vault directory, unlocking it, and its key slots.
// Cases, items, fetch and verify live in cases.cpp, items.cpp, fetch.cpp and verify.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <fstream>
#include <sstream>
#include <system_error>

#include "key_slots.hpp"
#include "manifest_upgrade.hpp"
#include "posix_io.hpp"
#include "schema.hpp"
#include "users_roster.hpp"
#include "vault_state.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> signing_key_ad(const Id16& vault_id, const PublicKey& pk) {
  // FORMAT.md §2.3: the wrapped signing key is bound to this vault and its public key.
  std::vector<unsigned char> ad;
  put_str(ad, "tillid.signing-key.v1");
  ad.push_back(0);
  put_bytes(ad, vault_id);
  put_bytes(ad, pk);
  return ad;
}

Result<void> put_meta(Db& db, const char* key, std::span<const unsigned char> value) {
  TILLID_ASSIGN(Stmt st, db.prepare("INSERT INTO vault_meta (key, value) VALUES (?, ?)",
                                    "cannot store vault metadata"));
  st.bind(1, std::string_view(key)).bind_blob(2, value);
  return st.run();
}

Result<std::vector<unsigned char>> get_meta(Db& db, const char* key) {
  TILLID_ASSIGN(Stmt st, db.prepare("SELECT value FROM vault_meta WHERE key = ?", "cannot read vault metadata"));
  st.bind(1, std::string_view(key));
  TILLID_ASSIGN(bool row, st.step());
  if (!row) return make_error(Errc::corrupt, std::string("vault metadata lacks ") + key + "; restore from backup");
  return st.blob(0);
}

template <std::size_t N>
Result<void> get_meta_fixed(Db& db, const char* key, std::array<unsigned char, N>& out) {
  TILLID_ASSIGN(auto v, get_meta(db, key));
  if (v.size() != N) return make_error(Errc::corrupt, std::string("vault metadata ") + key + " has the wrong length");
  std::copy(v.begin(), v.end(), out.begin());
  return {};
}

Result<void> make_dir(const fs::path& p) { return make_private_dir(p); }

// FORMAT.md §1: the vault directory and the directories recovery and ingest write into must
// be the caller's and writable by nobody else, or another local user could plant or swap
// files in them. The vault path itself may be a symlink the administrator made; its target
// is checked.
Result<void> check_vault_dirs(const fs::path& dir) {
  TILLID_TRY(check_private_dir(dir, true));
  TILLID_TRY(check_private_dir(dir / kObjectsDir, false));
  TILLID_TRY(check_private_dir(dir / kTmpDir, false));
  return {};
}

// Is there a marker saying `dir` is a vault? Reading only: open must change nothing.
Result<void> check_marker(const fs::path& dir) {
  std::error_code ec;
  auto st = fs::status(dir, ec);
  if (ec || !fs::exists(st))
    return make_error(Errc::not_a_vault, dir.string() + " does not exist; give the path of a Tillid vault");
  if (!fs::is_directory(st))
    return make_error(Errc::not_a_vault, dir.string() + " is not a directory, so not a Tillid vault");
  std::ifstream in(dir / kMarkerName, std::ios::binary);
  if (!in)
    return make_error(Errc::not_a_vault, dir.string() + " is not a Tillid vault (it has no " +
                                             kMarkerName + " file); nothing was changed");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (content.rfind("Tillid vault\n", 0) != 0)
    return make_error(Errc::not_a_vault, dir.string() + " is not a Tillid vault (its " + kMarkerName +
                                             " file is not ours); nothing was changed");
  if (content != kMarkerContent)
    return make_error(Errc::unsupported, dir.string() + " is a Tillid vault of a format this build does "
                                                         "not understand; use a newer Tillid");
  return {};
}

Result<UnlockedKeys> derive_keys(Secret master, Db& db, const Id16& vault_id, const PublicKey& pk) {
  UnlockedKeys k;
  k.item_wrap = derive_subkey(master, Subkey::item_key_wrap);
  k.meta = derive_subkey(master, Subkey::metadata_seal);
  Secret signing_wrap = derive_subkey(master, Subkey::signing_key_wrap);
  k.master = std::move(master);
  TILLID_ASSIGN(auto sealed, get_meta(db, "signing_secret_key"));
  TILLID_ASSIGN(k.signing_sk, aead_open_secret(signing_wrap, sealed, signing_key_ad(vault_id, pk),
                                               "the appliance signing key"));
  PublicKey derived{};
  if (k.signing_sk.size() != crypto_sign_SECRETKEYBYTES ||
      crypto_sign_ed25519_sk_to_pk(derived.data(), k.signing_sk.data()) != 0 || derived != pk)
    return make_error(Errc::corrupt, "the appliance signing key does not match its public key; restore from backup");
  return k;
}

// The access log starts with the vault's creation and a first signed checkpoint (LOG-FORMAT.md).
Result<void> start_access_log(const fs::path& log_dir, const Id16& vault_id, const PublicKey& pk,
                              const Secret& sk, const Actor& actor, std::string details) {
  TILLID_ASSIGN(AccessLog log, AccessLog::create(log_dir, AccessLogOptions{log_origin(vault_id), {}, pk}));
  LogEvent created;
  created.actor_id = actor.id;
  created.actor_role = actor.role;
  created.action = LogAction::vault_init;
  created.details = std::move(details);
  TILLID_TRY(log.append(created));
  TILLID_TRY(log.sign_checkpoint(sk, pk));
  return {};
}

// Build the new vault's files inside `dir` (which exists and is empty), with a roster holding
// `first_admin` if given (FORMAT.md §8.3).
Result<void> build_vault(const fs::path& dir, const Passphrase& passphrase, const std::string& label,
                         KdfCost cost, const Actor& actor, const std::optional<NewUser>& first_admin) {
  TILLID_TRY(make_dir(dir / kObjectsDir));
  TILLID_TRY(make_dir(dir / kTmpDir));
  // Create the database file ourselves, 0600, so SQLite (and its -wal/-shm, which copy the
  // database's mode) never makes it world-readable under a lax umask.
  {
    TILLID_ASSIGN(Fd f, open_file(dir / kDbName, O_WRONLY | O_CREAT | O_EXCL, 0600));
    TILLID_TRY(f.close_checked("cannot create the metadata database"));
  }
  {
    TILLID_ASSIGN(Db db, Db::open_existing(dir / kDbName));
    TILLID_TRY(configure_connection(db));
    TILLID_ASSIGN(Transaction tx, Transaction::begin(db, "cannot create the vault metadata"));
    TILLID_TRY(create_schema(db));
    Id16 vault_id = random_id();
    PublicKey pk{};
    Secret sk(crypto_sign_SECRETKEYBYTES);
    crypto_sign_keypair(pk.data(), sk.data());
    Secret master = Secret::random(kKeyBytes);
    Secret signing_wrap = derive_subkey(master, Subkey::signing_key_wrap);
    auto sealed_sk = aead_seal(signing_wrap, sk.bytes(), signing_key_ad(vault_id, pk));
    std::vector<unsigned char> created;
    put_u64le(created, static_cast<std::uint64_t>(std::time(nullptr)));
    TILLID_TRY(put_meta(db, "vault_id", vault_id));
    TILLID_TRY(put_meta(db, "created_unix", created));
    TILLID_TRY(put_meta(db, "signing_public_key", pk));
    TILLID_TRY(put_meta(db, "signing_secret_key", sealed_sk));
    TILLID_TRY(insert_key_slot(db, vault_id, master, passphrase, label, cost));
    // FORMAT.md §5.5: born signed, so a resign marker is a rollback; §8.4: so is a roster
    // older than version 1 once vault_init names it.
    std::string init_details = kVaultInitDetails;
    if (first_admin) {
      Roster roster;
      roster.version = 1;
      roster.users.push_back(User{first_admin->name, Role::admin, first_admin->uid, "",
                                  static_cast<std::int64_t>(std::time(nullptr)), false});
      TILLID_TRY(store_roster(db, vault_id, sk, roster));
      init_details += ", roster 1";
    }
    TILLID_TRY(start_access_log(dir / kLogDir, vault_id, pk, sk, actor, std::move(init_details)));
    TILLID_TRY(tx.commit());
  }  // closing the last connection checkpoints the WAL into vault.db (synchronous=FULL fsyncs)
  TILLID_TRY(fsync_dir(dir));
  // The marker goes last: until it is durable, open() says "not a vault", so a crash during
  // create never leaves something that looks like a working vault.
  const std::string_view m = kMarkerContent;
  TILLID_TRY(write_file_atomic(dir / kMarkerName, as_bytes(m)));
  auto parent = fs::absolute(dir).parent_path();
  return fsync_dir(parent);
}

}  // namespace

Vault::Vault(std::unique_ptr<State> state) : state_(std::move(state)) {}
Vault::Vault(Vault&&) noexcept = default;
Vault& Vault::operator=(Vault&&) noexcept = default;
Vault::~Vault() = default;

namespace {

Result<void> create_vault(const fs::path& dir, const Passphrase& passphrase, const std::string& slot_label,
                          KdfCost cost, const Actor& actor, const std::optional<NewUser>& first_admin) {
  if (sodium_init() < 0) return make_error(Errc::internal, "libsodium failed to initialise");
  // Failures before the vault exists cannot be logged: there is no log yet. They change nothing.
  auto fail = [](Error e) -> Result<void> { return e; };
  // The first slot meets the same floor as every other (FORMAT.md §2.1), before anything exists.
  if (auto strong = check_slot_strength(passphrase, cost); !strong.ok()) return fail(strong.error());
  std::error_code ec;
  bool made_dir = false;
  auto st = fs::status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      return fail(make_error(Errc::already_exists, dir.string() + " exists and is not a directory"));
    if (fs::exists(dir / kMarkerName, ec))
      return fail(make_error(Errc::already_exists, dir.string() + " is already a Tillid vault; it was not changed"));
    if (auto mine = check_private_dir(dir, true); !mine.ok()) return fail(mine.error());
    if (::chmod(dir.c_str(), 0700) != 0) return fail(errno_error(errno, "cannot set the mode of " + dir.string()));
    auto it = fs::directory_iterator(dir, ec);
    if (ec) return fail(make_error(Errc::io, "cannot list " + dir.string() + ": " + ec.message()));
    if (it != fs::directory_iterator())
      return fail(make_error(Errc::already_exists, dir.string() + " is not empty and is not a vault; "
                                                                  "choose a new or empty directory"));
  } else {
    auto r = make_dir(dir);
    if (!r.ok()) return fail(r.error());
    made_dir = true;
  }
  auto r = build_vault(dir, passphrase, slot_label, cost, actor, first_admin);
  if (!r.ok()) {
    // Leave nothing half-made behind: remove what we created (the directory was empty).
    fs::remove(dir / kMarkerName, ec);
    for (const char* n : {kDbName, "vault.db-wal", "vault.db-shm", "vault.db-journal", kObjectsDir, kTmpDir, kLogDir})
      fs::remove_all(dir / n, ec);
    if (made_dir) fs::remove(dir, ec);
    return fail(r.error());
  }
  return {};
}

}  // namespace

// Without a first admin the vault has no roster (FORMAT.md §8.3), like one made before users
// existed: a daemon authorises nobody on it until an unlocked add_user enrols an admin. Tests
// of the vault alone use this; `tillid init` uses the overload below.
Result<void> Vault::create(const fs::path& dir, const Passphrase& passphrase,
                           std::string slot_label, KdfCost cost, const Actor& actor) {
  return create_vault(dir, passphrase, slot_label, cost, actor, std::nullopt);
}

Result<void> Vault::create(const fs::path& dir, const Passphrase& passphrase, std::string slot_label,
                           KdfCost cost, const NewUser& first_admin) {
  // Checked before anything exists, like the slot strength: a refused create changes nothing.
  TILLID_TRY(check_new_user(first_admin));
  if (first_admin.role != Role::admin)
    return make_error(Errc::invalid_argument, "a vault's first user must be an admin");
  // The admin's name is an actor id and goes into vault_init's details: it must fit the log.
  const User as_user{first_admin.name, Role::admin, first_admin.uid, "", 0, false};
  if (auto ok = validate(LogEvent{first_admin.name, "admin", LogAction::vault_init, LogOutcome::ok, "", "",
                                  user_event_details(as_user, 1)});
      !ok.ok())
    return make_error(Errc::invalid_argument, "the name " + first_admin.name + " cannot be used: " + ok.error().message);
  return create_vault(dir, passphrase, slot_label, cost, Actor{first_admin.name, "admin"}, first_admin);
}

Result<Vault> Vault::open(const fs::path& dir, Actor actor) {
  if (sodium_init() < 0) return make_error(Errc::internal, "libsodium failed to initialise");
  TILLID_TRY(check_marker(dir));
  TILLID_TRY(check_vault_dirs(dir));
  std::error_code ec;
  if (fs::is_symlink(dir / kDbName, ec))
    return make_error(Errc::corrupt, (dir / kDbName).string() + " is a symbolic link; Tillid never follows one "
                                                                "there. Restore the metadata database from backup");
  if (!fs::is_regular_file(dir / kDbName, ec))
    return make_error(Errc::corrupt, dir.string() + " is a Tillid vault but its metadata database is missing; "
                                                    "restore it from backup");
  auto s = std::make_unique<State>();
  s->dir = dir;
  s->actor = std::move(actor);
  TILLID_ASSIGN(s->db, Db::open_existing(s->db_path()));
  TILLID_TRY(check_schema(s->db));
  TILLID_TRY(configure_connection(s->db));
  TILLID_TRY(get_meta_fixed(s->db, "vault_id", s->vault_id));
  TILLID_TRY(get_meta_fixed(s->db, "signing_public_key", s->signing_pk));
  // The log checks every stored checkpoint against the vault's key (LOG-FORMAT.md §4.1).
  auto log = AccessLog::open(s->log_dir(), AccessLogOptions{log_origin(s->vault_id), {}, s->signing_pk});
  if (!log) {
    if (log.error().code == Errc::not_found)
      return make_error(Errc::corrupt, dir.string() + " is a Tillid vault but its access log is missing; "
                                                      "restore it from backup and tell the auditor");
    return make_error(log.error().code, "cannot open the vault's access log: " + log.error().message);
  }
  s->log = std::move(log).value();
  return Vault(std::move(s));
}

Result<void> Vault::unlock(const Passphrase& passphrase) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  if (s.keys) return {};
  auto fail = [&](Error e) -> Result<void> {
    TILLID_TRY(s.record_failure(LogAction::unlock, "", "", e));
    return e;
  };
  auto slots = load_key_slots(s.db);
  if (!slots.ok()) return fail(slots.error());
  std::optional<Secret> master;
  int slot_id = 0;
  for (const auto& slot : slots.value()) {
    auto m = try_key_slot(slot, s.vault_id, passphrase);
    if (!m.ok()) return fail(m.error());
    if (m.value()) {
      master = std::move(*m.value());
      slot_id = slot.id;
      break;
    }
  }
  if (!master)
    return fail(make_error(Errc::wrong_passphrase,
                           "the passphrase does not open any key slot of this vault; nothing was changed"));
  auto keys = derive_keys(std::move(*master), s.db, s.vault_id, s.signing_pk);
  if (!keys.ok()) return fail(keys.error());
  s.keys = std::move(keys.value());
  // LOG-FORMAT.md §3.4: before anything is signed, authenticate the log's unsigned tail with
  // subkey 5; what does not authenticate is quarantined by a logged event, then signed.
  auto tail = s.log->authenticate_tail(derive_subkey(s.keys->master, Subkey::log_entry_mac),
                                       LogEvent{s.actor.id, s.actor.role, LogAction::log_quarantined, LogOutcome::ok, "", "", ""});
  if (!tail.ok()) {
    s.keys.reset();
    return fail(make_error(tail.error().code, "unlock stopped: the access log's unsigned entries could not be checked: " +
                                                  tail.error().message));
  }
  if (auto cp = s.log->sign_checkpoint(s.keys->signing_sk, s.signing_pk); !cp) {
    s.keys.reset();
    return fail(make_error(cp.error().code, "cannot sign an access-log checkpoint: " + cp.error().message));
  }
  // A pre-v3 vault's one-time signature upgrade (FORMAT.md §5.5), before recovery signs
  // anything; after the tail check, so its vault_upgraded entry carries a MAC.
  if (auto up = upgrade_signatures_if_pending(s); !up.ok()) {
    s.keys.reset();
    return fail(make_error(up.error().code, "unlock stopped: " + up.error().message));
  }
  // FORMAT.md §8.4: a users roster older than the signed log says is a rollback; refuse it
  // before anyone acts on the vault (users() keeps refusing it too).
  if (auto roll = check_roster_rollback(s); !roll.ok()) {
    s.keys.reset();
    return fail(make_error(roll.error().code, "unlock stopped: " + roll.error().message));
  }
  // Finish what a crash interrupted before anyone sees the vault's contents.
  auto rec = recover_interrupted_work(s);
  if (!rec.ok()) {
    s.keys.reset();
    return fail(make_error(rec.error().code, "unlock stopped: recovery of interrupted work failed: " +
                                                 rec.error().message));
  }
  // Which slot (whose passphrase) opened the vault, for the auditor (issue 10 class 9).
  TILLID_TRY(s.record_event(LogAction::unlock, "", "", LogOutcome::ok, "slot " + std::to_string(slot_id)));
  return {};
}

Result<void> Vault::lock() {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  if (!s.keys) return s.record_event(LogAction::lock, "", "", LogOutcome::ok, "already locked");
  // A recording started unlocked signs its manifest with the key when it stops; wiping the
  // key under it would leave it unsealable until the next unlock. Stop it first.
  if (!s.live_recordings.empty()) {
    auto e = make_error(Errc::denied, "a recording is running; stop it first, then lock");
    TILLID_TRY(s.record_failure(LogAction::lock, "", "", e));
    return e;
  }
  // The entry is written and a checkpoint signed while the key is still here, so the lock
  // itself is signed; the keys are wiped whatever the log says (Secret frees with
  // sodium_free, which zeroes).
  auto logged = s.record_event(LogAction::lock, "", "", LogOutcome::ok, "");
  if (logged.ok())
    if (auto cp = s.log->sign_checkpoint(s.keys->signing_sk, s.signing_pk); !cp)
      logged = make_error(cp.error().code, "cannot sign an access-log checkpoint: " + cp.error().message);
  s.keys.reset();
  // Every key includes the log's entry MAC key (subkey 5): entries written while locked carry
  // no MAC again until the next unlock authenticates them (LOG-FORMAT.md §3.4).
  s.log->forget_entry_key();
  if (!logged.ok())
    return make_error(logged.error().code, "the vault is locked, but its lock was not fully logged: " +
                                               logged.error().message);
  return {};
}

bool Vault::is_unlocked() const {
  std::lock_guard lk(state_->mutex);
  return state_->keys.has_value();
}

Result<int> Vault::add_key_slot(const Passphrase& passphrase, std::string label, KdfCost cost) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = [&]() -> Result<int> {
    TILLID_TRY(s.require_unlocked());
    return insert_key_slot(s.db, s.vault_id, s.keys->master, passphrase, label, cost);
  }();
  TILLID_TRY(s.record_result(LogAction::key_slot_added, "", "", r, r.ok() ? "slot " + std::to_string(r.value()) : ""));
  return r;
}

Result<void> Vault::remove_key_slot(int slot_id) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = [&]() -> Result<void> {
    TILLID_TRY(s.require_unlocked());
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot remove the key slot"));
    TILLID_ASSIGN(Stmt count, s.db.prepare("SELECT count(*), sum(id = ?) FROM key_slots", "cannot count key slots"));
    count.bind(1, static_cast<std::int64_t>(slot_id));
    TILLID_ASSIGN(bool row, count.step());
    if (!row || count.int64(1) == 0)
      return make_error(Errc::not_found, "there is no key slot " + std::to_string(slot_id));
    if (count.int64(0) <= 1)
      return make_error(Errc::last_key_slot, "key slot " + std::to_string(slot_id) +
                                                 " is the only one; add another slot before removing it");
    TILLID_ASSIGN(Stmt del, s.db.prepare("DELETE FROM key_slots WHERE id = ?", "cannot remove the key slot"));
    del.bind(1, static_cast<std::int64_t>(slot_id));
    TILLID_TRY(del.run());
    return tx.commit();
  }();
  TILLID_TRY(s.record_result(LogAction::key_slot_removed, "", "", r, "slot " + std::to_string(slot_id)));
  return r;
}

Result<std::vector<KeySlotInfo>> Vault::key_slots() const {
  std::lock_guard lk(state_->mutex);
  TILLID_ASSIGN(auto rows, load_key_slots(state_->db));
  std::vector<KeySlotInfo> out;
  for (auto& r : rows) out.push_back(KeySlotInfo{r.id, r.label, r.created_unix});
  return out;
}

Result<std::array<unsigned char, 32>> Vault::appliance_public_key() const {
  std::lock_guard lk(state_->mutex);
  return state_->signing_pk;
}

const fs::path& Vault::dir() const { return state_->dir; }

}  // namespace tillid
