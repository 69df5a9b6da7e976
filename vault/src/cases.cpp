// Cases: a case number and municipality in the clear (they identify a case file, not a
// child); the child's name, CPR number and notes sealed (metadata_seal.hpp, FORMAT.md §4);
// the row signed by the appliance as a case manifest (FORMAT.md §5.4).
#include <ctime>

#include "case_rows.hpp"
#include "metadata_seal.hpp"
#include "item_rows.hpp"
#include "vault_state.hpp"

namespace tillid {

using namespace detail;

namespace {

Result<void> check_clear_field(std::string_view v, const char* name) {
  if (v.empty()) return make_error(Errc::invalid_argument, std::string("the ") + name + " is empty");
  if (v.size() > 64) return make_error(Errc::invalid_argument, std::string("the ") + name + " is longer than 64 bytes");
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f)
      return make_error(Errc::invalid_argument, std::string("the ") + name + " contains control characters");
  return {};
}

// The case as stored, its sealed fields opened and its signature checked (FORMAT.md §5.4).
Result<CaseInfo> case_info_of(Vault::State& s, const CaseRow& row) {
  CaseInfo c;
  c.id = row.id;
  c.case_number = row.case_number;
  c.municipality = row.municipality;
  TILLID_ASSIGN(c.child_name, open_field(s.keys->meta, s.vault_id, {"cases", "child_name", c.id}, row.child_name_sealed));
  TILLID_ASSIGN(c.cpr, open_field(s.keys->meta, s.vault_id, {"cases", "cpr", c.id}, row.cpr_sealed));
  TILLID_ASSIGN(c.notes, open_field(s.keys->meta, s.vault_id, {"cases", "notes", c.id}, row.notes_sealed));
  c.created_unix = row.created_unix;
  c.creator = row.creator;
  c.verified = case_row_verifies(s.signatures, s.signing_pk, row);
  return c;
}

}  // namespace

// Shared with items.cpp: resolve a case by id or case number (caller holds the mutex).
namespace detail {
Result<CaseInfo> find_case_locked(Vault::State& s, const std::string& id_or_number) {
  TILLID_TRY(s.require_unlocked());
  // By id first, then by case number; either way only a case whose signature verifies is
  // acted on (FORMAT.md §5.4): a relabelled case must not receive or list evidence.
  std::optional<CaseRow> row;
  Id16 id;
  if (parse_id(id_or_number, id)) {
    TILLID_ASSIGN(row, load_case_row(s.db, id_or_number));
  }
  if (!row) {
    TILLID_ASSIGN(Stmt st, s.db.prepare("SELECT id FROM cases WHERE case_number = ?", "cannot read the case"));
    st.bind(1, id_or_number);
    TILLID_ASSIGN(bool found, st.step());
    if (found) {
      TILLID_ASSIGN(row, load_case_row(s.db, st.text(0)));
    }
  }
  if (!row) return make_error(Errc::not_found, "no case has the id or case number \"" + id_or_number + "\"");
  TILLID_ASSIGN(CaseInfo c, case_info_of(s, *row));
  if (!c.verified)
    return make_error(Errc::corrupt, "the signature of " + case_label(*row) +
                                         " does not verify (case number, municipality or sealed fields altered); "
                                         "nothing was done; run verify");
  return c;
}
}  // namespace detail

Result<CaseInfo> Vault::add_case(const NewCase& nc) {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = [&]() -> Result<CaseInfo> {
    TILLID_TRY(s.require_unlocked());
    TILLID_TRY(check_clear_field(nc.case_number, "case number"));
    TILLID_TRY(check_clear_field(nc.municipality, "municipality code"));
    CaseInfo c;
    c.id = to_hex(random_id());
    c.case_number = nc.case_number;
    c.municipality = nc.municipality;
    c.child_name = nc.child_name;
    c.cpr = nc.cpr;
    c.notes = nc.notes;
    c.created_unix = static_cast<std::int64_t>(std::time(nullptr));
    c.creator = s.actor.id;
    // The row as it will be stored, and its signature (FORMAT.md §5.4) in the same INSERT.
    CaseRow row;
    row.id = c.id;
    row.case_number = c.case_number;
    row.municipality = c.municipality;
    row.child_name_sealed = seal_field(s.keys->meta, s.vault_id, {"cases", "child_name", c.id}, c.child_name);
    row.cpr_sealed = seal_field(s.keys->meta, s.vault_id, {"cases", "cpr", c.id}, c.cpr);
    row.notes_sealed = seal_field(s.keys->meta, s.vault_id, {"cases", "notes", c.id}, c.notes);
    row.created_unix = c.created_unix;
    row.creator = c.creator;
    const Signature sig = sign_case_manifest(s.keys->signing_sk, case_manifest_of(row));
    TILLID_ASSIGN(Stmt st, s.db.prepare("INSERT INTO cases (id, case_number, municipality, child_name, cpr, "
                                        "notes, created_unix, creator, signature) VALUES (?,?,?,?,?,?,?,?,?)",
                                        "cannot store the case"));
    st.bind(1, row.id)
        .bind(2, row.case_number)
        .bind(3, row.municipality)
        .bind_blob(4, row.child_name_sealed)
        .bind_blob(5, row.cpr_sealed)
        .bind_blob(6, row.notes_sealed)
        .bind(7, row.created_unix)
        .bind(8, row.creator)
        .bind_blob(9, sig);
    auto run = st.run();
    if (!run.ok()) {
      if (run.error().code == Errc::already_exists)
        return make_error(Errc::already_exists, "a case with case number \"" + c.case_number + "\" already exists");
      return run.error();
    }
    return c;
  }();
  TILLID_TRY(s.record_result(LogAction::case_created, r.ok() ? r->id : "", "", r));
  return r;
}

Result<std::vector<CaseInfo>> Vault::cases() const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = [&]() -> Result<std::vector<CaseInfo>> {
    TILLID_TRY(s.require_unlocked());
    TILLID_ASSIGN(auto rows, load_case_rows(s.db));
    std::vector<CaseInfo> out;
    for (const auto& row : rows) {
      TILLID_ASSIGN(auto c, case_info_of(s, row));
      out.push_back(std::move(c));
    }
    return out;
  }();
  TILLID_TRY(s.record_result(LogAction::cases_listed, "", "", r, r.ok() ? std::to_string(r->size()) + " cases" : ""));
  return r;
}

Result<CaseInfo> Vault::find_case(const std::string& id_or_number) const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = find_case_locked(s, id_or_number);
  TILLID_TRY(s.record_result(LogAction::case_viewed, r.ok() ? r->id : "", "", r));
  return r;
}

}  // namespace tillid
