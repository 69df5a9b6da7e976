// Upgrade of pre-v3 signatures at unlock: see manifest_upgrade.hpp and FORMAT.md §5.5.
#include "manifest_upgrade.hpp"

#include "case_rows.hpp"
#include "item_rows.hpp"

namespace tillid::detail {

namespace {

// FORMAT.md §5.5: the marker is legitimate only in a vault whose signed log shows neither a
// completed upgrade nor a creation with manifest v3. Otherwise someone put it back to have
// the appliance sign rows it never vouched for (e.g. swapped case numbers): refuse.
Result<void> refuse_rollback(Vault::State& s) {
  if (!s.log) return {};
  TILLID_ASSIGN(std::vector<LogEntry> entries, s.log->entries());
  for (const auto& e : entries) {
    const bool upgraded = e.action == LogAction::vault_upgraded && e.outcome == LogOutcome::ok;
    const bool born_v3 = e.action == LogAction::vault_init && e.details.find("manifest v3") != std::string::npos;
    if (upgraded || born_v3)
      return make_error(Errc::corrupt,
                        "vault.db asks for the one-time signature upgrade (vault_meta 'resign_pending'), but the "
                        "signed access log shows " +
                            std::string(upgraded ? "that upgrade already done (vault_upgraded"
                                                 : "this vault was created with manifest v3 (vault_init") +
                            " at seq " + std::to_string(e.seq) + ")" +
                            ": vault.db was rolled back or altered; nothing was changed; restore vault.db from a "
                            "backup made after the upgrade");
  }
  return {};
}

}  // namespace

Result<void> upgrade_signatures_if_pending(Vault::State& s) {
  TILLID_TRY(s.require_unlocked());
  {
    TILLID_ASSIGN(Stmt st, s.db.prepare("SELECT 1 FROM vault_meta WHERE key = 'resign_pending'",
                                        "cannot read the vault metadata"));
    TILLID_ASSIGN(bool pending, st.step());
    if (!pending) return {};
  }
  TILLID_TRY(refuse_rollback(s));

  std::size_t cases_signed = 0, items_resigned = 0, items_left = 0;
  {
    TILLID_ASSIGN(Transaction tx, Transaction::begin(s.db, "cannot upgrade the vault's signatures"));
    // 1. Cases were never signed before v3: they are taken as found (FORMAT.md §5.5), and the
    //    upgrade is logged below so an auditor knows from when case rows are vouched for.
    TILLID_ASSIGN(auto cases, load_case_rows(s.db));
    TILLID_ASSIGN(Stmt upc, s.db.prepare("UPDATE cases SET signature = ? WHERE id = ?", "cannot sign a case"));
    for (const auto& c : cases) {
      const Signature sig = sign_case_manifest(s.keys->signing_sk, case_manifest_of(c));
      upc.reset();
      upc.bind_blob(1, sig).bind(2, c.id);
      TILLID_TRY(upc.run());
      ++cases_signed;
    }
    // 2. Items: only one whose pre-v3 signature verifies over its stored row is re-signed, so
    //    the appliance never signs a value it did not vouch for before. The rest keep their
    //    old signature, which no longer verifies: verify names each of them.
    TILLID_ASSIGN(auto items, load_item_rows(s.db, "WHERE state = 'sealed'", nullptr));
    TILLID_ASSIGN(Stmt upi, s.db.prepare("UPDATE items SET signature = ? WHERE id = ? AND state = 'sealed'",
                                         "cannot re-sign an item"));
    for (const auto& row : items) {
      if (!row.kind_known || row.sha256.size() != 32 ||
          !verify_manifest(s.signing_pk, legacy_manifest_of(row), row.signature, /*allow_legacy=*/true)) {
        ++items_left;
        continue;
      }
      auto m = manifest_for(s, row);
      if (!m.ok()) {
        ++items_left;
        continue;
      }
      const Signature sig = sign_manifest(s.keys->signing_sk, *m);
      upi.reset();
      upi.bind_blob(1, sig).bind(2, row.info.id);
      TILLID_TRY(upi.run());
      ++items_resigned;
    }
    TILLID_TRY(s.db.exec("DELETE FROM vault_meta WHERE key = 'resign_pending'", "cannot upgrade the vault's signatures"));
    TILLID_TRY(tx.commit());
  }
  // Logged after the commit: a crash in between leaves an upgraded vault without this entry,
  // which only weakens the rollback check for that vault (FORMAT.md §5.5), never signs more.
  // Always `ok`: the upgrade is done (the rollback check looks for it); items it could not
  // re-sign are counted here and named by verify.
  return s.record_event(LogAction::vault_upgraded, "", "", LogOutcome::ok,
                        "manifest v3: " + std::to_string(cases_signed) + " cases signed, " +
                            std::to_string(items_resigned) + " items re-signed, " + std::to_string(items_left) +
                            " items not re-signed (signature did not verify)");
}

}  // namespace tillid::detail
