// `tillid audit verify --since` names the first entry that differs (issue 10, class 10): an
// entry removed from the middle is reported at its own seq, not at the end of the log and
// not at seq 0, whether the log's own checkpoints or the auditor's kept ones pin it.
#include <catch2/catch.hpp>

#include "cli_fixture.hpp"
#include "log_test_util.hpp"

using namespace tillid;
using logtest::Bytes;
using logtest::RawFile;
using logtest::kCheckpointsHeaderSize;
using logtest::kEntriesHeaderSize;
namespace tt = tillid::test;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("audit verify --since names the removed entry's seq", "[log][since][cli]") {
  tt::CliVault v;
  const fs::path log = v.vault / "log", key = v.tmp / "verifier.key";
  tt::write_file(key, v.tillid({"audit", "key"}).out);
  // The auditor visits after every command and keeps each checkpoint.
  std::vector<fs::path> kept;
  for (int i = 0; i < 4; ++i) {
    REQUIRE(v.tillid({"ls"}).exit_code == 0);
    kept.push_back(v.tmp / ("kept-" + std::to_string(i) + ".txt"));
    tt::write_file(kept.back(), v.tillid({"audit", "checkpoint"}).out);
  }
  // With the vault closed, someone removes one entry from the middle and renumbers the rest
  // so that seqs stay contiguous, with correct check bytes (the format is public).
  auto raw = RawFile::load(log / "entries", kEntriesHeaderSize);
  const std::uint64_t n = raw.records.size();
  // The first entry of the last visit's command: kept[2] covers exactly the entries before it.
  const std::string k2 = tt::read_file(kept[2]);
  const std::uint64_t victim = std::stoull(k2.substr(k2.find('\n') + 1));
  REQUIRE(victim + 1 < n);
  raw.records.erase(raw.records.begin() + static_cast<std::ptrdiff_t>(victim));
  raw.macs.erase(raw.macs.begin() + static_cast<std::ptrdiff_t>(victim));
  for (std::uint64_t i = victim; i < raw.records.size(); ++i) {
    auto e = decode_log_entry(raw.records[i]).value();
    e.seq = i;
    raw.records[i] = encode_log_entry(e);
  }
  raw.save(log / "entries");
  const std::string seq = std::to_string(victim);

  auto verify = [&](std::vector<fs::path> since) {
    std::vector<std::string> a{tt::tillid_program().string(), "audit", "verify", "--log", log.string(), "--key-file",
                               key.string()};
    for (const auto& k : since) {
      a.push_back("--since");
      a.push_back(k.string());
    }
    return tt::run(a);
  };

  SECTION("the log's own checkpoints still in place pin the exact entry") {
    auto r = verify({kept.back()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "FAILED: first bad sequence number " + seq));
    // The daemon signs checkpoints on a timer (LOG-FORMAT.md §4), not after every entry, so the
    // entries between two checkpoints are pinned as a range whose first seq is the victim's.
    CHECK(contains(r.out, "BAD edited at seq " + seq));
    CHECK_FALSE(contains(r.out, "at seq 0"));
    CHECK_FALSE(contains(r.out, "rolled back at seq " + std::to_string(n - 1)));
  }
  SECTION("the checkpoints cut back too: the auditor's kept checkpoints pin it") {
    auto craw = RawFile::load(log / "checkpoints", kCheckpointsHeaderSize);
    while (!craw.records.empty()) {
      const std::string note = logtest::text_of(craw.records.back());
      const auto size = std::stoull(note.substr(note.find('\n') + 1));
      if (size <= victim) break;
      craw.records.pop_back();
    }
    craw.save(log / "checkpoints");
    // Consistent with itself now: only what the auditor kept can tell that history changed;
    // alone, the verifier sees no tampering, only entries no checkpoint covers (exit 8).
    auto alone = verify({});
    INFO(alone.out);
    CHECK(alone.exit_code == 8);
    CHECK(contains(alone.out, "UNSIGNED"));
    auto r = verify(kept);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "FAILED: first bad sequence number " + seq));
    CHECK(contains(r.out, "first entry that differs is seq " + seq));
  }
}
