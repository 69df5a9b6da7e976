// Recording while the vault is locked (FORMAT.md §7.6), through the vault API as the daemon
// uses it: capture with only the public recording key, adoption by the same Vault at unlock
// (signed, verified, served, logged record_adopted), a recording still running at unlock
// adopted in flight, nothing identifying or audible on disk in the clear, and a swapped or
// missing recording key refused before anything is written.
#include "locked_support.hpp"

using namespace locked_test;
using tillid::LogAction;
using tillid::LogOutcome;

namespace {

bool listed(const tillid::Vault& v, const std::string& id, bool* verified = nullptr) {
  for (const auto& it : must(v.items()))
    if (it.id == id) {
      if (verified) *verified = it.verified;
      return true;
    }
  return false;
}

}  // namespace

TEST_CASE("locked recording: captured while locked, adopted and signed at unlock by the same Vault",
          "[record][locked]") {
  LockedVault lv;
  auto v = lv.open();
  REQUIRE_FALSE(v.is_unlocked());
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  Bytes all;
  for (int i = 0; i < 4; ++i) {
    const Bytes c = chunk(i);
    must(rec.append(c, (i + 1) * 1000));
    all.insert(all.end(), c.begin(), c.end());
    if (i == 1) CHECK(must(rec.bookmark(1500, kLabel)).seq == 0);
  }
  const auto info = must(rec.finish());
  CHECK_FALSE(info.verified);  // nothing is signed while locked
  CHECK(info.duration_ms == 4000);
  CHECK(info.size == all.size());
  const std::string id = rec.item_id();
  CHECK(lv.count("SELECT count(*) FROM locked_recordings WHERE id = '" + id + "'") == 1);
  CHECK(lv.count("SELECT count(*) FROM items WHERE id = '" + id + "'") == 0);

  must(v.unlock(pass()));
  bool verified = false;
  REQUIRE(listed(v, id, &verified));
  CHECK(verified);
  CHECK(lv.count("SELECT count(*) FROM locked_recordings") == 0);
  CHECK(lv.count("SELECT count(*) FROM locked_bookmarks") == 0);
  const auto item = must(v.item(id));
  CHECK(item.title == kTitle);
  CHECK(item.interviewer == kInterviewer);
  CHECK(item.duration_ms == 4000);
  CHECK_FALSE(item.interrupted);
  CHECK(fetch(v, id) == all);
  const auto marks = must(v.bookmarks(id));
  REQUIRE(marks.size() == 1);
  CHECK(marks[0].label == kLabel);
  CHECK(marks[0].offset_ms == 1500);
  const auto rep = must(v.verify());
  INFO((rep.problems.empty() ? std::string() : rep.problems[0].what));
  CHECK(rep.clean());
  const auto adopted = lv.log(LogAction::record_adopted, id);
  REQUIRE(adopted.size() == 1);
  CHECK(adopted[0].outcome == LogOutcome::ok);
  CHECK(adopted[0].details == "duration_ms=4000");
  // The log says what happened while locked, without the label or title.
  const auto starts = lv.log(LogAction::record_start, id);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].details == "locked");
  CHECK(lv.log(LogAction::record_stop, id).at(0).details == "locked; duration_ms=4000");

  // Adopted means an ordinary item: a fresh process verifies and serves it too. (A Recording
  // must not outlive its Vault: recording.hpp.)
  { auto done = std::move(rec); }
  { auto gone = std::move(v); }
  auto fresh = lv.open();
  must(fresh.unlock(pass()));
  CHECK(must(fresh.verify()).clean());
  CHECK(fetch(fresh, id) == all);
}

TEST_CASE("locked recording: one still running at unlock is adopted in flight and finished signed",
          "[record][locked]") {
  LockedVault lv;
  auto v = lv.open();
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  Bytes all;
  for (int i = 0; i < 6; ++i) {
    if (i == 3) {
      must(v.unlock(pass()));
      // Running, so not listed yet; but it is an ordinary recording now, with its work record.
      CHECK_FALSE(listed(v, rec.item_id()));
      CHECK(lv.count("SELECT count(*) FROM locked_recordings") == 0);
      CHECK(lv.count("SELECT count(*) FROM items WHERE state = 'recording'") == 1);
      CHECK(lv.count("SELECT count(*) FROM work") == 1);
    }
    const Bytes c = chunk(i);
    must(rec.append(c, (i + 1) * 1000));
    all.insert(all.end(), c.begin(), c.end());
    if (i == 1 || i == 4) must(rec.bookmark(i * 1000 + 500, kLabel + std::to_string(i)));
  }
  const auto info = must(rec.finish());
  CHECK(info.verified);
  CHECK(info.title == kTitle);
  const std::string id = rec.item_id();
  bool verified = false;
  REQUIRE(listed(v, id, &verified));
  CHECK(verified);
  CHECK(fetch(v, id) == all);
  const auto marks = must(v.bookmarks(id));
  REQUIRE(marks.size() == 2);
  CHECK(marks[0].label == kLabel + "1");
  CHECK(marks[1].label == kLabel + "4");
  CHECK(must(v.verify()).clean());
  const auto adopted = lv.log(LogAction::record_adopted, id);
  REQUIRE(adopted.size() == 1);
  CHECK(adopted[0].outcome == LogOutcome::ok);
  CHECK(adopted[0].details == "running");
  const auto stops = lv.log(LogAction::record_stop, id);
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].details == "duration_ms=6000");  // an ordinary, signed stop
}

