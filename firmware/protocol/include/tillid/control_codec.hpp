// JSON forms of the vault's structs as the control protocol carries them and as `tillid --json`
// prints them (CONTROL-PROTOCOL.md §9): to_json on the daemon's side, from_json on the
// client's. The field sets are exactly those `tillid --json` printed before the daemon, so
// scripts see no change. from_json checks every field it needs (type and range) and ignores
// fields it does not know (an `ls` row carries case_number besides the ItemInfo).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tillid/export.hpp"
#include "tillid/result.hpp"
#include "tillid/users.hpp"
#include "tillid/vault.hpp"

namespace tillid::control {

// "2026-11-22 22:27:51 UTC" (what --json's "created" fields hold) and back.
std::string format_time(std::int64_t unix_seconds);
std::optional<std::int64_t> parse_time(std::string_view text);

// CaseInfo: {id, case_number, municipality, child_name, cpr, notes, created, created_unix,
//            creator, verified}
nlohmann::json to_json(const CaseInfo& c);
// ItemInfo: {id, case_id, kind, size, sha256, title, file_name, created, created_unix, creator,
//            verified} + for recordings {interviewer, duration_ms, interrupted,
//            interrupted_at (only if interrupted), bookmark_count}
nlohmann::json to_json(const ItemInfo& item);
// KeySlotInfo: {slot, label, created}
nlohmann::json to_json(const KeySlotInfo& slot);
// Bookmark: {seq, offset_ms, label, created_unix}
nlohmann::json to_json(const Bookmark& b);
// VerifyReport: {clean, items_checked, bytes_checked, problems: [{item, problem}]}
nlohmann::json to_json(const VerifyReport& r);
// ExportSummary: {dir, item: ItemInfo, content_file, log_entries, checkpoint_size,
//                 exported_unix, public_key_hex, verifier_key}
nlohmann::json to_json(const ExportSummary& s);
// User: {name, role, uid (number or null), municipality, created, created_unix, revoked}
nlohmann::json to_json(const User& u);

// Each fills `out` from `j`, or says which field is missing or malformed (corrupt: the JSON
// came from the daemon, so a bad field is a malformed reply).
Result<void> from_json(const nlohmann::json& j, CaseInfo& out);
Result<void> from_json(const nlohmann::json& j, ItemInfo& out);
Result<void> from_json(const nlohmann::json& j, KeySlotInfo& out);
Result<void> from_json(const nlohmann::json& j, Bookmark& out);
Result<void> from_json(const nlohmann::json& j, VerifyReport& out);
Result<void> from_json(const nlohmann::json& j, ExportSummary& out);
Result<void> from_json(const nlohmann::json& j, User& out);

// A list of any of them.
template <class T>
Result<void> from_json(const nlohmann::json& j, std::vector<T>& out) {
  if (!j.is_array()) return make_error(Errc::corrupt, "malformed reply from tillidd: expected a list");
  out.clear();
  out.reserve(j.size());
  for (const auto& e : j) {
    T v{};
    TILLID_TRY(from_json(e, v));
    out.push_back(std::move(v));
  }
  return {};
}

// decode<ItemInfo>(j), decode<std::vector<CaseInfo>>(j): the same, as a value.
template <class T>
Result<T> decode(const nlohmann::json& j) {
  T out{};
  TILLID_TRY(from_json(j, out));
  return out;
}

}  // namespace tillid::control
