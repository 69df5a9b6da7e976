// Vouching (LOG-FORMAT.md §3.4 step 3): a long-lived writer (the daemon) adopts at unlock the
// entries it appended itself while locked, if the disk still holds them as it wrote them.
// Everything else without a MAC stays quarantined: entries an earlier process wrote while
// locked, and entries edited on disk since this one wrote them (the attacker edits the bytes
// with correct check bytes, as the public format allows). The auditor's verifier and the real
// `tillid audit verify` give the verdict.
#include <catch2/catch.hpp>

#include "log_test_util.hpp"
#include "test_support.hpp"
#include "tillid/vault.hpp"

using namespace tillid;
using namespace logtest;
namespace tt = tillid::test;

namespace {

const Bytes kEntryKey(32, 0x05);
Secret entry_key() { return Secret::copy_of(kEntryKey); }

// A writer that has been unlocked once (seq 0 signed, with a MAC) and is now locked again.
struct Writer {
  TempDir dir;
  Key key;
  AccessLogOptions opts = options();
  std::optional<AccessLog> log;
  Writer() {
    auto l = AccessLog::create(dir.path, opts);
    REQUIRE(l.ok());
    log = std::move(l).value();
    REQUIRE(log->authenticate_tail(entry_key(), event(0)).ok());
    REQUIRE(log->append(event(0)).ok());
    REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
    log->forget_entry_key();
  }
  void append_locked(int count) {
    std::vector<LogEvent> evs;
    for (int i = 0; i < count; ++i) evs.push_back(event(i + 1, LogOutcome::refused));
    REQUIRE(log->append_batch(evs).ok());
  }
  std::vector<std::uint64_t> unlock() {
    auto q = log->authenticate_tail(entry_key(), make_event("admin", "admin", LogAction::unlock, LogOutcome::ok, "", "", ""));
    REQUIRE(q.ok());
    REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
    return *q;
  }
  LogVerifyReport audit() const {
    auto r = verify_log(dir.path, key.vkey(kOrigin));
    REQUIRE(r.ok());
    return *r;
  }
};

std::vector<std::uint64_t> range(std::uint64_t a, std::uint64_t b) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}

// Entry `seq` rewritten in place: same length, correct check bytes, its (zero) MAC kept.
void edit_entry(const fs::path& dir, std::uint64_t seq) {
  auto raw = RawFile::load(dir / "entries", kEntriesHeaderSize);
  REQUIRE(seq < raw.records.size());
  raw.records[seq][17] ^= 0x01;  // the action code's high byte: still a well-formed entry
  raw.save(dir / "entries");
}

}  // namespace

TEST_CASE("entries this writer appended while locked are adopted at its own unlock", "[log][vouch]") {
  Writer w;
  w.append_locked(300);  // seqs 1..300: across the first block boundary
  CHECK(w.unlock().empty());
  auto rep = w.audit();
  CHECK(rep.clean());
  CHECK(rep.quarantined.empty());
  CHECK(rep.unsigned_entries == 0);
  // Their MAC fields stay zero: the signed checkpoint is what vouches for them (§3.1).
  auto raw = RawFile::load(w.dir.path / "entries", kEntriesHeaderSize);
  CHECK(raw.macs[150] == Bytes(kMacSize, 0));
  // A second locked period in the same process: the same.
  w.log->forget_entry_key();
  w.append_locked(5);
  CHECK(w.unlock().empty());
  CHECK(w.audit().quarantined.empty());
}

TEST_CASE("entries an earlier writer appended while locked are quarantined", "[log][vouch]") {
  Writer w;
  w.append_locked(3);  // seqs 1..3
  w.log.reset();       // the process ends (a crash, a restart) before any unlock
  auto l = AccessLog::open(w.dir.path, w.opts);
  REQUIRE(l.ok());
  w.log = std::move(l).value();
  w.append_locked(2);  // seqs 4..5: this writer's own
  CHECK(w.unlock() == range(1, 3));
  auto rep = w.audit();
  CHECK(rep.clean());
  REQUIRE(rep.quarantined.size() == 1);
  CHECK(rep.quarantined[0].first == 1);
  CHECK(rep.quarantined[0].last == 3);
}

TEST_CASE("an own entry edited on disk before the unlock is quarantined, never vouched for", "[log][vouch]") {
  Writer w;
  SECTION("in the last, incomplete block: that entry alone") {
    w.append_locked(10);  // seqs 1..10
    edit_entry(w.dir.path, 4);
    CHECK(w.unlock() == std::vector<std::uint64_t>{4});
    auto rep = w.audit();
    CHECK(rep.clean());  // what was signed is what is on disk, the edit flagged
    REQUIRE(rep.quarantined.size() == 1);
    CHECK(rep.quarantined[0].first == 4);
    CHECK(rep.quarantined[0].last == 4);
  }
  SECTION("in a complete block: every unMAC'd entry the writer wrote in that block") {
    w.append_locked(300);  // seqs 1..300; block 0 = seqs 0..255
    edit_entry(w.dir.path, 100);
    CHECK(w.unlock() == range(1, 255));
    auto rep = w.audit();
    CHECK(rep.clean());
    REQUIRE(rep.quarantined.size() == 1);
    CHECK(rep.quarantined[0].last == 255);
  }
  SECTION("an entry appended by someone else is not this writer's") {
    w.append_locked(2);  // seqs 1..2
    w.log.reset();
    auto raw = RawFile::load(w.dir.path / "entries", kEntriesHeaderSize);
    LogEntry e;
    static_cast<LogEvent&>(e) = event(9);
    e.seq = 3;
    e.time_unix_ms = 1732300999000;
    raw.add(encode_log_entry(e));
    raw.save(w.dir.path / "entries");
    auto l = AccessLog::open(w.dir.path, w.opts);
    REQUIRE(l.ok());
    w.log = std::move(l).value();
    CHECK(w.unlock() == range(1, 3));
  }
}

TEST_CASE("tillid audit verify exits 0 after a locked period and unlock in the same vault process",
          "[log][vouch][vault]") {
  TempDir tmp;
  const fs::path vault = tmp.path / "vault";
  const std::string pass = "correct horse battery staple";
  REQUIRE(Vault::create(vault, passphrase_from(pass), "first", KdfCost::interactive(), Actor{}).ok());
  {
    auto v = Vault::open(vault, Actor{});
    REQUIRE(v.ok());
    v->defer_checkpoints(true);
    // While locked: refused unlocks and requests the daemon logged (no MAC, no signature).
    CHECK_FALSE(v->unlock(passphrase_from("wrong wrong wrong wrong")).ok());
    CHECK_FALSE(v->cases().ok());
    REQUIRE(v->unlock(passphrase_from(pass)).ok());
    REQUIRE(v->cases().ok());
    REQUIRE(v->sign_pending_checkpoint().ok());
    tt::write_file(tmp.path / "key", v->log_verifier_key() + "\n");
  }
  auto r = tt::run({tt::tillid_program().string(), "audit", "verify", "--log", (vault / "log").string(),
                    "--key-file", (tmp.path / "key").string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  auto rep = verify_log(vault / "log", tt::read_file(tmp.path / "key"));
  REQUIRE(rep.ok());
  CHECK(rep->quarantined.empty());
  CHECK(rep->unsigned_entries == 0);
}
