// Recovery of work a crash interrupted, run at every unlock before anything is listed
// (FORMAT.md §6.2). It acts only on work the appliance itself recorded as in progress:
//   - the row's work record (work_record.hpp) exists, its MAC under subkey 4 verifies and it
//     matches the row exactly, and
//   - the access log says nothing that shows the item was ever finished (item_added ok,
//     record_stop ok, a successful recovery, item_deleted ok): a sealed item flipped back to
//     'pending' with a replayed record from an old copy of the disk is refused here.
// Anything else that is not sealed is left exactly as it is, logged (`recovery` failed, the
// reason) and reported by verify. Then:
//   pending   — an add that never completed. If objects/<id> is there the add got past its
//               rename, so the object is complete: it is checked end to end and the add is
//               finished (signed, sealed). Otherwise its tmp file and row are removed.
//               Recovery therefore never removes a file from objects/.
//   recording — a recording cut off by power loss or a kill: keep every chunk that
//               authenticates, close the stream, seal it as interrupted (FORMAT.md §7.5,
//               recording_recovery.cpp).
// One item's failure never stops the unlock (an attacker must not be able to lock officers
// out by editing a row); only a failure to write the access log does.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include <system_error>

#include "item_rows.hpp"
#include "object_stream.hpp"
#include "posix_io.hpp"
#include "recording_format.hpp"
#include "vault_state.hpp"
#include "work_record.hpp"

