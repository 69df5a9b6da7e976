// AccessLog: the writer side of the tamper-evident log. Appends are made durable with
// fdatasync before they are acknowledged; concurrent appenders are group-committed (the first
// waiting thread becomes the leader, writes everyone's queued entries in one write and one
// fdatasync, then wakes the followers). The in-memory Merkle tree only ever holds durable
// entries, so a checkpoint can never sign something a crash could take back (no fork); it is
// a BlockTree (LOG-FORMAT.md §3.7): 64 bytes per 256 entries, proofs read those blocks from
// the file and use them only if they hash to what the tree holds. Each checkpoint extends the
// index that lets open() skip re-hashing. At unlock the writer vouches for its own unMAC'd
// entries that the disk still holds as written (§3.4).
// open() refuses a log holding a checkpoint the appliance's key did not sign (§4.1); once
// unlocked, entries carry a MAC under vault subkey 5 and authenticate_tail() quarantines what
// in the unsigned tail does not authenticate before anything else is signed (§3.3, §3.4).
// Opening (the index, the full check, the version 1 upgrade) is access_log_open.cpp.
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

#include "access_log_state.hpp"
#include "checkpoint.hpp"

namespace tillid {

using namespace logio;

namespace {

constexpr std::size_t kWriteChunk = 1 << 20;  // bytes per write() within one batch

}  // namespace

AccessLog::State::~State() {
  for (int fd : {entries_fd, checkpoints_fd, index_fd})
    if (fd >= 0) ::close(fd);
}

Result<std::pair<std::vector<unsigned char>, logfmt::Scan>> AccessLog::State::read_from_block(merkle::Hasher& h, std::uint64_t b,
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

Result<std::pair<std::vector<unsigned char>, logfmt::Scan>> AccessLog::State::read_block(merkle::Hasher& h, std::uint64_t b) const {
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

Result<void> AccessLog::State::recompute_offsets() const {
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

Result<std::vector<LogHash>> AccessLog::State::block_leaves(std::uint64_t b) const {
  merkle::Hasher h;
  TILLID_ASSIGN(auto read, read_block(h, b));
  std::vector<LogHash> leaves;
  for (const auto& rec : read.second.records) leaves.push_back(rec.leaf);
  return leaves;
}

Result<std::vector<LogHash>> AccessLog::State::write_batch(std::vector<Ticket*>& batch, std::uint64_t first_seq,
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

Result<std::uint64_t> AccessLog::State::submit(std::span<const LogEvent> events) {
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

Result<std::vector<unsigned char>> AccessLog::State::read_entry(std::uint64_t seq) const {
  merkle::Hasher h;
  const std::uint64_t b = seq / merkle::kBlockLeaves;
  TILLID_ASSIGN(auto read, read_block(h, b));
  const auto& recs = read.second.records;
  const std::uint64_t i = seq % merkle::kBlockLeaves;
  if (i >= recs.size()) return make_error(Errc::corrupt, "the access log changed under the running appliance; reopen it");
  return std::vector<unsigned char>(recs[i].payload.begin(), recs[i].payload.end());
}

void AccessLog::State::extend_index(std::uint64_t size, std::uint64_t at) {
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
  // In chunks, keeping only what matches: a daemon's memory does not grow with the file.
  constexpr std::uint64_t kChunk = 4 << 20;
  merkle::Hasher h;
  std::vector<LogEntry> out;
  std::uint64_t off = logfmt::kEntriesHeader.size();
  while (off < end) {
    TILLID_ASSIGN(auto chunk, pread_range(state_->entries_fd, off, std::min(end, off + kChunk), state_->entries_path()));
    const auto scan = logfmt::scan_region(h, chunk, off, logfmt::kMaxEntryBytes, logfmt::kMacBytes);
    // A record cut by the chunk's end reads as torn: the next chunk starts with it.
    const bool last = off + chunk.size() == end;
    if (scan.damaged || (scan.torn_bytes != 0 && last) || scan.records.empty())
      return make_error(Errc::corrupt, "the access log changed under the running appliance: " +
                                           (scan.damage.empty() ? std::string("a record was cut") : scan.damage));
    for (const auto& rec : scan.records) {
      TILLID_ASSIGN(LogEntry e, decode_log_entry(rec.payload));
      if (matches(e, query)) out.push_back(std::move(e));
    }
    off = scan.good_end;
  }
  return out;
}

const LogRecovery& AccessLog::recovery() const { return state_->recovery; }
const fs::path& AccessLog::dir() const { return state_->dir; }

}  // namespace tillid
