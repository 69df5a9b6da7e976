// Reading case rows: see case_rows.hpp.
#include "case_rows.hpp"

namespace tillid::detail {

namespace {

constexpr const char* kColumns =
    "SELECT id, case_number, municipality, child_name, cpr, notes, created_unix, creator, signature FROM cases ";

CaseRow row_of(const Stmt& st) {
  CaseRow c;
  c.id = st.text(0);
  c.case_number = st.text(1);
  c.municipality = st.text(2);
  c.child_name_sealed = st.blob(3);
  c.cpr_sealed = st.blob(4);
  c.notes_sealed = st.blob(5);
  c.created_unix = st.int64(6);
  c.creator = st.text(7);
  c.signature = st.blob(8);
  return c;
}

}  // namespace

Result<std::vector<CaseRow>> load_case_rows(Db& db) {
  TILLID_ASSIGN(Stmt st, db.prepare((std::string(kColumns) + "ORDER BY created_unix, id").c_str(),
                                    "cannot read the cases"));
  std::vector<CaseRow> out;
  for (;;) {
    TILLID_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(row_of(st));
  }
  return out;
}

Result<std::optional<CaseRow>> load_case_row(Db& db, const std::string& case_id) {
  TILLID_ASSIGN(Stmt st, db.prepare((std::string(kColumns) + "WHERE id = ?").c_str(), "cannot read the case"));
  st.bind(1, case_id);
  TILLID_ASSIGN(bool row, st.step());
  if (!row) return std::optional<CaseRow>{};
  return std::optional<CaseRow>{row_of(st)};
}

CaseManifest case_manifest_of(const CaseRow& row) {
  CaseManifest m;
  parse_id(row.id, m.case_id);
  m.case_number = row.case_number;
  m.municipality = row.municipality;
  m.created_unix = row.created_unix;
  m.creator = row.creator;
  m.child_name_sealed_sha256 = sealed_digest(row.child_name_sealed);
  m.cpr_sealed_sha256 = sealed_digest(row.cpr_sealed);
  m.notes_sealed_sha256 = sealed_digest(row.notes_sealed);
  return m;
}

bool case_row_verifies(const PublicKey& pk, const CaseRow& row) {
  Id16 id;
  // A malformed id would encode as zeros; never let two rows share one signed encoding.
  if (!parse_id(row.id, id) || to_hex(id) != row.id) return false;
  return verify_case_manifest(pk, case_manifest_of(row), row.signature);
}

bool case_row_verifies(SignatureCache& cache, const PublicKey& pk, const CaseRow& row) {
  Id16 id;
  if (!parse_id(row.id, id) || to_hex(id) != row.id) return false;  // as above
  return verify_case_manifest_cached(cache, pk, case_manifest_of(row), row.signature);
}

std::string case_label(const CaseRow& row) { return "case " + row.id + " (" + row.case_number + ")"; }

}  // namespace tillid::detail
