// Recovery of a recording cut off by a crash or power loss (FORMAT.md §7.5), run at unlock.
//
// Pass 1 reads objects/<id> with ObjectReader until authentication stops (a torn last
// record, or the end of the file) or the final chunk: that gives the number of good chunks,
// the SHA-256 and size of their plaintext (the Ogg stream) and, from the last Ogg page's
// granule position, the duration. If the final chunk is there (the crash hit between the
// final chunk and the seal commit) the object is kept as it is.
// Otherwise pass 2 re-encrypts the good chunks, same boundaries, under a fresh content key
// into tmp/<id>.tmp, closes it with an empty TAG_FINAL chunk, fsyncs it and renames it over
// objects/<id> (atomic: at every instant objects/<id> is either the original or the complete
// replacement, so a crash during recovery loses nothing and recovery simply runs again).
// Then the row is sealed with interrupted = 1 and the time of the cut (the original object's
// mtime, i.e. its last durable write), and the log gets recovery + record_stop "interrupted".
// recovery.cpp calls this only for a row whose work record authenticates and matches it and
// that the log never saw finished (FORMAT.md §6.2), so the values signed here are the ones
// the appliance recorded when the recording began.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "object_format.hpp"
#include "posix_io.hpp"
#include "recording_format.hpp"
#include "work_record.hpp"

namespace tillid::detail {

namespace {

struct Pass1 {
  std::uint64_t good_chunks = 0;
  bool final_seen = false;
  std::uint64_t size = 0;
  Sha256Digest sha256{};
  std::int64_t duration_ms = 0;
};

Result<Pass1> scan_object(ObjectReader& reader) {
  Pass1 p;
  TILLID_ASSIGN(Sha256 sha, Sha256::create());
  Secret buf(reader.header().chunk_size);  // plaintext audio stays in locked, wiped memory
  OggScan ogg;
  for (;;) {
    auto c = reader.next(buf.bytes());
    if (!c.ok()) break;  // authentication stopped here: keep everything before it
    sha.update({buf.data(), c->size});
    ogg.feed({buf.data(), c->size});
    p.size += c->size;
    ++p.good_chunks;
    if (c->final) {
      p.final_seen = true;
      break;
    }
  }
  TILLID_ASSIGN(p.sha256, sha.finish());
  p.duration_ms = ogg.duration_ms();
  return p;
}

// Pass 2: copy the first `chunks` authenticated chunks into a new object and close it. The
// last kept Ogg page gets the end-of-stream flag (FORMAT.md §7.5), so the digest, size and
// duration of the stream as recovered are computed here, over exactly what is stored.
Result<Pass1> rewrite_object(Vault::State& s, const ItemRow& row, const Id16& id, std::uint64_t chunks) {
  const std::string& item_id = row.info.id;
  const auto tmp = s.tmp_object_path(item_id);
  TILLID_TRY(remove_if_exists(tmp));  // left by a recovery that was itself interrupted
  TILLID_ASSIGN(Fd in, open_file(s.object_path(item_id), O_RDONLY | O_NOFOLLOW));
  TILLID_ASSIGN(ObjectReader reader, ObjectReader::open(in.get(), id, s.keys->item_wrap, "recording " + item_id));
  TILLID_ASSIGN(Fd out, open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600));
  auto r = [&]() -> Result<Pass1> {
    Pass1 p;
    TILLID_ASSIGN(Sha256 sha, Sha256::create());
    OggScan ogg;
    Secret content_key = Secret::random(kKeyBytes);
    TILLID_ASSIGN(ObjectWriter w, ObjectWriter::begin(out.get(), id, ItemKind::recording, reader.header().chunk_size,
                                                      content_key, s.keys->item_wrap));
    Secret buf(reader.header().chunk_size);
    for (std::uint64_t i = 0; i < chunks; ++i) {
      TILLID_ASSIGN(ChunkRead c, reader.next(buf.bytes()));
      std::span<unsigned char> plain{buf.data(), c.size};
      // Chunk 0 holds only the headers; EOS there would end the stream before any audio.
      if (i + 1 == chunks && i > 0) (void)set_last_page_eos(plain);
      sha.update(plain);
      ogg.feed(plain);
      p.size += plain.size();
      TILLID_TRY(w.append_chunk(plain, false));
    }
    TILLID_TRY(w.append_chunk({}, true));
    TILLID_TRY(w.sync());
    TILLID_TRY(out.close_checked("cannot close the recovered recording"));
    // Replace the original atomically (rename(2) over it), then make that durable.
    if (::rename(tmp.c_str(), s.object_path(item_id).c_str()) != 0)
      return errno_error(errno, "cannot move the recovered recording into place");
    TILLID_TRY(fsync_dir(s.objects_dir()));
    TILLID_TRY(fsync_dir(s.tmp_dir()));
    p.good_chunks = chunks;
    TILLID_ASSIGN(p.sha256, sha.finish());
    p.duration_ms = ogg.duration_ms();
    return p;
  }();
  if (!r.ok()) (void)remove_if_exists(tmp);
  return r;
}

Result<void> discard_empty(Vault::State& s, const ItemRow& row) {
  TILLID_TRY(remove_if_exists(s.object_path(row.info.id)));
  TILLID_TRY(fsync_dir(s.objects_dir()));
  TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot remove an empty interrupted recording"));
  TILLID_ASSIGN(Stmt st, s.db.prepare("DELETE FROM items WHERE id = ? AND state = 'recording'",
                                      "cannot remove an empty interrupted recording"));
  st.bind(1, row.info.id);
  TILLID_TRY(st.run());
  TILLID_TRY(remove_work(s, row.info.id));
  return tx.commit();
}

}  // namespace

