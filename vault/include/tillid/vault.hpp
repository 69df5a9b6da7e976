// The evidence vault: a directory with SQLite metadata and one encrypted object per item.
// It opens locked; any key slot's passphrase unlocks it (Argon2id → master key). Every item
// has its own content key, a SHA-256 of its plaintext and an Ed25519-signed manifest.
// Formats: vault/FORMAT.md. A Vault is safe to share between threads (calls serialise).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tillid/recording.hpp"
#include "tillid/result.hpp"
#include "tillid/secret.hpp"
#include "tillid/users.hpp"
#include "tillid/access_log.hpp"

namespace tillid {

// Who is acting; recorded in the access log for every operation.
struct Actor {
  std::string id = "local-operator";  // user id, or the local operator
  std::string role = "operator";      // operator | staff | caseworker | auditor | admin
};

// Argon2id cost for a new key slot (crypto_pwhash). Tests use the minimum; the appliance uses
// "moderate" so that guessing a passphrase from a stolen disk is expensive.
struct KdfCost {
  unsigned long long opslimit;
  std::size_t memlimit;
  static KdfCost interactive();
  static KdfCost moderate();
  static KdfCost minimum();  // only for tests
};

struct KeySlotInfo {
  int id;
  std::string label;
  std::int64_t created_unix;
};

struct NewCase {
  std::string case_number;   // the centre's case reference; stored in the clear
  std::string municipality;  // municipality code (e.g. "0101"); stored in the clear
  std::string child_name;    // encrypted at rest
  std::string cpr;           // encrypted at rest
  std::string notes;         // encrypted at rest
};

struct CaseInfo {
  std::string id;  // random, 32 hex characters
  std::string case_number;
  std::string municipality;
  std::string child_name;
  std::string cpr;
  std::string notes;
  std::int64_t created_unix = 0;
  std::string creator;
  // Listings only: false when the case's signature does not verify (its number,
  // municipality or sealed fields were altered); `verify` names why. find_case refuses such a case.
  bool verified = true;
};

enum class ItemKind { document, recording };

struct ItemInfo {
  std::string id;  // random, 32 hex characters
  std::string case_id;
  ItemKind kind = ItemKind::document;
  std::uint64_t size = 0;                    // plaintext bytes
  std::array<unsigned char, 32> sha256{};   // of the plaintext, as sha256sum prints it
  std::string title;                         // encrypted at rest
  std::string file_name;                     // encrypted at rest
  std::int64_t created_unix = 0;
  std::string creator;
  // Recordings only (FORMAT.md §7); zero/empty for documents.
  std::string interviewer;         // encrypted at rest
  std::int64_t duration_ms = 0;    // decoded audio, pre-skip removed
  bool interrupted = false;        // cut off (power loss, kill) and sealed by recovery
  std::int64_t interrupted_unix = 0;  // when the cut happened (last durable write)
  std::size_t bookmark_count = 0;  // read them with Vault::bookmarks()
  // Listings only: false when the item's v3 manifest signature (or its case's) does not
  // verify over the stored facts; `verify` names why. Such an item is never served.
  bool verified = true;
};

// A stream of plaintext bytes: fill `buf`, return how many were written (0 at the end).
using ByteSource = std::function<Result<std::size_t>(std::span<unsigned char> buf)>;
// Receives plaintext bytes in order; an Error stops the transfer.
using ByteSink = std::function<Result<void>(std::span<const unsigned char> bytes)>;

struct VerifyProblem {
  std::string item_id;  // empty for a problem that is not about one item (e.g. a stray object)
  std::string what;     // e.g. "chunk 3 failed authentication", "SHA-256 does not match"
};

struct VerifyReport {
  std::size_t items_checked = 0;
  std::uint64_t bytes_checked = 0;
  std::vector<VerifyProblem> problems;
  bool clean() const { return problems.empty(); }
};

// A share (FORMAT.md §10). `until_unix`: fetches stop at this instant.
struct NewShare {
  std::string item_id;  // exactly one of item_id and case_id
  std::string case_id;  // every sealed item of the case, as it is now
  std::string to_user;  // a caseworker
  std::int64_t until_unix = 0;
};
struct ShareInfo {
  std::string id;  // 32 hex characters, random
  std::string item_id;
  std::string case_id;
  std::string to_user;
  std::int64_t until_unix = 0;
  std::int64_t created_unix = 0;
  std::string creator;
  bool revoked = false;
  std::int64_t revoked_unix = 0;
  // Status: not opened until the first fetch; then by which device, when.
  std::optional<std::string> opened_by_device;
  std::int64_t opened_unix = 0;
};
struct SharedItem {
  ShareInfo share;
  ItemInfo item;             // title and file name decrypted: the caseworker is entitled
  std::string case_number;   // the centre's reference, so the caseworker can file it
};
struct SharedListing {
  std::vector<SharedItem> items;
  std::uint64_t log_seq = 0;
};
// Reads the stored ciphertext object from its start, in order (0 at its end).
using ObjectSource = std::function<Result<std::size_t>(std::span<unsigned char> buf)>;
struct SharedObject {
  SharedItem item;
  std::vector<unsigned char> manifest;    // the item manifest's canonical encoding (FORMAT.md §5.1)
  std::vector<unsigned char> signature;   // the appliance's Ed25519 signature over it
  std::vector<unsigned char> sealed_key;  // crypto_box_seal(content key, device box_key)
  std::uint64_t object_size = 0;          // ciphertext bytes the source yields
  ObjectSource object;                    // valid while the SharedObject lives
  std::uint64_t log_seq = 0;              // the share_fetched entry
};
struct Witness {
  std::string checkpoint;                      // signed note covering log_seq
  InclusionProof inclusion;                    // of the entry, in checkpoint's tree
  std::optional<ConsistencyProof> consistency; // from `since` to the checkpoint's size
};
struct Cosignature {
  std::string device_id;
  std::string user;
  std::uint64_t size = 0;       // the cosigned checkpoint's tree size
  std::int64_t time_unix = 0;   // the cosignature's own timestamp
  std::string line;             // "— <name> <base64>"
};

struct ExportSummary;  // tillid/export.hpp

class Vault {
 public:
  // Create a new vault in `dir` (empty or absent) with one key slot for `passphrase`, and no
  // users roster (FORMAT.md §8.3): `actor` is only vault_init's actor. A daemon authorises
  // nobody on such a vault until an unlocked add_user enrols an admin. For vault tests.
  static Result<void> create(const std::filesystem::path& dir, const Passphrase& passphrase,
                             std::string slot_label, KdfCost cost, const Actor& actor);
  // Same, with `first_admin` (role admin) as the roster's first user, version 1, and the
  // vault_init entry by that admin (tillid init: the invoking uid). FORMAT.md §8.3.
  static Result<void> create(const std::filesystem::path& dir, const Passphrase& passphrase,
                             std::string slot_label, KdfCost cost, const NewUser& first_admin);
  // Open an existing vault, locked. Fails with not_a_vault for anything else.
  static Result<Vault> open(const std::filesystem::path& dir, Actor actor);

