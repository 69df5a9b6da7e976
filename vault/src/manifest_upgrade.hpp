// The one-time upgrade of a pre-v3 vault's signatures at unlock (FORMAT.md §5.5): sign every
// case row, re-sign under manifest v3 only the items whose v1/v2 signature verifies, log it,
// and refuse a marker that reappears after the upgrade (a rollback).
#pragma once

#include "vault_state.hpp"

namespace tillid::detail {

// Marker vault_meta['resign_pending'] (set by the schema 2→3 migration): if present, upgrade.
// Needs the vault unlocked and the caller holding the mutex. A rollback is a corrupt error.
Result<void> upgrade_signatures_if_pending(Vault::State& s);

// The `vault_init` details of a vault created with manifest v3 (and case signatures): the
// upgrade refuses a resign_pending marker in such a vault.
inline constexpr const char* kVaultInitDetails = "vault format 1, manifest v3";

}  // namespace tillid::detail
