// Issue 10 class 1: recovery acts only on authenticated work in progress (FORMAT.md §6).
// Each test edits a closed vault as someone with the disk but no passphrase would (sqlite3,
// truncate, copies of rows taken earlier), then an officer's next command unlocks it: nothing
// sealed may be deleted, cut or re-signed, and `tillid verify` must name the item.
#include <sys/stat.h>

#include "attack_support.hpp"

using namespace tillid::test;
using tillid::LogAction;
using tillid::LogOutcome;

namespace {

void add_document(const CliVault& v) {
  REQUIRE(v.tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
  auto input = v.tmp / "evidence.bin";
  write_random_file(input, 300000, 11);
  REQUIRE(v.tillid({"doc", "add", "--case", "C1", input.string()}).exit_code == 0);
}

// verify fails and names the item; the row is still in `state` and recovery logged why.
void require_left_untouched(const CliVault& v, const std::string& id, const std::string& state,
                            const std::string& reason) {
  auto verify = v.tillid({"verify"});
  v.close();  // what follows reads (and the test may edit) a closed vault
  INFO(verify.out << verify.err);
  CHECK(verify.exit_code != 0);
  CHECK((verify.out + verify.err).find(id) != std::string::npos);
  CHECK(sqlite(v, "SELECT state FROM items WHERE id = '" + id + "'") == state);
  auto refused = log_entries(v, LogAction::recovery, LogOutcome::failed, id);
  REQUIRE(!refused.empty());
  CHECK(refused.back().details.find(reason) != std::string::npos);
  CHECK(log_entries(v, LogAction::recovery, LogOutcome::ok, id).empty());
}

}  // namespace

TEST_CASE("a sealed document set back to pending is neither deleted nor re-signed", "[recovery][attack]") {
  CliVault v;
  add_document(v);
  const std::string id = only_item_id(v);
  const auto object = v.vault / "objects" / id;
  const std::string object_sha = sha256sum(object);
  const std::string signature = sqlite(v, "SELECT hex(signature) FROM items WHERE id = '" + id + "'");
  std::string reason;
  SECTION("no work record") {
    sqlite(v, "UPDATE items SET state = 'pending' WHERE id = '" + id + "'");
    reason = "no work record";
  }
  SECTION("a forged work record") {
    sqlite(v, "UPDATE items SET state = 'pending' WHERE id = '" + id + "'");
    sqlite(v, "INSERT INTO work (item_id, record, mac) VALUES ('" + id + "', randomblob(200), randomblob(32))");
    reason = "not authentic";
  }
  require_left_untouched(v, id, "pending", reason);
  CHECK(fs::exists(object));
  CHECK(sha256sum(object) == object_sha);
  CHECK(sqlite(v, "SELECT hex(signature) FROM items WHERE id = '" + id + "'") == signature);
  // A second unlock changes nothing either.
  CHECK(v.tillid({"verify"}).exit_code != 0);
  CHECK(sha256sum(object) == object_sha);
}

TEST_CASE("a finished recording set back to recording with a replayed work record is neither cut nor re-signed",
          "[recovery][attack]") {
  require_tool("sqlite3");
  RecVault v;
  std::string id, replay;
  {
    Background rec(v, recording_args(v));
    id = rec.wait_started();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    // An earlier copy of the disk: the authentic work record of the running recording.
    replay = sqlite(v, "SELECT 'x''' || hex(record) || ''', x''' || hex(mac) || '''' FROM work WHERE item_id = '" +
                           id + "'");
    REQUIRE(!replay.empty());
    REQUIRE(v.tillid({"record", "stop"}).exit_code == 0);
    REQUIRE(rec.wait() == 0);
  }
  REQUIRE(v.tillid({"verify"}).exit_code == 0);
  CHECK(sqlite(v, "SELECT count(*) FROM work") == "0");  // the seal commit removed it
  // What an auditor and a court hold from before the attack: the verifier key, a checkpoint,
  // an export bundle.
  const auto key = v.tmp / "verifier.key", kept = v.tmp / "kept.checkpoint", bundle = v.tmp / "bundle";
  write_file(key, v.tillid({"audit", "key"}).out);
  write_file(kept, v.tillid({"audit", "checkpoint"}).out);
  REQUIRE(v.tillid({"export", id, "--out", bundle.string()}).exit_code == 0);
  const std::string verifier =
      nlohmann::json::parse(read_file(bundle / "manifest.json"))["appliance"]["verifier_key"].get<std::string>();
  const auto object = v.vault / "objects" / id;
  const auto full_size = fs::file_size(object);
  const std::string signature = sqlite(v, "SELECT hex(signature) FROM items WHERE id = '" + id + "'");

  // The attack, on the stopped appliance: back to 'recording', the old record replayed, the
  // content cut in half.
  v.close();
  sqlite(v, "UPDATE items SET state = 'recording' WHERE id = '" + id + "'");
  sqlite(v, "INSERT INTO work (item_id, record, mac) VALUES ('" + id + "', " + replay + ")");
  fs::resize_file(object, full_size / 2);
  std::string reason;
  SECTION("facts unchanged: the log says it was finished") { reason = "the log says it was finished"; }
  SECTION("case, creator, time changed") {
    sqlite(v, "UPDATE items SET creator = 'mallory', created_unix = created_unix - 86400 WHERE id = '" + id + "'");
    reason = "does not match";
  }
  const std::string cut_sha = sha256sum(object);
  require_left_untouched(v, id, "recording", reason);
  // Not rewritten (recovery would have re-encrypted it under a fresh key), not re-signed.
  CHECK(fs::file_size(object) == full_size / 2);
  CHECK(sha256sum(object) == cut_sha);
  CHECK(sqlite(v, "SELECT hex(signature) FROM items WHERE id = '" + id + "'") == signature);
  CHECK(log_entries(v, LogAction::record_stop, LogOutcome::ok, id).size() == 1);
  // History was extended, not rewritten; the earlier bundle still verifies; no new export of
  // the item is possible while it is not sealed.
  auto audit = run({tillid_program().string(), "audit", "verify", "--log", (v.vault / "log").string(), "--key-file",
                    key.string(), "--since", kept.string()});
  INFO(audit.out << audit.err);
  CHECK(audit.exit_code == 0);
  auto earlier = run({tillid_program().string(), "verify-export", "--key", verifier, bundle.string()});
  INFO(earlier.out << earlier.err);
  CHECK(earlier.exit_code == 0);
  CHECK(v.tillid({"export", id, "--out", (v.tmp / "after").string()}).exit_code != 0);
}

TEST_CASE("an interrupted recording is recovered only with the bookmarks it stored and logged",
          "[recovery][attack]") {
  require_tool("sqlite3");
  RecVault v;
  std::string id;
  {
    Background rec(v, recording_args(v));
    id = rec.wait_started();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    REQUIRE(v.tillid(mark_args(v, "first")).exit_code == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    v.daemon->kill9();  // the recording's owner dies mid-recording, as in a power cut
    CHECK(rec.wait() != 0);
  }
  const auto object = v.vault / "objects" / id;
  const std::string object_sha = sha256sum(object);
  const std::string offset = sqlite(v, "SELECT offset_ms FROM bookmarks WHERE item_id = '" + id + "'");
  SECTION("a bookmark's offset moved") {
    sqlite(v, "UPDATE bookmarks SET offset_ms = offset_ms + 5000 WHERE item_id = '" + id + "'");
    require_left_untouched(v, id, "recording", "does not match");
    CHECK(sha256sum(object) == object_sha);
    // Put back as it was, the recording is recovered: the refusal was about the edit.
    sqlite(v, "UPDATE bookmarks SET offset_ms = " + offset + " WHERE item_id = '" + id + "'");
  }
  SECTION("a bookmark added") {
    sqlite(v, "INSERT INTO bookmarks (item_id, seq, offset_ms, created_unix, label) SELECT item_id, 1, offset_ms + 10, "
              "created_unix, label FROM bookmarks WHERE item_id = '" + id + "'");
    require_left_untouched(v, id, "recording", "does not match");
    sqlite(v, "DELETE FROM bookmarks WHERE item_id = '" + id + "' AND seq = 1");
  }
  SECTION("a bookmark removed") {
    const std::string created = sqlite(v, "SELECT created_unix FROM bookmarks");
    const std::string label = sqlite(v, "SELECT 'x''' || hex(label) || '''' FROM bookmarks");
    sqlite(v, "DELETE FROM bookmarks WHERE item_id = '" + id + "'");
    require_left_untouched(v, id, "recording", "does not match");
    sqlite(v, "INSERT INTO bookmarks (item_id, seq, offset_ms, created_unix, label) VALUES ('" + id + "', 0, " +
                  offset + ", " + created + ", " + label + ")");
  }
  SECTION("the object replaced by a FIFO") {
    fs::rename(object, v.tmp / "aside");
    REQUIRE(::mkfifo(object.c_str(), 0600) == 0);
    auto argv = v.argv({"verify"});
    argv.insert(argv.begin(), {"/usr/bin/timeout", "60"});
    v.ensure_daemon();
    auto r = run(argv, {}, TestUids::staff);  // must neither hang (exit 124) nor succeed
    v.close();
    INFO(r.out << r.err);
    CHECK(r.exit_code != 124);
    CHECK(r.exit_code != 0);
    CHECK(sqlite(v, "SELECT state FROM items WHERE id = '" + id + "'") == "recording");
    fs::remove(object);
    fs::rename(v.tmp / "aside", object);
  }
  SECTION("nothing changed") {}
  auto verify = v.tillid({"verify"});
  INFO(verify.out << verify.err);
  REQUIRE(verify.exit_code == 0);
  auto s = v.json({"record", "show", id});
  CHECK(s["interrupted"] == true);
  CHECK(s["bookmarks"].size() == 1);
  CHECK(log_entries(v, LogAction::recovery, LogOutcome::ok, id).size() == 1);
}

TEST_CASE("a recording row without an authentic work record keeps its object", "[recovery][attack]") {
  // What the old recovery did with a row in 'recording' and an object shorter than a header:
  // delete both. Here the row was written by the attacker (a sealed item's id, no record).
  CliVault v;
  add_document(v);
  const std::string id = only_item_id(v);
  const auto object = v.vault / "objects" / id;
  sqlite(v, "UPDATE items SET state = 'recording', kind = 'recording' WHERE id = '" + id + "'");
  fs::resize_file(object, 10);
  require_left_untouched(v, id, "recording", "no work record");
  CHECK(fs::file_size(object) == 10);
}
