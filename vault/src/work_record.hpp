// Work records (FORMAT.md §6.1): the authenticated statement "this add / this recording was
// begun by the appliance, with these facts", written in the same commit as the item's
// pending/recording row and removed by the commit that seals it. Recovery acts on a
// non-sealed row only if its work record's MAC (subkey 4) verifies and the record matches
// the row byte for byte: a row an attacker flipped back from 'sealed', or a replayed record
// whose facts differ, is never deleted, cut or signed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "item_rows.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

enum class WorkOp : unsigned char { add = 1, recording = 2 };

using Digest32 = std::array<unsigned char, 32>;

struct WorkRecord {
  WorkOp op = WorkOp::add;
  Id16 item_id{};
  Id16 case_id{};
  ItemKind kind = ItemKind::document;
  std::int64_t created_unix = 0;
  std::string creator;
  // SHA-256 of the sealed (ciphertext) title, file name and interviewer (empty for documents).
  Digest32 title_sha256{};
  Digest32 file_name_sha256{};
  Digest32 interviewer_sha256{};
  // Recordings: the bookmarks stored so far (FORMAT.md §5.3 digest). Documents: 0 and the
  // digest of no bookmarks.
  std::uint32_t bookmark_count = 0;
  Digest32 bookmarks_sha256{};
};

// The record a row in state pending/recording must match (FORMAT.md §6.1), from the stored
// row's own values; `op` follows the row's state.
WorkRecord work_record_of(const ItemRow& row, WorkOp op);
// A record from the values a writer is about to store (items.cpp, recording.cpp).
WorkRecord new_work_record(WorkOp op, const Id16& item_id, const std::string& case_id, ItemKind kind,
                           std::int64_t created_unix, const std::string& creator,
                           std::span<const unsigned char> title_sealed,
                           std::span<const unsigned char> file_name_sealed,
                           std::span<const unsigned char> interviewer_sealed);
std::vector<unsigned char> encode_work_record(const WorkRecord& w);
// MAC of an encoded record under subkey 4 (`work_key`), bound to the vault (FORMAT.md §6.1).
std::array<unsigned char, 32> work_mac(const Secret& work_key, const Id16& vault_id,
                                       std::span<const unsigned char> record);
// The same with this unlocked vault's subkey 4.
std::array<unsigned char, 32> work_mac(const Vault::State& s, std::span<const unsigned char> record);

// Insert or replace the item's work row. Call inside the transaction that writes the row.
Result<void> put_work(Vault::State& s, const std::string& item_id, const WorkRecord& w);
// Remove the item's work row. Call inside the transaction that seals or removes the row.
Result<void> remove_work(Vault::State& s, const std::string& item_id);

// Recovery's gate: ok if the row's work record exists, its MAC verifies, and it matches the
// row (and its bookmarks) exactly; otherwise an error naming what failed.
Result<void> check_work(Vault::State& s, const ItemRow& row);

}  // namespace tillid::detail
