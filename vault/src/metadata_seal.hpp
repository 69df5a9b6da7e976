// Sealing of identifying metadata (child's name, CPR, notes, item titles and file names) in
// SQLite (FORMAT.md §4). Each value is padded to a 32-byte boundary (so lengths leak less),
// then XChaCha20-Poly1305 under the metadata subkey with AD binding vault, table, column and
// row id, so a sealed value moved to another row, column or vault fails to open.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto.hpp"
#include "tillid/result.hpp"
#include "tillid/secret.hpp"

namespace tillid::detail {

struct FieldRef {
  std::string_view table;
  std::string_view column;
  std::string_view row_id;
};

std::vector<unsigned char> seal_field(const Secret& meta_key, const Id16& vault_id,
                                      const FieldRef& where, std::string_view plaintext);
Result<std::string> open_field(const Secret& meta_key, const Id16& vault_id, const FieldRef& where,
                               std::span<const unsigned char> sealed);

}  // namespace tillid::detail
