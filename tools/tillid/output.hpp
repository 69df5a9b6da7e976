// Printing for people (aligned tables) and for scripts (JSON), chosen by --json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tillid/vault.hpp"

namespace tillid::cli {

// A user-provided string made safe to print on a terminal (issue 10, class 10): C0 controls
// (ESC, CR, LF, ...), DEL and bytes that are not valid UTF-8 become \xNN; C1 controls
// (U+0080..U+009F), the line/paragraph separators and the bidirectional overrides and
// isolates become \u{NNNN}. Anything else passes unchanged. Every name, title, label, file
// name and case number printed in text mode goes through this; JSON output escapes itself.
std::string printable(std::string_view text);

std::string format_time(std::int64_t unix_seconds);   // "2026-11-22 22:27:51 UTC"
std::string format_size(std::uint64_t bytes);         // "1.5 MiB"

// Prints rows under a header with columns padded to the widest cell; every cell is printable()d.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

nlohmann::json to_json(const CaseInfo& c);
nlohmann::json to_json(const ItemInfo& item);
void print_json(const nlohmann::json& j);

}  // namespace tillid::cli
