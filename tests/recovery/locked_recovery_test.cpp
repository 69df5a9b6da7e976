// Recordings captured while locked that the appliance cannot vouch for (FORMAT.md §7.6),
// tested as the attacker acts: a capture made by another Vault object (all the disk shows of
// one planted with only the public key, or made before a crash), a capture cut off with its
// Vault gone, and a genuine capture whose bytes or rows were edited between capture and
// unlock. None is ever signed, listed or served; verify names each; nothing is deleted; and
// start-up recovery of ordinary work leaves them alone.
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include "locked_support.hpp"

using namespace locked_test;
using tillid::LogAction;
using tillid::LogOutcome;

namespace {

const std::string kNotVouched = "captured while the vault was locked; provenance not vouched for";

bool listed(const tillid::Vault& v, const std::string& id) {
  for (const auto& it : must(v.items()))
    if (it.id == id) return true;
  return false;
}

// The unvouched capture `id` after an unlock: kept, unlisted, unserved, named by verify, and
// never logged as adopted.
void check_not_vouched(const LockedVault& lv, tillid::Vault& v, const std::string& id, bool object_kept = true) {
  CHECK(fs::exists(lv.object(id)) == object_kept);
  CHECK(lv.count("SELECT count(*) FROM locked_recordings WHERE id = '" + id + "'") == 1);
  CHECK(lv.count("SELECT count(*) FROM items WHERE id = '" + id + "'") == 0);
  CHECK_FALSE(listed(v, id));
  auto got = v.fetch(id, [](std::span<const unsigned char>) -> tillid::Result<void> { return {}; });
  CHECK_FALSE(got.ok());
  CHECK_FALSE(v.item(id).ok());
  CHECK_FALSE(v.bookmarks(id).ok());
  const auto rep = must(v.verify());
  CHECK(verify_names(rep, id, kNotVouched));
  // It owns its object: not reported as an unaccounted one on top.
  for (const auto& p : rep.problems) CHECK(p.what.find("unaccounted object objects/" + id) == std::string::npos);
  for (const auto& e : lv.log(LogAction::record_adopted, id)) CHECK(e.outcome != LogOutcome::ok);
}

// A finished locked capture made by a Vault that is then closed (the daemon's process gone).
std::string capture_and_close(const LockedVault& lv, bool finish) {
  auto v = lv.open();
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  must(rec.append(chunk(0), 1000));
  must(rec.bookmark(400, kLabel));
  must(rec.append(chunk(1), 2000));
  if (finish) must(rec.finish());
  return rec.item_id();
}

// What anyone with the public key can make (FORMAT.md §7.6): `value` sealed to the vault's
// recording key for `field` of row `row_id`, as hex for SQL.
std::string sealed_by_attacker(const LockedVault& lv, const std::string& field, const std::string& row_id,
                               const std::string& value) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((lv.dir / "vault.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT value FROM vault_meta WHERE key = 'recording_public_key'", -1, &st, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  REQUIRE(sqlite3_column_bytes(st, 0) == crypto_box_PUBLICKEYBYTES);
  Bytes pk(static_cast<const unsigned char*>(sqlite3_column_blob(st, 0)),
           static_cast<const unsigned char*>(sqlite3_column_blob(st, 0)) + crypto_box_PUBLICKEYBYTES);
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::string plain = std::string("tillid.locked.v1") + '\0' + field + '\0' + row_id + '\0' + value;
  const std::size_t prefix = plain.size() - value.size();
  plain.resize(plain.size() + 32);
  std::size_t padded = 0;
  REQUIRE(sodium_pad(&padded, reinterpret_cast<unsigned char*>(plain.data()) + prefix, value.size(), 32,
                     plain.size() - prefix) == 0);
  plain.resize(prefix + padded);
  Bytes out(crypto_box_SEALBYTES + plain.size());
  REQUIRE(crypto_box_seal(out.data(), reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), pk.data()) == 0);
  std::string hex(out.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), out.data(), out.size());
  hex.pop_back();
  return hex;
}

}  // namespace

