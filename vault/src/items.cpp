// Adding items (FORMAT.md §6, the add protocol). An item becomes visible only when complete
// and durable:
//   1. insert the row with state 'pending' and its work record (work_record.hpp, MAC under
//      subkey 4) in one commit: recovery acts only on a row whose record authenticates,
//   2. write the object to tmp/<id>.tmp, fsync it,
//   3. rename it to objects/<id>, fsync objects/,
//   4. sign the manifest, set size, SHA-256, signature and state 'sealed' and delete the work
//      record, in one commit.
// A crash before 3 leaves a pending row that recovery (recovery.cpp) removes with its tmp
// file; after 3 recovery finishes the add. A failure we see (full disk, bad input) is cleaned
// up here at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "item_rows.hpp"
#include "metadata_seal.hpp"
#include "object_stream.hpp"
#include "posix_io.hpp"
#include "vault_state.hpp"
#include "work_record.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;

namespace {

struct Ingest {
  std::string id;
  bool row_inserted = false;
  bool tmp_created = false;
  bool renamed = false;
};

// Undo a failed add: files first (that frees the space a full disk needs for the row delete),
// then the row. Best effort; whatever remains is pending and recovery finishes it.
void discard_failed_ingest(Vault::State& s, const Ingest& in) {
  if (in.tmp_created) (void)remove_if_exists(s.tmp_object_path(in.id));
  if (in.renamed) {
    (void)remove_if_exists(s.object_path(in.id));
    (void)fsync_dir(s.objects_dir());
  }
  if (in.row_inserted) {
    auto tx = Transaction::begin(s.db, "cannot remove the pending item");
    if (!tx.ok()) return;
    auto st = s.db.prepare("DELETE FROM items WHERE id = ? AND state = 'pending'", "cannot remove the pending item");
    if (st.ok() && st->bind(1, in.id).run().ok() && remove_work(s, in.id).ok()) (void)tx->commit();
  }
}

Result<ItemInfo> ingest_locked(Vault::State& s, Ingest& in, const std::string& case_id, ItemKind kind,
                               const ByteSource& content, const std::string& title,
                               const std::string& file_name) {
  TILLID_TRY(s.require_unlocked());
  TILLID_ASSIGN(CaseInfo c, find_case_locked(s, case_id));
  Id16 id = random_id();
  in.id = to_hex(id);
  ItemInfo info;
  info.id = in.id;
  info.case_id = c.id;
  info.kind = kind;
  info.title = title;
  info.file_name = file_name;
  info.created_unix = static_cast<std::int64_t>(std::time(nullptr));
  info.creator = s.actor.id;

  // The sealed fields as stored: their digests are signed at step 4 (FORMAT.md §5.1).
  ItemRow signed_row;
  signed_row.title_sealed = seal_field(s.keys->meta, s.vault_id, {"items", "title", info.id}, title);
  signed_row.file_name_sealed = seal_field(s.keys->meta, s.vault_id, {"items", "file_name", info.id}, file_name);
  {  // 1. pending row and its work record, one commit (FORMAT.md §6.1)
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot record the new item"));
    TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT INTO items (id, case_id, kind, state, title, file_name, "
                                        "created_unix, creator) VALUES (?,?,?,'pending',?,?,?,?)",
                                        "cannot record the new item"));
    st.bind(1, info.id)
        .bind(2, info.case_id)
        .bind(3, to_string(kind))
        .bind_blob(4, signed_row.title_sealed)
        .bind_blob(5, signed_row.file_name_sealed)
        .bind(6, info.created_unix)
        .bind(7, info.creator);
    TILLID_TRY(st.run());
    TILLID_TRY(put_work(s, info.id,
                        new_work_record(WorkOp::add, id, info.case_id, kind, info.created_unix, info.creator,
                                        signed_row.title_sealed, signed_row.file_name_sealed, {})));
    TILLID_TRY(tx.commit());
    in.row_inserted = true;
  }
  {  // 2. object in tmp/, fsynced
    TILLID_ASSIGN(Fd fd, open_file(s.tmp_object_path(in.id), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
    in.tmp_created = true;
    Secret content_key = Secret::random(kKeyBytes);
    TILLID_ASSIGN(ObjectWriter w, ObjectWriter::begin(fd.get(), id, kind, kDocumentChunkSize, content_key,
                                                      s.keys->item_wrap));
    w.set_background_writeback(true);
    TILLID_ASSIGN(StreamDigest d, encrypt_stream(w, content, kDocumentChunkSize));
    TILLID_TRY(w.sync());
    TILLID_TRY(fd.close_checked("cannot close the new object"));
    info.size = d.size;
    info.sha256 = d.sha256;
  }
  // 3. into objects/, durably
  TILLID_TRY(rename_noreplace(s.tmp_object_path(in.id), s.object_path(in.id)));
  in.tmp_created = false;
  in.renamed = true;
  TILLID_TRY(fsync_dir(s.objects_dir()));
  // 4. sign and seal the row
  signed_row.info = info;  // the values this process wrote, never read back from disk
  TILLID_ASSIGN(Manifest m, manifest_for(s, signed_row));  // v3, FORMAT.md §5.1
  Signature sig = sign_manifest(s.keys->signing_sk, m);
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot seal the new item"));
  TILLID_ASSIGN(Stmt st, s.db.prepare("UPDATE items SET size = ?, sha256 = ?, signature = ?, state = 'sealed' "
                                      "WHERE id = ? AND state = 'pending'",
                                      "cannot seal the new item"));
  st.bind(1, static_cast<std::int64_t>(info.size)).bind_blob(2, info.sha256).bind_blob(3, sig).bind(4, info.id);
  TILLID_TRY(st.run());
  if (sqlite3_changes(s.db.handle()) != 1)
    return make_error(Errc::internal, "the new item's pending row vanished before it was sealed");
  TILLID_TRY(remove_work(s, info.id));  // sealed: recovery must never act on it again
  TILLID_TRY(tx.commit());
  return info;
}

}  // namespace

Result<ItemInfo> Vault::add_document(const std::string& case_id, const ByteSource& content, std::string title,
                                     std::string file_name) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  Ingest in;
  auto r = ingest_locked(s, in, case_id, ItemKind::document, content, title, file_name);
  if (!r.ok()) discard_failed_ingest(s, in);
  TILLID_TRY(s.record_result(LogAction::item_added, r.ok() ? r->case_id : "", in.id, r));
  return r;
}

