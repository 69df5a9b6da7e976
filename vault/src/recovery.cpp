// Recovery of work a crash interrupted, run at every unlock before anything is listed
// (FORMAT.md §6). Each non-sealed item state has its own rule:
//   pending   — an add that never completed: remove its tmp file and object, then its row.
//   recording — a recording cut off by power loss or a kill: keep every chunk that
//               authenticates, close the stream, seal it as interrupted (FORMAT.md §7.5,
//               recording_recovery.cpp).
// Files first, row last, so a crash during recovery leaves a pending row and recovery simply
// runs again. Stray files in tmp/ are removed; objects without a row are NOT touched here:
// they may be evidence, and verify reports them.
#include <system_error>

#include "item_rows.hpp"
#include "posix_io.hpp"
#include "recording_format.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

namespace {

Result<void> discard_pending(Vault::State& s, const ItemRow& row) {
  TILLID_TRY(remove_if_exists(s.tmp_object_path(row.info.id)));
  TILLID_TRY(remove_if_exists(s.object_path(row.info.id)));
  TILLID_TRY(fsync_dir(s.tmp_dir()));
  TILLID_TRY(fsync_dir(s.objects_dir()));
  TILLID_ASSIGN(Stmt st, s.db.prepare("DELETE FROM items WHERE id = ? AND state = 'pending'",
                                      "cannot remove an interrupted item"));
  st.bind(1, row.info.id);
  return st.run();
}

}  // namespace

Result<void> recover_interrupted_work(Vault::State& s) {
  TILLID_ASSIGN(auto rows, load_item_rows(s.db, "WHERE state != 'sealed'", nullptr));
  std::vector<std::string> keep_tmp;
  for (const auto& row : rows) {
    if (row.state == "pending") {
      auto r = discard_pending(s, row);
      TILLID_TRY(s.record_result(LogAction::recovery, row.info.case_id, row.info.id, r, "interrupted add discarded"));
      TILLID_TRY(r);
    } else if (row.state == "recording") {
      // Never a live one: one writer process per vault (the access log's lock), and a
      // process's own recordings never pass through unlock again.
      if (s.live_recordings.count(row.info.id) != 0) continue;
      TILLID_TRY(recover_recording(s, row));
    }
  }
  // Stray temporary files (e.g. a crash between creating tmp/<id>.tmp and... anything).
  std::error_code ec;
  bool removed = false;
  for (auto it = std::filesystem::directory_iterator(s.tmp_dir(), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    if (std::find(keep_tmp.begin(), keep_tmp.end(), name) != keep_tmp.end()) continue;
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
