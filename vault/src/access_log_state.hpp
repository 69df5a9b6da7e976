// AccessLog::State: the writer's open files, its compact in-memory tree (LOG-FORMAT.md §3.7)
// and its group-commit queue, shared by access_log.cpp (appends, checkpoints, unlock, reads)
// and access_log_open.cpp (open: the indexed path and the full check); and the POSIX helpers
// both use (access_log_io.cpp).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "access_log_format.hpp"
#include "merkle.hpp"
#include "tillid/access_log.hpp"

namespace tillid {

namespace fs = std::filesystem;

namespace logio {

// An I/O error; ENOSPC and EDQUOT map to Errc::no_space.
Error os_error(const std::string& what, int err);

// All of [p, p + n), retrying short writes and EINTR.
Result<void> write_all(int fd, const unsigned char* p, std::size_t n, const fs::path& path);

// fdatasync: what an acknowledgement depends on.
Result<void> sync_fd(int fd, const fs::path& path);

// Make `dir` (if absent) and return it open, owned by us and 0700 whatever the umask
// (LOG-FORMAT.md §1). O_NOFOLLOW: a symlink in place of the directory is refused.
Result<int> open_log_dir(const fs::path& dir);

// Create one log file holding only its header: O_EXCL|O_NOFOLLOW so nothing an attacker
// planted at the name (a file, a symlink) is ever written through, 0600 whatever the umask.
Result<void> create_file(int dir_fd, const fs::path& dir, const char* name, std::string_view contents);

// A whole file through an open descriptor (not by name again: the name could be swapped).
Result<std::vector<unsigned char>> read_fd(int fd, const fs::path& path);

std::int64_t system_clock_ms();  // the default clock of AccessLogOptions

// Open one of the log files for appending; `entries` is also locked (one writer, §1).
Result<int> open_log_file(const fs::path& path, bool entries);

// Bytes [from, to) of a file.
Result<std::vector<unsigned char>> pread_range(int fd, std::uint64_t from, std::uint64_t to, const fs::path& path);

Result<std::uint64_t> file_size(int fd, const fs::path& path);  // fstat

// One caller's append: its events and, once the leader is done, its outcome.
struct Ticket {
  std::span<const LogEvent> events;
  std::uint64_t first_seq = 0;
  bool done = false;
  std::optional<Error> error;
};

}  // namespace logio

struct AccessLog::State {
  using Ticket = logio::Ticket;

  fs::path dir;
  AccessLogOptions options;
  LogRecovery recovery;
  int entries_fd = -1;
  int checkpoints_fd = -1;
  int index_fd = -1;

  mutable std::mutex mu;  // guards everything below up to cp_mu
  std::condition_variable cv;
  std::vector<Ticket*> queue;
  bool writing = false;              // a leader is writing a batch
  std::optional<Error> poisoned;     // the file's state after a failed write is unknown
  // Durable entries only (LOG-FORMAT.md §3.7): whole blocks by hash, the last one by leaf.
  merkle::BlockTree tree;
  // Offset of the first record of every block that has one; a block ends where the next
  // begins (the last one at `end`). Those of indexed blocks come from the index unchecked
  // (§3.7): a wrong one is found, and all are recomputed once, when a block is read
  // (mutable for that; under mu like the rest).
  mutable std::vector<std::uint64_t> block_offsets;
  mutable bool offsets_recomputed = false;
  std::uint64_t end = 0;             // durable file size
  // Entries from this seq on were appended by this object (not read from disk at open): the
  // tree holds what it wrote, so at unlock it can vouch for those still on disk as written
  // even without a MAC (§3.4).
  std::uint64_t own_from = 0;
  mutable merkle::Hasher hasher;     // used under mu
  merkle::Hasher leader_hasher;      // used only by the current leader
  // Subkey 5 once the vault is unlocked (LOG-FORMAT.md §3.3). Changed only under mu while no
  // leader is writing, so a leader may read it without mu.
  std::optional<Secret> entry_key;

  std::mutex cp_mu;  // serialises checkpoint signing and the fields below
  std::optional<Checkpoint> latest;
  std::uint64_t latest_at = 0;  // offset of the latest checkpoint's record in `checkpoints`
  std::uint64_t indexed = 0;    // block records in the index file
  bool index_ok = true;         // false after a failed index write: the next open rebuilds it

