// The tamper-evident access log. Every vault operation, allowed or refused, is appended as a
// small structured entry to an append-only RFC 9162 Merkle tree kept in a directory; the
// appliance's Ed25519 key signs C2SP checkpoints of the tree. An auditor verifies the
// directory with nothing but the appliance's verifier key (no passphrase, no content key).
// Entries the appliance did not write (or wrote while locked) are never adopted silently:
// they are quarantined by a signed log_quarantined event at the next unlock.
// On-disk formats, proof and key text: vault/LOG-FORMAT.md. An AccessLog is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid {

using LogHash = std::array<unsigned char, 32>;  // SHA-256

// What happened. The numbers are part of the entry format and never change meaning.
enum class LogAction : std::uint16_t {
  vault_init = 1, unlock = 2, lock = 3, key_slot_added = 4, key_slot_removed = 5,
  case_created = 10, cases_listed = 11, item_added = 12, items_listed = 13, item_read = 14,
  verify_run = 15, case_viewed = 16, item_viewed = 17, recovery = 18, vault_upgraded = 19,
  record_start = 20, record_stop = 21, record_bookmark = 22, record_adopted = 23,
  share_created = 30, share_revoked = 31, share_fetched = 32, shares_listed = 33,
  export_made = 40, item_deleted = 41, case_deleted = 42, retention_run = 43,
  login = 50, user_enrolled = 51, user_revoked = 52, device_enrolled = 53, device_revoked = 54,
  users_listed = 55, enrol_code_issued = 56, devices_listed = 57,
  log_verified = 60, report_made = 61, checkpoint_fetched = 62, log_quarantined = 63,
  checkpoint_cosigned = 64,
  authz_decision = 70, daemon_started = 71, daemon_stopped = 72, protocol_error = 73,
  channel_refused = 74,  // a Noise peer whose static key is not enrolled (or is revoked)
};
enum class LogOutcome : std::uint8_t { ok = 0, refused = 1, failed = 2 };

std::string to_string(LogAction action);  // "item_read"; "action-<n>" for a code unknown here
std::string_view to_string(LogOutcome outcome);  // "ok" | "refused" | "failed"
std::optional<LogAction> parse_log_action(std::string_view name);

// One event as the caller reports it. NEVER put a child's name, a CPR number, a title, a file
// name or any content here: ids are the vault's opaque random ids and `details` is a short
// machine-ish reason ("wrong passphrase", "share expired"). Bounds (LOG-FORMAT.md §2):
// actor_id 1..64 and case_id/item_id 0..64 of [A-Za-z0-9._@:+-]; actor_role 1..16 of [a-z_-];
// details 0..240 bytes of UTF-8 without control characters, and nothing shaped like a CPR
// number. An event outside the bounds is refused with invalid_argument, never truncated.
struct LogEvent {
  std::string actor_id;
  std::string actor_role;
  LogAction action = LogAction::vault_init;
  LogOutcome outcome = LogOutcome::ok;
  std::string case_id;  // empty: not about a case
  std::string item_id;  // empty: not about an item
  std::string details;
};

// An event as stored: the log assigns the sequence number (= leaf index, from 0) and the time.
struct LogEntry : LogEvent {
  std::uint64_t seq = 0;
  std::int64_t time_unix_ms = 0;
};

Result<void> validate(const LogEvent& event);
std::vector<unsigned char> encode_log_entry(const LogEntry& entry);  // canonical v1; validate first
Result<LogEntry> decode_log_entry(std::span<const unsigned char> bytes);  // strict, canonical only
LogHash log_leaf_hash(std::span<const unsigned char> entry_bytes);  // SHA-256(0x00 || entry)

// Which entries a report shows; an unset field matches everything. Times: [from, to) in ms.
struct LogQuery {
  std::optional<std::string> case_id, actor_id, item_id;
  std::optional<std::int64_t> from_unix_ms, to_unix_ms;
  std::optional<LogOutcome> outcome;
  std::vector<LogAction> actions;  // any of these; empty = every action
};
bool matches(const LogEntry& entry, const LogQuery& query);

// RFC 9162 §2.1.3 / §2.1.4 proofs. Verification needs only hashes: an independent verifier.
struct InclusionProof {
  std::uint64_t index = 0, tree_size = 0;
  std::vector<unsigned char> entry;  // the canonical entry bytes; leaf = log_leaf_hash(entry)
  std::vector<LogHash> path;
};
struct ConsistencyProof {
  std::uint64_t old_size = 0, new_size = 0;
  std::vector<LogHash> path;
};
bool verify_inclusion(const LogHash& leaf, std::uint64_t index, std::uint64_t tree_size,
                      std::span<const LogHash> path, const LogHash& root);
bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const LogHash& old_root,
                        const LogHash& new_root, std::span<const LogHash> path);
std::string format_proof(const InclusionProof& proof);    // text, LOG-FORMAT.md §5
std::string format_proof(const ConsistencyProof& proof);
Result<InclusionProof> parse_inclusion_proof(std::string_view text);
Result<ConsistencyProof> parse_consistency_proof(std::string_view text);

