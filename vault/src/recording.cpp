// Recording into the vault (FORMAT.md §7). The protocol:
//   begin:   insert the row in state 'recording' (committed), create objects/<id> with its
//            header, fdatasync it and fsync objects/ — from here every appended chunk is
//            recoverable; log record_start.
//   append:  one Ogg chunk (≤ ~1 s of audio, capture/README.md) = one secretstream chunk,
//            written and fdatasync'ed before append returns; the same encrypted bytes are
//            copied to the mirror. Plaintext exists only in the caller's memory.
//   bookmark: a row in `bookmarks` with the label sealed to (item, seq); logged, offset only.
//   finish:  an empty TAG_FINAL chunk closes the stream; the v2 manifest (size, SHA-256,
//            duration, bookmarks digest) is signed and the row sealed; logged record_stop.
// While the vault is locked the same protocol runs against locked_recordings instead, with
// the content key and the labels sealed to the vault's public recording key and nothing
// signed; the Vault adopts its own such recordings at the next unlock (recording_locked.cpp,
// FORMAT.md §7.6).
// A Recording dropped without finish() leaves the row in 'recording'; recovery at the next
// unlock (recording_recovery.cpp) keeps every chunk that authenticates and seals it. The
// row's work record (work_record.hpp, FORMAT.md §6.1) is written with the row, rewritten with
// each bookmark (it covers their digest) and deleted by the seal commit: recovery acts only
// on a row whose record authenticates and matches.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>

#include "item_rows.hpp"
#include "metadata_seal.hpp"
#include "object_format.hpp"
#include "posix_io.hpp"
#include "recording_format.hpp"
#include "recording_impl.hpp"
#include "work_record.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;

// ---- shared pieces ------------------------------------------------------------------------

