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

struct OpenFile {
  int fd = -1;
  fs::path path;
  std::vector<unsigned char> image;
  logfmt::Scan scan;
};

// Open, lock (entries only) and scan one of the two files; cut a torn tail, refuse damage.
Result<OpenFile> open_and_scan(merkle::Hasher& h, const fs::path& path, bool entries) {
  OpenFile f;
  f.path = path;
  auto fail = [&](Error e) {
    ::close(f.fd);
    return e;
  };
  for (int attempt = 0;; ++attempt) {
    f.fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (f.fd < 0) {
      const int err = errno;
      return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                        "cannot open " + path.string() + ": " + std::strerror(err) +
                            (err == ELOOP ? " (it is a symbolic link; log files never are)" : ""));
    }
    if (!entries) break;
    if (::flock(f.fd, LOCK_EX | LOCK_NB) != 0)
      return fail(make_error(Errc::io, "the access log " + path.parent_path().string() +
                                           " is already open for writing by another process"));
    // The lock belongs to an inode, not to the name: if another writer renamed an upgraded
    // file over `entries` since we opened it (LOG-FORMAT.md §3.6), ours is the replaced
    // version 1 file and the lock guards nothing. Open the name again.
    struct stat held {}, named {};
    if (::fstat(f.fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino)
      break;
    ::close(f.fd);
    if (attempt == 2)
      return make_error(Errc::io, "the access log " + path.parent_path().string() +
                                      " was replaced repeatedly while it was being opened; try again");
  }
  auto img = read_fd(f.fd, path);
  if (!img) return fail(img.error());
  f.image = std::move(img).value();
  f.scan = entries ? logfmt::scan_entries(h, f.image) : logfmt::scan_checkpoints(h, f.image);
  if (!f.scan.header_ok) return fail(make_error(Errc::corrupt, path.string() + ": " + f.scan.damage));
  if (f.scan.torn_bytes > 0) {
    // Only an unacknowledged append can be torn: acknowledged ones were fdatasync'ed whole.
    if (::ftruncate(f.fd, static_cast<off_t>(f.scan.good_end)) != 0)
      return fail(os_error("cannot cut the torn tail of " + path.string(), errno));
    if (auto r = sync_fd(f.fd, path); !r) return fail(r.error());
  }
  return f;
}

// Name of the version 2 file being written while a version 1 log is upgraded (§3.6).
constexpr const char* kUpgradeTemp = "entries.upgrade";