// A C2SP tlog-checkpoint: "<origin>\n<size>\n<base64 root>\ntime <unix s>\n" signed as a
// C2SP signed note whose key name is the origin.
struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  LogHash root{};
  std::int64_t time_unix = 0;
  std::string note;  // the whole signed note, byte for byte
};
// The key an auditor keeps: "<name>+<8 hex key id>+<base64(0x01 || public key)>".
std::string log_verifier_key(std::string_view name, std::span<const unsigned char, 32> public_key);
// Parse a signed checkpoint and check its signature against a verifier key.
Result<Checkpoint> open_checkpoint(std::string_view signed_note, std::string_view verifier_key);

struct AccessLogOptions {
  std::string origin;  // checkpoint origin and key name, e.g. "tillid.local/<vault-id>"
  std::function<std::int64_t()> clock_unix_ms;  // empty: the system clock
  // The appliance's Ed25519 public key: open() checks every stored checkpoint against it and
  // refuses a log holding one that does not verify (LOG-FORMAT.md §4.1). Required.
  std::optional<std::array<unsigned char, 32>> public_key;
};

// Quarantine (LOG-FORMAT.md §3.4): entries after the newest signed checkpoint that the writer
// cannot authenticate are named by a `log_quarantined` event whose details are
// "seq A-B[,C-D...]" (decimal, inclusive ranges, ascending, at most 240 bytes per event).
struct LogSeqRange {
  std::uint64_t first = 0, last = 0;  // inclusive
  bool contains(std::uint64_t seq) const { return seq >= first && seq <= last; }
};
std::vector<std::string> format_quarantine_details(std::span<const std::uint64_t> seqs);  // sorted seqs
Result<std::vector<LogSeqRange>> parse_quarantine_details(std::string_view details);
// The seqs named by the log_quarantined events among `entries` (only ranges below the naming
// event's own seq count). Whether those events are themselves signed is verify_log's business.
std::vector<LogSeqRange> quarantined_ranges(std::span<const LogEntry> entries);
bool in_ranges(std::span<const LogSeqRange> ranges, std::uint64_t seq);

// What open() had to do: bytes of a torn last record left by a crash, cut off (never more),
// whether a version 1 entries file was rewritten as version 2 (LOG-FORMAT.md §3.6), and
// whether the index could not be used.
struct LogRecovery {
  std::uint64_t entries_torn_bytes = 0;
  std::uint64_t checkpoints_torn_bytes = 0;
  bool entries_upgraded = false;
  // The index (LOG-FORMAT.md §3.7) was missing or did not authenticate: every entry and
  // checkpoint was checked instead and the index rebuilt.
  bool full_check = false;
};

class AccessLog {
 public:
  // Create a new, empty log in `dir` (created if absent; must not hold a log already).
  static Result<AccessLog> create(const std::filesystem::path& dir, AccessLogOptions options);
  // Open an existing log for appending (one writer per directory: an exclusive lock is held).
  // With a valid index (LOG-FORMAT.md §3.7) only the newest checkpoints' signatures and the
  // entries of the last indexed block onwards are read: the rest is vouched for by the signed
  // root the index hashes to (`verify_log` still checks everything). Otherwise every entry
  // and checkpoint is checked and the index rebuilt. A torn tail is cut and reported in
  // recovery(); any other damage fails with Errc::corrupt. A version 1 entries file that
  // passes every check is upgraded to version 2 in place.
  static Result<AccessLog> open(const std::filesystem::path& dir, AccessLogOptions options);

  AccessLog(AccessLog&&) noexcept;
  AccessLog& operator=(AccessLog&&) noexcept;
  ~AccessLog();

  // Append and make durable (fdatasync) before returning the entry's seq (first seq for a
  // batch; a batch's seqs are contiguous). Concurrent callers share one fdatasync.
  Result<std::uint64_t> append(const LogEvent& event);
  Result<std::uint64_t> append_batch(std::span<const LogEvent> events);

  // Sign a checkpoint of the durable tree and append it to the checkpoints file (durable).
  // If the latest checkpoint already covers the current size it is returned unchanged.
  // secret_key: libsodium Ed25519 secret key (64 bytes) matching public_key.
  Result<Checkpoint> sign_checkpoint(const Secret& secret_key,
                                     std::span<const unsigned char, 32> public_key);
  // The newest stored checkpoint; open() verified its signature (and every other one).
  std::optional<Checkpoint> latest_checkpoint() const;

