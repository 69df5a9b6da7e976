// Completeness of the vault against the signed access log: see completeness.hpp, FORMAT.md §5.6.
#include "completeness.hpp"

#include <charconv>

namespace tillid::detail {

bool in_ranges(const SeqRanges& ranges, std::uint64_t seq) {
  for (const auto& [a, b] : ranges)
    if (seq >= a && seq <= b) return true;
  return false;
}

void add_quarantined_seqs(std::string_view details, SeqRanges& ranges) {
  if (details.rfind("seq ", 0) == 0) details.remove_prefix(4);
  while (!details.empty()) {
    const auto comma = details.find(',');
    std::string_view part = details.substr(0, comma);
    details = comma == std::string_view::npos ? std::string_view{} : details.substr(comma + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    std::uint64_t a = 0, b = 0;
    const auto dash = part.find('-');
    const std::string_view first = part.substr(0, dash);
    if (std::from_chars(first.data(), first.data() + first.size(), a).ec != std::errc{}) continue;
    b = a;
    if (dash != std::string_view::npos) {
      const std::string_view second = part.substr(dash + 1);
      if (std::from_chars(second.data(), second.data() + second.size(), b).ec != std::errc{} || b < a) continue;
    }
    ranges.insert({a, b});
  }
}

Result<void> check_completeness(Vault::State& s, const std::set<std::string>& case_ids,
                                const std::map<std::string, std::string>& item_states, VerifyReport& rep) {
  if (!s.log) return {};
  TILLID_ASSIGN(std::vector<LogEntry> entries, s.log->entries());
  SeqRanges quarantined;
  for (const auto& e : entries)
    if (e.action == LogAction::log_quarantined) add_quarantined_seqs(e.details, quarantined);
  auto trusted = [&](std::uint64_t seq) { return !in_ranges(quarantined, seq); };
  std::map<std::string, std::pair<std::uint64_t, LogAction>> cases, items;  // id -> first seq, action
  std::set<std::string> deleted_cases, deleted_items;
  for (const auto& e : entries) {
    if (e.outcome != LogOutcome::ok || !trusted(e.seq)) continue;
    switch (e.action) {
      case LogAction::case_created:
        if (!e.case_id.empty()) cases.try_emplace(e.case_id, e.seq, e.action);
        break;
      case LogAction::item_added:
      case LogAction::record_stop:
        if (!e.item_id.empty()) items.try_emplace(e.item_id, e.seq, e.action);
        break;
      case LogAction::case_deleted:
        if (!e.case_id.empty()) deleted_cases.insert(e.case_id);
        break;
      case LogAction::item_deleted:
        if (!e.item_id.empty()) deleted_items.insert(e.item_id);
        break;
      default:
        break;
    }
  }
  for (const auto& [id, at] : cases)
    if (!case_ids.count(id) && !deleted_cases.count(id))
      rep.problems.push_back({"", "case " + id + " is missing: the signed access log records its creation at seq " +
                                      std::to_string(at.first) + " (case_created) and no deletion; restore vault.db "
                                      "from backup"});
  for (const auto& [id, at] : items) {
    if (deleted_items.count(id)) continue;
    const std::string logged = "the signed access log records it at seq " + std::to_string(at.first) + " (" +
                               to_string(at.second) + ")";
    const auto it = item_states.find(id);
    if (it == item_states.end())
      rep.problems.push_back({id, "item is missing from the metadata: " + logged +
                                      " and no deletion; restore vault.db and objects/" + id + " from backup"});
    else if (it->second != "sealed")
      rep.problems.push_back({id, "item is in state '" + it->second + "', but " + logged + " as sealed"});
  }
  return {};
}

}  // namespace tillid::detail