Result<void> recover_recording(Vault::State& s, const ItemRow& row) {
  const std::string& item_id = row.info.id;
  const std::string& case_id = row.info.case_id;
  Id16 id;
  if (!parse_id(item_id, id)) {
    return s.record_event(LogAction::recovery, case_id, "", LogOutcome::failed, "recording id malformed");
  }
  // O_NONBLOCK: a FIFO planted in the object's place must not hang the unlock.
  auto in = open_file(s.object_path(item_id), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  struct stat st {};
  const bool missing = !in.ok() && in.error().code == Errc::not_found;
  if (!in.ok() && !missing)  // e.g. a symlink planted in its place: not a crash artefact
    return s.record_event(LogAction::recovery, case_id, item_id, LogOutcome::failed,
                          std::string("left untouched: object cannot be opened (") + to_string(in.error().code) + ")");
  if (!missing && ::fstat(in->get(), &st) != 0) return errno_error(errno, "cannot inspect a recording's object");
  if (!missing && !S_ISREG(st.st_mode))
    return s.record_event(LogAction::recovery, case_id, item_id, LogOutcome::failed,
                          "left untouched: object is not a regular file");
  // The row is committed before the object's header is written and made durable, and no
  // audio is accepted before that: an absent or header-less object held no audio at all.
  if (missing || static_cast<std::uint64_t>(st.st_size) < kObjectHeaderBytes) {
    // A bookmark is accepted only after the header is durable: with bookmarks, a missing or
    // short object was cut by someone else, not by a crash. Leave it for verify to name.
    if (!row.bookmarks.empty())
      return s.record_event(LogAction::recovery, case_id, item_id, LogOutcome::failed,
                            "left untouched: object missing or short but bookmarks exist");
    auto r = discard_empty(s, row);
    return s.record_result(LogAction::recovery, case_id, item_id, r, "recording held no audio; removed");
  }
  auto reader = ObjectReader::open(in->get(), id, s.keys->item_wrap, "recording " + item_id);
  if (!reader.ok()) {
    // Not a crash artefact (the header is written and synced before any audio): leave the
    // row as it is for verify to name, and let the vault unlock.
    return s.record_event(LogAction::recovery, case_id, item_id, LogOutcome::failed, to_string(reader.error().code));
  }
  TILLID_ASSIGN(Pass1 p, scan_object(reader.value()));
  in->reset();
  auto r = [&]() -> Result<ItemInfo> {
    if (!p.final_seen) {
      TILLID_ASSIGN(Pass1 rewritten, rewrite_object(s, row, id, p.good_chunks));
      p.size = rewritten.size;
      p.sha256 = rewritten.sha256;
      p.duration_ms = rewritten.duration_ms;
    }
    RecordingSeal seal;
    seal.size = p.size;
    seal.sha256 = p.sha256;
    seal.duration_ms = p.duration_ms;
    seal.interrupted = !p.final_seen;
    // The mtime is not authenticated: keep it within [start of the recording, now].
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    seal.interrupted_unix = std::clamp(static_cast<std::int64_t>(st.st_mtim.tv_sec), row.info.created_unix,
                                       std::max(now, row.info.created_unix));
    return seal_recording_row(s, item_id, seal);
  }();
  const std::string what = p.final_seen ? "stopped recording sealed" : "interrupted recording sealed";
  TILLID_TRY(s.record_result(LogAction::recovery, case_id, item_id, r, what));
  if (!r.ok()) return {};  // logged; verify names it; the unlock goes on
  return s.record_event(LogAction::record_stop, case_id, item_id, LogOutcome::ok,
                        p.final_seen ? "duration_ms=" + std::to_string(p.duration_ms) : "interrupted");
}

}  // namespace tillid::detail
