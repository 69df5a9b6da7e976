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
};

// All rows, or those matching `where` ("" for all) with one optional text parameter.
Result<std::vector<ItemRow>> load_item_rows(Db& db, const char* where, const std::string* param);
// Open the sealed title and file name into row.info.
Result<void> open_item_fields(const Vault::State& s, ItemRow& row);
// The manifest the stored row claims (FORMAT.md §5).
Manifest manifest_of(const ItemRow& row);

Result<CaseInfo> find_case_locked(Vault::State& s, const std::string& id_or_number);

}  // namespace tillid::detail
