// Unlocking tillidd: an unlock sent to an already unlocked daemon still checks the passphrase,
// and the unattended start with a systemd credential (unlock.credential, CONFIG.md [unlock]):
// right → unlocked with no client, wrong → locked and logged, missing → exit 2 naming the key.
#include "config.hpp"
#include "daemon_harness.hpp"

namespace tillid::test {
namespace {

std::vector<LogEntry> unlock_entries(const DaemonVault& dv) {
  std::vector<LogEntry> out;
  for (auto& e : dv.log_entries())
    if (e.action == LogAction::unlock) out.push_back(e);
  return out;
}

// A credentials directory as systemd makes one (LoadCredentialEncrypted=): one file per name.
struct Credentials {
  TempDir dir;
  void put(const std::string& name, const std::string& content) const {
    write_file(dir / name, content);
    ::chmod((dir / name).c_str(), 0400);
  }
  std::vector<std::string> env() const { return {"CREDENTIALS_DIRECTORY=" + dir.path().string()}; }
};

const std::string kCredentialConfig = "[unlock]\ncredential = \"tillid-passphrase\"\n";

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

TEST_CASE("unlock.credential: the right passphrase unlocks at start with no client", "[daemon][unlock][credential]") {
  DaemonVault dv(kCredentialConfig);
  Credentials creds;
  creds.put("tillid-passphrase", std::string(kPassphrase) + "\n");
  std::string key;
  {
    DaemonProcess d(dv, creds.env());
    auto st = call(dv.socket, "status");
    REQUIRE(st["ok"] == true);
    CHECK(st["result"]["locked"] == false);
    auto k = call(dv.socket, "audit.key");
    REQUIRE(k["ok"] == true);
    key = k["result"]["verifier_key"];
    CHECK(d.stderr_text().find(kPassphrase) == std::string::npos);
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  const auto unlocks = unlock_entries(dv);
  REQUIRE(unlocks.size() == 1);
  CHECK(unlocks[0].actor_id == "tillidd");
  CHECK(unlocks[0].actor_role == "credential");
  CHECK(unlocks[0].outcome == LogOutcome::ok);
  // Signed while unlocked: the whole log verifies with nothing left unsigned.
  auto report = verify_log(dv.vault / "log", key);
  REQUIRE(report.ok());
  CHECK(report->clean());
  CHECK(report->unsigned_entries == 0);
}

TEST_CASE("unlock.credential: a wrong passphrase is a logged refused unlock and the daemon serves locked",
          "[daemon][unlock][credential]") {
  DaemonVault dv(kCredentialConfig);
  Credentials creds;
  creds.put("tillid-passphrase", "not the passphrase\n");
  {
    DaemonProcess d(dv, creds.env());
    CHECK(call(dv.socket, "status")["result"]["locked"] == true);
    CHECK(d.stderr_text().find("unlock.credential") != std::string::npos);
    CHECK(d.stderr_text().find("not the passphrase") == std::string::npos);
    // An officer can still unlock by hand.
    REQUIRE(call(dv.socket, "unlock", {{"passphrase", kPassphrase}})["ok"] == true);
    REQUIRE(d.terminate(std::chrono::seconds(5)) == 0);
  }
  const auto unlocks = unlock_entries(dv);
  REQUIRE(unlocks.size() == 2);
  CHECK(unlocks[0].actor_id == "tillidd");
  CHECK(unlocks[0].actor_role == "credential");
  CHECK(unlocks[0].outcome == LogOutcome::refused);
  CHECK(unlocks[0].details == "wrong_passphrase");
  CHECK(unlocks[1].actor_id == "admin");
  CHECK(unlocks[1].outcome == LogOutcome::ok);
}

TEST_CASE("unlock.credential: a missing credential stops start-up with exit 2 naming the key", "[daemon][unlock][credential]") {
  DaemonVault dv(kCredentialConfig);
  Credentials creds;  // empty: systemd was not told to load it
  for (const auto& env : {creds.env(), std::vector<std::string>{"CREDENTIALS_DIRECTORY="}}) {
    INFO(env[0]);
    auto r = run({tillidd_program().string(), "--vault", dv.vault.string(), "--config", dv.config.string()}, env);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("'unlock.credential'") != std::string::npos);
    CHECK(r.err.find("no credential 'tillid-passphrase'") != std::string::npos);
    CHECK(r.err.find("LoadCredentialEncrypted=") != std::string::npos);
    CHECK_FALSE(fs::exists(dv.socket));
  }
  // An empty credential is refused the same way, not tried as a passphrase.
  creds.put("tillid-passphrase", "\n");
  auto r = run({tillidd_program().string(), "--vault", dv.vault.string(), "--config", dv.config.string()}, creds.env());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is empty") != std::string::npos);
}

TEST_CASE("unlock.credential parses as documented", "[daemon][config][credential]") {
  const fs::path vault = "/srv/vault";
  CHECK_FALSE(daemon::default_config(vault).unlock_credential.has_value());
  auto c = daemon::parse_config(kCredentialConfig, vault);
  REQUIRE(c.ok());
  CHECK(c->unlock_credential == std::optional<std::string>("tillid-passphrase"));
  for (const char* bad : {"\"../etc/shadow\"", "\"a/b\"", "\"..\"", "\"\"", "42"}) {
    INFO(bad);
    auto b = daemon::parse_config(std::string("[unlock]\ncredential = ") + bad + "\n", vault);
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().message.find("'unlock.credential'") != std::string::npos);
  }
}

}  // namespace tillid::test