  // Who the following calls act for, in the access log and as creator (the daemon sets it
  // for each request under its own lock; calls from several users must not interleave).
  void set_actor(Actor actor);
  // An entry for something the caller decided (the daemon's authorisation decisions,
  // protocol errors, start and stop). `details` never holds identifying text.
  Result<void> log_event(LogAction action, LogOutcome outcome, std::string_view details,
                         std::string_view case_id = {}, std::string_view item_id = {});
  // The same entry made as `as` (not the current actor), for callers that do not hold their
  // own lock around set_actor: the vault's mutex is released while the entry is made durable,
  // so concurrent callers share one fdatasync (the log's group commit). Like every append it
  // returns only once the entry is durable.
  Result<void> log_event_as(const Actor& as, LogAction action, LogOutcome outcome, std::string_view details,
                            std::string_view case_id = {}, std::string_view item_id = {});
  // Wipe every key; the vault stays open, locked (logged as lock).
  Result<void> lock();

  // The roster (FORMAT.md §8). users() and user_by_uid() work while locked: the roster's
  // signature is checked with the public key. user_by_uid never returns a revoked user.
  Result<std::vector<User>> users() const;
  Result<std::optional<User>> user_by_uid(unsigned uid) const;
  Result<User> add_user(const NewUser& user);             // unlocked; logs user_enrolled
  Result<void> revoke_user(const std::string& name);      // unlocked; never the last admin

