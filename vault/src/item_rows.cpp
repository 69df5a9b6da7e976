// Reading item rows: see item_rows.hpp.
#include "item_rows.hpp"

#include <algorithm>

#include "case_rows.hpp"
#include "metadata_seal.hpp"

namespace tillid::detail {

Result<std::vector<ItemRow>> load_item_rows(Db& db, const char* where, const std::string* param) {
  std::string sql =
      "SELECT id, case_id, kind, state, size, sha256, title, file_name, created_unix, creator, "
      "signature, interviewer, duration_ms, interrupted, interrupted_unix FROM items ";
  sql += where;
  sql += " ORDER BY created_unix, id";
  TILLID_ASSIGN(Stmt st, db.prepare(sql.c_str(), "cannot read the items"));
  if (param != nullptr) st.bind(1, *param);
  std::vector<ItemRow> out;
  for (;;) {
    TILLID_ASSIGN(bool row, st.step());
    if (!row) break;
    ItemRow r;
    r.info.id = st.text(0);
    r.info.case_id = st.text(1);
    auto kind = st.text(2);
    r.kind_known = kind == "document" || kind == "recording";
    r.info.kind = kind == "recording" ? ItemKind::recording : ItemKind::document;
    r.state = st.text(3);
    r.info.size = static_cast<std::uint64_t>(st.int64(4));
    r.sha256 = st.blob(5);
    if (r.sha256.size() == r.info.sha256.size()) std::copy(r.sha256.begin(), r.sha256.end(), r.info.sha256.begin());
    r.title_sealed = st.blob(6);
    r.file_name_sealed = st.blob(7);
    r.info.created_unix = st.int64(8);
    r.info.creator = st.text(9);
    r.signature = st.blob(10);
    r.interviewer_sealed = st.blob(11);
    r.info.duration_ms = st.int64(12);
    r.info.interrupted = st.int64(13) != 0;
    r.info.interrupted_unix = st.int64(14);
    out.push_back(std::move(r));
  }
  st.reset();
  // Bookmarks of recordings: needed for the manifest (their digest is signed) and the count.
  TILLID_ASSIGN(Stmt bm, db.prepare("SELECT seq, offset_ms, created_unix, label FROM bookmarks "
                                    "WHERE item_id = ? ORDER BY seq",
                                    "cannot read the bookmarks"));
  for (auto& r : out) {
    if (r.info.kind != ItemKind::recording) continue;
    bm.reset();
    bm.bind(1, r.info.id);
    for (;;) {
      TILLID_ASSIGN(bool row, bm.step());
      if (!row) break;
      r.bookmarks.push_back(StoredBookmark{bm.int64(0), bm.int64(1), bm.int64(2), bm.blob(3)});
    }
    r.info.bookmark_count = r.bookmarks.size();
  }
  return out;
}

Result<void> open_item_fields(const Vault::State& s, ItemRow& row) {
  TILLID_ASSIGN(row.info.title, open_field(s.keys->meta, s.vault_id, {"items", "title", row.info.id}, row.title_sealed));
  TILLID_ASSIGN(row.info.file_name,
                open_field(s.keys->meta, s.vault_id, {"items", "file_name", row.info.id}, row.file_name_sealed));
  if (!row.interviewer_sealed.empty()) {
    TILLID_ASSIGN(row.info.interviewer, open_field(s.keys->meta, s.vault_id, {"items", "interviewer", row.info.id},
                                                   row.interviewer_sealed));
  }
  return {};
}

Manifest legacy_manifest_of(const ItemRow& row) {
  Manifest m;
  m.version = 1;
  parse_id(row.info.id, m.item_id);
  parse_id(row.info.case_id, m.case_id);
  m.kind = row.info.kind;
  m.size = row.info.size;
  m.sha256 = row.info.sha256;
  m.created_unix = row.info.created_unix;
  m.creator = row.info.creator;
  if (row.info.kind == ItemKind::recording) {
    m.version = 2;  // FORMAT.md §5.3
    m.duration_ms = row.info.duration_ms;
    m.interrupted = row.info.interrupted;
    m.interrupted_unix = row.info.interrupted_unix;
    m.bookmarks_sha256 = bookmarks_digest(row.bookmarks);
  }
  return m;
}

Result<Manifest> manifest_for(Vault::State& s, const ItemRow& row) {
  CaseMemo memo;
  return manifest_for(s, row, memo);
}

Result<Manifest> manifest_for(Vault::State& s, const ItemRow& row, CaseMemo& memo) {
  const std::string item = "item " + row.info.id;
  auto loaded = memo.rows.find(row.info.case_id);
  if (loaded == memo.rows.end()) {
    TILLID_ASSIGN(auto c, load_case_row(s.db, row.info.case_id));
    loaded = memo.rows.emplace(row.info.case_id, std::move(c)).first;
  }
  const std::optional<CaseRow>& c = loaded->second;
  if (!c)
    return make_error(Errc::not_found, item + ": its case " + row.info.case_id +
                                           " is missing from the metadata (case row deleted)");
  auto checked = memo.verifies.find(c->id);
  if (checked == memo.verifies.end())
    checked = memo.verifies.emplace(c->id, case_row_verifies(s.signatures, s.signing_pk, *c)).first;
  if (!checked->second)
    return make_error(Errc::corrupt, item + ": the signature of its " + case_label(*c) +
                                         " does not verify (case number, municipality or sealed fields altered)");
  Manifest m = legacy_manifest_of(row);
  m.version = kManifestVersion;  // FORMAT.md §5.1
  m.case_number = c->case_number;
  m.municipality = c->municipality;
  m.title_sealed_sha256 = sealed_digest(row.title_sealed);
  m.file_name_sealed_sha256 = sealed_digest(row.file_name_sealed);
  m.has_interviewer = !row.interviewer_sealed.empty();
  if (m.has_interviewer) m.interviewer_sealed_sha256 = sealed_digest(row.interviewer_sealed);
  if (row.info.kind != ItemKind::recording) {
    m.duration_ms = 0;
    m.interrupted = false;
    m.interrupted_unix = 0;
  }
  m.bookmarks_sha256 = bookmarks_digest(row.bookmarks);
  return m;
}

bool item_row_verifies(Vault::State& s, const ItemRow& row, CaseMemo& memo) {
  auto m = manifest_for(s, row, memo);
  return m.ok() && verify_manifest_cached(s.signatures, s.signing_pk, *m, row.signature);
}

std::string bookmark_row_id(std::string_view item_id, std::int64_t seq) {
  return std::string(item_id) + "/" + std::to_string(seq);
}

Result<std::vector<Bookmark>> open_bookmarks(const Vault::State& s, const ItemRow& row) {
  std::vector<Bookmark> out;
  for (const auto& b : row.bookmarks) {
    const std::string rid = bookmark_row_id(row.info.id, b.seq);
    TILLID_ASSIGN(std::string label, open_field(s.keys->meta, s.vault_id, {"bookmarks", "label", rid}, b.label_sealed));
    out.push_back(Bookmark{static_cast<int>(b.seq), b.offset_ms, std::move(label), b.created_unix});
  }
  return out;
}

Result<ItemRow> load_sealed_item(Vault::State& s, const std::string& item_id) {
  TILLID_TRY(s.require_unlocked());
  Id16 id;
  if (!parse_id(item_id, id))
    return make_error(Errc::invalid_argument, "\"" + item_id + "\" is not an item id (32 hex characters)");
  TILLID_ASSIGN(auto rows, load_item_rows(s.db, "WHERE id = ? AND state = 'sealed'", &item_id));
  if (rows.empty()) return make_error(Errc::not_found, "there is no item " + item_id);
  // Nothing about an item is served unless the appliance signed it (FORMAT.md §5.2): its
  // title, interviewer, case and bookmarks as shown must be the ones the manifest covers.
  auto m = manifest_for(s, rows[0]);
  if (!m.ok())
    return make_error(Errc::corrupt, m.error().message + "; nothing was shown; run verify");
  if (!verify_manifest_cached(s.signatures, s.signing_pk, *m, rows[0].signature))
    return make_error(Errc::corrupt, "item " + item_id + ": its manifest signature does not verify (metadata "
                                     "altered); nothing was shown; run verify");
  TILLID_TRY(open_item_fields(s, rows[0]));
  return std::move(rows[0]);
}

}  // namespace tillid::detail
