// The log never adopts what the appliance did not write (issue 10, classes 4 and 5). Each test
// acts as an attacker who can edit every byte of the vault while it is closed but has no
// passphrase, then runs the real `tillid` as an officer and an auditor would.
#include <algorithm>
#include <catch2/catch.hpp>

#include "cli_fixture.hpp"
#include "log_test_util.hpp"

using namespace tillid;
using logtest::Bytes;
using logtest::RawFile;
using logtest::kEntriesHeaderSize;
using logtest::kCheckpointsHeaderSize;
using logtest::kMacSize;
namespace tt = tillid::test;
namespace fs = std::filesystem;

namespace {

struct LoggedVault : tt::CliVault {
  fs::path logdir = vault / "log";
  fs::path key = tmp / "verifier.key";
  fs::path kept = tmp / "kept-checkpoint.txt";

  LoggedVault() {
    REQUIRE(tillid({"ls"}).exit_code == 0);
    auto k = tillid({"audit", "key"});
    REQUIRE(k.exit_code == 0);
    tt::write_file(key, k.out);
    auto cp = tillid({"audit", "checkpoint"});
    REQUIRE(cp.exit_code == 0);
    tt::write_file(kept, cp.out);
  }
  std::string vkey() const {
    std::string k = tt::read_file(key);
    while (!k.empty() && k.back() == '\n') k.pop_back();
    return k;
  }
  // The auditor: only the log directory and what they kept.
  tt::RunResult audit(std::vector<std::string> args) const {
    std::vector<std::string> a{tt::tillid_program().string(), "audit"};
    a.insert(a.end(), args.begin(), args.end());
    return tt::run(a);
  }
  tt::RunResult audit_verify() const {
    return audit({"verify", "--log", logdir.string(), "--key-file", key.string(), "--since", kept.string()});
  }
  LogVerifyReport verify() const {
    auto r = verify_log(logdir, vkey());
    REQUIRE(r.ok());
    return *r;
  }
};

// What an attacker appends: a well-formed entry at the next seq with correct check bytes.
std::uint64_t append_forged_entry(const fs::path& dir, Bytes mac = {}) {
  auto raw = RawFile::load(dir / "entries", kEntriesHeaderSize);
  LogEntry e;
  static_cast<LogEvent&>(e) = logtest::make_event("caseworker7", "caseworker", LogAction::item_read, LogOutcome::ok,
                                                  "00112233445566778899aabbccddeeff",
                                                  "ffeeddccbbaa99887766554433221100", "");
  e.seq = raw.records.size();
  e.time_unix_ms = decode_log_entry(raw.records.back())->time_unix_ms + 1000;
  raw.add(encode_log_entry(e), std::move(mac));
  raw.save(dir / "entries");
  return e.seq;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("a forged entry appended after the newest checkpoint is quarantined at the next unlock, never adopted",
          "[log][quarantine][cli]") {
  LoggedVault v;
  Bytes mac;
  SECTION("with no MAC") {}
  SECTION("with a made-up MAC") { mac.assign(kMacSize, 0xa5); }
  const std::uint64_t forged = append_forged_entry(v.logdir, mac);

  // Before the next unlock it is an unsigned tail: no tampering provable, but nothing vouches
  // for it either, and the auditor's exit code says so (8, LOG-FORMAT.md §3.4–3.5).
  auto before = v.audit_verify();
  INFO(before.out << before.err);
  CHECK(before.exit_code == 8);
  CHECK(contains(before.out, "not yet covered by a signature"));
  CHECK(contains(before.out, "UNSIGNED"));

  // An officer's next command unlocks the vault.
  REQUIRE(v.tillid({"ls"}).exit_code == 0);

  const auto rep = v.verify();
  REQUIRE(rep.clean());
  REQUIRE(rep.latest_checkpoint);
  REQUIRE(rep.quarantined.size() == 1);
  CHECK(rep.quarantined[0].first == forged);
  CHECK(rep.quarantined[0].last == forged);
  // The flag is itself a signed entry after the forged one (the daemon's start comes first).
  const auto entries = read_log_entries(v.logdir).value();
  std::size_t flag = forged + 1;
  while (flag < entries.size() && entries[flag].action != LogAction::log_quarantined) ++flag;
  REQUIRE(flag < entries.size());
  CHECK(entries[flag].details == "seq " + std::to_string(forged) + "-" + std::to_string(forged));
  CHECK(rep.latest_checkpoint->size > flag);

  auto after = v.audit_verify();
  INFO(after.out << after.err);
  CHECK(after.exit_code == 8);
  CHECK(contains(after.out, "QUARANTINED seq " + std::to_string(forged) + "-" + std::to_string(forged)));

  // Every report format marks it.
  auto json = nlohmann::json::parse(v.audit({"report", "--log", v.logdir.string(), "--format", "json"}).out);
  REQUIRE(json.size() == entries.size());
  for (const auto& e : json) CHECK(e["quarantined"] == (e["seq"] == forged));
  auto text = v.audit({"report", "--log", v.logdir.string()}).out;
  CHECK(contains(text, std::to_string(forged) + "!Q"));
  auto page = v.tmp / "report.html";
  REQUIRE(v.audit({"report", "--log", v.logdir.string(), "--key-file", v.key.string(), "--format", "html", "-o",
                   page.string()}).exit_code == 0);
  const auto html = tt::read_file(page);
  CHECK(contains(html, "data-seq=\"" + std::to_string(forged) + "\""));
  CHECK(contains(html, "QUARANTINED"));
}

TEST_CASE("a refused unlock written while locked is quarantined at the next unlock", "[log][quarantine][cli]") {
  LoggedVault v;
  auto wrong = v.tmp / "wrong.txt";
  tt::write_file(wrong, "not the passphrase\n");
  REQUIRE(v.as_with(tt::TestUids::staff, wrong, {"ls"}).exit_code == 3);
  // That daemon stopped while still locked: its entries (its start, the decision, the refused
  // unlock, its stop) carry no MAC, and the next daemon, another process, cannot vouch for them.
  const auto before = read_log_entries(v.logdir).value();
  auto refused = std::find_if(before.rbegin(), before.rend(),
                              [](const LogEntry& e) { return e.action == LogAction::unlock; });
  REQUIRE(refused != before.rend());
  REQUIRE(refused->outcome != LogOutcome::ok);
  REQUIRE(v.tillid({"ls"}).exit_code == 0);
  const auto rep = v.verify();
  CHECK(rep.clean());
  REQUIRE(rep.quarantined.size() == 1);
  CHECK(rep.quarantined[0].first <= refused->seq);
  CHECK(rep.quarantined[0].last >= refused->seq);
  CHECK(rep.quarantined[0].last == before.back().seq);
  auto r = v.audit_verify();
  INFO(r.out);
  CHECK(r.exit_code == 8);
}

TEST_CASE("unsigned entries the appliance wrote are adopted; an edited MAC is quarantined", "[log][quarantine][cli]") {
  LoggedVault v;
  REQUIRE(v.tillid({"ls"}).exit_code == 0);
  // Cut the newest checkpoint so the last entries (written unlocked, with MACs) are unsigned.
  auto craw = RawFile::load(v.logdir / "checkpoints", kCheckpointsHeaderSize);
  REQUIRE(craw.records.size() >= 2);
  craw.records.pop_back();
  craw.save(v.logdir / "checkpoints");
  auto raw = RawFile::load(v.logdir / "entries", kEntriesHeaderSize);
  const std::uint64_t last = raw.records.size() - 1;

  SECTION("MACs intact: adopted, nothing quarantined") {
    REQUIRE(v.tillid({"ls"}).exit_code == 0);
    const auto rep = v.verify();
    CHECK(rep.clean());
    CHECK(rep.quarantined.empty());
    CHECK(v.audit_verify().exit_code == 0);
  }
  SECTION("one MAC byte flipped: that entry is quarantined") {
    raw.macs[last][7] ^= 0x01;
    raw.save(v.logdir / "entries");
    REQUIRE(v.tillid({"ls"}).exit_code == 0);
    const auto rep = v.verify();
    CHECK(rep.clean());
    REQUIRE(rep.quarantined.size() == 1);
    CHECK(rep.quarantined[0].first == last);
    CHECK(v.audit_verify().exit_code == 8);
  }
  SECTION("a forged log_quarantined event cannot clear or smear genuine entries") {
    // The attacker's own "quarantine" naming a signed genuine entry is itself quarantined and
    // its ranges never count.
    LogEntry e;
    static_cast<LogEvent&>(e) = logtest::make_event("local-operator", "operator", LogAction::log_quarantined,
                                                    LogOutcome::ok, "", "", "seq 0-0");
    e.seq = raw.records.size();
    e.time_unix_ms = decode_log_entry(raw.records.back())->time_unix_ms;
    raw.add(encode_log_entry(e));
    raw.save(v.logdir / "entries");
    REQUIRE(v.tillid({"ls"}).exit_code == 0);
    const auto rep = v.verify();
    CHECK(rep.clean());
    REQUIRE(rep.quarantined.size() == 1);
    CHECK(rep.quarantined[0].first == e.seq);
    CHECK(rep.quarantined[0].last == e.seq);
  }
}

TEST_CASE("a forged checkpoint appended is named at open and never served", "[log][checkpoint][cli]") {
  LoggedVault v;
  auto craw = RawFile::load(v.logdir / "checkpoints", kCheckpointsHeaderSize);
  const std::size_t k = craw.records.size();
  std::string forged;
  SECTION("signed by another key") {
    logtest::Key mallory(99);
    logtest::TempDir other;
    auto opts = logtest::options("x", false, mallory.pk);
    // Same origin as the vault's, so only the signature tells it apart.
    const std::string cp = tt::read_file(v.kept);
    opts.origin = cp.substr(0, cp.find('\n'));
    auto log = AccessLog::create(other.path / "log", opts);
    REQUIRE(log.ok());
    for (int i = 0; i < 50; ++i) REQUIRE(log->append(logtest::event(i)).ok());
    forged = log->sign_checkpoint(mallory.sk, mallory.pk)->note;
  }
  SECTION("a genuine checkpoint with its size raised") {
    forged = logtest::text_of(craw.records.back());
    const auto nl = forged.find('\n');
    forged.insert(nl + 1, "1");  // "<size>" -> "1<size>"
  }
  craw.records.push_back(Bytes(forged.begin(), forged.end()));
  craw.save(v.logdir / "checkpoints");

  // The daemon refuses to open the vault over it, naming the checkpoint, so nothing is served:
  // the client cannot reach a daemon (exit 9) and the harness shows the daemon's reason.
  auto cp = v.tillid({"audit", "checkpoint"});
  INFO(cp.out << cp.err);
  CHECK(cp.exit_code == 9);
  CHECK(contains(cp.err, "checkpoint #" + std::to_string(k) + " (tree size"));
  CHECK_FALSE(contains(cp.out, forged.substr(0, forged.find('\n'))));
  CHECK(v.tillid({"ls"}).exit_code == 9);
  auto r = v.audit_verify();  // the auditor names it too
  CHECK(r.exit_code == 1);
  CHECK(contains(r.out, "bad signature"));
}

TEST_CASE("audit consistency 0 N is the empty proof, as LOG-FORMAT.md §5 says", "[log][cli]") {
  LoggedVault v;
  auto r = v.audit({"consistency", "--log", v.logdir.string(), "0"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto p = parse_consistency_proof(r.out);
  REQUIRE(p.ok());
  CHECK(p->old_size == 0);
  CHECK(p->path.empty());
  // Consistent with anything, but only from the empty tree's root.
  LogHash other{};
  other[0] = 1;
  const auto root = log_root_at(v.logdir).value();
  CHECK(verify_consistency(0, p->new_size, log_root_at(v.logdir, 0).value(), root, p->path));
  CHECK_FALSE(verify_consistency(0, p->new_size, other, root, p->path));
}
