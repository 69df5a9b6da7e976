// Version 1 logs (LOG-FORMAT.md §3.6), from the release before entry MACs: the writer upgrades
// one in place at open, once and crash-safely, keeping every leaf, root and signed checkpoint;
// the auditor's side reads one as it is. The log is the committed version 1 vector log
// (tests/vectors/log-v1: the vectors of §7 as that release made them), and one killed mid-upgrade.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;

namespace {

const fs::path kV1 = fs::path(TILLID_SOURCE_DIR) / "tests" / "vectors" / "log-v1";
const std::string kV1Origin = "tillid.local/vectors";
constexpr unsigned char kV1Seed = 0x42;  // LOG-FORMAT.md §7
constexpr std::size_t kV1Entries = 6, kV1Checkpoints = 2;
const char* const kTemp = "entries.upgrade";  // §3.6

std::string line_of(const fs::path& p) {
  std::string s = text_of(read_bytes(p));
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}
std::string hex_of(std::span<const unsigned char> b) {
  static constexpr char d[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) s += {d[c >> 4], d[c & 15]};
  return s;
}
AccessLogOptions v1_options() { return options(kV1Origin, true, Key(kV1Seed).pk); }
std::string v1_vkey() { return line_of(kV1 / "verifier-key"); }
std::string v1_root() { return line_of(kV1 / "root.txt"); }

// A private copy of the vector log with the modes the writer gives a log (§1; git keeps none).
fs::path copy_v1(const TempDir& t) {
  const auto dir = t.path / "log";
  fs::create_directory(dir);
  for (const char* f : {"entries", "checkpoints"}) {
    fs::copy_file(kV1 / f, dir / f);
    fs::permissions(dir / f, fs::perms::owner_read | fs::perms::owner_write);
  }
  fs::permissions(dir, fs::perms::owner_all);
  return dir;
}

// Version 1 framing, read and written here from the spec, not by the library: the header
// "tillid-log entries v1\n", then length (4) || payload || check (8) per record.
Bytes v1_record(const Bytes& payload) { return RawFile::frame(payload, {}); }
std::vector<Bytes> v1_payloads(const Bytes& file) {
  REQUIRE(text_of(Bytes(file.begin(), file.begin() + 22)) == "tillid-log entries v1\n");
  std::vector<Bytes> out;
  for (std::size_t off = 22; off + 4 <= file.size();) {
    const std::size_t n = (std::size_t{file[off]} << 24) | (std::size_t{file[off + 1]} << 16) |
                          (std::size_t{file[off + 2]} << 8) | file[off + 3];
    REQUIRE(off + 12 + n <= file.size());
    out.emplace_back(file.begin() + static_cast<std::ptrdiff_t>(off + 4),
                     file.begin() + static_cast<std::ptrdiff_t>(off + 4 + n));
    off += 12 + n;
  }
  return out;
}
// What the upgrade must write (§3.6): the version 2 header and the same payloads, zero MACs.
Bytes expected_v2(const std::vector<Bytes>& payloads) {
  const std::string h = "tillid-log entries v2\n";
  Bytes out(h.begin(), h.end());
  for (const auto& p : payloads) {
    const Bytes r = RawFile::frame(p, Bytes(kMacSize, 0));
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

bool is_symlink_or_exists(const fs::path& p) { return fs::symlink_status(p).type() != fs::file_type::not_found; }

std::string problems_of(const LogVerifyReport& rep) {
  std::string s;
  for (const auto& p : rep.problems) s += p.message + "\n";
  return s;
}

// The auditor's verdict on the v1 vector log (upgraded or not): intact, same entries, same
// root, same checkpoints.
void expect_v1_log(const Result<LogVerifyReport>& rep) {
  REQUIRE(rep.ok());
  INFO(problems_of(*rep));
  CHECK(rep->clean());
  CHECK(rep->entries == kV1Entries);
  CHECK(hex_of(rep->root) == v1_root());
  CHECK(rep->checkpoints == kV1Checkpoints);
}

}  // namespace

TEST_CASE("a version 1 log is upgraded at open: same entries, same root, checkpoints still verify, once",
          "[log][upgrade]") {
  TempDir t;
  const auto dir = copy_v1(t);
  const Bytes v1 = read_bytes(dir / "entries");
  const Bytes checkpoints = read_bytes(dir / "checkpoints");
  const auto payloads = v1_payloads(v1);
  REQUIRE(payloads.size() == kV1Entries);
  {
    auto log = AccessLog::open(dir, v1_options());
    INFO((log.ok() ? std::string() : log.error().message));
    REQUIRE(log.ok());
    CHECK(log->recovery().entries_upgraded);
    CHECK(log->recovery().entries_torn_bytes == 0);
    CHECK(log->size() == kV1Entries);
    CHECK(hex_of(log->root()) == v1_root());
    REQUIRE(log->latest_checkpoint());
    CHECK(log->latest_checkpoint()->size == kV1Entries);
    CHECK(log->latest_checkpoint()->root == log->root());
    const auto entries = log->entries();
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == kV1Entries);
    for (std::size_t i = 0; i < kV1Entries; ++i) CHECK(encode_log_entry((*entries)[i]) == payloads[i]);
    const auto proof = log->inclusion_proof(3, kV1Entries);
    REQUIRE(proof.ok());
    CHECK(proof->entry == payloads[3]);  // read from the new file's offsets
    CHECK(verify_inclusion(leaf_hash(payloads[3]), 3, kV1Entries, proof->path, log->root()));
    // The upgraded file is locked like any open log: a second writer is refused.
    auto second = AccessLog::open(dir, v1_options());
    REQUIRE_FALSE(second.ok());
    CHECK_THAT(second.error().message, Catch::Contains("already open"));
  }
  const Bytes v2 = read_bytes(dir / "entries");
  CHECK(v2 == expected_v2(payloads));
  CHECK(v2.size() == v1.size() + kV1Entries * kMacSize);  // only the MAC fields were added
  auto raw = RawFile::load(dir / "entries", kEntriesHeaderSize);
  CHECK(raw.records == payloads);
  for (const auto& mac : raw.macs) CHECK(mac == Bytes(kMacSize, 0));
  CHECK(read_bytes(dir / "checkpoints") == checkpoints);  // its framing did not change (§3.6)
  struct stat st {};
  REQUIRE(::lstat((dir / "entries").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(S_ISREG(st.st_mode));
  CHECK_FALSE(is_symlink_or_exists(dir / kTemp));

  auto rep = verify_log(dir, v1_vkey());
  expect_v1_log(rep);

  // A second open finds version 2 and changes nothing; appends are version 2 records.
  {
    auto again = AccessLog::open(dir, v1_options());
    REQUIRE(again.ok());
    CHECK_FALSE(again->recovery().entries_upgraded);
    CHECK(hex_of(again->root()) == v1_root());
    CHECK(read_bytes(dir / "entries") == v2);
    REQUIRE(again->append(event(1)).ok());
  }
  raw = RawFile::load(dir / "entries", kEntriesHeaderSize);
  REQUIRE(raw.records.size() == kV1Entries + 1);
  const Bytes grown = read_bytes(dir / "entries");
  CHECK(Bytes(grown.begin(), grown.begin() + static_cast<std::ptrdiff_t>(v2.size())) == v2);
  rep = verify_log(dir, v1_vkey());
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  CHECK(rep->entries == kV1Entries + 1);
}

TEST_CASE("verify_log, read_log_entries and proofs read a version 1 log as it is", "[log][upgrade][audit]") {
  TempDir t;
  const auto dir = copy_v1(t);
  const Bytes v1 = read_bytes(dir / "entries");
  const auto payloads = v1_payloads(v1);

  auto rep = verify_log(dir, v1_vkey());
  expect_v1_log(rep);
  REQUIRE(rep->latest_checkpoint);
  CHECK(rep->latest_checkpoint->size == kV1Entries);

  const auto entries = read_log_entries(dir);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == kV1Entries);
  for (std::size_t i = 0; i < kV1Entries; ++i) {
    CHECK((*entries)[i].seq == i);
    CHECK(encode_log_entry((*entries)[i]) == payloads[i]);
  }
  const auto inc = prove_inclusion(dir, 2);
  REQUIRE(inc.ok());
  CHECK(inc->entry == payloads[2]);
  CHECK(verify_inclusion(leaf_hash(payloads[2]), 2, kV1Entries, inc->path, rep->root));
  const auto old_root = log_root_at(dir, 2);
  const auto con = prove_consistency(dir, 2);
  REQUIRE(old_root.ok());
  REQUIRE(con.ok());
  CHECK(verify_consistency(2, kV1Entries, *old_root, rep->root, con->path));
  CHECK(read_bytes(dir / "entries") == v1);  // the auditor's side never writes

  SECTION("an edited version 1 entry is named") {
    Bytes edited = v1;
    const std::size_t at = 22 + (12 + payloads[0].size()) + (12 + payloads[1].size()) + 4 + 2;  // seq 2's payload
    edited[at] ^= 0x01;
    write_bytes(dir / "entries", edited);
    rep = verify_log(dir, v1_vkey());
    REQUIRE(rep.ok());
    CHECK_FALSE(rep->clean());
    CHECK(rep->first_bad_seq == 2u);
  }
}

TEST_CASE("a crash during the upgrade leaves the version 1 log, and the next open upgrades it", "[log][upgrade]") {
  // The upgrade writes the temporary, fsyncs it, renames it over `entries`, fsyncs the
  // directory (§3.6). A crash before the rename leaves the version 1 `entries` and a stale
  // temporary, partial or complete; one after it leaves the version 2 file (the test above).
  TempDir t;
  const auto dir = copy_v1(t);
  const Bytes v1 = read_bytes(dir / "entries");
  const Bytes v2 = expected_v2(v1_payloads(v1));
  const auto target = t.path / "not-the-log";
  write_bytes(target, Bytes{'k', 'e', 'e', 'p'});

  auto open_and_check = [&] {
    auto log = AccessLog::open(dir, v1_options());
    INFO((log.ok() ? std::string() : log.error().message));
    REQUIRE(log.ok());
    CHECK(log->recovery().entries_upgraded);
    CHECK(hex_of(log->root()) == v1_root());
    CHECK(read_bytes(dir / "entries") == v2);
    CHECK(fs::symlink_status(dir / "entries").type() == fs::file_type::regular);
    CHECK_FALSE(is_symlink_or_exists(dir / kTemp));
  };
  SECTION("a partly written temporary") {
    write_bytes(dir / kTemp, Bytes(v2.begin(), v2.begin() + 100));
    open_and_check();
  }
  SECTION("a complete temporary, not yet renamed") {
    write_bytes(dir / kTemp, v2);
    open_and_check();
  }
  SECTION("a symlink at the temporary's name is removed, never followed") {
    fs::create_symlink(target, dir / kTemp);
    open_and_check();
    CHECK(read_bytes(target) == Bytes{'k', 'e', 'e', 'p'});
  }
  SECTION("a dangling symlink at the temporary's name creates nothing at its target") {
    fs::create_symlink(t.path / "nowhere", dir / kTemp);
    open_and_check();
    CHECK_FALSE(is_symlink_or_exists(t.path / "nowhere"));
  }
  SECTION("a directory at the temporary's name is refused; the version 1 log stays as it was") {
    fs::create_directory(dir / kTemp);
    auto log = AccessLog::open(dir, v1_options());
    REQUIRE_FALSE(log.ok());
    CHECK_THAT(log.error().message, Catch::Contains(kTemp));
    CHECK(read_bytes(dir / "entries") == v1);
    auto rep = verify_log(dir, v1_vkey());  // still an intact version 1 log
    REQUIRE(rep.ok());
    CHECK(rep->clean());
  }
}

TEST_CASE("a version 1 log's torn tail is cut at the upgrade, damage is refused and nothing is rewritten",
          "[log][upgrade]") {
  TempDir t;
  const auto dir = copy_v1(t);
  const Bytes v1 = read_bytes(dir / "entries");
  const auto payloads = v1_payloads(v1);

  SECTION("torn tail") {
    Bytes torn = v1;
    const Bytes rec = v1_record(payloads[0]);
    torn.insert(torn.end(), rec.begin(), rec.begin() + 10);
    write_bytes(dir / "entries", torn);
    auto log = AccessLog::open(dir, v1_options());
    REQUIRE(log.ok());
    CHECK(log->recovery().entries_torn_bytes == 10);
    CHECK(log->recovery().entries_upgraded);
    CHECK(read_bytes(dir / "entries") == expected_v2(payloads));
  }
  SECTION("a failed check followed by more records") {
    Bytes bad = v1;
    bad[22 + (12 + payloads[0].size()) + 4 + 3] ^= 0x01;  // seq 1's payload; its check now fails
    write_bytes(dir / "entries", bad);
    auto log = AccessLog::open(dir, v1_options());
    REQUIRE_FALSE(log.ok());
    CHECK(log.error().code == Errc::corrupt);
    CHECK_THAT(log.error().message, Catch::Contains("seq 1"));
    CHECK(read_bytes(dir / "entries") == bad);
    CHECK_FALSE(is_symlink_or_exists(dir / kTemp));
  }
  SECTION("an entry edited with correct check bytes no longer matches the signed checkpoint") {
    std::vector<Bytes> edited = payloads;
    edited[4].back() ^= 0x01;  // a details byte: still a valid entry, but not the signed one
    std::string h = "tillid-log entries v1\n";
    Bytes file(h.begin(), h.end());
    for (const auto& p : edited) {
      const Bytes r = v1_record(p);
      file.insert(file.end(), r.begin(), r.end());
    }
    write_bytes(dir / "entries", file);
    auto log = AccessLog::open(dir, v1_options());
    REQUIRE_FALSE(log.ok());
    CHECK_THAT(log.error().message, Catch::Contains("do not match its latest checkpoint"));
    CHECK(read_bytes(dir / "entries") == file);
  }
}

TEST_CASE("entries after the newest checkpoint of an upgraded log have no MAC and are quarantined at unlock",
          "[log][upgrade][quarantine]") {
  TempDir t;
  const auto dir = copy_v1(t);
  Bytes v1 = read_bytes(dir / "entries");
  // A refused unlock the old release wrote after its last checkpoint (while locked).
  LogEntry e;
  static_cast<LogEvent&>(e) = make_event("local-operator", "operator", LogAction::unlock, LogOutcome::failed, "", "",
                                         "wrong passphrase");
  e.seq = kV1Entries;
  e.time_unix_ms = 1732300100000;
  const Bytes rec = v1_record(encode_log_entry(e));
  v1.insert(v1.end(), rec.begin(), rec.end());
  write_bytes(dir / "entries", v1);

  auto log = AccessLog::open(dir, v1_options());
  REQUIRE(log.ok());
  CHECK(log->recovery().entries_upgraded);
  REQUIRE(log->size() == kV1Entries + 1);
  Secret key(32);
  std::fill(key.data(), key.data() + 32, 0x05);
  const auto q = log->authenticate_tail(std::move(key), make_event("local-operator", "operator", LogAction::unlock,
                                                                   LogOutcome::ok, "", "", ""));
  REQUIRE(q.ok());
  CHECK(*q == std::vector<std::uint64_t>{kV1Entries});
  Key k(kV1Seed);
  REQUIRE(log->sign_checkpoint(k.sk, k.pk).ok());
  auto rep = verify_log(dir, v1_vkey());
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  REQUIRE(rep->quarantined.size() == 1);
  CHECK(rep->quarantined[0].first == kV1Entries);
  CHECK(rep->quarantined[0].last == kV1Entries);
}

TEST_CASE("a version 1 log whose upgrade is killed at a random moment opens as the same log", "[log][upgrade][crash]") {
  // A child opens (so upgrades) a version 1 log of a few thousand entries and is killed with
  // SIGKILL after a random delay: while scanning, checking, writing the temporary or renaming.
  // Whatever it left, `entries` is the whole version 1 or the whole version 2 file, and the
  // next open yields the version 2 file with the same root.
  TempDir t;
  Key key;
  const auto src = t.path / "src";
  {
    auto log = AccessLog::create(src, options());
    REQUIRE(log.ok());
    std::vector<LogEvent> batch;
    for (int i = 0; i < 8000; ++i) batch.push_back(event(i));
    REQUIRE(log->append_batch(batch).ok());
    REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
    REQUIRE(log->append(event(1)).ok());  // and an unsigned tail
  }
  // Written back in version 1 framing, as the release before entry MACs wrote it (§3.6).
  const auto payloads = RawFile::load(src / "entries", kEntriesHeaderSize).records;
  const std::string h1 = "tillid-log entries v1\n";
  Bytes v1(h1.begin(), h1.end());
  for (const auto& p : payloads) {
    const Bytes r = v1_record(p);
    v1.insert(v1.end(), r.begin(), r.end());
  }
  write_bytes(src / "entries", v1);
  const Bytes v2 = expected_v2(payloads);
  const auto root = log_root_at(src);
  REQUIRE(root.ok());

  // Round 0 is not killed: it measures how long a whole upgrade takes, so that the kills of
  // the later rounds fall anywhere within it.
  constexpr int kRounds = 40;
  std::mt19937 rng(std::random_device{}());
  std::chrono::microseconds whole{0};
  int finished = 0, killed_before = 0, stale = 0;
  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    const auto dir = t.path / ("log" + std::to_string(round));
    fs::copy(src, dir, fs::copy_options::recursive);
    const auto started = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(AccessLog::open(dir, options()).ok() ? 0 : 3);
    if (round == 0) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      whole = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(0, whole.count() * 11 / 10)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
    if (WIFEXITED(status)) ++finished;
    const Bytes left = read_bytes(dir / "entries");
    REQUIRE((left == v1 || left == v2));
    if (left == v1) ++killed_before;
    if (is_symlink_or_exists(dir / kTemp)) ++stale;

    auto log = AccessLog::open(dir, options());
    INFO((log.ok() ? std::string() : log.error().message));
    REQUIRE(log.ok());
    CHECK(log->root() == *root);
    CHECK(log->recovery().entries_upgraded == (left == v1));
    CHECK(read_bytes(dir / "entries") == v2);
    CHECK_FALSE(is_symlink_or_exists(dir / kTemp));
    fs::remove_all(dir);
  }
  WARN("upgrade kill rounds: " << kRounds << " (a whole upgrade took " << whole.count() << " us), finished: "
                                << finished << ", version 1 left: " << killed_before
                                << ", stale temporary left: " << stale);
}