namespace tillid::detail {

namespace {

// Why recovery must not touch this row, or nullopt if it may (FORMAT.md §6.2).
Result<std::optional<std::string>> refusal(Vault::State& s, const ItemRow& row) {
  if (auto w = check_work(s, row); !w.ok()) return std::optional<std::string>(w.error().message);
  LogQuery q;
  q.item_id = row.info.id;
  TILLID_ASSIGN(auto entries, s.log->entries(q));
  std::size_t logged_bookmarks = 0;
  for (const auto& e : entries) {
    if (e.outcome != LogOutcome::ok) continue;
    const std::string at = " (log seq " + std::to_string(e.seq) + ")";
    switch (e.action) {
      case LogAction::item_added:
      case LogAction::record_stop:
      case LogAction::item_deleted:
        return std::optional<std::string>("the log says it was finished" + at);
      case LogAction::recovery:
        return std::optional<std::string>("the log says it was recovered before" + at);
      case LogAction::record_bookmark:
        // Bookmarks are stored, then logged: every logged one must be the stored one at the
        // same position (the work record already vouches for the stored rows).
        if (logged_bookmarks >= row.bookmarks.size() ||
            e.details != "offset_ms=" + std::to_string(row.bookmarks[logged_bookmarks].offset_ms))
          return std::optional<std::string>("bookmarks differ from the log" + at);
        ++logged_bookmarks;
        break;
      default:
        break;
    }
  }
  if (row.state == "pending") {
    // load_item_rows reads bookmarks of recordings only; an add has none.
    TILLID_ASSIGN(Stmt st, s.db.prepare("SELECT count(*) FROM bookmarks WHERE item_id = ?", "cannot read the bookmarks"));
    st.bind(1, row.info.id);
    TILLID_ASSIGN(bool got, st.step());
    if (got && st.int64(0) != 0) return std::optional<std::string>("bookmarks on an add");
  }
  return std::optional<std::string>();
}

// An add interrupted before its object reached objects/: nothing of it is evidence yet.
Result<void> discard_pending(Vault::State& s, const ItemRow& row) {
  TILLID_TRY(remove_if_exists(s.tmp_object_path(row.info.id)));
  TILLID_TRY(fsync_dir(s.tmp_dir()));
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot remove an interrupted item"));
  TILLID_ASSIGN(Stmt st, s.db.prepare("DELETE FROM items WHERE id = ? AND state = 'pending'",
                                      "cannot remove an interrupted item"));
  st.bind(1, row.info.id);
  TILLID_TRY(st.run());
  TILLID_TRY(remove_work(s, row.info.id));
  return tx.commit();
}

// An add interrupted after step 3 (the rename): the object is complete and durable, so the
// add is finished rather than undone. The object must authenticate to its final chunk.
Result<void> complete_pending(Vault::State& s, const ItemRow& row, const Id16& id) {
  // O_NONBLOCK and the type check: a FIFO or directory planted there must not hang or fool us.
  TILLID_ASSIGN(Fd fd, open_file(s.object_path(row.info.id), O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return errno_error(errno, "cannot inspect an interrupted item's object");
  if (!S_ISREG(info.st_mode)) return make_error(Errc::corrupt, "the object is not a regular file");
  TILLID_ASSIGN(ObjectReader reader, ObjectReader::open(fd.get(), id, s.keys->item_wrap, "object"));
  if (reader.header().kind != row.info.kind) return make_error(Errc::corrupt, "object kind differs from the work record");
  TILLID_ASSIGN(StreamDigest d, decrypt_stream(reader, nullptr));
  ItemRow sealed = row;
  sealed.state = "sealed";
  sealed.info.size = d.size;
  sealed.info.sha256 = d.sha256;
  sealed.sha256.assign(d.sha256.begin(), d.sha256.end());
  sealed.info.duration_ms = 0;
  sealed.info.interrupted = false;
  sealed.info.interrupted_unix = 0;
  // check_work proved these row values are the ones the work record holds.
  TILLID_ASSIGN(Manifest m, manifest_for(s, sealed));  // v3, FORMAT.md §5.1
  Signature sig = sign_manifest(s.keys->signing_sk, m);
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot seal an interrupted item"));
  TILLID_ASSIGN(Stmt st, s.db.prepare("UPDATE items SET size = ?, sha256 = ?, signature = ?, duration_ms = NULL, "
                                      "interrupted = 0, interrupted_unix = NULL, state = 'sealed' "
                                      "WHERE id = ? AND state = 'pending'",
                                      "cannot seal an interrupted item"));
  st.bind(1, static_cast<std::int64_t>(d.size)).bind_blob(2, d.sha256).bind_blob(3, sig).bind(4, row.info.id);
  TILLID_TRY(st.run());
  TILLID_TRY(remove_work(s, row.info.id));
  return tx.commit();
}

Result<void> recover_pending(Vault::State& s, const ItemRow& row) {
  Id16 id;
  if (!parse_id(row.info.id, id)) return {};  // check_work already refused it
  std::error_code ec;
  const bool in_objects = std::filesystem::symlink_status(s.object_path(row.info.id), ec).type() !=
                          std::filesystem::file_type::not_found;
  if (!in_objects) {
    auto r = discard_pending(s, row);
    return s.record_result(LogAction::recovery, row.info.case_id, row.info.id, r, "interrupted add discarded");
  }
  auto r = complete_pending(s, row, id);
  TILLID_TRY(s.record_result(LogAction::recovery, row.info.case_id, row.info.id, r, "interrupted add completed"));
  if (r.ok()) TILLID_TRY(s.record_event(LogAction::item_added, row.info.case_id, row.info.id, LogOutcome::ok, "recovered"));
  return {};
}

}  // namespace

Result<void> recover_interrupted_work(Vault::State& s) {
  TILLID_ASSIGN(auto rows, load_item_rows(s.db, "WHERE state != 'sealed'", nullptr));
  for (const auto& row : rows) {
    // Never a live one: one writer process per vault (the access log's lock), and a
    // process's own recordings never pass through unlock again.
    if (row.state == "recording" && s.live_recordings.count(row.info.id) != 0) continue;
    TILLID_ASSIGN(auto refused, refusal(s, row));
    if (refused) {
      // Not work this appliance left unfinished: touch nothing, say so (verify names it too).
      TILLID_TRY(s.record_event(LogAction::recovery, loggable_id(row.info.case_id), loggable_id(row.info.id),
                                LogOutcome::failed, "left untouched: " + *refused));
      continue;
    }
    if (row.state == "pending") TILLID_TRY(recover_pending(s, row));
    else if (row.state == "recording") TILLID_TRY(recover_recording(s, row));
  }
  // Stray temporary files (e.g. a crash between creating tmp/<id>.tmp and its rename). Only
  // tmp/ is cleaned: nothing there is ever evidence (FORMAT.md §1).
  std::error_code ec;
  bool removed = false;
  for (auto it = std::filesystem::directory_iterator(s.tmp_dir(), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    TILLID_TRY(remove_if_exists(it->path()));
    removed = true;
  }
  if (ec) return make_error(Errc::io, "cannot list " + s.tmp_dir().string() + ": " + ec.message());
  if (removed) {
    TILLID_TRY(fsync_dir(s.tmp_dir()));
    TILLID_TRY(s.record_event(LogAction::recovery, "", "", LogOutcome::ok, "stray temporary files removed"));
  }
  return {};
}

}  // namespace tillid::detail
