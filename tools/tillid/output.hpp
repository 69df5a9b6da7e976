// Printing for people (aligned tables) and for scripts (JSON), chosen by --json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tillid/export.hpp"
#include "tillid/result.hpp"
#include "tillid/users.hpp"
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

// The daemon's replies as vault structs, through the protocol's JSON codecs
// (tillid/control_codec.hpp): the same codecs the daemon encodes with, so `--json` prints
// exactly what they make. A reply that does not decode is Errc::corrupt.
template <class T>
Result<T> decode(const nlohmann::json& j);
template <class T>
Result<std::vector<T>> decode_list(const nlohmann::json& j) {
  if (!j.is_array()) return make_error(Errc::corrupt, "malformed reply from the daemon: a list was expected");
  std::vector<T> out;
  for (const auto& e : j) {
    TILLID_ASSIGN(T t, decode<T>(e));
    out.push_back(std::move(t));
  }
  return out;
}
// Prints, then wipes the strings of `j` and of the text made from it: JSON output carries
// names and titles in the clear (issue 10, class 7).
void print_json(nlohmann::json j);

// Overwrites every string in `j` (identifying values pass through JSON on the way in and out).
void wipe_json(nlohmann::json& j);

// Overwrites the identifying fields the vault opened (names, CPR, notes, titles, interviewer)
// once the command is done with them.
void wipe_identifying(CaseInfo& c);
void wipe_identifying(ItemInfo& item);

// Wipes the identifying fields of every element of a list when the scope ends.
template <class T>
class WipeAllOnExit {
 public:
  explicit WipeAllOnExit(std::vector<T>& list) : list_(list) {}
  ~WipeAllOnExit() {
    for (auto& x : list_) wipe_identifying(x);
  }
  WipeAllOnExit(const WipeAllOnExit&) = delete;
  WipeAllOnExit& operator=(const WipeAllOnExit&) = delete;

 private:
  std::vector<T>& list_;
};

}  // namespace tillid::cli
