// Recordings under signals, through the real daemon: SIGTERM seals the running recording and
// exits 0 within 5 s; kill -9 during a recording loses at most the chunk in flight and the
// next start + unlock recovers it (TILLID_DAEMON_KILL_ROUNDS rounds, default 5; soak 100).
#include <cstdlib>

#include "daemon_harness.hpp"

namespace tillid::test {
namespace {

// Opens a case as staff (or finds it open already).
void open_case(const fs::path& socket, const std::string& case_number) {
  auto c = call_as(kStaffUid, socket, "case.add",
                   {{"number", case_number}, {"municipality", "0101"}, {"child_name", "Test Child"}, {"cpr", ""}, {"notes", ""}});
  if (c["ok"] != true) REQUIRE(c.value("code", "") == "already_exists");
}

// Starts a live tone recording as staff in an open case; returns the item id.
std::string start_recording(const fs::path& socket, const std::string& case_number) {
  auto r = call_as(kStaffUid, socket, "record.start",
                   {{"case", case_number}, {"interviewer", "Interviewer One"}, {"title", "interview"},
                    {"source", "tone:440?realtime=1"}});
  INFO(r.dump());
  REQUIRE(r["ok"] == true);
  const std::string id = r["result"]["item_id"];
  REQUIRE(id.size() == 32);
  return id;
}

// Waits until at least `ms` of audio is durable in the vault; returns the stored_ms seen
// (and in `elapsed` the audio captured by then).
std::int64_t wait_stored(const fs::path& socket, std::int64_t ms, std::int64_t* elapsed = nullptr) {
  for (int i = 0; i < 600; ++i) {
    auto st = call_as(kStaffUid, socket, "record.status");
    REQUIRE(st["ok"] == true);
    const std::int64_t stored = st["result"]["stored_ms"];
    if (elapsed) *elapsed = st["result"]["elapsed_ms"];
    if (stored >= ms) return stored;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("the recording stored nothing");
  return 0;
}

Vault open_unlocked(const fs::path& vault) {
  auto v = Vault::open(vault, Actor{});
  REQUIRE(v.ok());
  auto u = v->unlock(passphrase_from(kPassphrase));
  INFO((u.ok() ? std::string() : u.error().message));
  REQUIRE(u.ok());
  return std::move(v).value();
}

int kill_rounds() {
  const char* env = std::getenv("TILLID_DAEMON_KILL_ROUNDS");
  return env && std::atoi(env) > 0 ? std::atoi(env) : 5;
}

}  // namespace

TEST_CASE("SIGTERM during a recording seals it, signs a final checkpoint and exits 0 within 5 s",
          "[daemon][signals][record]") {
  DaemonVault dv;
  std::string item;
  std::int64_t stored = 0;
  {
    DaemonProcess d(dv);
    unlock_and_enrol_staff(dv.socket);
    open_case(dv.socket, "K-1");
    item = start_recording(dv.socket, "K-1");
    stored = wait_stored(dv.socket, 1500);
    // Another user's status sees the same recording (it belongs to the daemon).
    auto st = call(dv.socket, "status");
    REQUIRE(st["result"]["recording"].is_object());
    CHECK(st["result"]["recording"]["item_id"] == item);
    const auto rc = d.terminate(std::chrono::seconds(5));
    INFO(d.stderr_text());
    REQUIRE(rc.has_value());
    CHECK(*rc == 0);
  }
  {
    Vault v = open_unlocked(dv.vault);
    auto it = v.item(item);
    REQUIRE(it.ok());
    CHECK(it->kind == ItemKind::recording);
    CHECK_FALSE(it->interrupted);  // sealed by the daemon, not by recovery
    CHECK(it->duration_ms >= stored);
    auto report = v.verify();
    REQUIRE(report.ok());
    CHECK(report->clean());
  }
  const auto log = dv.log_entries();
  REQUIRE_FALSE(log.empty());
  CHECK(log.back().action != LogAction::daemon_started);
  bool stopped = false, record_stop = false;
  for (const auto& e : log) {
    stopped = stopped || e.action == LogAction::daemon_stopped;
    record_stop = record_stop || (e.action == LogAction::record_stop && e.item_id == item);
  }
  CHECK(stopped);
  CHECK(record_stop);
  // The final checkpoint covers every entry, daemon_stopped included: nothing is left unsigned.
  auto report = verify_log(dv.vault / "log", Vault::open(dv.vault, Actor{})->log_verifier_key());
  REQUIRE(report.ok());
  CHECK(report->clean());
  CHECK(report->unsigned_entries == 0);
  CHECK(report->entries == log.size());
}

TEST_CASE("kill -9 during a recording: the next start and unlock recover it, losing at most the chunk in flight",
          "[daemon][signals][record][crash]") {
  DaemonVault dv;
  const int rounds = kill_rounds();
  struct Killed {
    std::string item;
    std::int64_t stored_ms, elapsed_ms;  // as the last status before the kill said
  };
  std::vector<Killed> killed;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    DaemonProcess d(dv);
    unlock_and_enrol_staff(dv.socket);
    // The previous round's recording came back at this unlock, sealed as interrupted.
    if (!killed.empty()) {
      auto ls = call_as(kStaffUid, dv.socket, "ls");
      REQUIRE(ls["ok"] == true);
      bool found = false;
      for (const auto& row : ls["result"])
        if (row["id"] == killed.back().item) {
          found = true;
          CHECK(row["interrupted"] == true);
          CHECK(row["verified"] == true);
          // What status called durable survived; the cut costs at most the chunk in flight
          // (about a second of audio, capture/README.md) plus what was captured meanwhile.
          const auto ms = row["duration_ms"].get<std::int64_t>();
          CHECK(ms >= killed.back().stored_ms);
          CHECK(ms >= killed.back().elapsed_ms - 1500);
        }
      CHECK(found);
    }
    open_case(dv.socket, "K-9");
    const std::string item = start_recording(dv.socket, "K-9");
    // A varying point in the recording: 1.2 s to ~2.5 s.
    std::int64_t elapsed = 0;
    const std::int64_t stored = wait_stored(dv.socket, 1200 + (round * 277) % 1300, &elapsed);
    d.kill9();
    killed.push_back({item, stored, elapsed});
  }
  Vault v = open_unlocked(dv.vault);
  auto items = v.items();
  REQUIRE(items.ok());
  for (const auto& k : killed) {
    auto it = v.item(k.item);
    REQUIRE(it.ok());
    CHECK(it->interrupted);
    CHECK(it->duration_ms >= k.stored_ms);
  }
  auto report = v.verify();
  REQUIRE(report.ok());
  for (const auto& p : report->problems) UNSCOPED_INFO(p.item_id << ": " << p.what);
  CHECK(report->clean());
}

}  // namespace tillid::test

