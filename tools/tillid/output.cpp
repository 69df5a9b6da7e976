// Text and JSON rendering of vault objects for the `tillid` command.
#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "tillid/control_codec.hpp"

namespace tillid::cli {

namespace {

// The length of the UTF-8 sequence starting at s[i] and its code point, or 0 if the bytes
// there are not valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, cut short).
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t len;
  char32_t min;
  if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// Code points that move the cursor, end lines or reorder what follows on screen.
bool is_display_control(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char esc[16];
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    char32_t cp = 0;
    const std::size_t len = c >= 0x80 ? decode_utf8(text, i, cp) : 0;
    if (len == 0) {  // a C0 control, DEL, or a byte that is not UTF-8 (0x9b is CSI to some terminals)
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
      ++i;
    } else if (is_display_control(cp)) {
      std::snprintf(esc, sizeof esc, "\\u{%04x}", static_cast<unsigned>(cp));
      out += esc;
      i += len;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

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
                 const std::vector<std::vector<std::string>>& raw_rows) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(raw_rows.size());
  for (const auto& r : raw_rows) {
    std::vector<std::string> cells;
    for (const auto& cell : r) cells.push_back(printable(cell));
    rows.push_back(std::move(cells));
  }
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

template <class T>
Result<T> decode(const nlohmann::json& j) {
  return control::decode<T>(j);
}

template Result<CaseInfo> decode<CaseInfo>(const nlohmann::json&);
template Result<ItemInfo> decode<ItemInfo>(const nlohmann::json&);
template Result<KeySlotInfo> decode<KeySlotInfo>(const nlohmann::json&);
template Result<Bookmark> decode<Bookmark>(const nlohmann::json&);
template Result<VerifyReport> decode<VerifyReport>(const nlohmann::json&);
template Result<ExportSummary> decode<ExportSummary>(const nlohmann::json&);
template Result<User> decode<User>(const nlohmann::json&);

// Invalid UTF-8 (a file name from a foreign system) is replaced with U+FFFD rather than thrown on.
void print_json(nlohmann::json j) {
  std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::cout << text << "\n";
  wipe(text);
  wipe_json(j);
}

void wipe_json(nlohmann::json& j) {
  if (j.is_string()) {
    wipe(j.get_ref<std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) wipe_json(v);
  }
}

void wipe_identifying(CaseInfo& c) {
  wipe(c.child_name);
  wipe(c.cpr);
  wipe(c.notes);
}

void wipe_identifying(ItemInfo& item) {
  wipe(item.title);
  wipe(item.file_name);
  wipe(item.interviewer);
}

}  // namespace tillid::cli
