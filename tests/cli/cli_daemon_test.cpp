// `tillid` as the daemon's client: who may do what is the daemon's decision by uid, whatever
// the client asks (a non-staff uid reads nothing, exit 3); users, unlock, lock and status; the
// passphrase travels in the request, never on argv.
#include "cli_fixture.hpp"

using namespace tillid::test;

namespace {

struct StockedVault : CliVault {
  std::string item_id;
  const std::string content = "Underretning markoer-c0ntent-42";
  StockedVault() {
    REQUIRE(tillid({"case", "add", "--number", "C1", "--municipality", "0101", "--fields",
                    fields({{"child_name", "Navnmarkoer Rolex"}})}).exit_code == 0);
    auto doc = tmp / "doc.txt";
    write_file(doc, content);
    item_id = json({"doc", "add", "--case", "C1", doc.string()})["id"];
  }
};

}  // namespace

TEST_CASE("a uid that is not staff reads no content through the client (exit 3)", "[cli][roles]") {
  StockedVault v;
  REQUIRE(v.tillid({"user", "add", "gone", "--role", "staff", "--uid", "61005"}).exit_code == 0);
  REQUIRE(v.tillid({"user", "revoke", "gone"}).exit_code == 0);
  v.unlock();  // unlocked: only the role can stand in the way
  for (int uid : {static_cast<int>(TestUids::auditor), static_cast<int>(TestUids::unenrolled), 61005}) {
    for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
             {"ls"},
             {"case", "ls"},
             {"--json", "case", "ls"},
             {"get", v.item_id, "-o", (v.tmp / ("stolen-" + std::to_string(uid))).string()},
             {"export", v.item_id, "--out", (v.tmp / ("bundle-" + std::to_string(uid))).string()},
             {"record", "show", v.item_id}}) {
      auto r = v.as_with(uid, v.pass, cmd);
      INFO("uid " << uid << ": " << cmd[0] << "\n" << r.out << r.err);
      CHECK(r.exit_code == 3);
      CHECK(r.out.find("Navnmarkoer") == std::string::npos);
      CHECK(r.out.find("markoer-c0ntent") == std::string::npos);
      CHECK(r.out.find("doc.txt") == std::string::npos);
    }
    CHECK(!fs::exists(v.tmp / ("stolen-" + std::to_string(uid))));
    CHECK(!fs::exists(v.tmp / ("bundle-" + std::to_string(uid))));
  }
  // Nor can they make the daemon write anything: key slots and users are the admin's.
  CHECK(v.as_with(TestUids::staff, v.pass, {"user", "add", "mole", "--role", "admin", "--uid", "61006"}).exit_code == 3);
  CHECK(v.as_with(TestUids::staff, v.pass, {"key", "ls"}).exit_code == 3);
  v.close();
  // Staff reads it, and the refusals are in the log for the auditor.
  auto out = v.tmp / "fetched.txt";
  REQUIRE(v.tillid({"get", v.item_id, "-o", out.string()}).exit_code == 0);
  CHECK(read_file(out) == v.content);
  auto report = run({tillid_program().string(), "audit", "report", "--log", (v.vault / "log").string(), "--refused",
                     "--format", "json"});
  REQUIRE(report.exit_code == 0);
  std::size_t refused_reads = 0;
  for (const auto& e : nlohmann::json::parse(report.out))
    if (e["action"] == "authz_decision") ++refused_reads;
  CHECK(refused_reads >= 3 * 6 + 2);
}

