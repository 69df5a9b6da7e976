// Every kind of tampering an administrator with root could try on the log directory is
// detected by the auditor's verify_log, which names the first bad sequence number.
#include <catch2/catch.hpp>

#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;

namespace {

constexpr int kN = 10;

// A log of kN entries with a checkpoint signed after each append (as the vault does after
// each write batch); returns every checkpoint, which the auditor keeps.
std::vector<std::string> build(const fs::path& path, const Key& key, int fork_from = kN) {
  auto log = AccessLog::create(path, options());
  REQUIRE(log.ok());
  std::vector<std::string> notes;
  for (int i = 0; i < kN; ++i) {
    LogEvent e = event(i);
    if (i >= fork_from) e.details = "rewritten " + std::to_string(i);
    REQUIRE(log->append(e).ok());
    notes.push_back(log->sign_checkpoint(key.sk, key.pk).value().note);
  }
  return notes;
}

LogVerifyReport verify(const fs::path& path, const Key& key, std::span<const std::string> kept = {}) {
  auto r = verify_log(path, key.vkey(kOrigin), kept);
  REQUIRE(r.ok());
  return *r;
}

bool has(const LogVerifyReport& r, LogProblemKind k) {
  for (const auto& p : r.problems)
    if (p.kind == k) return true;
  return false;
}

std::string all_messages(const LogVerifyReport& r) {
  std::string s;
  for (const auto& p : r.problems) s += std::string(to_string(p.kind)) + ": " + p.message + "\n";
  return s;
}

}  // namespace