// LOG-FORMAT.md §3.6: put `image` (a complete version 2 entries file) in place of `entries`
// atomically. The new file is created O_EXCL|O_NOFOLLOW (nothing planted at the name is
// written through), locked before rename makes it `entries` (no other writer can take it),
// and durable before the rename; the directory fsync makes the rename itself durable. A crash
// at any instant leaves the version 1 file at `entries` (and perhaps a stale temporary, which
// the next upgrade removes: the entries lock proves no upgrade is still running) or the whole
// version 2 file. Returns the new file's descriptor, open for appending and locked.
Result<int> replace_entries(const fs::path& dir, std::span<const unsigned char> image) {
  const fs::path tmp = dir / kUpgradeTemp;
  TILLID_ASSIGN(const int dir_fd, open_log_dir(dir));
  int fd = -1;
  auto r = [&]() -> Result<void> {
    // unlinkat removes a symlink itself, never its target; a directory there is refused.
    if (::unlinkat(dir_fd, kUpgradeTemp, 0) != 0 && errno != ENOENT)
      return os_error("cannot remove " + tmp.string() + " (left by an interrupted log upgrade; remove it by hand)",
                      errno);
    fd = ::openat(dir_fd, kUpgradeTemp, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return os_error("cannot create " + tmp.string(), errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return os_error("cannot lock " + tmp.string(), errno);
    if (::fchmod(fd, 0600) != 0) return os_error("cannot set the mode of " + tmp.string(), errno);
    TILLID_TRY(write_all(fd, image.data(), image.size(), tmp));
    if (::fsync(fd) != 0) return os_error("cannot flush " + tmp.string() + " to disk", errno);
    if (::renameat(dir_fd, kUpgradeTemp, dir_fd, "entries") != 0)
      return os_error("cannot rename " + tmp.string() + " to entries", errno);
    return {};
  }();
  if (!r) {
    (void)::unlinkat(dir_fd, kUpgradeTemp, 0);  // a failed upgrade leaves the version 1 log as it was
    if (fd >= 0) ::close(fd);
    ::close(dir_fd);
    return make_error(r.error().code, r.error().message + "; the version 1 file is unchanged");
  }
  // From here `entries` is the whole version 2 file. Until the directory is durable a crash
  // could bring back the version 1 file (which the next open upgrades again) and with it lose
  // whatever was appended since: so no append is acknowledged unless this fsync succeeded.
  const int synced = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  if (synced != 0) {
    ::close(fd);
    return os_error("cannot flush " + dir.string() + " to disk after upgrading its entries file; open the log again",
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

  mutable std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::vector<Ticket*> queue;
  bool writing = false;              // a leader is writing a batch
  std::optional<Error> poisoned;     // the file's state after a failed write is unknown
  merkle::Tree tree;                 // durable entries only
  std::vector<std::uint64_t> offsets;  // record offset per seq
  std::uint64_t end = 0;             // durable file size
  mutable merkle::Hasher hasher;     // used under mu
  merkle::Hasher leader_hasher;      // used only by the current leader
  // Subkey 5 once the vault is unlocked (LOG-FORMAT.md §3.3). Changed only under mu while no
  // leader is writing, so a leader may read it without mu.
  std::optional<Secret> entry_key;

  std::mutex cp_mu;  // serialises checkpoint signing and the fields below
  std::optional<Checkpoint> latest;

  ~State() {
    if (entries_fd >= 0) ::close(entries_fd);
    if (checkpoints_fd >= 0) ::close(checkpoints_fd);
  }

  std::int64_t now() const { return options.clock_unix_ms ? options.clock_unix_ms() : system_clock_ms(); }

  // Runs as leader without mu held: encode, write and fdatasync a batch.
  Result<std::vector<LogHash>> write_batch(std::vector<Ticket*>& batch, std::uint64_t first_seq,
                                           std::int64_t time_ms, std::uint64_t start,
                                           std::vector<std::uint64_t>& new_offsets,
                                           std::uint64_t& new_end, bool& lost) {
    std::vector<LogHash> leaves;
    std::vector<unsigned char> buf;
    buf.reserve(kWriteChunk + logfmt::kMaxEntryBytes + logfmt::frame_bytes(logfmt::kMacBytes));
    logfmt::EntryMac mac{};  // all zero while locked: §3.1 "no MAC"
    const fs::path path = dir / "entries";
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
        for (const LogHash& l : *leaves) tree.append(hasher, l);
        offsets.insert(offsets.end(), new_offsets.begin(), new_offsets.end());
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

  Result<std::vector<unsigned char>> read_entry(std::uint64_t seq) const {
    std::uint64_t off, next;
    {
      std::lock_guard lk(mu);
      off = offsets[seq];
      next = seq + 1 < offsets.size() ? offsets[seq + 1] : end;
    }
    std::vector<unsigned char> rec(next - off);
    if (::pread(entries_fd, rec.data(), rec.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(rec.size()))
      return os_error("cannot read the access log entry " + std::to_string(seq), errno);
    return std::vector<unsigned char>(rec.begin() + 4, rec.end() - logfmt::kCheckBytes - logfmt::kMacBytes);
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
    bool same = scan.version == 2 && !scan.damaged && scan.torn_bytes == 0 && scan.records.size() == tree.size();
    for (std::uint64_t i = 0; same && i < scan.records.size(); ++i) same = scan.records[i].leaf == tree.leaf(i);
    if (same && latest) {
      merkle::Tree check;
      for (const auto& rec : scan.records) check.append(hasher, rec.leaf);
      same = check.root_at(hasher, latest->size) == latest->root;
    }
    if (!same)
      return make_error(Errc::corrupt, "upgrading the access log's entries file to version 2 would change its "
                                       "tree; the version 1 file was left as it was");
    auto fd = replace_entries(dir, image);
    if (!fd)
      return make_error(fd.error().code, "cannot upgrade the access log's entries file to version 2: " +
                                             fd.error().message);
    ::close(entries_fd);  // releases the lock on the replaced file; the new one is locked
    entries_fd = *fd;
    offsets.clear();
    for (const auto& rec : scan.records) offsets.push_back(rec.offset);
    end = scan.good_end;
    recovery.entries_upgraded = true;
    return {};
  }

  // The entries file image in [offsets[from], end of entry n), for re-reading a range.
  Result<std::vector<unsigned char>> read_range(std::uint64_t from_off, std::uint64_t to_off) const {
    std::vector<unsigned char> image(to_off - from_off);
    std::size_t got = 0;
    while (got < image.size()) {
      const ssize_t r = ::pread(entries_fd, image.data() + got, image.size() - got,
                                static_cast<off_t>(from_off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return os_error("cannot read " + (dir / "entries").string(), r < 0 ? errno : EIO);
      got += static_cast<std::size_t>(r);
    }
    return image;
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
    for (const char* name : {"entries", "checkpoints"})
      if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return make_error(Errc::already_exists, dir.string() + " already holds " + name +
                                                    " (an access log, or something planted there); nothing was changed");
    TILLID_TRY(create_file(dir_fd, dir, "checkpoints", logfmt::kCheckpointsHeader));
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

  TILLID_ASSIGN(OpenFile ef, open_and_scan(st->hasher, dir / "entries", true));
  st->entries_fd = ef.fd;
  const auto& recs = ef.scan.records;
  if (ef.scan.damaged)
    return make_error(Errc::corrupt, "access log entry seq " + std::to_string(ef.scan.damage_index) +
                                         " (byte " + std::to_string(ef.scan.damage_offset) +
                                         ") is damaged: " + ef.scan.damage +
                                         "; the log may have been tampered with — run the log verifier");
  st->recovery.entries_torn_bytes = ef.scan.torn_bytes;
  st->tree.reserve(recs.size());
  st->offsets.reserve(recs.size());
  for (std::uint64_t i = 0; i < recs.size(); ++i) {
    auto e = decode_log_entry(recs[i].payload);
    if (!e) return make_error(Errc::corrupt, "access log entry seq " + std::to_string(i) + ": " + e.error().message);
    if (e->seq != i)
      return make_error(Errc::corrupt, "access log entry at position " + std::to_string(i) + " has seq " +
                                           std::to_string(e->seq) + ": entries were removed or reordered");
    st->tree.append(st->hasher, recs[i].leaf);
    st->offsets.push_back(recs[i].offset);
  }
  st->end = ef.scan.good_end;

  TILLID_ASSIGN(OpenFile cf, open_and_scan(st->hasher, dir / "checkpoints", false));
  st->checkpoints_fd = cf.fd;
  if (cf.scan.damaged)
    return make_error(Errc::corrupt, "access log checkpoint #" + std::to_string(cf.scan.damage_index) +
                                         " is damaged: " + cf.scan.damage);
  st->recovery.checkpoints_torn_bytes = cf.scan.torn_bytes;
  // LOG-FORMAT.md §4.1: every stored checkpoint must verify under the appliance's key. One
  // that does not was not written by the appliance: it is named and the log is not served.
  const std::string vkey = log_verifier_key(st->options.origin, *st->options.public_key);
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
    st->latest = std::move(c).value();
  }
  if (st->latest) {
    const Checkpoint& c = *st->latest;
    // A checkpoint is only ever signed over durable entries, so the entries must cover it.
    if (c.size > st->tree.size())
      return make_error(Errc::corrupt, "the access log has " + std::to_string(st->tree.size()) +
                                           " entries but a checkpoint covers " + std::to_string(c.size) +
                                           ": entries from seq " + std::to_string(st->tree.size()) +
                                           " were removed (truncated log)");
    if (st->tree.root_at(st->hasher, c.size) != c.root)
      return make_error(Errc::corrupt, "the access log's entries do not match its latest checkpoint (size " +
                                           std::to_string(c.size) + "): entries were altered — run the log verifier");
  }
  // Only a log that passed every check above is upgraded: a damaged one stays byte for byte.
  if (ef.scan.version == 1) TILLID_TRY(st->upgrade_from_v1(recs));
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
    root = s.tree.root_at(s.hasher, size);
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
  return c;
}

Result<std::vector<std::uint64_t>> AccessLog::authenticate_tail(Secret entry_key, const LogEvent& by) {
  State& s = *state_;
  if (entry_key.size() != crypto_generichash_KEYBYTES)
    return make_error(Errc::invalid_argument, "the log entry key must be 32 bytes");
  // cp_mu first (as sign_checkpoint): no checkpoint can be signed until the quarantine events
  // are durable, so nothing unauthenticated is ever signed without its flag (§3.4).
  std::lock_guard cp(s.cp_mu);
  std::uint64_t from, n, from_off, to_off;
  std::vector<LogHash> leaves;
  {
    std::unique_lock lk(s.mu);
    s.cv.wait(lk, [&] { return !s.writing; });  // no batch in flight keeps writing without a MAC
    if (s.poisoned) return *s.poisoned;
    s.entry_key = std::move(entry_key);
    from = s.latest ? s.latest->size : 0;
    n = s.tree.size();
    from_off = from < n ? s.offsets[from] : s.end;
    to_off = s.end;
    for (std::uint64_t i = from; i < n; ++i) leaves.push_back(s.tree.leaf(i));
  }
  std::vector<std::uint64_t> bad;
  if (n > from) {
    TILLID_ASSIGN(auto image, s.read_range(from_off, to_off));
    // Scan the slice as a file of its own: prepend the header so the documented scanner applies.
    std::vector<unsigned char> file(logfmt::kEntriesHeader.begin(), logfmt::kEntriesHeader.end());
    file.insert(file.end(), image.begin(), image.end());
    merkle::Hasher h;
    const auto scan = logfmt::scan_entries(h, file);
    if (scan.damaged || scan.torn_bytes != 0 || scan.records.size() != n - from)
      return make_error(Errc::corrupt, "the access log changed under the running appliance; reopen it");
    for (std::uint64_t i = from; i < n; ++i) {
      const auto& rec = scan.records[i - from];
      if (rec.leaf != leaves[i - from])
        return make_error(Errc::corrupt, "the access log changed under the running appliance; reopen it");
      if (!logfmt::entry_mac_valid(*s.entry_key, rec.payload, rec.mac)) bad.push_back(i);
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
  return state_->tree.root_at(state_->hasher, state_->tree.size());
}

Result<LogHash> AccessLog::root_at(std::uint64_t n) const {
  std::lock_guard lk(state_->mu);
  if (n > state_->tree.size())
    return make_error(Errc::invalid_argument, "tree size " + std::to_string(n) + " is beyond the log");
  return state_->tree.root_at(state_->hasher, n);
}

Result<InclusionProof> AccessLog::inclusion_proof(std::uint64_t seq, std::uint64_t tree_size) const {
  InclusionProof p;
  {
    std::lock_guard lk(state_->mu);
    if (tree_size > state_->tree.size() || seq >= tree_size)
      return make_error(Errc::invalid_argument, "no entry " + std::to_string(seq) + " in a tree of size " +
                                                    std::to_string(tree_size));
    p.path = state_->tree.inclusion_path(state_->hasher, seq, tree_size);
  }
  p.index = seq;
  p.tree_size = tree_size;
  TILLID_ASSIGN(p.entry, state_->read_entry(seq));
  return p;
}

Result<ConsistencyProof> AccessLog::consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const {
  std::lock_guard lk(state_->mu);
  if (old_size > new_size || new_size > state_->tree.size())
    return make_error(Errc::invalid_argument, "no consistency proof from size " + std::to_string(old_size) +
                                                  " to " + std::to_string(new_size));
  return ConsistencyProof{old_size, new_size, state_->tree.consistency_path(state_->hasher, old_size, new_size)};
}

Result<std::vector<LogEntry>> AccessLog::entries(const LogQuery& query) const {
  std::uint64_t end;
  {
    std::lock_guard lk(state_->mu);
    end = state_->end;
  }
  std::vector<unsigned char> image(end);
  std::size_t got = 0;
  while (got < image.size()) {
    const ssize_t r = ::pread(state_->entries_fd, image.data() + got, image.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return os_error("cannot read " + (state_->dir / "entries").string(), r < 0 ? errno : EIO);
    got += static_cast<std::size_t>(r);
  }
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