  ~State();
  std::int64_t now() const { return options.clock_unix_ms ? options.clock_unix_ms() : logio::system_clock_ms(); }
  fs::path entries_path() const { return dir / "entries"; }
  // Under mu: where block b's records begin and end in `entries`.
  std::uint64_t block_start(std::uint64_t b) const { return b < block_offsets.size() ? block_offsets[b] : end; }
  std::uint64_t block_end(std::uint64_t b) const { return b + 1 < block_offsets.size() ? block_offsets[b + 1] : end; }
  // Under mu: the records of entries [b*256, end of log) as stored, checked against nothing yet.
  Result<std::pair<std::vector<unsigned char>, logfmt::Scan>> read_from_block(merkle::Hasher& h, std::uint64_t b,
                                                                              std::uint64_t to) const;
  // Under mu: the records of block b, found where block_offsets says. If they are not the
  // block's records (a wrong offset in the index), the offsets are recomputed from the file's
  // framing, once; an edited entry is left for the caller's hash check to find.
  Result<std::pair<std::vector<unsigned char>, logfmt::Scan>> read_block(merkle::Hasher& h, std::uint64_t b) const;
  // Under mu: block_offsets from the framing of `entries` alone (lengths; checks and leaves
  // are the block hashes' business), read in chunks so memory stays small.
  Result<void> recompute_offsets() const;
  // Under mu: the leaf hashes of complete block b as stored (BlockTree checks them).
  Result<std::vector<LogHash>> block_leaves(std::uint64_t b) const;
  merkle::BlockTree::BlockLeaves loader() const {
    return [this](std::uint64_t b) { return block_leaves(b); };
  }
  // Under mu: after a leaf joins the tree at `offset`.
  void note_offset(std::uint64_t seq, std::uint64_t offset) {
    if (seq % merkle::kBlockLeaves == 0) block_offsets.push_back(offset);
  }
  // Runs as leader without mu held: encode, write and fdatasync a batch.
  Result<std::vector<LogHash>> write_batch(std::vector<Ticket*>& batch, std::uint64_t first_seq,
                                           std::int64_t time_ms, std::uint64_t start,
                                           std::vector<std::uint64_t>& new_offsets,
                                           std::uint64_t& new_end, bool& lost);
  Result<std::uint64_t> submit(std::span<const LogEvent> events);
  // Under mu: the stored bytes of entry `seq`.
  Result<std::vector<unsigned char>> read_entry(std::uint64_t seq) const;
  // The checkpoints file from offset `at` (a record the index names) to its end, every one
  // verified; false if that is not a clean run of records (the full scan decides what it is).
  Result<bool> open_checkpoints_from(std::uint64_t at);
  // The fast path: trust the index's blocks below the newest checkpoint once they hash, with
  // the entries after them (read from disk), to its signed root; read nothing else. false: the
  // index is missing, stale or wrong, and the full scan must decide (it refuses a bad log).
  Result<bool> open_indexed();
  // The full path (no usable index, a version 1 file): every entry re-hashed and decoded,
  // every checkpoint verified, as the log always was; then the index is rebuilt.
  Result<void> open_full();
  // LOG-FORMAT.md §3.7: the index of a log that just passed the full check, in place of
  // whatever was there (nothing, an old or wrong index), atomically as §3.6 replaces a file.
  // Each block's record names the first checkpoint that covers it, as sign_checkpoint wrote it.
  Result<void> rebuild_index(std::span<const std::pair<std::uint64_t, std::uint64_t>> signed_at);
  // LOG-FORMAT.md §3.6: rewrite the version 1 entries file `recs` (already scanned, decoded
  // and checked against every checkpoint) as version 2: the same payloads, so the same leaves,
  // tree and signed checkpoints, with zero MAC fields (written without the key, §3.1).
  Result<void> upgrade_from_v1(std::span<const logfmt::ScannedRecord> recs);
  // Under cp_mu, after the checkpoint at `at` (of `size` entries) is durable: append the
  // blocks it newly covers to the index (§3.7). A failure costs only speed: the index is
  // taken back, or left for the next open to rebuild, and the checkpoint stands.
  void extend_index(std::uint64_t size, std::uint64_t at);
};

}  // namespace tillid