namespace detail {

std::string mirror_object_name(std::string_view item_id) { return std::string(item_id) + ".tillid-object"; }

void OggScan::feed(std::span<const unsigned char> p) {
  // RFC 3533 §6: "OggS", version, header type, granule (i64le at 6), serial, sequence, CRC,
  // segment count (at 26), segment table, body. Chunks hold whole pages (capture/README.md §2).
  std::size_t i = 0;
  while (!malformed && i < p.size()) {
    if (p.size() - i < 27 || std::memcmp(p.data() + i, "OggS", 4) != 0) {
      malformed = true;
      return;
    }
    const std::size_t nseg = p[i + 26];
    if (p.size() - i < 27 + nseg) {
      malformed = true;
      return;
    }
    std::size_t body = 0;
    for (std::size_t k = 0; k < nseg; ++k) body += p[i + 27 + k];
    const std::size_t start = i + 27 + nseg;
    if (p.size() - start < body) {
      malformed = true;
      return;
    }
    const auto granule = static_cast<std::int64_t>(get_u64le(p.data() + i + 6));
    // RFC 7845 §5.1: OpusHead carries the pre-skip as u16le at byte 10.
    if (preskip < 0 && body >= 19 && std::memcmp(p.data() + start, "OpusHead", 8) == 0)
      preskip = p[start + 10] | (p[start + 11] << 8);
    if (granule != -1 && granule > last_granule) last_granule = granule;
    i = start + body;
  }
}

bool set_last_page_eos(std::span<unsigned char> p) {
  std::size_t i = 0, last = p.size(), last_len = 0;
  while (i < p.size()) {
    if (p.size() - i < 27 || std::memcmp(p.data() + i, "OggS", 4) != 0) return false;
    const std::size_t nseg = p[i + 26];
    if (p.size() - i < 27 + nseg) return false;
    std::size_t len = 27 + nseg;
    for (std::size_t k = 0; k < nseg; ++k) len += p[i + 27 + k];
    if (p.size() - i < len) return false;
    last = i;
    last_len = len;
    i += len;
  }
  if (last == p.size()) return false;
  unsigned char* page = p.data() + last;
  page[5] |= 0x04;  // header_type: end of stream
  std::memset(page + 22, 0, 4);
  std::uint32_t crc = 0;
  for (std::size_t k = 0; k < last_len; ++k) {
    crc ^= static_cast<std::uint32_t>(page[k]) << 24;
    for (int b = 0; b < 8; ++b) crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
  }
  for (int k = 0; k < 4; ++k) page[22 + k] = static_cast<unsigned char>(crc >> (8 * k));
  return true;
}

std::int64_t OggScan::duration_ms() const {
  if (preskip < 0 || last_granule <= preskip) return 0;
  return (last_granule - preskip) * 1000 / 48000;
}

Result<ItemInfo> seal_recording_row(Vault::State& s, const std::string& item_id, const RecordingSeal& seal) {
  TILLID_ASSIGN(auto rows, load_item_rows(s.db, "WHERE id = ? AND state = 'recording'", &item_id));
  if (rows.empty()) return make_error(Errc::internal, "the recording's row vanished before it was sealed");
  ItemRow& row = rows[0];
  row.info.size = seal.size;
  row.info.sha256 = seal.sha256;
  row.info.duration_ms = seal.duration_ms;
  row.info.interrupted = seal.interrupted;
  row.info.interrupted_unix = seal.interrupted ? seal.interrupted_unix : 0;
  TILLID_ASSIGN(Manifest m, manifest_for(s, row));  // v3, FORMAT.md §5.1
  Signature sig = sign_manifest(s.keys->signing_sk, m);
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot seal the recording"));
  TILLID_ASSIGN(Stmt st, s.db.prepare("UPDATE items SET size = ?, sha256 = ?, duration_ms = ?, interrupted = ?, "
                                      "interrupted_unix = ?, signature = ?, state = 'sealed' "
                                      "WHERE id = ? AND state = 'recording'",
                                      "cannot seal the recording"));
  st.bind(1, static_cast<std::int64_t>(row.info.size))
      .bind_blob(2, row.info.sha256)
      .bind(3, row.info.duration_ms)
      .bind(4, std::int64_t{row.info.interrupted ? 1 : 0})
      .bind(5, row.info.interrupted_unix)
      .bind_blob(6, sig)
      .bind(7, item_id);
  TILLID_TRY(st.run());
  if (sqlite3_changes(s.db.handle()) != 1)
    return make_error(Errc::internal, "the recording's row vanished before it was sealed");
  TILLID_TRY(remove_work(s, item_id));  // sealed: recovery must never act on it again
  TILLID_TRY(tx.commit());
  TILLID_TRY(open_item_fields(s, row));
  return row.info;
}

}  // namespace detail

// ---- Recording ------------------------------------------------------------------------------

Recording::Recording(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Recording::Recording(Recording&&) noexcept = default;
Recording& Recording::operator=(Recording&&) noexcept = default;
Recording::~Recording() = default;

const std::string& Recording::item_id() const { return impl_->item_id; }
const std::string& Recording::case_id() const { return impl_->case_id; }

bool Recording::finished() const {
  std::lock_guard lk(impl_->io_mu);
  return impl_->finished;
}

std::int64_t Recording::duration_ms() const {
  std::lock_guard lk(impl_->io_mu);
  return impl_->duration_ms;
}

std::optional<Error> Recording::mirror_error() const {
  std::lock_guard lk(impl_->io_mu);
  return impl_->mirror_error;
}

Result<void> Recording::append(std::span<const unsigned char> ogg_chunk, std::int64_t audio_end_ms) {
  Impl& im = *impl_;
  std::lock_guard lk(im.io_mu);
  if (im.finished) return make_error(Errc::invalid_argument, "the recording is already finished");
  if (im.failed)
    return make_error(Errc::io, "the recording stopped after an earlier write failed; what was written is kept "
                                "and will be recovered at the next unlock");
  if (ogg_chunk.size() > kRecordingChunkSize)
    return make_error(Errc::invalid_argument, "an audio chunk of " + std::to_string(ogg_chunk.size()) +
                                                  " bytes exceeds the recording chunk size (256 KiB); chunks "
                                                  "must cover at most about one second");
  const std::uint64_t before = im.writer->object_bytes();
  auto r = [&]() -> Result<void> {
    TILLID_TRY(im.writer->append_chunk(ogg_chunk, false));
    // Durable before we return: at most the chunk in flight is lost (PRODUCT.md).
    if (::fdatasync(im.fd.get()) != 0) return errno_error(errno, "cannot flush the recording to disk");
    return {};
  }();
  if (!r.ok()) {
    im.failed = true;
    return r;
  }
  im.sha->update(ogg_chunk);
  im.size += ogg_chunk.size();
  im.duration_ms = std::max(im.duration_ms, audio_end_ms);
  im.mirror_range(before, im.writer->object_bytes());
  return {};
}

namespace detail {

Result<void> check_text(std::string_view what, std::string_view v, std::size_t max, bool required) {
  if (required && v.empty()) return make_error(Errc::invalid_argument, std::string(what) + " is empty; give one");
  if (v.size() > max)
    return make_error(Errc::invalid_argument,
                      std::string(what) + " is longer than " + std::to_string(max) + " bytes; shorten it");
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f)
      return make_error(Errc::invalid_argument, std::string(what) + " contains a control character");
  return {};
}

}  // namespace detail

