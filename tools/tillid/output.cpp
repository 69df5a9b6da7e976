// Text and JSON rendering of vault objects for the `tillid` command.
#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace tillid::cli {

std::string format_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string format_size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) { v /= 1024.0; ++u; }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

nlohmann::json to_json(const CaseInfo& c) {
  return {{"id", c.id},           {"case_number", c.case_number}, {"municipality", c.municipality},
          {"child_name", c.child_name}, {"cpr", c.cpr},            {"notes", c.notes},
          {"created", format_time(c.created_unix)}, {"created_unix", c.created_unix},
          {"creator", c.creator}};
}

nlohmann::json to_json(const ItemInfo& item) {
  nlohmann::json j = {{"id", item.id},
          {"case_id", item.case_id},
          {"kind", to_string(item.kind)},
          {"size", item.size},
          {"sha256", to_hex(item.sha256)},
          {"title", item.title},
          {"file_name", item.file_name},
          {"created", format_time(item.created_unix)},
          {"created_unix", item.created_unix},
          {"creator", item.creator}};
  if (item.kind == ItemKind::recording) {
    j["interviewer"] = item.interviewer;
    j["duration_ms"] = item.duration_ms;
    j["interrupted"] = item.interrupted;
    if (item.interrupted) j["interrupted_at"] = format_time(item.interrupted_unix);
    j["bookmark_count"] = item.bookmark_count;
  }
  return j;
}

// Invalid UTF-8 (a file name from a foreign system) is replaced with U+FFFD rather than thrown on.
void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace tillid::cli
