// AccessLog: the writer side of the tamper-evident log. Appends are made durable with
// fdatasync before they are acknowledged; concurrent appenders are group-committed (the first
// waiting thread becomes the leader, writes everyone's queued entries in one write and one
// fdatasync, then wakes the followers). The in-memory Merkle tree only ever holds durable
// entries, so a checkpoint can never sign something a crash could take back (no fork).
// open() refuses a log holding a checkpoint the appliance's key did not sign (§4.1); once
// unlocked, entries carry a MAC under vault subkey 5 and authenticate_tail() quarantines what
// in the unsigned tail does not authenticate before anything else is signed (§3.3, §3.4).
// A version 1 entries file (no MAC fields) is upgraded to version 2 in place at open (§3.6).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include <sodium.h>

#include "access_log_format.hpp"
#include "checkpoint.hpp"
#include "merkle.hpp"
#include "tillid/access_log.hpp"

namespace tillid {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kWriteChunk = 1 << 20;  // bytes per write() within one batch

Error os_error(const std::string& what, int err) {
  const Errc code = (err == ENOSPC || err == EDQUOT) ? Errc::no_space : Errc::io;
  return make_error(code, what + ": " + std::strerror(err));
}

Result<void> write_all(int fd, const unsigned char* p, std::size_t n, const fs::path& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return os_error("cannot write " + path.string(), errno);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

Result<void> sync_fd(int fd, const fs::path& path) {
  if (::fdatasync(fd) != 0) return os_error("cannot flush " + path.string() + " to disk", errno);
  return {};
}

// Make `dir` (if absent) and return it open, owned by us and 0700 whatever the umask
// (LOG-FORMAT.md §1). O_NOFOLLOW: a symlink in place of the directory is refused.
Result<int> open_log_dir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
  if (ec) return make_error(Errc::io, "cannot create " + dir.parent_path().string() + ": " + ec.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return os_error("cannot create " + dir.string(), errno);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return make_error(Errc::io, "cannot open the log directory " + dir.string() + ": " + std::strerror(errno) +
                                    " (a symbolic link is refused)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_uid != ::geteuid()) {
    ::close(fd);
    return make_error(Errc::denied, "the log directory " + dir.string() + " is not owned by this user; "
                                        "remove it or give it to the appliance's user (chown)");
  }
  if (::fchmod(fd, 0700) != 0) {
    const int err = errno;
    ::close(fd);
    return os_error("cannot set the mode of " + dir.string(), err);
  }
  return fd;
}

// Create one log file holding only its header: O_EXCL|O_NOFOLLOW so nothing an attacker
// planted at the name (a file, a symlink) is ever written through, 0600 whatever the umask.
Result<void> create_file(int dir_fd, const fs::path& dir, const char* name, std::string_view contents) {
  const fs::path path = dir / name;
  const int fd = ::openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return make_error(err == EEXIST ? Errc::already_exists : Errc::io,
                      "cannot create " + path.string() + ": " + std::strerror(err));
  }
  Result<void> r;
  if (::fchmod(fd, 0600) != 0) r = os_error("cannot set the mode of " + path.string(), errno);
  if (r) r = write_all(fd, reinterpret_cast<const unsigned char*>(contents.data()), contents.size(), path);
  if (r) r = sync_fd(fd, path);
  ::close(fd);
  return r;
}

// A whole file through an open descriptor (not by name again: the name could be swapped).
Result<std::vector<unsigned char>> read_fd(int fd, const fs::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error("cannot read " + path.string(), errno);
  std::vector<unsigned char> data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t r = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return os_error("cannot read " + path.string(), errno);
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  data.resize(got);
  return data;
}

std::int64_t system_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One caller's append: its events and, once the leader is done, its outcome.
struct Ticket {
  std::span<const LogEvent> events;
  std::uint64_t first_seq = 0;
  bool done = false;
  std::optional<Error> error;
};

// Open one of the log files for appending; `entries` is also locked (one writer, §1).
Result<int> open_log_file(const fs::path& path, bool entries) {
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      const int err = errno;
      return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                        "cannot open " + path.string() + ": " + std::strerror(err) +
                            (err == ELOOP ? " (it is a symbolic link; log files never are)" : ""));
    }
    if (!entries) return fd;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return make_error(Errc::io, "the access log " + path.parent_path().string() +
                                      " is already open for writing by another process");
    }
    // The lock belongs to an inode, not to the name: if another writer renamed an upgraded
    // file over `entries` since we opened it (LOG-FORMAT.md §3.6), ours is the replaced
    // version 1 file and the lock guards nothing. Open the name again.
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino)
      return fd;
    ::close(fd);
    if (attempt == 2)
      return make_error(Errc::io, "the access log " + path.parent_path().string() +
                                      " was replaced repeatedly while it was being opened; try again");
  }
}

struct WholeFile {
  std::vector<unsigned char> image;
  logfmt::Scan scan;
};

// Read and scan a whole log file through `fd`; cut a torn tail (§3.2), leave damage to the caller.
Result<WholeFile> scan_whole(merkle::Hasher& h, int fd, const fs::path& path, bool entries) {
  WholeFile f;
  TILLID_ASSIGN(f.image, read_fd(fd, path));
  f.scan = entries ? logfmt::scan_entries(h, f.image) : logfmt::scan_checkpoints(h, f.image);
  if (!f.scan.header_ok) return make_error(Errc::corrupt, path.string() + ": " + f.scan.damage);
  if (f.scan.torn_bytes > 0 && !f.scan.damaged) {
    // Only an unacknowledged append can be torn: acknowledged ones were fdatasync'ed whole.
    if (::ftruncate(fd, static_cast<off_t>(f.scan.good_end)) != 0)
      return os_error("cannot cut the torn tail of " + path.string(), errno);
    TILLID_TRY(sync_fd(fd, path));
  }
  return f;
}

