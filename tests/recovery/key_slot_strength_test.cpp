// Issue 10 class 9 (FORMAT.md §2.1): outside the test mode a key slot needs a passphrase of at
// least 12 characters and an Argon2id cost of at least `interactive`, and every unlock logs
// which slot opened the vault.
#include "attack_support.hpp"

using namespace tillid::test;
using tillid::LogAction;
using tillid::LogOutcome;

namespace {

// `tillid ARGS` as a release build would be run: without TILLID_TEST_WEAK_KDF.
RunResult tillid_strict(const fs::path& vault, const fs::path& pass, std::vector<std::string> args) {
  std::vector<std::string> a{"/usr/bin/env", "-u", "TILLID_TEST_WEAK_KDF", tillid_program().string(), "--vault",
                             vault.string(), "--passphrase-file", pass.string()};
  a.insert(a.end(), args.begin(), args.end());
  return run(a);
}

}  // namespace

TEST_CASE("weak key slots are refused outside the test mode", "[vault][keyslots]") {
  TempDir tmp;
  write_file(tmp / "long.txt", "correct horse battery staple\n");
  write_file(tmp / "short.txt", "elevenchars\n");
  SECTION("init with the minimum KDF cost") {
    auto r = tillid_strict(tmp / "v", tmp / "long.txt", {"init", "--kdf", "minimum"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("below 'interactive'") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "v"));
  }
  SECTION("init with an 11-character passphrase") {
    auto r = tillid_strict(tmp / "v", tmp / "short.txt", {"init", "--kdf", "interactive"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("at least 12") != std::string::npos);
    CHECK_FALSE(fs::exists(tmp / "v"));
  }
  SECTION("key add with the minimum KDF cost or a short passphrase") {
    CliVault v(CliOptions::kept());  // made in the test mode
    auto before = v.json({"key", "ls"}).size();
    // The daemon decides: one started as a release build would run it.
    v.close();
    const std::string weak_kdf = std::getenv("TILLID_TEST_WEAK_KDF") ? std::getenv("TILLID_TEST_WEAK_KDF") : "";
    ::unsetenv("TILLID_TEST_WEAK_KDF");
    v.ensure_daemon();
    if (!weak_kdf.empty()) ::setenv("TILLID_TEST_WEAK_KDF", weak_kdf.c_str(), 1);
    auto weak = v.tillid({"key", "add", "--label", "weak", "--kdf", "minimum", "--new-passphrase-file",
                          (tmp / "long.txt").string()});
    CHECK(weak.exit_code != 0);
    CHECK(weak.err.find("interactive") != std::string::npos);
    auto short_pass = v.tillid({"key", "add", "--label", "short", "--kdf", "interactive",
                                "--new-passphrase-file", (tmp / "short.txt").string()});
    CHECK(short_pass.exit_code != 0);
    CHECK(short_pass.err.find("at least 12") != std::string::npos);
    CHECK(v.json({"key", "ls"}).size() == before);
  }
  SECTION("an interactive slot with a 12-character passphrase is accepted") {
    write_file(tmp / "twelve.txt", "twelve chars\n");
    auto r = tillid_strict(tmp / "v", tmp / "twelve.txt", {"init", "--kdf", "interactive"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("every unlock logs which key slot opened the vault", "[vault][keyslots]") {
  CliVault v;
  auto second = v.tmp / "second.txt";
  write_file(second, "another officer's passphrase\n");
  REQUIRE(v.tillid({"key", "add", "--label", "second", "--kdf", "minimum", "--new-passphrase-file",
                    second.string()}).exit_code == 0);
  auto with_second = v.as_with(TestUids::staff, second, {"ls"});  // a fresh, locked daemon
  REQUIRE(with_second.exit_code == 0);
  REQUIRE(v.tillid({"ls"}).exit_code == 0);
  auto unlocks = log_entries(v, LogAction::unlock, LogOutcome::ok);
  REQUIRE(unlocks.size() >= 3);
  CHECK(unlocks[unlocks.size() - 2].details == "slot 2");
  CHECK(unlocks.back().details == "slot 1");
}
