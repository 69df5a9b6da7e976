// AccessLog behaviour: appends and reopening, event bounds, group commit from many threads,
// signed checkpoints and verifier keys, torn tails versus damaged records.
#include <catch2/catch.hpp>

#include <thread>

#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;

TEST_CASE("append, reopen and read back", "[log]") {
  TempDir dir;
  const auto path = dir.path / "log";
  {
    auto log = AccessLog::create(path, options());
    REQUIRE(log.ok());
    CHECK(log->size() == 0);
    for (int i = 0; i < 10; ++i) {
      auto seq = log->append(event(i));
      REQUIRE(seq.ok());
      CHECK(*seq == static_cast<std::uint64_t>(i));
    }
    std::vector<LogEvent> batch{event(10), event(11), event(12)};
    auto first = log->append_batch(batch);
    REQUIRE(first.ok());
    CHECK(*first == 10);
    CHECK(log->size() == 13);
    CHECK_FALSE(AccessLog::open(path, options()).ok());  // one writer at a time
    CHECK(AccessLog::create(path, options()).error().code == Errc::already_exists);
  }
  auto log = AccessLog::open(path, options());
  REQUIRE(log.ok());
  CHECK(log->size() == 13);
  CHECK(log->recovery().entries_torn_bytes == 0);
  auto all = log->entries();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 13);
  for (std::uint64_t i = 0; i < 13; ++i) {
    CHECK((*all)[i].seq == i);
    CHECK((*all)[i].details == "event " + std::to_string(i));
    CHECK(encode_log_entry((*all)[i]) == log->inclusion_proof(i, 13)->entry);
  }
  CHECK(AccessLog::open(dir.path / "nothing", options()).error().code == Errc::not_found);
}

TEST_CASE("events outside the bounds are refused, never truncated", "[log]") {
  TempDir dir;
  auto log = AccessLog::create(dir.path / "log", options());
  REQUIRE(log.ok());
  auto refused = [&](LogEvent e) {
    auto r = log->append(e);
    return !r.ok() && r.error().code == Errc::invalid_argument;
  };
  LogEvent e = event(1);
  CHECK(log->append(e).ok());
  e.details = std::string(240, 'x');
  CHECK(log->append(e).ok());
  e.details = std::string(241, 'x');
  CHECK(refused(e));
  e = event(1);
  e.details = "line\nbreak";
  CHECK(refused(e));
  e.details = "bad utf8 \xff";
  CHECK(refused(e));
  e.details = "cpr 010203-1234 leaked";
  CHECK(refused(e));
  e.details = "cpr 0102031234";
  CHECK(refused(e));
  e.details = "size 10737418240 bytes, 9 chunks";  // a number, not a CPR shape
  CHECK(log->append(e).ok());
  e.details = "wrong passphrase (æøå)";
  CHECK(log->append(e).ok());
  e = event(1);
  e.actor_id = "";
  CHECK(refused(e));
  e.actor_id = "Jens Hansen";  // a space: names are not ids
  CHECK(refused(e));
  e = event(1);
  e.actor_role = "Staff";
  CHECK(refused(e));
  e = event(1);
  e.case_id = std::string(65, 'a');
  CHECK(refused(e));
  e = event(1);
  e.outcome = static_cast<LogOutcome>(7);
  CHECK(refused(e));
  // A refused event takes no sequence number.
  CHECK(log->append(event(2)).value() == 4);
  std::vector<LogEvent> batch{event(3), event(4)};
  batch[1].details = "\x01";
  CHECK_FALSE(log->append_batch(batch).ok());
  CHECK(log->size() == 5);
}

TEST_CASE("entry encoding is canonical and strict", "[log]") {
  LogEntry e;
  static_cast<LogEvent&>(e) = event(5, LogOutcome::refused);
  e.seq = 42;
  e.time_unix_ms = 1732300000123;
  const Bytes b = encode_log_entry(e);
  auto d = decode_log_entry(b);
  REQUIRE(d.ok());
  CHECK(encode_log_entry(*d) == b);
  CHECK(d->seq == 42);
  CHECK(d->outcome == LogOutcome::refused);
  Bytes longer = b;
  longer.push_back(0);
  CHECK_FALSE(decode_log_entry(longer).ok());
  Bytes shorter(b.begin(), b.end() - 1);
  CHECK_FALSE(decode_log_entry(shorter).ok());
  Bytes v2 = b;
  v2[0] = 2;
  CHECK(decode_log_entry(v2).error().code == Errc::unsupported);
  CHECK(to_string(LogAction::share_fetched) == "share_fetched");
  CHECK(to_string(static_cast<LogAction>(999)) == "action-999");
  CHECK(parse_log_action("item_read") == LogAction::item_read);
}