// Bytes [from, to) of a file.
Result<std::vector<unsigned char>> pread_range(int fd, std::uint64_t from, std::uint64_t to, const fs::path& path) {
  std::vector<unsigned char> image(to - from);
  std::size_t got = 0;
  while (got < image.size()) {
    const ssize_t r = ::pread(fd, image.data() + got, image.size() - got, static_cast<off_t>(from + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return os_error("cannot read " + path.string(), r < 0 ? errno : EIO);
    got += static_cast<std::size_t>(r);
  }
  return image;
}

Result<std::uint64_t> file_size(int fd, const fs::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error("cannot read " + path.string(), errno);
  return static_cast<std::uint64_t>(st.st_size);
}

// Name of the version 2 file being written while a version 1 log is upgraded (§3.6), and of
// the index being rebuilt (§3.7).
constexpr const char* kUpgradeTemp = "entries.upgrade";
constexpr const char* kIndexTemp = "index.rebuild";

// LOG-FORMAT.md §3.6: put `image` (a complete version 2 entries file) in place of `entries`
// atomically. The new file is created O_EXCL|O_NOFOLLOW (nothing planted at the name is
// written through), locked before rename makes it `entries` (no other writer can take it),
// and durable before the rename; the directory fsync makes the rename itself durable. A crash
// at any instant leaves the version 1 file at `entries` (and perhaps a stale temporary, which
// the next upgrade removes: the entries lock proves no upgrade is still running) or the whole
// version 2 file. Returns the new file's descriptor, open for appending and locked. The index
// (§3.7) is replaced the same way (`temp` = kIndexTemp, `name` = "index").
Result<int> replace_file(const fs::path& dir, std::span<const unsigned char> image,
                         const char* temp = kUpgradeTemp, const char* name = "entries") {
  const fs::path tmp = dir / temp;
  TILLID_ASSIGN(const int dir_fd, open_log_dir(dir));
  int fd = -1;
  auto r = [&]() -> Result<void> {
    // unlinkat removes a symlink itself, never its target; a directory there is refused.
    if (::unlinkat(dir_fd, temp, 0) != 0 && errno != ENOENT)
      return os_error("cannot remove " + tmp.string() + " (left by an interrupted log upgrade; remove it by hand)",
                      errno);
    fd = ::openat(dir_fd, temp, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return os_error("cannot create " + tmp.string(), errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return os_error("cannot lock " + tmp.string(), errno);
    if (::fchmod(fd, 0600) != 0) return os_error("cannot set the mode of " + tmp.string(), errno);
    TILLID_TRY(write_all(fd, image.data(), image.size(), tmp));
    if (::fsync(fd) != 0) return os_error("cannot flush " + tmp.string() + " to disk", errno);
    if (::renameat(dir_fd, temp, dir_fd, name) != 0)
      return os_error("cannot rename " + tmp.string() + " to " + name, errno);
    return {};
  }();
  if (!r) {
    (void)::unlinkat(dir_fd, temp, 0);  // a failed upgrade leaves the version 1 log as it was
    if (fd >= 0) ::close(fd);
    ::close(dir_fd);
    return make_error(r.error().code, r.error().message + "; " + name + " is unchanged");
  }
  // From here `entries` is the whole version 2 file. Until the directory is durable a crash
  // could bring back the version 1 file (which the next open upgrades again) and with it lose
  // whatever was appended since: so no append is acknowledged unless this fsync succeeded.
  const int synced = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  if (synced != 0) {
    ::close(fd);
    return os_error("cannot flush " + dir.string() + " to disk after replacing its " + name + " file; open the log again",
                    err);
  }
  return fd;
}

}  // namespace

struct AccessLog::State {
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

  ~State() {
    for (int fd : {entries_fd, checkpoints_fd, index_fd})
      if (fd >= 0) ::close(fd);
  }

  std::int64_t now() const { return options.clock_unix_ms ? options.clock_unix_ms() : system_clock_ms(); }
  fs::path entries_path() const { return dir / "entries"; }

  // Under mu: where block b's records begin and end in `entries`.
  std::uint64_t block_start(std::uint64_t b) const { return b < block_offsets.size() ? block_offsets[b] : end; }
  std::uint64_t block_end(std::uint64_t b) const { return b + 1 < block_offsets.size() ? block_offsets[b + 1] : end; }

  // Under mu: the records of entries [b*256, end of log) as stored, checked against nothing yet.
  Result<std::pair<std::vector<unsigned char>, logfmt::Scan>> read_from_block(merkle::Hasher& h, std::uint64_t b,
                                                                              std::uint64_t to) const {
    const std::uint64_t from = block_start(b);
    TILLID_ASSIGN(auto image, pread_range(entries_fd, from, to, entries_path()));
    auto scan = logfmt::scan_region(h, image, from, logfmt::kMaxEntryBytes, logfmt::kMacBytes);
    if (scan.damaged || scan.torn_bytes != 0)
      return make_error(Errc::corrupt, "the access log changed under the running appliance (" +
                                           (scan.damage.empty() ? std::string("a record was cut") : scan.damage) +
                                           "); reopen it");
    return std::pair{std::move(image), std::move(scan)};
  }

  // Under mu: the records of block b, found where block_offsets says. If they are not the
  // block's records (a wrong offset in the index), the offsets are recomputed from the file's
  // framing, once; an edited entry is left for the caller's hash check to find.
  Result<std::pair<std::vector<unsigned char>, logfmt::Scan>> read_block(merkle::Hasher& h, std::uint64_t b) const {
    auto is_block = [&](const Result<std::pair<std::vector<unsigned char>, logfmt::Scan>>& r) {
      if (!r) return false;
      const auto& recs = r->second.records;
      const std::uint64_t want = std::min<std::uint64_t>(merkle::kBlockLeaves, tree.size() - b * merkle::kBlockLeaves);
      if (recs.size() != want) return false;
      auto first = decode_log_entry(recs.front().payload);
      return first && first->seq == b * merkle::kBlockLeaves;
    };
    auto r = read_from_block(h, b, block_end(b));
    if (is_block(r) || offsets_recomputed) return r;
    offsets_recomputed = true;
    TILLID_TRY(recompute_offsets());
    return read_from_block(h, b, block_end(b));
  }

  // Under mu: block_offsets from the framing of `entries` alone (lengths; checks and leaves
  // are the block hashes' business), read in chunks so memory stays small.
  Result<void> recompute_offsets() const {
    constexpr std::uint64_t kChunk = 4 << 20;
    const std::uint64_t frame = logfmt::frame_bytes(logfmt::kMacBytes);
    std::vector<std::uint64_t> offs;
    std::vector<unsigned char> buf;
    std::uint64_t buf_at = 0, off = logfmt::kEntriesHeader.size(), seq = 0;
    while (off < end) {
      if (off + 4 > buf_at + buf.size()) {
        buf_at = off;
        TILLID_ASSIGN(buf, pread_range(entries_fd, off, std::min(end, off + kChunk), entries_path()));
        if (buf.size() < 4) break;
      }
      const unsigned char* p = buf.data() + (off - buf_at);
      const std::uint64_t n = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) | (std::uint64_t{p[2]} << 8) | p[3];
      if (seq % merkle::kBlockLeaves == 0) offs.push_back(off);
      off += frame + n;
      ++seq;
    }
    if (off != end || seq != tree.size())
      return make_error(Errc::corrupt, "the access log changed under the running appliance; reopen it");
    block_offsets = std::move(offs);
    return {};
  }

  // Under mu: the leaf hashes of complete block b as stored (BlockTree checks them).
  Result<std::vector<LogHash>> block_leaves(std::uint64_t b) const {
    merkle::Hasher h;
    TILLID_ASSIGN(auto read, read_block(h, b));
    std::vector<LogHash> leaves;
    for (const auto& rec : read.second.records) leaves.push_back(rec.leaf);
    return leaves;
  }
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
                                           std::uint64_t& new_end, bool& lost) {
    std::vector<LogHash> leaves;
    std::vector<unsigned char> buf;
    buf.reserve(kWriteChunk + logfmt::kMaxEntryBytes + logfmt::frame_bytes(logfmt::kMacBytes));
    logfmt::EntryMac mac{};  // all zero while locked: §3.1 "no MAC"
    const fs::path path = entries_path();
    std::uint64_t seq = first_seq, off = start;
    Result<void> r;
    for (Ticket* t : batch) {
      for (const LogEvent& ev : t->events) {
        LogEntry e;
        static_cast<LogEvent&>(e) = ev;
        e.seq = seq++;
        e.time_unix_ms = time_ms;
        const auto bytes = encode_log_entry(e);
        leaves.push_back(leader_hasher.leaf(bytes));
        new_offsets.push_back(off + buf.size());
        if (entry_key) mac = logfmt::entry_mac(*entry_key, bytes);
        logfmt::append_record(buf, bytes, mac, leaves.back());
        if (buf.size() >= kWriteChunk) {
          if (r = write_all(entries_fd, buf.data(), buf.size(), path); !r) break;
          off += buf.size();
          buf.clear();
        }
      }
      if (!r) break;
    }
    if (r) r = write_all(entries_fd, buf.data(), buf.size(), path);
    new_end = off + buf.size();
    if (r) r = sync_fd(entries_fd, path);  // the acknowledgement below depends on this
    if (!r) {
      // Take the file back to its last durable size so later appends leave no gap; if even
      // that fails the file's state is unknown and the log refuses further appends.
      if (::ftruncate(entries_fd, static_cast<off_t>(start)) != 0 || ::fdatasync(entries_fd) != 0)
        lost = true;
      return r.error();
    }
    return leaves;
  }

  Result<std::uint64_t> submit(std::span<const LogEvent> events) {
    for (std::size_t i = 0; i < events.size(); ++i)
      if (auto v = validate(events[i]); !v)
        return make_error(Errc::invalid_argument, "log event " + std::to_string(i) + ": " + v.error().message);
    Ticket ticket;
    ticket.events = events;
    std::unique_lock lk(mu);
    if (poisoned) return *poisoned;
    if (events.empty()) return tree.size();
    queue.push_back(&ticket);
    while (!ticket.done) {
      if (writing) {
        cv.wait(lk);
        continue;
      }
      if (poisoned) {
        std::erase(queue, &ticket);
        return *poisoned;
      }
      // Lead: take every queued ticket, including our own.
      writing = true;
      std::vector<Ticket*> batch;
      batch.swap(queue);
      const std::uint64_t first = tree.size(), start = end;
      const std::int64_t time_ms = now();
      lk.unlock();
      std::vector<std::uint64_t> new_offsets;
      std::uint64_t new_end = start;
      bool lost = false;
      auto leaves = write_batch(batch, first, time_ms, start, new_offsets, new_end, lost);
      lk.lock();
      if (lost)
        poisoned = make_error(Errc::io, "the access log could not be restored after a failed write; reopen it");
      if (leaves) {
        for (std::size_t i = 0; i < leaves->size(); ++i) {
          note_offset(tree.size(), new_offsets[i]);
          tree.append(hasher, (*leaves)[i]);
        }
        end = new_end;
        std::uint64_t s = first;
        for (Ticket* t : batch) {
          t->first_seq = s;
          s += t->events.size();
        }
      }
      for (Ticket* t : batch) {
        if (!leaves) t->error = leaves.error();
        t->done = true;
      }
      writing = false;
      cv.notify_all();
    }
    if (ticket.error) return *ticket.error;
    return ticket.first_seq;
  }

  // Under mu: the stored bytes of entry `seq`.
  Result<std::vector<unsigned char>> read_entry(std::uint64_t seq) const {
    merkle::Hasher h;
    const std::uint64_t b = seq / merkle::kBlockLeaves;
    TILLID_ASSIGN(auto read, read_block(h, b));
    const auto& recs = read.second.records;
    const std::uint64_t i = seq % merkle::kBlockLeaves;
    if (i >= recs.size()) return make_error(Errc::corrupt, "the access log changed under the running appliance; reopen it");
    return std::vector<unsigned char>(recs[i].payload.begin(), recs[i].payload.end());
  }

  // ---- open (LOG-FORMAT.md §3.7) ----

  // The checkpoints file from offset `at` (a record the index names) to its end, every one
  // verified; false if that is not a clean run of records (the full scan decides what it is).
  Result<bool> open_checkpoints_from(std::uint64_t at) {
    const fs::path path = dir / "checkpoints";
    TILLID_ASSIGN(const std::uint64_t size, file_size(checkpoints_fd, path));
    if (at < logfmt::kCheckpointsHeader.size() || at >= size) return false;
    TILLID_ASSIGN(auto image, pread_range(checkpoints_fd, at, size, path));
    merkle::Hasher h;
    const auto scan = logfmt::scan_region(h, image, at, logfmt::kMaxCheckpointBytes, 0);
    if (scan.damaged || scan.torn_bytes != 0 || scan.records.empty()) return false;
    const std::string vkey = log_verifier_key(options.origin, *options.public_key);
    std::uint64_t prev = 0;
    for (const auto& rec : scan.records) {
      const std::string_view note(reinterpret_cast<const char*>(rec.payload.data()), rec.payload.size());
      auto c = open_checkpoint(note, vkey);
      if (!c || c->size < prev) return false;  // the full scan names it
      prev = c->size;
      latest = std::move(c).value();
      latest_at = rec.offset;
    }
    return true;
  }

  // The fast path: trust the index's blocks below the newest checkpoint once they hash, with
  // the entries after them (read from disk), to its signed root; read nothing else. false: the
  // index is missing, stale or wrong, and the full scan must decide (it refuses a bad log).
  Result<bool> open_indexed() {
    auto idx_image = read_fd(index_fd, dir / "index");
    if (!idx_image) return false;
    auto idx = logfmt::parse_index(*idx_image);
    if (!idx || idx->empty()) return false;
    TILLID_ASSIGN(const bool cps, open_checkpoints_from(idx->back().checkpoint_at));
    if (!cps) return false;
    const Checkpoint& c = *latest;
    const std::uint64_t blocks = std::min<std::uint64_t>(idx->size(), c.size / merkle::kBlockLeaves);
    tree = merkle::BlockTree();
    block_offsets.clear();
    std::uint64_t at = logfmt::kEntriesHeader.size();
    for (std::uint64_t b = 0; b < blocks; ++b) {
      const auto& rec = (*idx)[b];
      if (rec.entries_end <= at) return false;
      block_offsets.push_back(at);
      tree.append_block(hasher, rec.block);
      at = rec.entries_end;
    }
    TILLID_ASSIGN(const std::uint64_t size, file_size(entries_fd, entries_path()));
    if (at > size) return false;
    TILLID_ASSIGN(auto image, pread_range(entries_fd, at, size, entries_path()));
    const auto scan = logfmt::scan_region(hasher, image, at, logfmt::kMaxEntryBytes, logfmt::kMacBytes);
    if (scan.damaged) return false;
    bool root_ok = tree.size() != c.size || tree.root(hasher) == c.root;
    for (const auto& rec : scan.records) {
      auto e = decode_log_entry(rec.payload);
      if (!e || e->seq != tree.size()) return false;
      note_offset(tree.size(), rec.offset);
      tree.append(hasher, rec.leaf);
      if (tree.size() == c.size) root_ok = tree.root(hasher) == c.root;
    }
    if (!root_ok || tree.size() < c.size) return false;
    // The run from `at` is the signed one, so `at` was a record boundary: a torn tail is real.
    if (scan.torn_bytes > 0) {
      if (::ftruncate(entries_fd, static_cast<off_t>(scan.good_end)) != 0)
        return os_error("cannot cut the torn tail of " + entries_path().string(), errno);
      TILLID_TRY(sync_fd(entries_fd, entries_path()));
      recovery.entries_torn_bytes = scan.torn_bytes;
    }
    end = scan.good_end;
    indexed = blocks;
    // Records the index holds beyond what was checked are dropped (rewritten at the next checkpoint).
    const auto keep = static_cast<off_t>(logfmt::kIndexHeader.size() + blocks * logfmt::kIndexRecordBytes);
    if (idx_image->size() != static_cast<std::size_t>(keep) && ::ftruncate(index_fd, keep) != 0) index_ok = false;
    return true;
  }

  // The full path (no usable index, a version 1 file): every entry re-hashed and decoded,
  // every checkpoint verified, as the log always was; then the index is rebuilt.
  Result<void> open_full() {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> signed_at;  // checkpoint size, record offset
    tree = merkle::BlockTree();
    block_offsets.clear();
    latest.reset();
    TILLID_ASSIGN(WholeFile ef, scan_whole(hasher, entries_fd, entries_path(), true));
    const auto& recs = ef.scan.records;
    if (ef.scan.damaged)
      return make_error(Errc::corrupt, "access log entry seq " + std::to_string(ef.scan.damage_index) +
                                           " (byte " + std::to_string(ef.scan.damage_offset) +
                                           ") is damaged: " + ef.scan.damage +
                                           "; the log may have been tampered with — run the log verifier");
    recovery.entries_torn_bytes = ef.scan.torn_bytes;
    TILLID_ASSIGN(WholeFile cf, scan_whole(hasher, checkpoints_fd, dir / "checkpoints", false));
    if (cf.scan.damaged)
      return make_error(Errc::corrupt, "access log checkpoint #" + std::to_string(cf.scan.damage_index) +
                                           " is damaged: " + cf.scan.damage);
    recovery.checkpoints_torn_bytes = cf.scan.torn_bytes;
    // LOG-FORMAT.md §4.1: every stored checkpoint must verify under the appliance's key. One
    // that does not was not written by the appliance: it is named and the log is not served.
    const std::string vkey = log_verifier_key(options.origin, *options.public_key);
    std::uint64_t prev = 0;
    for (std::size_t k = 0; k < cf.scan.records.size(); ++k) {
      const auto& rec = cf.scan.records[k].payload;
      const std::string_view note(reinterpret_cast<const char*>(rec.data()), rec.size());
      auto c = open_checkpoint(note, vkey);
      if (!c) {
        auto un = checkpoint::parse_unverified(note);
        return make_error(Errc::corrupt, "access log checkpoint #" + std::to_string(k) +
                                             (un ? " (tree size " + std::to_string(un->size) + ")" : std::string()) +
                                             " does not verify against the appliance's key (" + c.error().message +
                                             "): it was forged or damaged and is never served; run `tillid audit "
                                             "verify` and restore the log's checkpoints file from a backup");
      }
      if (c->size < prev)
        return make_error(Errc::corrupt, "access log checkpoint #" + std::to_string(k) + " (tree size " +
                                             std::to_string(c->size) + ") is smaller than the one before it");
      prev = c->size;
      latest = std::move(c).value();
      latest_at = cf.scan.records[k].offset;
      signed_at.emplace_back(latest->size, latest_at);
    }
    std::optional<LogHash> root_at_latest;
    for (std::uint64_t i = 0; i < recs.size(); ++i) {
      if (latest && tree.size() == latest->size) root_at_latest = tree.root(hasher);
      auto e = decode_log_entry(recs[i].payload);
      if (!e) return make_error(Errc::corrupt, "access log entry seq " + std::to_string(i) + ": " + e.error().message);
      if (e->seq != i)
        return make_error(Errc::corrupt, "access log entry at position " + std::to_string(i) + " has seq " +
                                             std::to_string(e->seq) + ": entries were removed or reordered");
      note_offset(i, recs[i].offset);
      tree.append(hasher, recs[i].leaf);
    }
    if (latest && tree.size() == latest->size) root_at_latest = tree.root(hasher);
    end = ef.scan.good_end;
    if (latest) {
      const Checkpoint& c = *latest;
      // A checkpoint is only ever signed over durable entries, so the entries must cover it.
      if (c.size > tree.size())
        return make_error(Errc::corrupt, "the access log has " + std::to_string(tree.size()) +
                                             " entries but a checkpoint covers " + std::to_string(c.size) +
                                             ": entries from seq " + std::to_string(tree.size()) +
                                             " were removed (truncated log)");
      if (root_at_latest != c.root)
        return make_error(Errc::corrupt, "the access log's entries do not match its latest checkpoint (size " +
                                             std::to_string(c.size) + "): entries were altered — run the log verifier");
    }
    // Only a log that passed every check above is upgraded: a damaged one stays byte for byte.
    if (ef.scan.version == 1) TILLID_TRY(upgrade_from_v1(recs));
    return rebuild_index(signed_at);
  }

  // LOG-FORMAT.md §3.7: the index of a log that just passed the full check, in place of
  // whatever was there (nothing, an old or wrong index), atomically as §3.6 replaces a file.
  // Each block's record names the first checkpoint that covers it, as sign_checkpoint wrote it.
  Result<void> rebuild_index(std::span<const std::pair<std::uint64_t, std::uint64_t>> signed_at) {
    const std::uint64_t blocks =
        latest ? std::min(tree.complete_blocks(), latest->size / merkle::kBlockLeaves) : 0;
    std::vector<unsigned char> image(logfmt::kIndexHeader.begin(), logfmt::kIndexHeader.end());
    std::size_t k = 0;
    for (std::uint64_t b = 0; b < blocks; ++b) {
      while (signed_at[k].first < (b + 1) * merkle::kBlockLeaves) ++k;  // the newest covers every block
      logfmt::append_index_record(image, {tree.block_hash(b), block_end(b), signed_at[k].second});
    }
    if (index_fd >= 0) {
      auto old = read_fd(index_fd, dir / "index");
      if (old && *old == image) {
        indexed = blocks;
        return {};
      }
      ::close(index_fd);
      index_fd = -1;
    }
    TILLID_ASSIGN(index_fd, replace_file(dir, image, kIndexTemp, "index"));
    indexed = blocks;
    return {};
  }

  // LOG-FORMAT.md §3.6: rewrite the version 1 entries file `recs` (already scanned, decoded
  // and checked against every checkpoint) as version 2: the same payloads, so the same leaves,
  // tree and signed checkpoints, with zero MAC fields (written without the key, §3.1).
  Result<void> upgrade_from_v1(std::span<const logfmt::ScannedRecord> recs) {
    std::vector<unsigned char> image(logfmt::kEntriesHeader.begin(), logfmt::kEntriesHeader.end());
    const logfmt::EntryMac none{};
    for (const auto& rec : recs) logfmt::append_record(image, rec.payload, none, rec.leaf);
    // Check the new file before it replaces anything: read back as version 2 it must hold the
    // same leaves, so the root at the newest checkpoint still matches.
    const auto scan = logfmt::scan_entries(hasher, image);
    bool same = scan.version == 2 && !scan.damaged && scan.torn_bytes == 0 && scan.records.size() == recs.size();
    for (std::uint64_t i = 0; same && i < scan.records.size(); ++i) same = scan.records[i].leaf == recs[i].leaf;
    if (same && latest) {
      merkle::Tree check;
      for (const auto& rec : scan.records) check.append(hasher, rec.leaf);
      same = check.root_at(hasher, latest->size) == latest->root;
    }
    if (!same)
      return make_error(Errc::corrupt, "upgrading the access log's entries file to version 2 would change its "
                                       "tree; the version 1 file was left as it was");
    auto fd = replace_file(dir, image);
    if (!fd)
      return make_error(fd.error().code, "cannot upgrade the access log's entries file to version 2: " +
                                             fd.error().message);
    ::close(entries_fd);  // releases the lock on the replaced file; the new one is locked
    entries_fd = *fd;
    block_offsets.clear();
    for (std::uint64_t i = 0; i < scan.records.size(); ++i) note_offset(i, scan.records[i].offset);
    end = scan.good_end;
    recovery.entries_upgraded = true;
    return {};
  }

  // Under cp_mu, after the checkpoint at `at` (of `size` entries) is durable: append the
  // blocks it newly covers to the index (§3.7). A failure costs only speed: the index is
  // taken back, or left for the next open to rebuild, and the checkpoint stands.
  void extend_index(std::uint64_t size, std::uint64_t at) {
    if (!index_ok || index_fd < 0) return;
    std::vector<unsigned char> recs;
    std::uint64_t blocks;
    {
      std::lock_guard lk(mu);
      blocks = std::min(tree.complete_blocks(), size / merkle::kBlockLeaves);
      for (std::uint64_t b = indexed; b < blocks; ++b)
        logfmt::append_index_record(recs, {tree.block_hash(b), block_end(b), at});
    }
    if (recs.empty()) return;
    const fs::path path = dir / "index";
    if (write_all(index_fd, recs.data(), recs.size(), path) && sync_fd(index_fd, path)) {
      indexed = blocks;
      return;
    }
    const auto keep = static_cast<off_t>(logfmt::kIndexHeader.size() + indexed * logfmt::kIndexRecordBytes);
    if (::ftruncate(index_fd, keep) != 0) index_ok = false;
  }
};

Result<AccessLog> AccessLog::create(const fs::path& dir, AccessLogOptions options) {
  if (!checkpoint::valid_key_name(options.origin))
    return make_error(Errc::invalid_argument, "log origin must be printable ASCII without spaces or '+'");
  if (!options.public_key) return make_error(Errc::invalid_argument, "the access log needs the appliance's public key");
  TILLID_ASSIGN(const int dir_fd, open_log_dir(dir));
  auto r = [&]() -> Result<void> {
    // Refuse before creating anything if either name is taken (by a file or a symlink);
    // O_EXCL below makes the same refusal race-free.
    struct stat st {};
    for (const char* name : {"entries", "checkpoints", "index"})
      if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return make_error(Errc::already_exists, dir.string() + " already holds " + name +
                                                    " (an access log, or something planted there); nothing was changed");
    TILLID_TRY(create_file(dir_fd, dir, "checkpoints", logfmt::kCheckpointsHeader));
    TILLID_TRY(create_file(dir_fd, dir, "index", logfmt::kIndexHeader));
    TILLID_TRY(create_file(dir_fd, dir, "entries", logfmt::kEntriesHeader));
    if (::fsync(dir_fd) != 0) return os_error("cannot flush " + dir.string(), errno);
    return {};
  }();
  ::close(dir_fd);
  TILLID_TRY(r);
  return open(dir, std::move(options));
}

Result<AccessLog> AccessLog::open(const fs::path& dir, AccessLogOptions options) {
  if (!checkpoint::valid_key_name(options.origin))
    return make_error(Errc::invalid_argument, "log origin must be printable ASCII without spaces or '+'");
  if (!options.public_key) return make_error(Errc::invalid_argument, "the access log needs the appliance's public key");
  auto st = std::make_unique<State>();
  st->dir = dir;
  st->options = std::move(options);
  TILLID_ASSIGN(st->entries_fd, open_log_file(dir / "entries", true));
  TILLID_ASSIGN(st->checkpoints_fd, open_log_file(dir / "checkpoints", false));
  // The index is a cache (§3.7): missing (a log from before it) or a symlink, it is rebuilt.
  // Whatever stands in its place (a symlink, a directory) is replaced, never followed.
  if (auto idx = open_log_file(dir / "index", false)) st->index_fd = *idx;
  // A version 1 file (whose header is the same length) always takes the full path (§3.6).
  std::array<unsigned char, logfmt::kEntriesHeader.size()> header{};
  const bool v2 = ::pread(st->entries_fd, header.data(), header.size(), 0) == static_cast<ssize_t>(header.size()) &&
                  std::memcmp(header.data(), logfmt::kEntriesHeader.data(), header.size()) == 0;
  bool fast = false;
  if (v2 && st->index_fd >= 0) {
    TILLID_ASSIGN(fast, st->open_indexed());
  }
  if (!fast) {
    TILLID_TRY(st->open_full());
    st->recovery.full_check = true;
  }
  st->own_from = st->tree.size();
  return AccessLog(std::move(st));
}

AccessLog::AccessLog(std::unique_ptr<State> state) : state_(std::move(state)) {}
AccessLog::AccessLog(AccessLog&&) noexcept = default;
AccessLog& AccessLog::operator=(AccessLog&&) noexcept = default;
AccessLog::~AccessLog() = default;

Result<std::uint64_t> AccessLog::append(const LogEvent& event) { return state_->submit({&event, 1}); }

Result<std::uint64_t> AccessLog::append_batch(std::span<const LogEvent> events) {
  return state_->submit(events);
}

Result<Checkpoint> AccessLog::sign_checkpoint(const Secret& secret_key, std::span<const unsigned char, 32> public_key) {
  State& s = *state_;
  // Check the key even when nothing new needs signing, so a wrong key is never silent.
  TILLID_TRY(checkpoint::sign("", s.options.origin, secret_key, public_key));
  std::lock_guard cp(s.cp_mu);
  std::uint64_t size;
  LogHash root;
  {
    std::lock_guard lk(s.mu);
    size = s.tree.size();
    root = s.tree.root(s.hasher);
  }
  if (s.latest && s.latest->size == size) return *s.latest;
  const std::int64_t t = s.now() / 1000;
  const std::string body = checkpoint::body(s.options.origin, size, root, t);
  TILLID_ASSIGN(std::string note, checkpoint::sign(body, s.options.origin, secret_key, public_key));
  TILLID_ASSIGN(Checkpoint c, checkpoint::parse_unverified(note));
  std::vector<unsigned char> rec;
  const auto payload = std::span(reinterpret_cast<const unsigned char*>(note.data()), note.size());
  merkle::Hasher h;  // s.hasher belongs to whoever holds mu; this runs under cp_mu only
  logfmt::append_record(rec, payload, {}, h.leaf(payload));
  const fs::path path = s.dir / "checkpoints";
  const off_t before = ::lseek(s.checkpoints_fd, 0, SEEK_END);
  auto r = write_all(s.checkpoints_fd, rec.data(), rec.size(), path);
  if (r) r = sync_fd(s.checkpoints_fd, path);
  if (!r) {
    // Leave no half checkpoint behind; if this fails too, open() will cut it as a torn tail.
    if (::ftruncate(s.checkpoints_fd, before) == 0) (void)::fdatasync(s.checkpoints_fd);
    return r.error();
  }
  s.latest = c;
  s.latest_at = static_cast<std::uint64_t>(before);
  s.extend_index(size, s.latest_at);
  return c;
}

void AccessLog::forget_entry_key() {
  State& s = *state_;
  std::unique_lock lk(s.mu);
  s.cv.wait(lk, [&] { return !s.writing; });  // a leader reads the key without mu
  s.entry_key.reset();
}

Result<std::vector<std::uint64_t>> AccessLog::authenticate_tail(Secret entry_key, const LogEvent& by) {
  State& s = *state_;
  if (entry_key.size() != crypto_generichash_KEYBYTES)
    return make_error(Errc::invalid_argument, "the log entry key must be 32 bytes");
  // cp_mu first (as sign_checkpoint): no checkpoint can be signed until the quarantine events
  // are durable, so nothing unauthenticated is ever signed without its flag (§3.4).
  std::lock_guard cp(s.cp_mu);
  std::vector<std::uint64_t> bad;
  {
    // mu throughout: no append may change the tree while it is compared with the disk.
    std::unique_lock lk(s.mu);
    s.cv.wait(lk, [&] { return !s.writing; });  // no batch in flight keeps writing without a MAC
    if (s.poisoned) return *s.poisoned;
    s.entry_key = std::move(entry_key);
    const std::uint64_t from = s.latest ? s.latest->size : 0, n = s.tree.size();
    if (n > from) {
      TILLID_ASSIGN(const std::uint64_t size, file_size(s.entries_fd, s.entries_path()));
      if (size != s.end)
        return make_error(Errc::corrupt, "the access log changed under the running appliance (its size); reopen it");
      // The unsigned tail as stored now, from the start of its first block, rebuilt as a tree
      // on the signed blocks before it.
      const std::uint64_t b0 = from / merkle::kBlockLeaves;
      TILLID_ASSIGN(auto read, s.read_from_block(s.hasher, b0, s.end));
      const auto& recs = read.second.records;
      if (recs.size() != n - b0 * merkle::kBlockLeaves)
        return make_error(Errc::corrupt, "the access log changed under the running appliance; reopen it");
      merkle::BlockTree disk = s.tree.prefix(s.hasher, b0);
      std::vector<std::uint64_t> disk_offsets(s.block_offsets.begin(),
                                              s.block_offsets.begin() + static_cast<std::ptrdiff_t>(b0));
      std::vector<LogEntry> decoded;
      for (std::size_t i = 0; i < recs.size(); ++i) {
        const std::uint64_t seq = disk.size();
        if (seq == from && s.latest && disk.root(s.hasher) != s.latest->root)
          return make_error(Errc::corrupt, "signed access log entries changed under the running appliance; reopen it");
        auto e = decode_log_entry(recs[i].payload);
        if (!e || e->seq != seq)
          return make_error(Errc::corrupt, "the access log changed under the running appliance (entry seq " +
                                               std::to_string(seq) + "); reopen it");
        if (seq % merkle::kBlockLeaves == 0) disk_offsets.push_back(recs[i].offset);
        disk.append(s.hasher, recs[i].leaf);
      }
      // Which stored entries are the ones this object holds: whole blocks by hash, the last
      // block leaf by leaf (LOG-FORMAT.md §3.4: vouching is per block).
      auto as_held = [&](std::uint64_t seq) {
        const std::uint64_t b = seq / merkle::kBlockLeaves;
        if (b < s.tree.complete_blocks()) return disk.block_hash(b) == s.tree.block_hash(b);
        const std::uint64_t j = seq % merkle::kBlockLeaves;
        return disk.partial()[j] == s.tree.partial()[j];
      };
      for (std::uint64_t seq = from; seq < n; ++seq) {
        const auto& rec = recs[seq - b0 * merkle::kBlockLeaves];
        if (logfmt::entry_mac_valid(*s.entry_key, rec.payload, rec.mac)) continue;  // adopted (§3.4 step 2)
        if (seq >= s.own_from && as_held(seq)) continue;  // vouched: this object wrote it (§3.4 step 3)
        bad.push_back(seq);
      }
      // What is flagged is what is on disk: the tree follows the file, so the checkpoint
      // signed next matches the file and the flag names the entries that differ.
      if (disk.root(s.hasher) != s.tree.root(s.hasher)) {
        s.tree = std::move(disk);
        s.block_offsets = std::move(disk_offsets);
      }
    }
  }
  if (bad.empty()) return bad;
  std::vector<LogEvent> events;
  for (auto& details : format_quarantine_details(bad)) {
    LogEvent e;
    e.actor_id = by.actor_id;
    e.actor_role = by.actor_role;
    e.action = LogAction::log_quarantined;
    e.outcome = LogOutcome::ok;
    e.details = std::move(details);
    events.push_back(std::move(e));
  }
  TILLID_TRY(s.submit(events));
  return bad;
}

std::optional<Checkpoint> AccessLog::latest_checkpoint() const {
  std::lock_guard cp(state_->cp_mu);
  return state_->latest;
}

std::uint64_t AccessLog::size() const {
  std::lock_guard lk(state_->mu);
  return state_->tree.size();
}

LogHash AccessLog::root() const {
  std::lock_guard lk(state_->mu);
  return state_->tree.root(state_->hasher);
}

Result<LogHash> AccessLog::root_at(std::uint64_t n) const {
  std::lock_guard lk(state_->mu);
  if (n > state_->tree.size())
    return make_error(Errc::invalid_argument, "tree size " + std::to_string(n) + " is beyond the log");
  return state_->tree.root_at(state_->hasher, n, state_->loader());
}

Result<InclusionProof> AccessLog::inclusion_proof(std::uint64_t seq, std::uint64_t tree_size) const {
  const State& s = *state_;
  std::lock_guard lk(s.mu);
  if (tree_size > s.tree.size() || seq >= tree_size)
    return make_error(Errc::invalid_argument, "no entry " + std::to_string(seq) + " in a tree of size " +
                                                  std::to_string(tree_size));
  InclusionProof p;
  p.index = seq;
  p.tree_size = tree_size;
  TILLID_ASSIGN(p.path, s.tree.inclusion_path(s.hasher, seq, tree_size, s.loader()));
  TILLID_ASSIGN(p.entry, s.read_entry(seq));
  // The entry was read from disk again: hand it out only if it is the one the tree holds.
  TILLID_ASSIGN(const LogHash root, s.tree.root_at(s.hasher, tree_size, s.loader()));
  if (!verify_inclusion(s.hasher.leaf(p.entry), seq, tree_size, p.path, root))
    return make_error(Errc::corrupt, "access log entry " + std::to_string(seq) +
                                         " on disk differs from the one the log holds: it was altered");
  return p;
}

Result<ConsistencyProof> AccessLog::consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const {
  const State& s = *state_;
  std::lock_guard lk(s.mu);
  if (old_size > new_size || new_size > s.tree.size())
    return make_error(Errc::invalid_argument, "no consistency proof from size " + std::to_string(old_size) +
                                                  " to " + std::to_string(new_size));
  TILLID_ASSIGN(auto path, s.tree.consistency_path(s.hasher, old_size, new_size, s.loader()));
  return ConsistencyProof{old_size, new_size, std::move(path)};
}

Result<std::vector<LogEntry>> AccessLog::entries(const LogQuery& query) const {
  std::uint64_t end;
  {
    std::lock_guard lk(state_->mu);
    end = state_->end;
  }
  TILLID_ASSIGN(auto image, pread_range(state_->entries_fd, 0, end, state_->entries_path()));
  merkle::Hasher h;
  const auto scan = logfmt::scan_entries(h, image);
  if (scan.damaged || scan.torn_bytes != 0)
    return make_error(Errc::corrupt, "the access log changed under the running appliance: " + scan.damage);
  std::vector<LogEntry> out;
  for (const auto& rec : scan.records) {
    TILLID_ASSIGN(LogEntry e, decode_log_entry(rec.payload));
    if (matches(e, query)) out.push_back(std::move(e));
  }
  return out;
}

const LogRecovery& AccessLog::recovery() const { return state_->recovery; }
const fs::path& AccessLog::dir() const { return state_->dir; }

}  // namespace tillid