  // Devices (FORMAT.md §9, kept in the signed roster). Changes need the vault unlocked;
  // reading works locked (the roster's signature is checked with the public key).
  // add_device: `user` must be a non-revoked caseworker or auditor; keys unique across every
  // device ever enrolled; logs device_enrolled "user U device D roster N".
  Result<Device> add_device(const NewDevice& device);
  Result<void> revoke_device(const std::string& device_id);  // logs device_revoked (roster N)
  Result<std::vector<Device>> devices(std::optional<std::string> user = std::nullopt) const;
  // The non-revoked device with this Noise static key and its non-revoked user, or nullopt.
  struct Enrolled { User user; Device device; };
  Result<std::optional<Enrolled>> device_by_noise_key(const DeviceKey& noise_key) const;

  // Shares (FORMAT.md §10): staff share a sealed item, or every sealed item of a case, with a
  // caseworker until a time. Each share seals the item's content key to every non-revoked
  // device the caseworker has then (crypto_box_seal); add fails (`invalid_argument`, "enrol a
  // device first") when there is none, and `denied` when the case's municipality is not the
  // caseworker's. Logs share_created per share (details "share S to U until T").
  Result<std::vector<ShareInfo>> add_share(const NewShare& share);
  Result<void> revoke_share(const std::string& share_id);  // logs share_revoked
  // Staff's view: every share (of one item or case when given), with its status.
  Result<std::vector<ShareInfo>> shares(std::optional<std::string> item_or_case = std::nullopt) const;
  // The caseworker's view over the channel: what `who` may fetch now (not expired, not
  // revoked, their municipality), sealed to `device`. Logs shares_listed; `log_seq` is that
  // entry's sequence number (for witness()).
  Result<SharedListing> shared_with(const User& who, const Device& device);
  // One shared item for `device`: the checks of shared_with again, then share_fetched is
  // logged (refused, with the reason, when a check fails) and the share marked opened at its
  // first fetch. The object is served as stored: the appliance never decrypts it to serve it.
  Result<SharedObject> open_shared(const User& who, const Device& device, const std::string& item_id);

  // What a channel response carries (firmware/PROTOCOL.md §5): a checkpoint signed after the
  // entry `seq` (signed now if the newest does not cover it), the entry's inclusion proof to
  // it, and a consistency proof from the client's newest checkpoint size `since` (none when
  // since is 0, or is not below the checkpoint's size: the client then sees a rollback or
  // has nothing to extend). Needs the vault unlocked.
  Result<Witness> witness(std::uint64_t seq, std::uint64_t since);

  // Cosignatures (C2SP tlog-cosignature v1) by auditor devices of checkpoints this log signed.
  // `signature_line` is one note signature line ("— <name> <base64>") over the checkpoint of
  // tree size `size`. Verified against the device's sign_key before it is kept; logs
  // checkpoint_cosigned "size N by device D".
  Result<void> add_cosignature(const Device& by, std::uint64_t size, std::string_view signature_line);
  Result<std::vector<Cosignature>> cosignatures() const;
  // The newest checkpoint that has cosignatures, as one signed note: the appliance's
  // signature line followed by every cosignature line. nullopt when none is kept.
  Result<std::optional<std::string>> cosigned_checkpoint() const;

