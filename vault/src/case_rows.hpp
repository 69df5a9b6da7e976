// Reading case rows from SQLite as stored, and the case manifest they claim (FORMAT.md §5.4):
// the one place that knows the cases table's columns, shared by cases, verify, the item
// manifest (which signs its case's number and municipality) and the v3 upgrade.
#pragma once

#include "signature_cache.hpp"

#include <optional>
#include <string>
#include <vector>

#include "manifest.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

struct CaseRow {
  std::string id;
  std::string case_number;
  std::string municipality;
  std::vector<unsigned char> child_name_sealed;
  std::vector<unsigned char> cpr_sealed;
  std::vector<unsigned char> notes_sealed;
  std::int64_t created_unix = 0;
  std::string creator;
  std::vector<unsigned char> signature;  // empty (NULL) before the v3 upgrade signs it
};

// All case rows, in creation order.
Result<std::vector<CaseRow>> load_case_rows(Db& db);
// The row with this id, or nullopt.
Result<std::optional<CaseRow>> load_case_row(Db& db, const std::string& case_id);
// The manifest the stored row claims (FORMAT.md §5.4).
CaseManifest case_manifest_of(const CaseRow& row);
// The row's signature verifies over its case manifest.
bool case_row_verifies(const PublicKey& pk, const CaseRow& row);
// The same, remembering a valid signature over these exact bytes (signature_cache.hpp).
bool case_row_verifies(SignatureCache& cache, const PublicKey& pk, const CaseRow& row);
// "case <id> (<number>)": how problems name a case.
std::string case_label(const CaseRow& row);

}  // namespace tillid::detail
