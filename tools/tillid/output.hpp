// Printing for people (aligned tables) and for scripts (JSON), chosen by --json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tillid/vault.hpp"

namespace tillid::cli {

std::string format_time(std::int64_t unix_seconds);   // "2026-11-22 22:27:51 UTC"
std::string format_size(std::uint64_t bytes);         // "1.5 MiB"

// Prints rows under a header with columns padded to the widest cell.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

nlohmann::json to_json(const CaseInfo& c);
nlohmann::json to_json(const ItemInfo& item);
void print_json(const nlohmann::json& j);

}  // namespace tillid::cli
