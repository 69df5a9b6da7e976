// verify: check every item and case end to end and name each problem rather than stop at the
// first (PRODUCT.md: "verify detects any changed, missing or reordered byte or fact and names
// the item"). Per sealed item: sealed fields open, the v3 manifest signature (FORMAT.md §5.1)
// verifies against the stored row and its case, the object exists, names this item,
// authenticates chunk by chunk to its final chunk, and its recomputed size and SHA-256 equal
// the stored ones. Per case: its signature (§5.4). Then objects/ and the items table must
// match one to one, and every case and item the signed access log says was created is still
// there (completeness, FORMAT.md §5.6).
#include <fcntl.h>

#include <map>
#include <set>
#include <system_error>

#include "case_rows.hpp"
#include "completeness.hpp"
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
  if (auto m = manifest_for(s, row); !m.ok()) {
    // The problem is already filed under this item: drop the message's own "item <id>: ".
    std::string what = m.error().message;
    if (const std::string prefix = "item " + id + ": "; what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
    problem(what);
  }
  else if (!verify_manifest(s.signing_pk, *m, row.signature))
    problem("manifest signature does not verify against the stored metadata (size, SHA-256, case, case number, "
            "municipality, kind, time, creator, title, file name, interviewer, recording fields or bookmarks "
            "altered, or a signature older than manifest v3)");

  auto fd = open_regular_for_reading(s.object_path(id));
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
      rep.problems.push_back({row.info.id, "item is pending and recovery left it untouched (FORMAT.md §6.2: no "
                                           "authentic work record, or the log shows it finished); see its "
                                           "`recovery` log entry"});
    }
    else if (row.state == "recording" && s.live_recordings.count(row.info.id) == 0) {
      // Recovery seals every interrupted recording at unlock; one left here could not be
      // recovered (its object header is damaged): FORMAT.md §7.5.
      rep.problems.push_back({row.info.id, "recording was interrupted and recovery left it untouched (no authentic "
                                           "work record, the log shows it finished, or its object header does not "
                                           "authenticate); see its `recovery` log entry, or restore the object "
                                           "or its mirror copy"});
    }
    // Sealed recordings, interrupted or not, go through check_item like documents: every
    // chunk authenticates to the final one, SHA-256, size and the v2 manifest signature.
  }
  TILLID_TRY(report_locked_captures(s, known, item_states, rep));  // FORMAT.md §7.6
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