  // Checkpoints: by default one is signed after every entry. A daemon defers them and calls
  // sign_pending_checkpoint() on a timer (within 1 s of the last entry, LOG-FORMAT §3).
  void defer_checkpoints(bool on);
  Result<bool> sign_pending_checkpoint();  // true if entries were waiting and got signed

  Vault(Vault&&) noexcept;
  Vault& operator=(Vault&&) noexcept;
  ~Vault();

  // Unlock with any slot's passphrase. Also finishes recovery of work a crash interrupted.
  // Already unlocked, the passphrase is still checked: a wrong one fails (wrong_passphrase,
  // logged as a refused unlock) and a right one changes nothing (logged "slot N, already
  // unlocked").
  Result<void> unlock(const Passphrase& passphrase);
  bool is_unlocked() const;

  Result<int> add_key_slot(const Passphrase& passphrase, std::string label, KdfCost cost);
  Result<void> remove_key_slot(int slot_id);
  Result<std::vector<KeySlotInfo>> key_slots() const;

  Result<CaseInfo> add_case(const NewCase& c);
  Result<std::vector<CaseInfo>> cases() const;
  // Find a case by id or by case number.
  Result<CaseInfo> find_case(const std::string& id_or_number) const;

  // Store a document. The item becomes visible only once it is complete and durable.
  Result<ItemInfo> add_document(const std::string& case_id, const ByteSource& content,
                                std::string title, std::string file_name);
  Result<ItemInfo> add_document_file(const std::string& case_id,
                                     const std::filesystem::path& file, std::string title);

  // Start a recording in a case (FORMAT.md §7): the item is created in state 'recording'
  // (not listed until finished) with its object open for appending. `mirror_dir`, if given,
  // receives a byte-identical copy of the encrypted object as it is written.
  Result<Recording> begin_recording(const std::string& case_id, std::string interviewer,
                                    std::string title,
                                    std::optional<std::filesystem::path> mirror_dir = std::nullopt);
  // A sealed recording's bookmarks, in order.
  Result<std::vector<Bookmark>> bookmarks(const std::string& item_id) const;

  Result<std::vector<ItemInfo>> items(std::optional<std::string> case_id = std::nullopt) const;
  Result<ItemInfo> item(const std::string& item_id) const;

  // Decrypt and authenticate an item into `sink`. Bytes reach the sink only after their
  // chunk authenticated; the call fails if the object is truncated, altered or swapped.
  Result<ItemInfo> fetch(const std::string& item_id, const ByteSink& sink) const;
  // Fetch into a new file at `out` (written beside it, fsynced, renamed into place).
  Result<ItemInfo> fetch_to_file(const std::string& item_id,
                                 const std::filesystem::path& out) const;

  // Decrypt every chunk of every item, recompute SHA-256, check every signature, and check
  // that objects and metadata match one to one. Needs the vault unlocked.
  Result<VerifyReport> verify() const;

  // The appliance's Ed25519 public key (signs item manifests and log checkpoints).
  Result<std::array<unsigned char, 32>> appliance_public_key() const;

  // Write a court export bundle of a sealed item into the new directory `out` (absent or
  // empty): plaintext, signed manifest, the item's access-log entries with inclusion proofs
  // to a signed checkpoint (EXPORT-FORMAT.md). Logged as export_made before the proofs are
  // built, so the bundle proves its own export. Nothing is left behind on failure.
  Result<ExportSummary> export_item(const std::string& item_id, const std::filesystem::path& out);

  // What an auditor keeps (LOG-FORMAT.md), available without unlocking: the access log's
  // signed-note verifier key, the newest signed checkpoint, and where the log lives.
  std::string log_verifier_key() const;
  Result<std::string> latest_checkpoint() const;
  std::filesystem::path log_dir() const;

  const std::filesystem::path& dir() const;

  struct State;  // internal

 private:
  explicit Vault(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

std::string to_hex(std::span<const unsigned char> bytes);
std::string to_string(ItemKind kind);

}  // namespace tillid
