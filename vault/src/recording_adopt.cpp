// Adoption at unlock of the recordings this Vault captured while locked (FORMAT.md §7.6), and
// verify's report of every other one.
//
// What vouches for a locked capture is this Vault object's memory (LockedCapture): at the next
// unlock it adopts exactly the captures it made itself and only if their rows and objects are
// still what it wrote — the object re-wrapped under subkey 1, the fields re-sealed under
// subkey 2, the manifest signed (or, for a recording still running, a normal row and work
// record so that finish() signs it). Everything else stays in locked_recordings: verify names
// it, nothing lists or serves it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "item_rows.hpp"
#include "metadata_seal.hpp"
#include "object_stream.hpp"
#include "recording_impl.hpp"
#include "recording_locked.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

namespace {

std::string_view text_of(const Secret& s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

struct LockedRow {
  std::string id, case_id, state, creator;
  std::int64_t created_unix = 0;
  std::vector<unsigned char> sealed_key, title, interviewer;
  std::vector<StoredBookmark> bookmarks;
};

Result<std::optional<LockedRow>> load_locked_row(Db& db, const std::string& item_id) {
  TILLID_ASSIGN(Stmt st, db.prepare("SELECT id, case_id, state, created_unix, creator, sealed_key, title, interviewer "
                                    "FROM locked_recordings WHERE id = ?",
                                    "cannot read the recordings made while locked"));
  st.bind(1, item_id);
  TILLID_ASSIGN(bool got, st.step());
  if (!got) return std::optional<LockedRow>();
  LockedRow r;
  r.id = st.text(0);
  r.case_id = st.text(1);
  r.state = st.text(2);
  r.created_unix = st.int64(3);
  r.creator = st.text(4);
  r.sealed_key = st.blob(5);
  r.title = st.blob(6);
  r.interviewer = st.blob(7);
  st.reset();
  TILLID_ASSIGN(Stmt bm, db.prepare("SELECT seq, offset_ms, created_unix, label FROM locked_bookmarks "
                                    "WHERE item_id = ? ORDER BY seq",
                                    "cannot read the recordings made while locked"));
  bm.bind(1, item_id);
  for (;;) {
    TILLID_ASSIGN(bool row, bm.step());
    if (!row) break;
    r.bookmarks.push_back(StoredBookmark{bm.int64(0), bm.int64(1), bm.int64(2), bm.blob(3)});
  }
  return std::optional<LockedRow>(std::move(r));
}

bool same_bookmarks(const std::vector<StoredBookmark>& a, const std::vector<StoredBookmark>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].seq != b[i].seq || a[i].offset_ms != b[i].offset_ms || a[i].created_unix != b[i].created_unix ||
        a[i].label_sealed != b[i].label_sealed)
      return false;
  return true;
}

