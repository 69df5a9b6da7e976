// The attacker's tools for the recovery tests: SQL run on a closed vault's database with the
// sqlite3 program (no passphrase, no Tillid code), and reading the access log as an auditor.
#pragma once

#include <algorithm>

#include "record_support.hpp"
#include "tillid/access_log.hpp"

namespace tillid::test {

inline std::string sqlite(const CliVault& v, const std::string& statement) {
  auto r = run({"/usr/bin/sqlite3", (v.vault / "vault.db").string(), statement});
  INFO(statement << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Access-log entries about `item_id` with this action and outcome.
inline std::vector<tillid::LogEntry> log_entries(const CliVault& v, tillid::LogAction action,
                                                  tillid::LogOutcome outcome, const std::string& item_id = "") {
  auto all = tillid::read_log_entries(v.vault / "log");
  REQUIRE(all.ok());
  std::vector<tillid::LogEntry> out;
  for (const auto& e : all.value())
    if (e.action == action && e.outcome == outcome && (item_id.empty() || e.item_id == item_id)) out.push_back(e);
  return out;
}

// How `record start` and `record mark` get identifying values: never argv, a `--fields` file
// (issue 10 class 8).
inline std::vector<std::string> recording_args(const CliVault& v) {
  return {"--case", "C1", "--fields", v.fields({{"interviewer", "A"}}), "--source", "tone?realtime=1"};
}
inline std::vector<std::string> mark_args(const CliVault& v, const std::string& label) {
  return {"record", "mark", "--fields", v.fields({{"label", label}})};
}

inline std::string only_item_id(const CliVault& v) {
  auto items = v.json({"ls"});
  REQUIRE(items.size() == 1);
  return items[0]["id"];
}

}  // namespace tillid::test