TEST_CASE("locked recovery: a capture made by another Vault object is never signed as genuine", "[recovery][locked]") {
  // To the disk this is exactly a recording planted by someone with only the public key (a
  // locked Vault uses nothing else), or one made by the process before a crash.
  LockedVault lv;
  const std::string id = capture_and_close(lv, true);
  auto v = lv.open();
  must(v.unlock(pass()));
  check_not_vouched(lv, v, id);
  CHECK(lv.log(LogAction::record_adopted, id).empty());  // not this Vault's: not even tried
  // A second unlock, a second process: still the same.
  { auto gone = std::move(v); }
  auto again = lv.open();
  must(again.unlock(pass()));
  check_not_vouched(lv, again, id);
}

TEST_CASE("locked recovery: a capture cut off while locked (its Vault gone mid-recording) is kept, never signed",
          "[recovery][locked]") {
  LockedVault lv;
  const std::string id = capture_and_close(lv, false);
  const auto size = fs::file_size(lv.object(id));
  auto v = lv.open();
  must(v.unlock(pass()));  // start-up recovery of ordinary work runs here and must not touch it
  check_not_vouched(lv, v, id);
  CHECK(fs::file_size(lv.object(id)) == size);
  CHECK(lv.count("SELECT count(*) FROM locked_bookmarks WHERE item_id = '" + id + "'") == 1);
  for (const auto& e : lv.log(LogAction::recovery, id)) CHECK(e.outcome != LogOutcome::ok);
}

TEST_CASE("locked recovery: a recording dropped without finish by its own Vault while locked is not adopted",
          "[recovery][locked]") {
  LockedVault lv;
  auto v = lv.open();
  std::string id;
  {
    auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
    must(rec.append(chunk(0), 1000));
    id = rec.item_id();
  }
  must(v.unlock(pass()));
  check_not_vouched(lv, v, id);
  const auto adopted = lv.log(LogAction::record_adopted, id);
  REQUIRE(adopted.size() == 1);
  CHECK(adopted[0].outcome == LogOutcome::failed);
  CHECK(adopted[0].details == "left as captured: it ended without finish while locked");
}

TEST_CASE("locked recovery: bytes or rows edited between capture and unlock make adoption refuse", "[recovery][locked]") {
  LockedVault lv;
  auto v = lv.open();
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  must(rec.append(chunk(0), 1000));
  must(rec.bookmark(400, kLabel));
  must(rec.append(chunk(1), 2000));
  must(rec.finish());
  const std::string id = rec.item_id();
  const std::string edit = GENERATE(std::string("chunk byte"), std::string("header byte"), std::string("truncate"),
                                    std::string("append"), std::string("title"), std::string("bookmark offset"),
                                    std::string("bookmark dropped"), std::string("sealed key"),
                                    std::string("object replaced"), std::string("title re-sealed"),
                                    std::string("label re-sealed"), std::string("object removed"));
  INFO(edit);
  const fs::path obj = lv.object(id);
  Bytes b = read_file(obj);
  if (edit == "chunk byte") {
    b[128 + 4 + 100] ^= 0x01;
    write_file(obj, b);
  } else if (edit == "header byte") {
    b[33] ^= 0x01;  // the secretstream header, inside the bytes the wrap will authenticate
    write_file(obj, b);
  } else if (edit == "truncate") {
    b.resize(b.size() - 30);
    write_file(obj, b);
  } else if (edit == "append") {
    b.push_back(0);
    write_file(obj, b);
  } else if (edit == "title") {
    // The attacker re-seals a title of their choosing to the public key: any other bytes.
    lv.sql("UPDATE locked_recordings SET title = randomblob(length(title)) WHERE id = '" + id + "'");
  } else if (edit == "bookmark offset") {
    lv.sql("UPDATE locked_bookmarks SET offset_ms = 900 WHERE item_id = '" + id + "'");
  } else if (edit == "bookmark dropped") {
    lv.sql("DELETE FROM locked_bookmarks WHERE item_id = '" + id + "'");
  } else if (edit == "sealed key") {
    lv.sql("UPDATE locked_recordings SET sealed_key = randomblob(length(sealed_key)) WHERE id = '" + id + "'");
  } else if (edit == "title re-sealed") {
    // Well formed and sealed to the real key: it opens at unlock, but it is not what was captured.
    lv.sql("UPDATE locked_recordings SET title = X'" + sealed_by_attacker(lv, "title", id, "Another title") +
           "' WHERE id = '" + id + "'");
  } else if (edit == "label re-sealed") {
    lv.sql("UPDATE locked_bookmarks SET label = X'" + sealed_by_attacker(lv, "label", id + "/0", "Another label") +
           "' WHERE item_id = '" + id + "'");
  } else if (edit == "object removed") {
    fs::remove(obj);
  } else {
    // A whole object of the attacker's, of the same length, in its place.
    for (auto& c : b) c = static_cast<unsigned char>(c ^ 0x5a);
    fs::remove(obj);
    write_file(obj, b);
  }
  must(v.unlock(pass()));
  check_not_vouched(lv, v, id, edit != "object removed");
  const auto adopted = lv.log(LogAction::record_adopted, id);
  REQUIRE(adopted.size() == 1);
  CHECK(adopted[0].outcome == LogOutcome::failed);
  CHECK(adopted[0].details.rfind("left as captured: ", 0) == 0);
  CHECK(adopted[0].details.find(kTitle) == std::string::npos);
  CHECK(adopted[0].details.find(lv.dir.string()) == std::string::npos);  // no paths in the log
  // Nothing was re-wrapped or moved: tmp/ is empty again.
  CHECK(fs::is_empty(lv.dir / "tmp"));
}

