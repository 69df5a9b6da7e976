// Reading item rows from SQLite: the one place that knows the items table's columns, shared
// by listing, fetch, verify and recovery.
#pragma once

#include <string>
#include <vector>

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
// The sealed (listed) item with this id, its sealed fields opened. Needs the vault unlocked.
Result<ItemRow> load_sealed_item(Vault::State& s, const std::string& item_id);
// The manifest the stored row claims (FORMAT.md §5).
Manifest manifest_of(const ItemRow& row);

// A recording's bookmarks with their labels opened (FORMAT.md §7.3).
Result<std::vector<Bookmark>> open_bookmarks(const Vault::State& s, const ItemRow& row);
// The sealed-label field reference of bookmark `seq` of `item_id` ("<item id>/<seq>").
std::string bookmark_row_id(std::string_view item_id, std::int64_t seq);

Result<CaseInfo> find_case_locked(Vault::State& s, const std::string& id_or_number);

}  // namespace tillid::detail
