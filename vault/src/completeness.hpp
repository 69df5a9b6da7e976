// Completeness (FORMAT.md §5.6, issue 10 class 3): every case and sealed item whose creation
// the signed access log records is still in the metadata, unless a logged deletion says
// otherwise; entries the log quarantined (its `log_quarantined` events) are not trusted.
#pragma once

#include <map>
#include <set>
#include <string>

#include "vault_state.hpp"

namespace tillid::detail {

// Appends to `rep` every case (by id, with the seq of its case_created) and every item (by id,
// with the seq of its item_added / record_stop) the log says exists but the metadata lacks,
// or holds in a state other than sealed. `case_ids`: the case rows present; `item_states`:
// item id -> state of the rows present.
Result<void> check_completeness(Vault::State& s, const std::set<std::string>& case_ids,
                                const std::map<std::string, std::string>& item_states, VerifyReport& rep);

}  // namespace tillid::detail
