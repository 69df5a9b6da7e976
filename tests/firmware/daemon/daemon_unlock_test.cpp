// Unlocking tillidd: an unlock sent to an already unlocked daemon still checks the passphrase.
#include "daemon_harness.hpp"

namespace tillid::test {
namespace {

std::vector<LogEntry> unlock_entries(const DaemonVault& dv) {
  std::vector<LogEntry> out;
  for (auto& e : dv.log_entries())
    if (e.action == LogAction::unlock) out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("unlock on an unlocked daemon still checks the passphrase: wrong is refused and logged", "[daemon][unlock]") {
  DaemonVault dv;
  {
    DaemonProcess d(dv);
    REQUIRE(call(dv.socket, "unlock", {{"passphrase", kPassphrase}})["ok"] == true);
    auto bad = call(dv.socket, "unlock", {{"passphrase", "not the passphrase"}});
    CHECK(bad["ok"] == false);
    CHECK(bad["code"] == "wrong_passphrase");  // `tillid unlock` exits 3
    CHECK(call(dv.socket, "status")["result"]["locked"] == false);  // nothing changed
    CHECK(call(dv.socket, "unlock", {{"passphrase", kPassphrase}})["ok"] == true);
    CHECK(call(dv.socket, "status")["result"]["locked"] == false);
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  const auto unlocks = unlock_entries(dv);
  REQUIRE(unlocks.size() == 3);
  CHECK(unlocks[0].outcome == LogOutcome::ok);
  CHECK(unlocks[0].details.rfind("slot ", 0) == 0);
  CHECK(unlocks[1].outcome == LogOutcome::refused);
  CHECK(unlocks[1].details == "wrong_passphrase");
  CHECK(unlocks[1].actor_id == "admin");
  CHECK(unlocks[2].outcome == LogOutcome::ok);
  CHECK(unlocks[2].details.find("already unlocked") != std::string::npos);
}

}  // namespace tillid::test