Result<Bookmark> Recording::bookmark(std::int64_t offset_ms, std::string label) {
  Impl& im = *impl_;
  std::lock_guard meta(im.meta_mu);
  Vault::State& s = *im.s;
  auto r = [&]() -> Result<Bookmark> {
    {
      std::lock_guard lk(im.io_mu);
      if (im.finished) return make_error(Errc::invalid_argument, "the recording is finished; bookmarks go into a running recording");
    }
    if (offset_ms < 0) return make_error(Errc::invalid_argument, "a bookmark's offset cannot be negative");
    TILLID_TRY(check_text("the bookmark label", label, 1000, true));
    std::lock_guard lk(s.mutex);
    Bookmark b{static_cast<int>(im.next_seq), offset_ms, std::move(label), static_cast<std::int64_t>(std::time(nullptr))};
    if (im.locked_capture) {  // FORMAT.md §7.6: label sealed to the vault key, no work record
      TILLID_ASSIGN(Bookmark stored, locked_bookmark(s, im, std::move(b)));
      ++im.next_seq;
      return stored;
    }
    TILLID_TRY(s.require_unlocked());
    const std::string rid = bookmark_row_id(im.item_id, b.seq);
    const auto label_sealed = seal_field(s.keys->meta, s.vault_id, {"bookmarks", "label", rid}, b.label);
    // The bookmark and the work record that now covers it, in one commit (FORMAT.md §6.1).
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot store the bookmark"));
    TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT INTO bookmarks (item_id, seq, offset_ms, created_unix, label) "
                                        "VALUES (?,?,?,?,?)",
                                        "cannot store the bookmark"));
    st.bind(1, im.item_id)
        .bind(2, std::int64_t{b.seq})
        .bind(3, b.offset_ms)
        .bind(4, b.created_unix)
        .bind_blob(5, label_sealed);
    TILLID_TRY(st.run());
    auto bookmarks = im.stored_bookmarks;
    bookmarks.push_back(StoredBookmark{b.seq, b.offset_ms, b.created_unix, label_sealed});
    WorkRecord w = im.work;
    w.bookmark_count = static_cast<std::uint32_t>(bookmarks.size());
    w.bookmarks_sha256 = bookmarks_digest(bookmarks);
    TILLID_TRY(put_work(s, im.item_id, w));
    TILLID_TRY(tx.commit());
    im.work = std::move(w);
    im.stored_bookmarks = std::move(bookmarks);
    ++im.next_seq;
    return b;
  }();
  // The log holds the offset only, never the label (it may describe what the child said).
  std::lock_guard lk(s.mutex);
  TILLID_TRY(s.record_result(LogAction::record_bookmark, im.case_id, im.item_id, r,
                             r.ok() ? "offset_ms=" + std::to_string(r->offset_ms) : ""));
  return r;
}

