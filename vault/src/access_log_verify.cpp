// The auditor's verifier: recompute the whole Merkle tree from a log directory, check every
// stored checkpoint's signature and root, sequence contiguity, and consistency with checkpoints
// the auditor kept. Read-only; needs only the verifier key. Names the first bad seq it can.
#include <algorithm>
#include <memory>
#include <set>

#include "access_log_format.hpp"
#include "checkpoint.hpp"
#include "merkle.hpp"
#include "tillid/access_log.hpp"

namespace tillid {

namespace fs = std::filesystem;

std::string_view to_string(LogProblemKind kind) {
  switch (kind) {
    case LogProblemKind::malformed: return "malformed";
    case LogProblemKind::edited: return "edited";
    case LogProblemKind::removed: return "removed";
    case LogProblemKind::reordered: return "reordered";
    case LogProblemKind::truncated: return "truncated";
    case LogProblemKind::rolled_back: return "rolled back";
    case LogProblemKind::forked: return "forked";
    case LogProblemKind::bad_signature: return "bad signature";
  }
  return "unknown";
}

namespace {

std::string seqs(std::uint64_t n) { return std::to_string(n); }

std::string_view as_text(std::span<const unsigned char> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

Result<LogVerifyReport> verify_log(const fs::path& dir, std::string_view verifier_key,
                                   std::span<const std::string> kept_checkpoints) {
  TILLID_ASSIGN(const std::string key_name, checkpoint::check_verifier_key(verifier_key));
  LogVerifyReport rep;
  auto problem = [&](LogProblemKind kind, std::optional<std::uint64_t> seq, std::string msg) {
    // One problem of each kind: later ones are usually echoes of the first.
    for (const auto& p : rep.problems)
      if (p.kind == kind) return;
    rep.problems.push_back({kind, seq, std::move(msg)});
  };
  merkle::Hasher h;

  // 1. Entries: framing, checks, canonical decoding, contiguous seqs; the tree over all leaves.
  TILLID_ASSIGN(auto image, logfmt::read_file(dir / "entries"));
  const auto scan = logfmt::scan_entries(h, image);
  if (!scan.header_ok) {
    problem(LogProblemKind::malformed, 0, "entries file: " + scan.damage);
    rep.first_bad_seq = 0;
    return rep;
  }
  merkle::Tree tree;
  tree.reserve(scan.records.size());
  bool contiguous = true;
  std::vector<LogEntry> quarantine_events;  // log_quarantined events, signed or not (§3.4)
  for (std::uint64_t i = 0; i < scan.records.size(); ++i) {
    tree.append(h, scan.records[i].leaf);
    if (!contiguous) continue;
    auto e = decode_log_entry(scan.records[i].payload);
    if (e && e->seq == i && e->action == LogAction::log_quarantined) quarantine_events.push_back(*e);
    if (!e) {
      problem(LogProblemKind::malformed, i, "entry seq " + seqs(i) + ": " + e.error().message);
      contiguous = false;
    } else if (e->seq > i) {
      // Removed, or moved further down the file? Look for seq i among the later records.
      bool later = false;
      for (std::uint64_t j = i + 1; j < scan.records.size() && !later; ++j) {
        auto f = decode_log_entry(scan.records[j].payload);
        later = f && f->seq == i;
      }
      if (later)
        problem(LogProblemKind::reordered, i, "position " + seqs(i) + " holds entry seq " + seqs(e->seq) +
                                                  " and seq " + seqs(i) + " comes later: entries were reordered from seq " + seqs(i));
      else
        problem(LogProblemKind::removed, i, "entry seq " + seqs(i) + " is missing (the next entry found is seq " +
                                                seqs(e->seq) + "): entries were removed");
      contiguous = false;
    } else if (e->seq < i) {
      problem(LogProblemKind::reordered, i, "position " + seqs(i) + " holds entry seq " + seqs(e->seq) +
                                                ": entries were reordered or duplicated from seq " + seqs(i));
      contiguous = false;
    }
  }
  const std::uint64_t n = scan.records.size();
  rep.entries = n;
  rep.root = tree.root_at(h, n);
  if (scan.damaged) {
    const std::uint64_t i = scan.damage_index;
    std::string what = "entry seq " + seqs(i) + " (byte " + seqs(scan.damage_offset) + ") was altered: " + scan.damage;
    problem(scan.damage.find("check bytes") != std::string::npos ? LogProblemKind::edited : LogProblemKind::malformed,
            i, what + "; entries after it were not read");
  }
  if (scan.torn_bytes > 0)
    rep.notes.push_back("a torn last record (" + seqs(scan.torn_bytes) +
                        " bytes, an append interrupted by a crash and never acknowledged) was ignored");

  // 2. Stored checkpoints: signature, origin, monotonic sizes, root at their size.
  std::vector<std::uint64_t> good_sizes{0};  // sizes at which a verified checkpoint matches
  // Verified stored checkpoints that match the log, with their signing time: they bound where
  // a history that differs from a kept checkpoint can begin (§6 step 4).
  bool mismatch_seen_any = false;
  std::set<std::uint64_t> mismatch_sizes;  // sizes of verified stored checkpoints that do not match
  auto cimage = logfmt::read_file(dir / "checkpoints");
  if (!cimage) {
    problem(LogProblemKind::malformed, std::nullopt, "checkpoints file: " + cimage.error().message);
  } else {
    const auto cscan = logfmt::scan_checkpoints(h, *cimage);
    if (!cscan.header_ok || cscan.damaged)
      problem(LogProblemKind::malformed, std::nullopt,
              "checkpoint #" + seqs(cscan.damage_index) + " is damaged: " + cscan.damage);
    if (cscan.torn_bytes > 0)
      rep.notes.push_back("a torn last checkpoint record (" + seqs(cscan.torn_bytes) + " bytes) was ignored");
    std::uint64_t prev = 0;
    bool mismatch_seen = false;
    for (std::size_t k = 0; k < cscan.records.size(); ++k) {
      const std::string_view note = as_text(cscan.records[k].payload);
      auto c = open_checkpoint(note, verifier_key);
      if (!c) {
        auto un = checkpoint::parse_unverified(note);
        problem(LogProblemKind::bad_signature, std::nullopt,
                "stored checkpoint #" + seqs(k) + (un ? " (tree size " + seqs(un->size) + ")" : std::string()) +
                    ": " + c.error().message);
        continue;
      }
      ++rep.checkpoints;
      if (c->size < prev)
        problem(LogProblemKind::reordered, c->size, "stored checkpoint #" + seqs(k) + " (size " + seqs(c->size) +
                                                        ") is smaller than the one before it (size " + seqs(prev) + ")");
      prev = std::max(prev, c->size);
      if (c->size > n) {
        problem(LogProblemKind::truncated, n, "log truncated: a signed checkpoint covers " + seqs(c->size) +
                                                  " entries but only " + seqs(n) + " are present; seq " + seqs(n) +
                                                  " onwards is missing");
        mismatch_seen_any = true;  // not re-signed over the cut: the stored checkpoints are history
        continue;
      }
      if (tree.root_at(h, c->size) != c->root) {
        if (!mismatch_seen) {
          const std::uint64_t g = *std::max_element(good_sizes.begin(), good_sizes.end());
          problem(LogProblemKind::edited, g,
                  "entries do not match the signed checkpoint at size " + seqs(c->size) +
                      (c->size - g == 1 ? ": entry seq " + seqs(g) + " was altered"
                                        : ": an entry in seq " + seqs(g) + ".." + seqs(c->size - 1) +
                                              " was altered (seq " + seqs(g) + " is the first not covered by a matching checkpoint)"));
        }
        mismatch_seen = true;
        mismatch_seen_any = true;
        mismatch_sizes.insert(c->size);
        continue;
      }
      if (!mismatch_seen) good_sizes.push_back(c->size);
      rep.latest_checkpoint = std::move(c).value();
    }
  }

  // 3. Checkpoints the auditor kept: the log must contain each as a prefix (no rollback, no fork).
  //    Kept checkpoints that still match bound where a rewritten history can begin.
  struct Kept {
    Checkpoint c;
    bool matches;
  };
  std::vector<Kept> kept;
  std::uint64_t kept_good = 0;
  for (std::size_t k = 0; k < kept_checkpoints.size(); ++k) {
    auto c = open_checkpoint(kept_checkpoints[k], verifier_key);
    if (!c) {
      problem(LogProblemKind::bad_signature, std::nullopt, "kept checkpoint #" + seqs(k) + ": " + c.error().message);
      continue;
    }
    bool ok = false;
    if (c->size <= n) {
      const auto proof = tree.consistency_path(h, c->size, n);
      ok = tree.root_at(h, c->size) == c->root && verify_consistency(c->size, n, c->root, rep.root, proof);
    }
    if (ok) kept_good = std::max(kept_good, c->size);
    kept.push_back({std::move(c).value(), ok});
  }
  // Where the log first differs from a kept checkpoint: after the largest prefix known to be
  // shared. That is the largest kept checkpoint that still matches; and when the log's own
  // stored checkpoints show an edit (one no longer matches, so they were not re-signed over
  // the altered entries), the largest stored one that still matches as well: the appliance
  // signs one linear history. "Exactly seq g" when a checkpoint of size g + 1 fails to match.
  const std::uint64_t stored_good = mismatch_seen_any ? *std::max_element(good_sizes.begin(), good_sizes.end()) : 0;
  auto shared_prefix = [&](const Checkpoint& c) { return std::min({std::max(kept_good, stored_good), c.size, n}); };
  auto exact = [&](std::uint64_t g) {
    if (mismatch_sizes.contains(g + 1)) return true;
    for (const auto& k : kept)
      if (!k.matches && k.c.size == g + 1) return true;
    return false;
  };
  for (const auto& [c, ok] : kept) {
    if (ok) continue;
    const std::uint64_t g = shared_prefix(c);
    const std::string differs =
        "the first entry that differs is seq " + seqs(g) + (exact(g) ? std::string() : " or later") +
        (g == 0 ? std::string(" (no kept checkpoint that still matches bounds it)")
                : " (entries 0.." + seqs(g - 1) + " match a signed checkpoint)");
    if (c.size > n) {
      problem(LogProblemKind::rolled_back, g, "log rolled back: a checkpoint kept by the auditor covers " +
                                                  seqs(c.size) + " entries but the log has only " + seqs(n) +
                                                  "; seq " + seqs(n) + " onwards is missing" +
                                                  (g == n ? std::string() : " and " + differs));
      continue;
    }
    problem(LogProblemKind::forked, g,
            (c.size == n ? "log forked: same size " + seqs(n) + " as a kept checkpoint but a different root"
                         : "log forked: its first " + seqs(c.size) + " entries differ from a kept checkpoint") +
                "; history was rewritten: " + differs);
  }

  // 4. Quarantine (§3.4): only log_quarantined events covered by a verified checkpoint count;
  //    one in the unsigned tail could have been written by anyone.
  const std::uint64_t signed_size = rep.latest_checkpoint ? rep.latest_checkpoint->size : 0;
  std::uint64_t unsigned_flags = 0;
  std::vector<LogEntry> signed_flags;
  for (const auto& e : quarantine_events) {
    if (e.seq >= signed_size) {
      ++unsigned_flags;
      continue;
    }
    auto ranges = parse_quarantine_details(e.details);
    if (!ranges || (!ranges->empty() && ranges->back().last >= e.seq)) {
      problem(LogProblemKind::malformed, e.seq, "entry seq " + seqs(e.seq) +
                                                    ": a log_quarantined event must name earlier seqs as \"seq A-B[,C-D...]\"");
      continue;
    }
    signed_flags.push_back(e);
  }
  rep.quarantined = quarantined_ranges(signed_flags);
  if (!rep.quarantined.empty()) {
    std::uint64_t count = 0;
    std::string list;
    for (const auto& r : rep.quarantined) {
      count += r.last - r.first + 1;
      list += (list.empty() ? "" : ",") + seqs(r.first) + "-" + seqs(r.last);
    }
    rep.notes.push_back(seqs(count) + " entries are quarantined (seq " + list +
                        "): the appliance could not authenticate them when it was next unlocked; they were "
                        "written while it was locked or not by the appliance, and are not evidence of what it did");
  }
  if (unsigned_flags > 0)
    rep.notes.push_back(seqs(unsigned_flags) + " log_quarantined event(s) after the latest checkpoint are not yet signed and were not counted");

  rep.unsigned_entries = rep.latest_checkpoint ? n - std::min<std::uint64_t>(n, rep.latest_checkpoint->size) : n;
  if (!rep.latest_checkpoint)
    rep.notes.push_back("no stored checkpoint verified: the entries are not protected by a signature");
  else if (rep.latest_checkpoint->size < n)
    rep.notes.push_back(seqs(n - rep.latest_checkpoint->size) +
                        " entries after the latest checkpoint are not yet covered by a signature: the appliance "
                        "authenticates them (or quarantines them) at its next unlock; an auditor cannot, and their "
                        "removal is not detectable here (LOG-FORMAT.md §3.5)");
  (void)key_name;

  std::stable_sort(rep.problems.begin(), rep.problems.end(), [](const LogProblem& a, const LogProblem& b) {
    return a.seq.value_or(UINT64_MAX) < b.seq.value_or(UINT64_MAX);
  });
  for (const auto& p : rep.problems)
    if (p.seq && (!rep.first_bad_seq || *p.seq < *rep.first_bad_seq)) rep.first_bad_seq = p.seq;
  return rep;
}

namespace {

// Every record of a log directory, scanned read-only, with its Merkle tree.
struct LoadedLog {
  std::vector<unsigned char> image;
  logfmt::Scan scan;
  merkle::Tree tree;
};

Result<std::unique_ptr<LoadedLog>> load_log(const fs::path& dir, merkle::Hasher& h) {
  auto log = std::make_unique<LoadedLog>();
  TILLID_ASSIGN(log->image, logfmt::read_file(dir / "entries"));
  log->scan = logfmt::scan_entries(h, log->image);
  if (!log->scan.header_ok || log->scan.damaged)
    return make_error(Errc::corrupt, "the access log in " + dir.string() + " is damaged (" + log->scan.damage +
                                         "); run `tillid audit verify` to find where");
  log->tree.reserve(log->scan.records.size());
  for (const auto& rec : log->scan.records) log->tree.append(h, rec.leaf);
  return log;
}

Result<std::uint64_t> size_within(std::optional<std::uint64_t> requested, std::uint64_t size, const char* what) {
  std::uint64_t n = requested.value_or(size);
  if (n > size)
    return make_error(Errc::not_found, std::string(what) + " " + std::to_string(n) + " is larger than the log (" +
                                           std::to_string(size) + " entries)");
  return n;
}

}  // namespace

Result<InclusionProof> prove_inclusion(const fs::path& dir, std::uint64_t seq, std::optional<std::uint64_t> tree_size) {
  merkle::Hasher h;
  TILLID_ASSIGN(auto log, load_log(dir, h));
  TILLID_ASSIGN(std::uint64_t n, size_within(tree_size, log->tree.size(), "tree size"));
  if (seq >= n)
    return make_error(Errc::not_found, "entry " + std::to_string(seq) + " is not in a tree of size " + std::to_string(n));
  InclusionProof p;
  p.index = seq;
  p.tree_size = n;
  const auto& payload = log->scan.records[seq].payload;
  p.entry.assign(payload.begin(), payload.end());
  p.path = log->tree.inclusion_path(h, seq, n);
  return p;
}

Result<ConsistencyProof> prove_consistency(const fs::path& dir, std::uint64_t old_size,
                                           std::optional<std::uint64_t> new_size) {
  merkle::Hasher h;
  TILLID_ASSIGN(auto log, load_log(dir, h));
  TILLID_ASSIGN(std::uint64_t n, size_within(new_size, log->tree.size(), "new size"));
  // LOG-FORMAT.md §5: m = 0 is consistent with anything; its proof is empty.
  if (old_size > n)
    return make_error(Errc::invalid_argument, "a consistency proof needs old size <= new size (" +
                                                  std::to_string(old_size) + ", " + std::to_string(n) + ")");
  ConsistencyProof p;
  p.old_size = old_size;
  p.new_size = n;
  p.path = log->tree.consistency_path(h, old_size, n);
  return p;
}

Result<LogHash> log_root_at(const fs::path& dir, std::optional<std::uint64_t> tree_size) {
  merkle::Hasher h;
  TILLID_ASSIGN(auto log, load_log(dir, h));
  TILLID_ASSIGN(std::uint64_t n, size_within(tree_size, log->tree.size(), "tree size"));
  return log->tree.root_at(h, n);
}

Result<std::vector<LogEntry>> read_log_entries(const fs::path& dir, const LogQuery& query) {
  TILLID_ASSIGN(auto image, logfmt::read_file(dir / "entries"));
  merkle::Hasher h;
  const auto scan = logfmt::scan_entries(h, image);
  if (scan.damaged)
    return make_error(Errc::corrupt, "access log entry seq " + seqs(scan.damage_index) + " is damaged: " +
                                         scan.damage + "; run the log verifier");
  std::vector<LogEntry> out;
  for (const auto& rec : scan.records) {
    TILLID_ASSIGN(LogEntry e, decode_log_entry(rec.payload));
    if (matches(e, query)) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace tillid