TEST_CASE("user add, ls and revoke: the admin's, and a revoked user is refused", "[cli][users]") {
  StockedVault v;
  auto by_name = [&](const std::string& name) {
    for (const auto& u : v.json({"user", "ls"}))
      if (u["name"] == name) return u;
    return nlohmann::json();
  };
  // root ran init: the first admin; then the fixture's enrolments.
  CHECK(v.json({"user", "ls"}).size() == 3);
  CHECK(by_name("root")["role"] == "admin");
  CHECK(by_name("root")["uid"] == 0);
  CHECK(by_name("staff1")["uid"] == TestUids::staff);
  CHECK(by_name("auditor1")["role"] == "auditor");
  auto text = v.tillid({"user", "ls"});
  CHECK(text.out.find("auditor1  auditor") != std::string::npos);

  CHECK(v.tillid({"user", "add", "Bad Name", "--role", "staff", "--uid", "61007"}).exit_code == 2);
  CHECK(v.tillid({"user", "add", "x", "--role", "janitor"}).exit_code == 2);
  CHECK(v.tillid({"user", "revoke", "root"}).exit_code != 0);  // never the last admin
  CHECK(v.tillid({"user", "revoke", "nobody"}).exit_code == 4);

  REQUIRE(v.tillid({"user", "revoke", "staff1"}).exit_code == 0);
  CHECK(v.tillid({"ls"}).exit_code == 3);
  CHECK(by_name("staff1")["revoked"] == true);
  CHECK(by_name("auditor1")["revoked"] == false);
}

TEST_CASE("unlock, lock and status", "[cli][unlock]") {
  CliVault v(CliOptions::kept());
  v.close();
  // as_with(): the daemon as it is; the first starts it, locked.
  auto status = [&](int uid) {
    auto r = v.as_with(uid, std::nullopt, {"--json", "status"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);  // status works locked, for any enrolled user, with no passphrase
    return nlohmann::json::parse(r.out);
  };
  auto st = status(TestUids::staff);
  CHECK(st["locked"] == true);
  CHECK(st["user"]["name"] == "staff1");
  CHECK(st["user"]["role"] == "staff");
  CHECK(st["recording"].is_null());
  CHECK(status(TestUids::auditor)["user"]["role"] == "auditor");
  auto wrong = v.tmp / "wrong.txt";
  write_file(wrong, "not it\n");
  CHECK(v.as_with(TestUids::admin, wrong, {"unlock"}).exit_code == 3);
  CHECK(status(TestUids::staff)["locked"] == true);
  // The auditor may not unlock.
  CHECK(v.as_with(TestUids::auditor, v.pass, {"unlock"}).exit_code == 3);
  CHECK(status(TestUids::staff)["locked"] == true);
  auto unlocked = v.as_with(TestUids::staff, v.pass, {"unlock"});
  CHECK(unlocked.out.find("Unlocked") != std::string::npos);
  CHECK(status(TestUids::staff)["locked"] == false);
  // Unlocked, a command needs no passphrase at all.
  CHECK(v.as_with(TestUids::staff, std::nullopt, {"case", "ls"}).exit_code == 0);
  CHECK(v.as_with(TestUids::auditor, std::nullopt, {"lock"}).exit_code == 3);
  REQUIRE(v.as_with(TestUids::staff, std::nullopt, {"lock"}).exit_code == 0);
  CHECK(status(TestUids::staff)["locked"] == true);
  CHECK(v.as_with(TestUids::staff, std::nullopt, {"case", "ls"}).exit_code == 3);
}

// Issue 11: the passphrase goes to the daemon in the request body; argv holds only the file
// name, which here is the client's standard input, so it is inspected while it waits.
TEST_CASE("tillid unlock never puts the passphrase on argv", "[cli][unlock][argv]") {
  CliVault v(CliOptions::kept());
  v.ensure_daemon();
  PipedRun unlock(v.argv_with(fs::path("/dev/stdin"), {"unlock"}));
  std::string cmdline;
  for (int i = 0; i < 500 && cmdline.find("unlock") == std::string::npos; ++i) {
    cmdline = unlock.cmdline();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(cmdline.find("unlock") != std::string::npos);  // we read the right process
  const std::string daemon_cmdline = read_file("/proc/" + std::to_string(v.daemon->pid()) + "/cmdline");
  auto done = unlock.feed("correct horse battery staple\n");
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  CHECK(cmdline.find("horse") == std::string::npos);
  CHECK(daemon_cmdline.find("horse") == std::string::npos);
  CHECK(v.json({"status"})["locked"] == false);
}