  // At unlock (LOG-FORMAT.md §3.4): authenticate every entry after the newest signed
  // checkpoint with `entry_key` (vault subkey 5); from now on appends carry a MAC under it.
  // Entries this object appended itself since open() (e.g. while locked, without a MAC) are
  // vouched for if the disk still holds them as written (compared per 256-entry block, the
  // last block per entry). Anything else without a valid MAC (written while locked by an
  // earlier process, or not by the appliance, or edited since) is quarantined in place:
  // log_quarantined events by `by`'s actor naming them are appended as one batch before this
  // returns, so the next checkpoint signs the flag with them. Returns the quarantined seqs
  // (empty: the whole tail was adopted). No checkpoint is signed here.
  Result<std::vector<std::uint64_t>> authenticate_tail(Secret entry_key, const LogEvent& by);
  // At lock: wipe the entry key; appends carry no MAC again until authenticate_tail.
  void forget_entry_key();

  std::uint64_t size() const;  // durable entries
  LogHash root() const;        // RFC 9162 MTH of the durable entries
  Result<LogHash> root_at(std::uint64_t tree_size) const;
  Result<InclusionProof> inclusion_proof(std::uint64_t seq, std::uint64_t tree_size) const;
  Result<ConsistencyProof> consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const;
  Result<std::vector<LogEntry>> entries(const LogQuery& query = {}) const;

  const LogRecovery& recovery() const;
  const std::filesystem::path& dir() const;

  struct State;  // internal

 private:
  explicit AccessLog(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// ---- Auditor side: reads a log directory, never writes it. ----

enum class LogProblemKind {
  malformed,     // a record or checkpoint cannot be parsed (not a torn tail)
  edited,        // an entry's bytes differ from what was written / signed
  removed,       // an entry is missing from the sequence
  reordered,     // entries are out of order or duplicated
  truncated,     // fewer entries than a stored checkpoint covers
  rolled_back,   // fewer entries than a checkpoint the auditor kept
  forked,        // the tree differs from a checkpoint the auditor kept
  bad_signature, // a checkpoint's signature does not verify (forged or wrong key)
};
struct LogProblem {
  LogProblemKind kind;
  std::optional<std::uint64_t> seq;  // the first bad sequence number, where one can be named
  std::string message;
};
struct LogVerifyReport {
  std::uint64_t entries = 0;
  std::uint64_t checkpoints = 0;
  LogHash root{};
  std::optional<Checkpoint> latest_checkpoint;  // newest stored checkpoint that verified
  std::vector<LogProblem> problems;             // ordered by seq; empty = the log is intact
  std::vector<std::string> notes;               // informational (torn tail, unsigned tail)
  std::optional<std::uint64_t> first_bad_seq;
  // Entries named by signed log_quarantined events (LOG-FORMAT.md §3.4): the appliance did
  // not write them, or wrote them while locked; not evidence of what the appliance did.
  std::vector<LogSeqRange> quarantined;
  // Entries after the newest verified checkpoint (all of them if none verified): nothing
  // vouches for them yet; the appliance authenticates or quarantines them at its next unlock.
  std::uint64_t unsigned_entries = 0;
  bool clean() const { return problems.empty(); }  // no tampering found (quarantine aside)
};
std::string_view to_string(LogProblemKind kind);

// Recompute the whole tree from the entries, check every stored checkpoint (signature, tree
// match), sequence contiguity, and consistency with checkpoints the auditor kept earlier.
// Errors are only for an unusable input (no such directory, bad verifier key); tampering is
// reported in the LogVerifyReport.
Result<LogVerifyReport> verify_log(const std::filesystem::path& dir, std::string_view verifier_key,
                                   std::span<const std::string> kept_checkpoints = {});
// Entries matching `query`, read from a log directory without modifying it.
Result<std::vector<LogEntry>> read_log_entries(const std::filesystem::path& dir,
                                               const LogQuery& query = {});

// Proofs computed from a log directory without opening it for writing (the auditor's side).
// tree_size / new_size default to the whole log. RFC 9162 §2.1.3.1 and §2.1.4.1.
Result<InclusionProof> prove_inclusion(const std::filesystem::path& dir, std::uint64_t seq,
                                       std::optional<std::uint64_t> tree_size = std::nullopt);
Result<ConsistencyProof> prove_consistency(const std::filesystem::path& dir, std::uint64_t old_size,
                                           std::optional<std::uint64_t> new_size = std::nullopt);
// The log's root hash at `tree_size` (default: the whole log), from the directory.
Result<LogHash> log_root_at(const std::filesystem::path& dir, std::optional<std::uint64_t> tree_size = std::nullopt);

// Reports: a text table, JSON (array of objects), and a self-contained HTML page (timeline per
// item, refused/failed attempts marked). `verification`, if given, is summarised at the top.
// Entries in `quarantined` are marked as such in every format (LOG-FORMAT.md §3.4).
std::string render_log_text(std::span<const LogEntry> entries, std::span<const LogSeqRange> quarantined = {});
std::string render_log_json(std::span<const LogEntry> entries, std::span<const LogSeqRange> quarantined = {});
std::string render_log_html(std::span<const LogEntry> entries, std::string_view title,
                            const LogVerifyReport* verification = nullptr,
                            std::span<const LogSeqRange> quarantined = {});

}  // namespace tillid