namespace tillid::test {

TEST_CASE("a recording belongs to the daemon: status, mark and stop come from other clients", "[daemon][record]") {
  DaemonVault dv;
  DaemonProcess d(dv);
  unlock_and_enrol_staff(dv.socket);
  // The client that started it has exited (call_as runs it in a child) and it goes on.
  open_case(dv.socket, "R-1");
  const std::string item = start_recording(dv.socket, "R-1");
  wait_stored(dv.socket, 500);
  auto again = call_as(kStaffUid, dv.socket, "record.start",
                       {{"case", "R-1"}, {"interviewer", "Someone"}, {"source", "tone:440?realtime=1"}});
  CHECK(again["code"] == "already_exists");
  auto admin_status = call(dv.socket, "record.status");
  REQUIRE(admin_status["ok"] == true);
  CHECK(admin_status["result"]["item_id"] == item);
  auto mark = call_as(kStaffUid, dv.socket, "record.mark", {{"label", "the child draws"}});
  REQUIRE(mark["ok"] == true);
  CHECK(mark["result"]["seq"] == 0);
  CHECK(mark["result"]["item_id"] == item);
  auto stop = call_as(kStaffUid, dv.socket, "record.stop");
  INFO(stop.dump());
  REQUIRE(stop["ok"] == true);
  CHECK(stop["result"]["id"] == item);
  CHECK(stop["result"]["bookmark_count"] == 1);
  CHECK(stop["result"]["interrupted"] == false);
  CHECK(call_as(kStaffUid, dv.socket, "record.status")["code"] == "not_found");
  CHECK(call_as(kStaffUid, dv.socket, "record.stop")["code"] == "not_found");
  auto show = call_as(kStaffUid, dv.socket, "record.show", {{"item", item}});
  REQUIRE(show["ok"] == true);
  REQUIRE(show["result"]["bookmarks"].size() == 1);
  CHECK(show["result"]["bookmarks"][0]["label"] == "the child draws");
  // A new recording may start once the last is sealed.
  const std::string second = start_recording(dv.socket, "R-1");
  CHECK(second != item);
  REQUIRE(call_as(kStaffUid, dv.socket, "record.stop")["ok"] == true);
}

}  // namespace tillid::test

namespace tillid::test {

// Needs recording while locked (i11-locked, FORMAT.md §7.6) in the vault library.
TEST_CASE("staff record while the daemon is locked, and the same daemon's unlock adopts and signs it",
          "[daemon][record][locked]") {
  DaemonVault dv;
  DaemonProcess d(dv);
  unlock_and_enrol_staff(dv.socket);
  open_case(dv.socket, "W-1");
  REQUIRE(call(dv.socket, "lock")["ok"] == true);
  const std::string item = start_recording(dv.socket, "W-1");
  wait_stored(dv.socket, 1000);
  REQUIRE(call_as(kStaffUid, dv.socket, "record.mark", {{"label", "before the officer came"}})["ok"] == true);
  auto stop = call_as(kStaffUid, dv.socket, "record.stop");
  INFO(stop.dump());
  REQUIRE(stop["ok"] == true);
  CHECK(stop["result"]["verified"] == false);  // nothing can sign while locked
  CHECK(call_as(kStaffUid, dv.socket, "ls")["code"] == "locked");
  REQUIRE(call(dv.socket, "unlock", {{"passphrase", kPassphrase}})["ok"] == true);
  auto ls = call_as(kStaffUid, dv.socket, "ls");
  REQUIRE(ls["ok"] == true);
  REQUIRE(ls["result"].size() == 1);
  CHECK(ls["result"][0]["id"] == item);
  CHECK(ls["result"][0]["verified"] == true);
  CHECK(ls["result"][0]["bookmark_count"] == 1);
  auto verify = call(dv.socket, "verify");
  REQUIRE(verify["ok"] == true);
  CHECK(verify["result"]["clean"] == true);
}

}  // namespace tillid::test