TEST_CASE("locked recovery: a genuine capture next to an unvouched one is adopted, the other is not",
          "[recovery][locked]") {
  LockedVault lv;
  const std::string foreign = capture_and_close(lv, true);
  auto v = lv.open();
  auto rec = must(v.begin_recording("C1", kInterviewer, kTitle));
  must(rec.append(chunk(3), 1000));
  must(rec.finish());
  must(v.unlock(pass()));
  CHECK(listed(v, rec.item_id()));
  CHECK(fetch(v, rec.item_id()) == chunk(3));
  check_not_vouched(lv, v, foreign);
  const auto rep = must(v.verify());
  for (const auto& p : rep.problems) CHECK(p.item_id != rec.item_id());
}

TEST_CASE("locked recovery: kill -9 during a locked recording keeps every durable chunk, never signed",
          "[recovery][locked]") {
  LockedVault lv;
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // the appliance, started locked after a power cut; no Catch in here
    ::close(ready[0]);
    auto v = tillid::Vault::open(lv.dir, tillid::Actor{"staff-1", "staff"});
    if (!v.ok()) ::_exit(2);
    auto rec = v->begin_recording("C1", kInterviewer, kTitle);
    if (!rec.ok()) ::_exit(3);
    for (int i = 0; i < 3; ++i)
      if (!rec->append(chunk(i), (i + 1) * 1000).ok()) ::_exit(4);
    if (!rec->bookmark(1200, kLabel).ok()) ::_exit(5);
    const std::string id = rec->item_id();
    if (::write(ready[1], id.data(), id.size()) != static_cast<ssize_t>(id.size())) ::_exit(6);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  std::string id(32, '\0');
  std::size_t got = 0;
  while (got < id.size()) {
    const ssize_t n = ::read(ready[0], id.data() + got, id.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(ready[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(got == id.size());
  REQUIRE(WIFSIGNALED(status));
  // Every appended chunk is durable: header + 3 records of 4 + 3000 + 17 bytes.
  CHECK(fs::file_size(lv.object(id)) == 128 + 3 * (4 + 3000 + 17));
  auto v = lv.open();
  must(v.unlock(pass()));
  check_not_vouched(lv, v, id);
  CHECK(lv.log(LogAction::record_adopted, id).empty());
  CHECK(fs::file_size(lv.object(id)) == 128 + 3 * (4 + 3000 + 17));  // kept as it is
  CHECK(files_containing(lv.dir, kTitle).empty());
  CHECK(files_containing(lv.dir, "OpusHead").empty());
}