TEST_CASE("locked recording: nothing identifying or audible is on disk in the clear", "[record][locked]") {
  LockedVault lv;
  auto v = lv.open();
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  must(rec.append(chunk(0), 1000));
  must(rec.bookmark(500, kLabel));
  must(rec.append(chunk(1), 2000));
  const auto no_leak = [&](const char* when) {
    for (const std::string& needle : {kTitle, kInterviewer, kLabel, std::string("OpusHead"), std::string("Brackwater")}) {
      INFO(when << ": " << needle);
      CHECK(files_containing(lv.dir, needle).empty());
    }
  };
  no_leak("while recording locked");
  must(rec.finish());
  no_leak("after a locked stop");
  must(v.unlock(pass()));
  no_leak("after adoption");
  // The object header's wrap was all zero while locked (no key could wrap the content key)
  // and is the §3.2 wrap now: fetch proves it opens.
  CHECK(fetch(v, rec.item_id()).size() == chunk(0).size() + chunk(1).size());
}

TEST_CASE("locked recording: a swapped or unsigned recording key is refused before anything is written",
          "[record][locked]") {
  LockedVault lv;
  const auto objects_before = std::distance(fs::directory_iterator(lv.dir / "objects"), fs::directory_iterator());
  std::string attack = GENERATE(std::string("swap"), std::string("swap-sig"), std::string("drop"));
  if (attack == "swap")  // the attacker's own X25519 key, without the appliance's signature
    lv.sql("UPDATE vault_meta SET value = randomblob(32) WHERE key = 'recording_public_key'");
  else if (attack == "swap-sig")  // the key kept, its signature replaced
    lv.sql("UPDATE vault_meta SET value = randomblob(64) WHERE key = 'recording_key_signature'");
  else
    lv.sql("DELETE FROM vault_meta WHERE key IN ('recording_public_key', 'recording_key_signature')");
  INFO(attack);
  auto v = lv.open();
  auto r = v.begin_recording("C1", kInterviewer, kTitle);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == (attack == "drop" ? tillid::Errc::locked : tillid::Errc::corrupt));
  CHECK(r.error().message.find(kTitle) == std::string::npos);
  CHECK(lv.count("SELECT count(*) FROM locked_recordings") == 0);
  CHECK(std::distance(fs::directory_iterator(lv.dir / "objects"), fs::directory_iterator()) == objects_before);
  const auto refused = lv.log(LogAction::record_start);
  REQUIRE_FALSE(refused.empty());
  CHECK(refused.back().outcome != LogOutcome::ok);
  // The next unlock puts the vault's own signed key back; then locked capture works again.
  must(v.unlock(pass()));
  if (attack != "drop") {  // an altered key is put back and the log says so
    const auto rec = lv.log(LogAction::recovery);
    REQUIRE_FALSE(rec.empty());
    CHECK(rec.back().details == "recording key in vault metadata was altered; restored");
  }
  { auto gone = std::move(v); }
  auto next = lv.open();
  auto again = must(next.begin_recording("C1", kInterviewer, kTitle));
  must(again.append(chunk(0), 1000));
  must(again.finish());
  must(next.unlock(pass()));
  CHECK(must(next.verify()).clean());
}

TEST_CASE("locked recording: a case whose signature fails is refused while locked", "[record][locked]") {
  LockedVault lv;
  lv.sql("UPDATE cases SET municipality = '0999'");
  auto v = lv.open();
  auto r = v.begin_recording("C1", kInterviewer, kTitle);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == tillid::Errc::corrupt);
  CHECK(lv.count("SELECT count(*) FROM locked_recordings") == 0);
}

TEST_CASE("locked recording: a schema v3 vault is upgraded to v4 and gets its recording key at the next unlock",
          "[record][locked][schema]") {
  LockedVault lv;
  // Exactly a version 3 vault as an older build left it: no locked tables, no recording key.
  lv.sql("DROP TABLE locked_recordings; DROP TABLE locked_bookmarks; "
         "DELETE FROM vault_meta WHERE key IN ('recording_public_key', 'recording_key_signature'); "
         "UPDATE schema_version SET version = 3");
  {
    auto v = lv.open();  // the migration runs here, without any key
    CHECK(lv.count("SELECT version FROM schema_version") == 4);
    CHECK(lv.count("SELECT count(*) FROM locked_recordings") == 0);
    auto r = v.begin_recording("C1", kInterviewer, kTitle);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == tillid::Errc::locked);  // "unlock it once"
    must(v.unlock(pass()));
    CHECK(lv.count("SELECT count(*) FROM vault_meta WHERE key IN ('recording_public_key', "
                   "'recording_key_signature')") == 2);
  }
  auto v = lv.open();
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  must(rec.append(chunk(0), 1000));
  must(rec.finish());
  must(v.unlock(pass()));
  CHECK(fetch(v, rec.item_id()) == chunk(0));
  CHECK(must(v.verify()).clean());
}