TEST_CASE("concurrent appends are group-committed without gaps", "[log]") {
  TempDir dir;
  auto log = AccessLog::create(dir.path / "log", options("tillid.local/x", false));
  REQUIRE(log.ok());
  constexpr int kThreads = 8, kEach = 200;
  std::vector<std::vector<std::uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        LogEvent e = event(i);
        e.details = "t" + std::to_string(t) + " i" + std::to_string(i);
        auto r = log->append(e);
        if (r.ok()) seqs[t].push_back(*r);
      }
    });
  // Checkpoints signed while appends run (a regression test: this once shared a hasher).
  Key key;
  std::atomic<bool> stop{false};
  std::thread signer([&] {
    while (!stop)
      if (!log->sign_checkpoint(key.sk, key.pk).ok()) break;
  });
  for (auto& th : threads) th.join();
  stop = true;
  signer.join();
  CHECK(log->size() == kThreads * kEach);
  auto rep = verify_log(dir.path / "log", key.vkey("tillid.local/x"));
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  CHECK(rep->checkpoints > 0);
  std::vector<bool> seen(kThreads * kEach);
  auto all = log->entries().value();
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(seqs[t].size() == kEach);
    for (int i = 0; i < kEach; ++i) {
      const auto s = seqs[t][i];
      CHECK_FALSE(seen[s]);
      seen[s] = true;
      CHECK(all[s].details == "t" + std::to_string(t) + " i" + std::to_string(i));
    }
  }
}

