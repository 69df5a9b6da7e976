// Reading item rows: see item_rows.hpp.
#include "item_rows.hpp"

#include <algorithm>

#include "metadata_seal.hpp"

namespace tillid::detail {

Result<std::vector<ItemRow>> load_item_rows(Db& db, const char* where, const std::string* param) {
  std::string sql =
      "SELECT id, case_id, kind, state, size, sha256, title, file_name, created_unix, creator, "
      "signature FROM items ";
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
    out.push_back(std::move(r));
  }
  return out;
}

Result<void> open_item_fields(const Vault::State& s, ItemRow& row) {
  TILLID_ASSIGN(row.info.title, open_field(s.keys->meta, s.vault_id, {"items", "title", row.info.id}, row.title_sealed));
  TILLID_ASSIGN(row.info.file_name,
                open_field(s.keys->meta, s.vault_id, {"items", "file_name", row.info.id}, row.file_name_sealed));
  return {};
}

Manifest manifest_of(const ItemRow& row) {
  Manifest m;
  parse_id(row.info.id, m.item_id);
  parse_id(row.info.case_id, m.case_id);
  m.kind = row.info.kind;
  m.size = row.info.size;
  m.sha256 = row.info.sha256;
  m.created_unix = row.info.created_unix;
  m.creator = row.info.creator;
  return m;
}

}  // namespace tillid::detail