TEST_CASE("tampering is detected and the first bad seq is named", "[log][tamper]") {
  TempDir dir;
  Key key;
  const auto path = dir.path / "log";
  const auto kept = build(path, key);
  const auto entries_file = path / "entries", checkpoints_file = path / "checkpoints";
  {
    const auto clean = verify(path, key, kept);
    INFO(all_messages(clean));
    REQUIRE(clean.clean());
    CHECK(clean.entries == kN);
    CHECK(clean.checkpoints == kN);
    CHECK(clean.latest_checkpoint->size == kN);
  }
  auto raw = RawFile::load(entries_file, kEntriesHeaderSize);
  REQUIRE(raw.records.size() == kN);
  auto craw = RawFile::load(checkpoints_file, kCheckpointsHeaderSize);
  REQUIRE(craw.records.size() == kN);

  SECTION("edited entry, check bytes left as they were") {
    Bytes b = read_bytes(entries_file);
    std::size_t off = raw.offset_of(5);
    b[off + 4 + raw.records[5].size() - 1] ^= 1;  // last byte of seq 5's details
    write_bytes(entries_file, b);
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 5u);
    CHECK(has(r, LogProblemKind::edited));
    CHECK_THAT(r.problems[0].message, Catch::Contains("seq 5"));
  }
  SECTION("edited entry, check bytes recomputed by the attacker") {
    raw.records[5].back() ^= 1;
    raw.save(entries_file);
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 5u);
    CHECK(has(r, LogProblemKind::edited));
    CHECK_THAT(r.problems[0].message, Catch::Contains("entry seq 5 was altered"));
    CHECK_FALSE(AccessLog::open(path, options()).ok());
  }
  SECTION("removed entry") {
    raw.records.erase(raw.records.begin() + 5);
    raw.save(entries_file);
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 5u);
    CHECK(r.problems[0].kind == LogProblemKind::removed);
    CHECK_THAT(r.problems[0].message, Catch::Contains("entry seq 5 is missing"));
    CHECK_FALSE(AccessLog::open(path, options()).ok());
  }
  SECTION("reordered entries") {
    std::swap(raw.records[3], raw.records[4]);
    raw.save(entries_file);
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 3u);
    CHECK(r.problems[0].kind == LogProblemKind::reordered);
    CHECK_FALSE(AccessLog::open(path, options()).ok());
  }
  SECTION("truncated log (whole records cut)") {
    raw.records.resize(7);
    raw.save(entries_file);
    const auto r = verify(path, key);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 7u);
    CHECK(has(r, LogProblemKind::truncated));
    auto opened = AccessLog::open(path, options());
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().message, Catch::Contains("truncated"));
  }
  SECTION("rolled-back log (entries and checkpoints cut together)") {
    raw.records.resize(7);
    raw.save(entries_file);
    craw.records.resize(7);
    craw.save(checkpoints_file);
    // Consistent with itself: only a checkpoint the auditor kept can tell.
    CHECK(verify(path, key).clean());
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 7u);
    CHECK(r.problems[0].kind == LogProblemKind::rolled_back);
    CHECK_THAT(r.problems[0].message, Catch::Contains("rolled back") && Catch::Contains("seq 7 onwards is missing"));
    // With only the newest kept checkpoint, nothing the auditor holds shows that seq 0..6
    // are unchanged: the verdict names the lowest seq that may differ, and what is missing.
    const auto latest_only = verify(path, key, std::span(kept).subspan(9, 1));
    INFO(all_messages(latest_only));
    CHECK(latest_only.first_bad_seq == 0u);
    CHECK_THAT(latest_only.problems[0].message, Catch::Contains("seq 7 onwards is missing") &&
                                                    Catch::Contains("first entry that differs is seq 0 or later"));
  }
  SECTION("an insider removes seq 4, renumbers and re-signs: the verdict names seq 4, not the end") {
    // Rebuild the log without entry 4, re-signed with the appliance key, with the same clock.
    TempDir other;
    {
      auto log = AccessLog::create(other.path / "log", options());
      REQUIRE(log.ok());
      for (int i = 0; i < kN; ++i) {
        if (i == 4) continue;
        REQUIRE(log->append(event(i)).ok());
        REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
      }
    }
    fs::copy_file(other.path / "log" / "entries", entries_file, fs::copy_options::overwrite_existing);
    fs::copy_file(other.path / "log" / "checkpoints", checkpoints_file, fs::copy_options::overwrite_existing);
    CHECK(verify(path, key).clean());
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 4u);
    CHECK_THAT(all_messages(r), Catch::Contains("the first entry that differs is seq 4 (entries 0..3"));
  }
  SECTION("forked log (history rewritten and re-signed with the appliance key)") {
    TempDir other;
    build(other.path / "log", key, 5);
    fs::copy_file(other.path / "log" / "entries", entries_file, fs::copy_options::overwrite_existing);
    fs::copy_file(other.path / "log" / "checkpoints", checkpoints_file, fs::copy_options::overwrite_existing);
    CHECK(verify(path, key).clean());  // self-consistent and validly signed...
    const auto r = verify(path, key, kept);  // ...but not what the auditor saw before
    INFO(all_messages(r));
    CHECK(r.first_bad_seq == 5u);
    CHECK(r.problems[0].kind == LogProblemKind::forked);
    CHECK_THAT(r.problems[0].message, Catch::Contains("the first entry that differs is seq 5 (entries 0..4"));
    // Keeping only the latest checkpoint still detects it, with a coarser position.
    const auto latest_only = verify(path, key, std::span(kept).subspan(9, 1));
    CHECK(latest_only.problems[0].kind == LogProblemKind::forked);
    CHECK_THAT(latest_only.problems[0].message, Catch::Contains("same size 10"));
  }
  SECTION("forged checkpoint signature") {
    std::string note = text_of(craw.records[3]);
    const auto pos = note.size() - 6;
    note[pos] = note[pos] == 'A' ? 'B' : 'A';
    craw.records[3] = Bytes(note.begin(), note.end());
    craw.save(checkpoints_file);
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    REQUIRE_FALSE(r.clean());
    CHECK(r.problems[0].kind == LogProblemKind::bad_signature);
    CHECK_THAT(r.problems[0].message, Catch::Contains("checkpoint #3") && Catch::Contains("does not verify"));
    // The writer names it too and serves nothing (LOG-FORMAT.md §4.1).
    auto opened = AccessLog::open(path, options());
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().code == Errc::corrupt);
    CHECK_THAT(opened.error().message, Catch::Contains("checkpoint #3 (tree size 4)"));
  }
  SECTION("checkpoint signed by another key") {
    Key mallory(42);
    TempDir other;
    auto log = AccessLog::create(other.path / "log", options());
    REQUIRE(log->append(event(0)).ok());
    const auto note = log->sign_checkpoint(mallory.sk, mallory.pk)->note;
    craw.records.push_back(Bytes(note.begin(), note.end()));
    craw.save(checkpoints_file);
    const auto r = verify(path, key, kept);
    INFO(all_messages(r));
    REQUIRE_FALSE(r.clean());
    CHECK(r.problems[0].kind == LogProblemKind::bad_signature);
    CHECK_THAT(r.problems[0].message, Catch::Contains("not signed by"));
    // Appended as the newest checkpoint: open names it and never serves it.
    auto opened = AccessLog::open(path, options());
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().message, Catch::Contains("checkpoint #10 (tree size 1)") && Catch::Contains("never served"));
  }
  SECTION("a kept checkpoint that is not genuine is reported") {
    std::vector<std::string> fake{kept[2]};
    fake[0][fake[0].size() - 8] ^= 1;
    const auto r = verify(path, key, fake);
    CHECK(has(r, LogProblemKind::bad_signature));
  }
}