TEST_CASE("signed checkpoints follow the C2SP formats", "[log]") {
  TempDir dir;
  Key key;
  auto log = AccessLog::create(dir.path / "log", options());
  REQUIRE(log.ok());
  for (int i = 0; i < 5; ++i) REQUIRE(log->append(event(i)).ok());
  auto cp = log->sign_checkpoint(key.sk, key.pk);
  REQUIRE(cp.ok());
  CHECK(cp->size == 5);
  CHECK(cp->root == log->root());
  // Body lines, a blank line, then "— <name> <base64(key id || signature)>".
  const std::string& note = cp->note;
  const auto blank = note.find("\n\n");
  REQUIRE(blank != std::string::npos);
  const std::string body = note.substr(0, blank + 1);
  CHECK(body.rfind(kOrigin + "\n5\n", 0) == 0);
  CHECK(body.find("\ntime 1732300005\n") != std::string::npos);
  const std::string sigline = note.substr(blank + 2);
  CHECK(sigline.rfind("\xE2\x80\x94 " + kOrigin + " ", 0) == 0);
  CHECK(sigline.back() == '\n');
  // Key ID = SHA-256(name || "\n" || 0x01 || pk)[:4], as in the verifier key.
  Bytes idin(kOrigin.begin(), kOrigin.end());
  idin.push_back('\n');
  idin.push_back(0x01);
  idin.insert(idin.end(), key.pk.begin(), key.pk.end());
  const auto id = sha256(idin);
  char idhex[9];
  std::snprintf(idhex, sizeof idhex, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
  const std::string vkey = key.vkey(kOrigin);
  CHECK(vkey.rfind(kOrigin + "+" + idhex + "+", 0) == 0);
  // The signature is Ed25519 over the body exactly.
  const std::string b64 = sigline.substr(sigline.rfind(' ') + 1, sigline.size() - sigline.rfind(' ') - 2);
  Bytes sig(100);
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(sig.data(), sig.size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  REQUIRE(len == 68);
  CHECK(std::memcmp(sig.data(), id.data(), 4) == 0);
  CHECK(crypto_sign_verify_detached(sig.data() + 4, reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                                    key.pk.data()) == 0);

  auto opened = open_checkpoint(note, vkey);
  REQUIRE(opened.ok());
  CHECK(opened->size == 5);
  // No new entries: the same checkpoint comes back and nothing is appended.
  CHECK(log->sign_checkpoint(key.sk, key.pk)->note == note);
  // A wrong key pair is refused; another key's verifier key does not open it.
  Key other(9);
  CHECK_FALSE(log->sign_checkpoint(other.sk, key.pk).ok());
  CHECK_FALSE(open_checkpoint(note, other.vkey(kOrigin)).ok());
  CHECK(open_checkpoint(note, "garbage").error().code == Errc::invalid_argument);
  std::string forged = note;
  forged[forged.size() - 10] = forged[forged.size() - 10] == 'A' ? 'B' : 'A';
  CHECK_FALSE(open_checkpoint(forged, vkey).ok());
  std::string edited = note;
  edited.replace(edited.find("\n5\n"), 3, "\n6\n");
  CHECK_FALSE(open_checkpoint(edited, vkey).ok());

  // A checkpoint also verifies with an extra witness signature line from an unknown key.
  const std::string witnessed = note + "\xE2\x80\x94 witness.example AAAAAAAA\n";
  CHECK(open_checkpoint(witnessed, vkey).ok());

  auto rep = verify_log(dir.path / "log", vkey);
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  CHECK(rep->checkpoints == 1);
  CHECK(rep->entries == 5);
}

TEST_CASE("a torn tail is cut on open, a damaged middle record is tampering", "[log]") {
  TempDir dir;
  Key key;
  const auto path = dir.path / "log";
  Bytes good;
  {
    auto log = AccessLog::create(path, options());
    REQUIRE(log.ok());
    for (int i = 0; i < 10; ++i) REQUIRE(log->append(event(i)).ok());
    REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
  }
  good = read_bytes(path / "entries");
  const Bytes good_cp = read_bytes(path / "checkpoints");

  SECTION("partial record at the end") {
    LogEntry e;
    static_cast<LogEvent&>(e) = event(10);
    e.seq = 10;
    const Bytes rec = RawFile::frame(encode_log_entry(e), Bytes(kMacSize, 0));
    for (std::size_t cut : {std::size_t{1}, std::size_t{3}, std::size_t{4}, std::size_t{20}, rec.size() - 1}) {
      Bytes torn = good;
      torn.insert(torn.end(), rec.begin(), rec.begin() + static_cast<std::ptrdiff_t>(cut));
      write_bytes(path / "entries", torn);
      auto before = verify_log(path, key.vkey(kOrigin));
      REQUIRE(before.ok());
      CHECK(before->clean());
      CHECK_FALSE(before->notes.empty());
      {
        auto log = AccessLog::open(path, options());
        REQUIRE(log.ok());
        CHECK(log->recovery().entries_torn_bytes == cut);
        CHECK(log->size() == 10);
        CHECK(read_bytes(path / "entries") == good);
        // And it carries on at seq 10.
        CHECK(log->append(event(10)).value() == 10);
        CHECK(log->entries()->size() == 11);
      }
      write_bytes(path / "entries", good);
    }
  }
  SECTION("zero-filled tail (blocks that never reached the disk)") {
    Bytes torn = good;
    torn.resize(good.size() + 300, 0);
    write_bytes(path / "entries", torn);
    auto log = AccessLog::open(path, options());
    REQUIRE(log.ok());
    CHECK(log->recovery().entries_torn_bytes == 300);
    CHECK(log->size() == 10);
  }
  SECTION("torn checkpoint record") {
    Bytes torn = good_cp;
    torn.insert(torn.end(), {0, 0, 0, 200, 'x'});
    write_bytes(path / "checkpoints", torn);
    auto log = AccessLog::open(path, options());
    REQUIRE(log.ok());
    CHECK(log->recovery().checkpoints_torn_bytes == 5);
    CHECK(read_bytes(path / "checkpoints") == good_cp);
  }
  SECTION("a flipped byte in a middle record") {
    auto raw = RawFile::load(path / "entries", kEntriesHeaderSize);
    std::size_t off = raw.offset_of(3);
    Bytes bad = good;
    bad[off + 4 + 30] ^= 0x20;  // inside entry seq 3
    write_bytes(path / "entries", bad);
    auto log = AccessLog::open(path, options());
    REQUIRE_FALSE(log.ok());
    CHECK(log.error().code == Errc::corrupt);
    CHECK_THAT(log.error().message, Catch::Contains("seq 3"));
    CHECK(read_bytes(path / "entries") == bad);  // never repaired
    auto rep = verify_log(path, key.vkey(kOrigin));
    REQUIRE(rep.ok());
    REQUIRE_FALSE(rep->clean());
    CHECK(rep->first_bad_seq == 3u);
    CHECK(rep->problems[0].kind == LogProblemKind::edited);
  }
  SECTION("a damaged length field in the last-but-one record") {
    auto raw = RawFile::load(path / "entries", kEntriesHeaderSize);
    std::size_t off = raw.offset_of(8);
    Bytes bad = good;
    bad[off] = 0x7f;
    write_bytes(path / "entries", bad);
    auto log = AccessLog::open(path, options());
    REQUIRE_FALSE(log.ok());
    CHECK_THAT(log.error().message, Catch::Contains("seq 8"));
  }
}
