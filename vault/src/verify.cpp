// verify: check every item and case end to end and name each problem rather than stop at the
// first (PRODUCT.md: "verify detects any changed, missing or reordered byte or fact and names
// the item"). Per sealed item: sealed fields open, the v3 manifest signature (FORMAT.md §5.1)
// verifies against the stored row and its case, the object exists, names this item,
// authenticates chunk by chunk to its final chunk, and its recomputed size and SHA-256 equal
// the stored ones. Per case: its signature (§5.4). Then objects/ and the items table must
// match one to one, and every case and item the signed access log says was created is still
// there (completeness, FORMAT.md §5.6).
#include <fcntl.h>

#include <charconv>
#include <map>
#include <set>
#include <system_error>

#include "case_rows.hpp"
#include "item_rows.hpp"
#include "object_stream.hpp"
#include "posix_io.hpp"
#include "vault_state.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;

namespace {

void check_item(Vault::State& s, ItemRow& row, VerifyReport& rep) {
  const std::string& id = row.info.id;
  auto problem = [&](std::string what) { rep.problems.push_back(VerifyProblem{id, std::move(what)}); };
  Id16 bin;
  if (!parse_id(id, bin)) {
    problem("item id is malformed");
    return;
  }
  if (!row.kind_known) problem("item kind in the metadata is unknown");
  if (auto f = open_item_fields(s, row); !f.ok()) problem(f.error().message);
  if (row.sha256.size() != 32) problem("stored SHA-256 has the wrong length");
  if (auto m = manifest_for(s, row); !m.ok())
    problem(m.error().message);
  else if (!verify_manifest(s.signing_pk, *m, row.signature))
    problem("manifest signature does not verify against the stored metadata (size, SHA-256, case, case number, "
            "municipality, kind, time, creator, title, file name, interviewer, recording fields or bookmarks "
            "altered, or a signature older than manifest v3)");

  auto fd = open_file(s.object_path(id), O_RDONLY);
  if (!fd.ok()) {
    problem(fd.error().code == Errc::not_found ? "object file is missing (objects/" + id + ")"
                                               : fd.error().message);
    return;
  }
  auto reader = ObjectReader::open(fd->get(), bin, s.keys->item_wrap, "object");
  if (!reader.ok()) {
    problem(reader.error().message);
    return;
  }
  if (reader->header().kind != row.info.kind) problem("object kind does not match the metadata");
  auto d = decrypt_stream(reader.value(), nullptr);
  if (!d.ok()) {
    problem(d.error().message);
    return;
  }
  rep.bytes_checked += d->size;
  if (d->size != row.info.size)
    problem("size does not match: metadata says " + std::to_string(row.info.size) +
            " bytes, the object holds " + std::to_string(d->size));
  if (row.sha256.size() == 32 && d->sha256 != row.info.sha256)
    problem("SHA-256 does not match: metadata says " + to_hex(row.info.sha256) + ", the content hashes to " +
            to_hex(d->sha256));
}

// The seqs a `log_quarantined` event names (details "seq A-B[,C-D...]", decimal, inclusive;
// a single "A" also accepted): entries the log could not authenticate, never evidence.
void add_quarantined(std::string_view details, std::set<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
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

// FORMAT.md §5.6 (issue class 3): every case_created / item_added / record_stop that succeeded
// in the signed access log has its case or sealed item in the metadata, unless a later ok
// case_deleted / item_deleted says it was removed. Entries the log quarantined are not trusted.
Result<void> check_completeness(Vault::State& s, const std::set<std::string>& case_ids,
                                const std::map<std::string, std::string>& item_states, VerifyReport& rep) {
  if (!s.log) return {};
  TILLID_ASSIGN(std::vector<LogEntry> entries, s.log->entries());
  std::set<std::pair<std::uint64_t, std::uint64_t>> quarantined;
  for (const auto& e : entries)
    if (e.action == LogAction::log_quarantined) add_quarantined(e.details, quarantined);
  auto trusted = [&](std::uint64_t seq) {
    for (const auto& [a, b] : quarantined)
      if (seq >= a && seq <= b) return false;
    return true;
  };
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

Result<VerifyReport> verify_locked(Vault::State& s) {
  TILLID_TRY(s.require_unlocked());
  VerifyReport rep;
  // Cases first (FORMAT.md §5.4): a case whose signature fails is named once here; each of its
  // items is named below, since their manifests sign the case's number and municipality.
  TILLID_ASSIGN(auto case_rows, load_case_rows(s.db));
  std::set<std::string> case_ids;
  for (const auto& c : case_rows) {
    case_ids.insert(c.id);
    if (!case_row_verifies(s.signing_pk, c))
      rep.problems.push_back({"", case_label(c) + ": the case signature does not verify (case number, municipality, "
                                                  "creation time, creator or sealed child name, CPR or notes "
                                                  "altered, or the case was never signed)"});
  }
  TILLID_ASSIGN(auto rows, load_item_rows(s.db, "", nullptr));
  std::set<std::string> known;
  std::map<std::string, std::string> item_states;
  for (auto& row : rows) {
    known.insert(row.info.id);
    item_states[row.info.id] = row.state;
    if (row.state == "sealed") {
      check_item(s, row, rep);
      ++rep.items_checked;
    } else if (row.state == "pending") {
      rep.problems.push_back({row.info.id, "item is pending (an interrupted add); lock and unlock the vault to "
                                           "let recovery remove it"});
    }
    else if (row.state == "recording" && s.live_recordings.count(row.info.id) == 0) {
      // Recovery seals every interrupted recording at unlock; one left here could not be
      // recovered (its object header is damaged): FORMAT.md §7.5.
      rep.problems.push_back({row.info.id, "recording was interrupted and could not be recovered (its object "
                                           "header does not authenticate); restore the object or its mirror copy"});
    }
    // Sealed recordings, interrupted or not, go through check_item like documents: every
    // chunk authenticates to the final one, SHA-256, size and the v2 manifest signature.
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator(s.objects_dir(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (known.count(name) == 0)
      rep.problems.push_back({"", "unaccounted object objects/" + name + ": no item in the metadata refers to it"});
  }
  if (ec) return make_error(Errc::io, "cannot list " + s.objects_dir().string() + ": " + ec.message());
  TILLID_TRY(check_completeness(s, case_ids, item_states, rep));
  return rep;
}

}  // namespace

Result<VerifyReport> Vault::verify() const {
  std::lock_guard lk(state_->mutex);
  State& s = *state_;
  auto r = verify_locked(s);
  if (!r.ok()) TILLID_TRY(s.record_failure(LogAction::verify_run, "", "", r.error()));
  else
    TILLID_TRY(s.record_event(LogAction::verify_run, "", "", r->clean() ? LogOutcome::ok : LogOutcome::failed,
                              std::to_string(r->items_checked) + " items, " +
                                  std::to_string(r->problems.size()) + " problems"));
  return r;
}

}  // namespace tillid
