// Reading item rows from SQLite: the one place that knows the items table's columns, shared
// by listing, fetch, verify and recovery.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "case_rows.hpp"
#include "manifest.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

struct ItemRow {
  ItemInfo info;                      // title and file_name empty until opened
  std::string state;                  // pending | recording | sealed
  std::vector<unsigned char> sha256;  // as stored (length checked by users)
  std::vector<unsigned char> title_sealed;
  std::vector<unsigned char> file_name_sealed;
  std::vector<unsigned char> signature;
  bool kind_known = true;
  // Recordings (schema v2, FORMAT.md §7): sealed interviewer and the stored bookmarks.
  std::vector<unsigned char> interviewer_sealed;
  std::vector<StoredBookmark> bookmarks;
};

// All rows, or those matching `where` ("" for all) with one optional text parameter.
Result<std::vector<ItemRow>> load_item_rows(Db& db, const char* where, const std::string* param);
// Open the sealed title, file name and (recordings) interviewer into row.info.
Result<void> open_item_fields(const Vault::State& s, ItemRow& row);
// Decrypt an item's object into `sink` after checking its manifest signature; every chunk is
// authenticated before it reaches the sink, and the size and SHA-256 must match the signed ones.
Result<void> read_item_content(Vault::State& s, const ItemRow& row, const ByteSink& sink);
// The sealed (listed) item with this id, its v3 signature checked (corrupt if it fails) and
// its sealed fields opened. Needs the vault unlocked.
Result<ItemRow> load_sealed_item(Vault::State& s, const std::string& item_id);
// THE item manifest (FORMAT.md §5.1, version 3) for this row: every site that signs or checks
// an item's signature builds it here. It loads the item's case, whose own signature (§5.4)
// must verify first: a case number or municipality is never signed, nor vouched for, unless
// the appliance signed it already. Errors: the case row is missing (not_found) or its
// signature does not verify (corrupt), each naming the case and the item.
Result<Manifest> manifest_for(Vault::State& s, const ItemRow& row);
// The same for many rows in one call (a listing): each case row is loaded and checked once
// however many of its items are listed. Valid for one call under the mutex only.
struct CaseMemo {
  std::map<std::string, std::optional<CaseRow>> rows;  // nullopt: missing
  std::map<std::string, bool> verifies;
};
Result<Manifest> manifest_for(Vault::State& s, const ItemRow& row, CaseMemo& memo);
// The row's v3 manifest builds and its signature verifies (remembered: signature_cache.hpp).
bool item_row_verifies(Vault::State& s, const ItemRow& row, CaseMemo& memo);
// The pre-v3 manifest (v1 documents, v2 recordings, FORMAT.md §5.3) the stored row claims:
// only for the v3 upgrade's check of an old signature (§5.5).
Manifest legacy_manifest_of(const ItemRow& row);

// A recording's bookmarks with their labels opened (FORMAT.md §7.3).
Result<std::vector<Bookmark>> open_bookmarks(const Vault::State& s, const ItemRow& row);
// The sealed-label field reference of bookmark `seq` of `item_id` ("<item id>/<seq>").
std::string bookmark_row_id(std::string_view item_id, std::int64_t seq);

Result<CaseInfo> find_case_locked(Vault::State& s, const std::string& id_or_number);

}  // namespace tillid::detail