Result<ItemInfo> Recording::finish() {
  Impl& im = *impl_;
  std::lock_guard meta(im.meta_mu);
  std::lock_guard io(im.io_mu);
  Vault::State& s = *im.s;
  if (im.finished) return make_error(Errc::invalid_argument, "the recording is already finished");
  auto r = [&]() -> Result<ItemInfo> {
    if (im.failed)
      return make_error(Errc::io, "the recording cannot be finished after a failed write; it will be recovered "
                                  "at the next unlock");
    const std::uint64_t before = im.writer->object_bytes();
    // FORMAT.md §3.3/§7.2: an empty TAG_FINAL chunk closes the stream.
    TILLID_TRY(im.writer->append_chunk({}, true));
    if (::fsync(im.fd.get()) != 0) return errno_error(errno, "cannot flush the recording to disk");
    im.mirror_range(before, im.writer->object_bytes());
    if (im.mirror_fd.valid()) (void)im.mirror_fd.close_checked("cannot close the mirror copy");
    TILLID_TRY(im.fd.close_checked("cannot close the recording"));
    RecordingSeal seal;
    seal.size = im.size;
    TILLID_ASSIGN(seal.sha256, im.sha->finish());
    seal.duration_ms = im.duration_ms;
    std::lock_guard lk(s.mutex);
    // Still a locked capture (the vault stayed locked, or adoption refused it): the stream
    // is closed but nothing can be signed (FORMAT.md §7.6).
    if (im.locked_capture) return finish_locked_capture(s, im, seal.sha256);
    TILLID_TRY(s.require_unlocked());
    return seal_recording_row(s, im.item_id, seal);
  }();
  std::lock_guard lk(s.mutex);
  const bool locked = im.locked_capture;
  if (r.ok()) {
    im.finished = true;
    s.live_recordings.erase(im.item_id);
  } else {
    im.failed = true;
  }
  // A locked stop says so: the log's record_stop ok is not the appliance vouching for it
  // until record_adopted follows (FORMAT.md §7.6).
  TILLID_TRY(s.record_result(LogAction::record_stop, im.case_id, im.item_id, r,
                             r.ok() ? std::string(locked ? "locked; " : "") + "duration_ms=" +
                                          std::to_string(r->duration_ms)
                                    : ""));
  return r;
}

// ---- Vault ----------------------------------------------------------------------------------

namespace detail {

void discard_failed_begin(Vault::State& s, const Begun& b) {
  if (!b.mirror_file.empty()) (void)remove_if_exists(b.mirror_file);
  if (b.object_created) {
    (void)remove_if_exists(s.object_path(b.id));
    (void)fsync_dir(s.objects_dir());
  }
  if (b.row_inserted) {
    auto tx = Transaction::begin(s.db, "cannot remove the recording");
    if (!tx.ok()) return;
    if (b.locked) {
      auto st = s.db.prepare("DELETE FROM locked_recordings WHERE id = ?", "cannot remove the recording");
      if (st.ok() && st->bind(1, b.id).run().ok()) (void)tx->commit();
      return;
    }
    auto st = s.db.prepare("DELETE FROM items WHERE id = ? AND state = 'recording'", "cannot remove the recording");
    if (st.ok() && st->bind(1, b.id).run().ok() && remove_work(s, b.id).ok()) (void)tx->commit();
  }
}

std::string default_file_name(std::int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "interview-%Y%m%d-%H%M%SZ.opus", &tm);
  return buf;
}