// The object's header with the §3.2 wrap of `content_key` under subkey 1 in place of the
// zeros written while locked; refused unless its first 56 bytes are the ones this Vault wrote.
Result<std::array<unsigned char, kObjectHeaderBytes>> rewrapped_header(Vault::State& s, const LockedCapture& m, int fd,
                                                                      const Secret& content_key) {
  std::array<unsigned char, kObjectHeaderBytes> h{};
  std::size_t done = 0;
  while (done < h.size()) {
    ssize_t n = ::pread(fd, h.data() + done, h.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(errno, "cannot read a recording's header");
    if (n == 0) return make_error(Errc::corrupt, "object is shorter than its header");
    done += static_cast<std::size_t>(n);
  }
  if (!std::equal(m.header_ad.begin(), m.header_ad.end(), h.begin()))
    return make_error(Errc::corrupt, "object header differs from the one captured");
  const auto wrap = aead_seal(s.keys->item_wrap, content_key.bytes(), {h.data(), kObjectWrapAdBytes});
  if (wrap.size() != kObjectWrapBytes) return make_error(Errc::internal, "content-key wrap has an unexpected length");
  std::copy(wrap.begin(), wrap.end(), h.begin() + kObjectWrapAdBytes);
  return h;
}

// A recording finished while locked: copy its object with the real wrap into tmp/, read the
// copy end to end (every chunk authenticates, size and SHA-256 equal what was captured), and
// only then rename it over the original. At every instant objects/<id> is the capture as
// written or the complete re-wrapped copy.
Result<void> rewrap_finished_object(Vault::State& s, const LockedCapture& m, const Id16& id,
                                    const Secret& content_key) {
  const auto path = s.object_path(m.item_id);
  const auto tmp = s.tmp_object_path(m.item_id);
  TILLID_ASSIGN(Fd in, open_file(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return errno_error(errno, "cannot inspect a recording's object");
  if (!S_ISREG(st.st_mode)) return make_error(Errc::corrupt, "object is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) != m.object_bytes)
    return make_error(Errc::corrupt, "object length differs from the one captured");
  TILLID_ASSIGN(auto header, rewrapped_header(s, m, in.get(), content_key));
  TILLID_TRY(remove_if_exists(tmp));
  auto r = [&]() -> Result<void> {
    TILLID_ASSIGN(Fd out, open_file(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
    TILLID_TRY(write_all(out.get(), header, "cannot write a re-wrapped recording"));
    std::vector<unsigned char> buf(1u << 20);
    std::uint64_t off = kObjectHeaderBytes;
    while (off < m.object_bytes) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), m.object_bytes - off));
      ssize_t n = ::pread(in.get(), buf.data(), want, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error(errno, "cannot read a recording's object");
      if (n == 0) return make_error(Errc::corrupt, "object shrank while it was re-wrapped");
      TILLID_TRY(write_all(out.get(), {buf.data(), static_cast<std::size_t>(n)}, "cannot write a re-wrapped recording"));
      off += static_cast<std::uint64_t>(n);
    }
    TILLID_TRY(fsync_fd(out.get(), "cannot flush a re-wrapped recording"));
    if (::lseek(out.get(), 0, SEEK_SET) != 0) return errno_error(errno, "cannot read back a re-wrapped recording");
    TILLID_ASSIGN(ObjectReader reader, ObjectReader::open(out.get(), id, s.keys->item_wrap, "recording " + m.item_id));
    if (reader.header().kind != ItemKind::recording) return make_error(Errc::corrupt, "object is not a recording");
    TILLID_ASSIGN(StreamDigest d, decrypt_stream(reader, nullptr));
    if (d.size != m.size || d.sha256 != m.sha256)
      return make_error(Errc::corrupt, "object content differs from what was captured");
    TILLID_TRY(out.close_checked("cannot close a re-wrapped recording"));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      return errno_error(errno, "cannot move a re-wrapped recording into place");
    TILLID_TRY(fsync_dir(s.objects_dir()));
    return fsync_dir(s.tmp_dir());
  }();
  if (!r.ok()) (void)remove_if_exists(tmp);
  return r;
}

// A recording still running at unlock: its writer keeps appending to the same file, so the
// wrap is written in place (72 bytes inside the first 4 KiB page) and made durable before the
// row that lets recovery act on it is committed. The file must be the very inode this Vault
// created. Its chunks are not re-read here: finish() signs the SHA-256 of what was captured,
// so any byte changed on disk fails verify (§7.6).
Result<void> rewrap_running_object(Vault::State& s, const LockedCapture& m, const Secret& content_key) {
  TILLID_ASSIGN(Fd f, open_file(s.object_path(m.item_id), O_RDWR | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return errno_error(errno, "cannot inspect a recording's object");
  if (!S_ISREG(st.st_mode) || st.st_dev != m.dev || st.st_ino != m.ino)
    return make_error(Errc::corrupt, "object is not the file this appliance is recording into");
  TILLID_ASSIGN(auto header, rewrapped_header(s, m, f.get(), content_key));
  const std::span<const unsigned char> wrap{header.data() + kObjectWrapAdBytes, kObjectWrapBytes};
  if (::pwrite(f.get(), wrap.data(), wrap.size(), static_cast<off_t>(kObjectWrapAdBytes)) !=
      static_cast<ssize_t>(wrap.size()))
    return errno_error(errno, "cannot write a recording's header");
  if (::fdatasync(f.get()) != 0) return errno_error(errno, "cannot flush a recording's header");
  return f.close_checked("cannot close a recording's object");
}

// Adopt one capture; returns the log details. Touches nothing until every check passed.
Result<std::string> adopt_one(Vault::State& s, const BoxPair& box, const LockedCapture& m) {
  TILLID_ASSIGN(auto found, load_locked_row(s.db, m.item_id));
  if (!found) return make_error(Errc::corrupt, "its row is gone");
  const LockedRow& row = *found;
  // 1. The row is byte for byte what this Vault wrote (sealed blobs included).
  if (row.case_id != m.case_id || row.created_unix != m.created_unix || row.creator != m.creator ||
      locked_row_digest(row.id, row.case_id, row.created_unix, row.creator, row.sealed_key, row.title,
                        row.interviewer) != m.row_digest)
    return make_error(Errc::corrupt, "its row differs from what was captured");
  if (row.state != (m.finished ? "finished" : "recording"))
    return make_error(Errc::corrupt, "its state differs from what was captured");
  if (!same_bookmarks(row.bookmarks, m.bookmarks))
    return make_error(Errc::corrupt, "its bookmarks differ from what was captured");
  Id16 id{};
  if (!parse_id(m.item_id, id)) return make_error(Errc::internal, "malformed id");
  // 2. Open what was sealed to the vault key (it must open: this Vault sealed it).
  TILLID_ASSIGN(Secret content_key, open_from_vault(box, "content_key", m.item_id, row.sealed_key));
  if (content_key.size() != kKeyBytes) return make_error(Errc::corrupt, "its content key has the wrong length");
  TILLID_ASSIGN(Secret title, open_from_vault(box, "title", m.item_id, row.title));
  TILLID_ASSIGN(Secret interviewer, open_from_vault(box, "interviewer", m.item_id, row.interviewer));
  // 3. The item row as an unlocked recording has it: fields re-sealed under subkey 2.
  ItemRow item;
  item.info.id = m.item_id;
  item.info.case_id = m.case_id;
  item.info.kind = ItemKind::recording;
  item.info.created_unix = m.created_unix;
  item.info.creator = m.creator;
  item.state = m.finished ? "sealed" : "recording";
  item.title_sealed = seal_field(s.keys->meta, s.vault_id, {"items", "title", m.item_id}, text_of(title));
  item.file_name_sealed =
      seal_field(s.keys->meta, s.vault_id, {"items", "file_name", m.item_id}, default_file_name(m.created_unix));
  item.interviewer_sealed =
      seal_field(s.keys->meta, s.vault_id, {"items", "interviewer", m.item_id}, text_of(interviewer));
  for (const auto& b : row.bookmarks) {
    const std::string rid = bookmark_row_id(m.item_id, b.seq);
    TILLID_ASSIGN(Secret label, open_from_vault(box, "label", rid, b.label_sealed));
    item.bookmarks.push_back(StoredBookmark{b.seq, b.offset_ms, b.created_unix,
                                            seal_field(s.keys->meta, s.vault_id, {"bookmarks", "label", rid},
                                                       text_of(label))});
  }
  item.info.bookmark_count = item.bookmarks.size();
  Signature sig{};
  WorkRecord work;
  if (m.finished) {
    item.info.size = m.size;
    item.info.sha256 = m.sha256;
    item.info.duration_ms = m.duration_ms;
    TILLID_ASSIGN(Manifest man, manifest_for(s, item));  // v3 (§5.1); the case must verify first
    sig = sign_manifest(s.keys->signing_sk, man);
  } else {
    work = new_work_record(WorkOp::recording, id, m.case_id, ItemKind::recording, m.created_unix, m.creator,
                           item.title_sealed, item.file_name_sealed, item.interviewer_sealed);
    work.bookmark_count = static_cast<std::uint32_t>(item.bookmarks.size());
    work.bookmarks_sha256 = bookmarks_digest(item.bookmarks);
    TILLID_TRY(manifest_for(s, item));  // the case still verifies: finish() will sign it
  }
  // 4. The object: re-wrapped and durable before the row that makes it an item.
  if (m.finished) TILLID_TRY(rewrap_finished_object(s, m, id, content_key));
  else TILLID_TRY(rewrap_running_object(s, m, content_key));
  // 5. One commit: the item (sealed and signed, or recording with its work record), its
  // bookmarks, and the locked rows gone.
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot adopt a recording made while locked"));
  TILLID_ASSIGN(Stmt ins, s.db.prepare("INSERT INTO items (id, case_id, kind, state, size, sha256, title, file_name, "
                                       "created_unix, creator, signature, interviewer, duration_ms, interrupted, "
                                       "interrupted_unix) VALUES (?,?,'recording',?,?,?,?,?,?,?,?,?,?,0,0)",
                                       "cannot adopt a recording made while locked"));
  ins.bind(1, m.item_id).bind(2, m.case_id).bind(3, item.state);
  if (m.finished) ins.bind(4, static_cast<std::int64_t>(m.size)).bind_blob(5, m.sha256);
  ins.bind_blob(6, item.title_sealed)
      .bind_blob(7, item.file_name_sealed)
      .bind(8, m.created_unix)
      .bind(9, m.creator);
  if (m.finished) ins.bind_blob(10, sig);
  ins.bind_blob(11, item.interviewer_sealed).bind(12, m.finished ? m.duration_ms : std::int64_t{0});
  TILLID_TRY(ins.run());
  TILLID_ASSIGN(Stmt bm, s.db.prepare("INSERT INTO bookmarks (item_id, seq, offset_ms, created_unix, label) "
                                      "VALUES (?,?,?,?,?)",
                                      "cannot adopt a recording made while locked"));
  for (const auto& b : item.bookmarks) {
    bm.reset();
    bm.bind(1, m.item_id).bind(2, b.seq).bind(3, b.offset_ms).bind(4, b.created_unix).bind_blob(5, b.label_sealed);
    TILLID_TRY(bm.run());
  }
  if (!m.finished) TILLID_TRY(put_work(s, m.item_id, work));
  for (const char* sql : {"DELETE FROM locked_bookmarks WHERE item_id = ?", "DELETE FROM locked_recordings WHERE id = ?"}) {
    TILLID_ASSIGN(Stmt del, s.db.prepare(sql, "cannot adopt a recording made while locked"));
    del.bind(1, m.item_id);
    TILLID_TRY(del.run());
  }
  TILLID_TRY(tx.commit());
  if (!m.finished) {
    // From here the writer is an ordinary recording: bookmarks rewrite the work record and
    // finish() signs (recording.cpp). Both read these under the vault mutex we hold.
    Recording::Impl& im = *m.live;
    im.work = std::move(work);
    im.stored_bookmarks = std::move(item.bookmarks);
    im.locked_capture = false;
    return std::string("running");
  }
  return "duration_ms=" + std::to_string(m.duration_ms);
}

}  // namespace

Result<void> adopt_locked_recordings(Vault::State& s) {
  TILLID_TRY(s.require_unlocked());
  const BoxPair box = derive_box_pair(s.keys->master);
  TILLID_TRY(ensure_recording_key(s, box));
  // Each capture is tried once: one refused now (its disk copy changed) stays refused.
  std::vector<LockedCapture> made = std::move(s.locked_captures.made);
  s.locked_captures.made.clear();
  for (const LockedCapture& m : made) {
    if (!m.finished && m.live == nullptr) {
      TILLID_TRY(s.record_event(LogAction::record_adopted, m.case_id, m.item_id, LogOutcome::failed,
                                "left as captured: it ended without finish while locked"));
      continue;
    }
    auto r = adopt_one(s, box, m);
    if (!r.ok()) {
      // The checks' own refusals (corrupt) name only what differs; any other error (I/O,
      // a missing file) may carry a path, so the log gets its code name only.
      const std::string why = r.error().code == Errc::corrupt ? r.error().message : to_string(r.error().code);
      TILLID_TRY(s.record_event(LogAction::record_adopted, m.case_id, m.item_id, LogOutcome::failed,
                                "left as captured: " + why));
      continue;
    }
    TILLID_TRY(s.record_event(LogAction::record_adopted, m.case_id, m.item_id, LogOutcome::ok, r.value()));
  }
  return {};
}

Result<void> report_locked_captures(Vault::State& s, std::set<std::string>& known,
                                    std::map<std::string, std::string>& states, VerifyReport& rep) {
  TILLID_ASSIGN(Stmt st, s.db.prepare("SELECT id FROM locked_recordings ORDER BY created_unix, id",
                                      "cannot read the recordings made while locked"));
  for (;;) {
    TILLID_ASSIGN(bool row, st.step());
    if (!row) break;
    const std::string id = st.text(0);
    known.insert(id);
    states.try_emplace(id, "locked");  // a planted row cannot relabel a genuine item's state
    rep.problems.push_back(
        {std::string(loggable_id(id)),
         "recording captured while the vault was locked; provenance not vouched for (FORMAT.md §7.6): nothing shows "
         "this appliance made it rather than someone holding only the public recording key, so it is not signed, "
         "listed or served; its audio stays sealed to the vault key; see its record_adopted log entry, if any"});
  }
  return {};
}

}  // namespace tillid::detail
