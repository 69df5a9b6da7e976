// Opening the access log: the indexed path, which trusts only what hashes to the newest signed
// root (LOG-FORMAT.md §3.7); the full check, which verifies every entry and checkpoint, refuses
// any damage (§3.2, §4.1) and rebuilds the index; the version 1 upgrade (§3.6); creating a log.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "checkpoint.hpp"
#include "access_log_state.hpp"

namespace tillid {

using namespace logio;

namespace {

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

Result<bool> AccessLog::State::open_checkpoints_from(std::uint64_t at) {
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

Result<bool> AccessLog::State::open_indexed() {
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

Result<void> AccessLog::State::open_full() {
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

Result<void> AccessLog::State::rebuild_index(std::span<const std::pair<std::uint64_t, std::uint64_t>> signed_at) {
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

Result<void> AccessLog::State::upgrade_from_v1(std::span<const logfmt::ScannedRecord> recs) {
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

}  // namespace tillid