Result<void> start_mirror(Recording::Impl& im, Begun& b, const fs::path& mirror_dir) {
  im.mirror_path = mirror_dir / mirror_object_name(b.id);
  TILLID_ASSIGN(im.mirror_fd, open_file(im.mirror_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  b.mirror_file = im.mirror_path;
  im.mirror_range(0, im.writer->object_bytes());
  if (im.mirror_error) return *im.mirror_error;
  return fsync_dir(mirror_dir);
}

}  // namespace detail

namespace {

Result<std::unique_ptr<Recording::Impl>> begin_unlocked(Vault::State& s, Begun& b, const std::string& case_ref,
                                                        const std::string& interviewer, const std::string& title,
                                                        const std::optional<fs::path>& mirror_dir) {
  TILLID_TRY(s.require_unlocked());
  TILLID_ASSIGN(CaseInfo c, find_case_locked(s, case_ref));
  TILLID_TRY(check_text("the interviewer", interviewer, 200, true));
  TILLID_TRY(check_text("the title", title, 1000, false));
  if (mirror_dir) {
    std::error_code ec;
    if (!fs::is_directory(*mirror_dir, ec))
      return make_error(Errc::not_found, "the mirror directory " + mirror_dir->string() +
                                             " does not exist or is not a directory; create it first");
  }
  Id16 id = random_id();
  b.id = to_hex(id);
  auto im = std::make_unique<Recording::Impl>();
  im->item_id = b.id;
  im->case_id = c.id;
  const auto created = static_cast<std::int64_t>(std::time(nullptr));
  {  // the row and its work record first: recovery finds the recording through them (FORMAT.md §7.1)
    const auto title_sealed = seal_field(s.keys->meta, s.vault_id, {"items", "title", b.id}, title);
    const auto file_name_sealed =
        seal_field(s.keys->meta, s.vault_id, {"items", "file_name", b.id}, default_file_name(created));
    const auto interviewer_sealed = seal_field(s.keys->meta, s.vault_id, {"items", "interviewer", b.id}, interviewer);
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot record the new recording"));
    TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT INTO items (id, case_id, kind, state, title, file_name, created_unix, "
                                        "creator, interviewer, duration_ms) VALUES (?,?,'recording','recording',?,?,?,?,?,0)",
                                        "cannot record the new recording"));
    st.bind(1, b.id)
        .bind(2, c.id)
        .bind_blob(3, title_sealed)
        .bind_blob(4, file_name_sealed)
        .bind(5, created)
        .bind(6, s.actor.id)
        .bind_blob(7, interviewer_sealed);
    TILLID_TRY(st.run());
    im->work = new_work_record(WorkOp::recording, id, c.id, ItemKind::recording, created, s.actor.id, title_sealed,
                               file_name_sealed, interviewer_sealed);
    TILLID_TRY(put_work(s, b.id, im->work));
    TILLID_TRY(tx.commit());
    b.row_inserted = true;
  }
  TILLID_ASSIGN(im->fd, open_file(s.object_path(b.id), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  b.object_created = true;
  Secret content_key = Secret::random(kKeyBytes);
  TILLID_ASSIGN(ObjectWriter w, ObjectWriter::begin(im->fd.get(), id, ItemKind::recording, kRecordingChunkSize,
                                                    content_key, s.keys->item_wrap));
  im->writer.emplace(std::move(w));
  if (::fdatasync(im->fd.get()) != 0) return errno_error(errno, "cannot flush the new recording");
  TILLID_TRY(fsync_dir(s.objects_dir()));
  if (mirror_dir) TILLID_TRY(start_mirror(*im, b, *mirror_dir));
  TILLID_ASSIGN(Sha256 sha, Sha256::create());
  im->sha.emplace(std::move(sha));
  im->s = &s;
  s.live_recordings.insert(b.id);
  return im;
}

}  // namespace

Result<Recording> Vault::begin_recording(const std::string& case_id, std::string interviewer, std::string title,
                                         std::optional<fs::path> mirror_dir) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  Begun b;
  // FORMAT.md §7.6: while locked, capture needs only the vault's public recording key.
  auto r = s.keys ? begin_unlocked(s, b, case_id, interviewer, title, mirror_dir)
                  : begin_locked_capture(s, b, case_id, interviewer, title, mirror_dir);
  if (!r.ok()) discard_failed_begin(s, b);
  TILLID_TRY(s.record_result(LogAction::record_start, r.ok() ? r.value()->case_id : "", r.ok() ? b.id : "", r,
                             b.locked ? "locked" : ""));
  if (!r.ok()) return r.error();
  return Recording(std::move(r).value());
}

Result<std::vector<Bookmark>> Vault::bookmarks(const std::string& item_id) const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  std::string case_id;
  auto r = [&]() -> Result<std::vector<Bookmark>> {
    TILLID_ASSIGN(ItemRow row, load_sealed_item(s, item_id));
    case_id = row.info.case_id;
    return open_bookmarks(s, row);
  }();
  TILLID_TRY(s.record_result(LogAction::item_viewed, case_id, loggable_id(item_id), r, "bookmarks"));
  return r;
}

}  // namespace tillid
