// Listing and fetching items. A fetch checks the manifest signature first, then streams the
// object through ObjectReader (only authenticated chunks reach the sink) and finally checks
// the recomputed size and SHA-256 against the signed metadata.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>

#include "item_rows.hpp"
#include "object_stream.hpp"
#include "posix_io.hpp"
#include "vault_state.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;

namespace detail {

Result<void> read_item_content(Vault::State& s, const ItemRow& row, const ByteSink& sink) {
  const std::string label = "item " + row.info.id;
  // The v3 manifest (FORMAT.md §5.1) binds the case's number and municipality and the sealed
  // title, file name and interviewer too: nothing about the item is released unless signed.
  auto m = manifest_for(s, row);
  if (!m.ok())
    return make_error(m.error().code == Errc::not_found ? Errc::corrupt : m.error().code,
                      m.error().message + "; nothing was released; run verify");
  if (!verify_manifest_cached(s.signatures, s.signing_pk, *m, row.signature))
    return make_error(Errc::corrupt, label + ": its manifest signature does not verify (metadata altered); "
                                             "nothing was released; run verify");
  auto fd = open_regular_for_reading(s.object_path(row.info.id));
  if (!fd.ok()) {
    if (fd.error().code == Errc::not_found)
      return make_error(Errc::corrupt, label + ": its object file is missing from the vault; run verify and "
                                               "restore the object from backup");
    return fd.error();
  }
  Id16 id;
  parse_id(row.info.id, id);
  TILLID_ASSIGN(ObjectReader reader, ObjectReader::open(fd->get(), id, s.keys->item_wrap, label));
  if (reader.header().kind != row.info.kind)
    return make_error(Errc::corrupt, label + ": object kind does not match its metadata; run verify");
  TILLID_ASSIGN(StreamDigest d, decrypt_stream(reader, &sink));
  if (d.size != row.info.size || d.sha256 != row.info.sha256)
    return make_error(Errc::corrupt, label + ": content does not match its signed size and SHA-256; "
                                             "discard what was received and run verify");
  return {};
}

}  // namespace detail

namespace {

Result<ItemInfo> fetch_locked(Vault::State& s, const std::string& item_id, const ByteSink& sink) {
  TILLID_ASSIGN(ItemRow row, load_sealed_item(s, item_id));
  TILLID_TRY(read_item_content(s, row, sink));
  return row.info;
}

}  // namespace

Result<std::vector<ItemInfo>> Vault::items(std::optional<std::string> case_id) const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = [&]() -> Result<std::vector<ItemInfo>> {
    TILLID_TRY(s.require_unlocked());
    std::vector<ItemRow> rows;
    if (case_id) {
      TILLID_ASSIGN(CaseInfo c, find_case_locked(s, *case_id));
      TILLID_ASSIGN(rows, load_item_rows(s.db, "WHERE state = 'sealed' AND case_id = ?", &c.id));
    } else {
      TILLID_ASSIGN(rows, load_item_rows(s.db, "WHERE state = 'sealed'", nullptr));
    }
    std::vector<ItemInfo> out;
    CaseMemo memo;  // each case loaded and checked once for the whole listing
    for (auto& row : rows) {
      TILLID_TRY(open_item_fields(s, row));
      // Listed, but flagged unless its v3 manifest (and so its case) verifies over the stored
      // facts (FORMAT.md §5.1): a relabelled item is shown as such, never as genuine.
      row.info.verified = item_row_verifies(s, row, memo);
      out.push_back(std::move(row.info));
    }
    return out;
  }();
  TILLID_TRY(s.record_result(LogAction::items_listed, case_id.value_or(""), "", r,
                             r.ok() ? std::to_string(r->size()) + " items" : ""));
  return r;
}

Result<ItemInfo> Vault::item(const std::string& item_id) const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = load_sealed_item(s, item_id);
  TILLID_TRY(s.record_result(LogAction::item_viewed, r.ok() ? r->info.case_id : "", loggable_id(item_id), r));
  if (!r.ok()) return r.error();
  return std::move(r.value().info);
}

Result<ItemInfo> Vault::fetch(const std::string& item_id, const ByteSink& sink) const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = fetch_locked(s, item_id, sink);
  TILLID_TRY(s.record_result(LogAction::item_read, r.ok() ? r->case_id : "", loggable_id(item_id), r));
  return r;
}

Result<ItemInfo> Vault::fetch_to_file(const std::string& item_id, const fs::path& out) const {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec)))
    return make_error(Errc::already_exists, out.string() + " already exists; it was not overwritten");
  fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  // Write beside the target (same file system, so the rename is atomic), mode 0600.
  std::string tmpl = (dir / ("." + out.filename().string() + ".tillid-partial-XXXXXX")).string();
  int raw = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (raw < 0) return errno_error(errno, "cannot create a file in " + dir.string());
  Fd fd(raw);
  fs::path tmp = tmpl;
  const std::string what = "cannot write " + tmp.string();
  // Start writeback every 16 MiB so the closing fsync has little left to do; the fsync stays,
  // it is what makes the rename below safe after a power cut.
  constexpr std::uint64_t kWritebackEvery = 16u << 20;
  std::uint64_t written = 0, flushed = 0;
  ByteSink sink = [&](std::span<const unsigned char> bytes) -> Result<void> {
    TILLID_TRY(write_all(fd.get(), bytes, what));
    written += bytes.size();
    if (written - flushed >= kWritebackEvery) {
      ::sync_file_range(fd.get(), static_cast<off_t>(flushed), static_cast<off_t>(written - flushed),
                        SYNC_FILE_RANGE_WRITE);
      flushed = written;
    }
    return {};
  };
  auto r = [&]() -> Result<ItemInfo> {
    TILLID_ASSIGN(ItemInfo info, fetch(item_id, sink));
    TILLID_TRY(fsync_fd(fd.get(), "cannot flush " + tmp.string()));
    TILLID_TRY(fd.close_checked("cannot close " + tmp.string()));
    TILLID_TRY(rename_noreplace(tmp, out));
    TILLID_TRY(fsync_dir(dir));
    return info;
  }();
  if (!r.ok()) ::unlink(tmp.c_str());
  return r;
}

}  // namespace tillid
