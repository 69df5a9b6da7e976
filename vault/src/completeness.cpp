// Completeness of the vault against the signed access log: see completeness.hpp, FORMAT.md §5.6.
#include "completeness.hpp"

namespace tillid::detail {

Result<void> check_completeness(Vault::State& s, const std::set<std::string>& case_ids,
                                const std::map<std::string, std::string>& item_states, VerifyReport& rep) {
  if (!s.log) return {};
  TILLID_ASSIGN(std::vector<LogEntry> entries, s.log->entries());
  // LOG-FORMAT.md §3.4: what the log quarantined is not the appliance's word.
  const std::vector<LogSeqRange> quarantined = quarantined_ranges(entries);
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