Result<ItemInfo> Vault::add_document_file(const std::string& case_id, const fs::path& file, std::string title) {
  // Check the input before anything is written to the vault.
  int raw = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (raw < 0) {
    int err = errno;
    Error e = errno_error(err, "cannot open the input file " + file.string());
    if (err == EACCES || err == EPERM) e.message += " (check the file's permissions)";
    std::lock_guard lk(state_->mutex);
    TILLID_TRY(state_->record_failure(LogAction::item_added, "", "", e));
    return e;
  }
  Fd fd(raw);
  struct stat st {};
  std::optional<Error> bad;
  if (::fstat(fd.get(), &st) != 0)
    bad = errno_error(errno, "cannot inspect the input file " + file.string());
  else if (S_ISDIR(st.st_mode))
    bad = make_error(Errc::invalid_argument, file.string() + " is a directory; give a file to add");
  else if (!S_ISREG(st.st_mode))
    bad = make_error(Errc::invalid_argument, file.string() + " is not a regular file; give a file to add");
  if (bad) {
    std::lock_guard lk(state_->mutex);
    TILLID_TRY(state_->record_failure(LogAction::item_added, "", "", *bad));
    return *bad;
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  const std::string what = "cannot read the input file " + file.string();
  ByteSource source = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_error(errno, what);
    }
  };
  return add_document(case_id, source, std::move(title), file.filename().string());
}

}  // namespace tillid
