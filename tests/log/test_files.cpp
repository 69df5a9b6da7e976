// The log's directory and files whatever the umask, and what an attacker plants at their
// names (LOG-FORMAT.md §1; issue 10, class 6).
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "cli_fixture.hpp"
#include "log_test_util.hpp"

using namespace tillid;
using namespace logtest;
using tillid::test::mode_of;
using tillid::test::Umask;

TEST_CASE("log directory 0700 and files 0600 under umask 000", "[log][files]") {
  TempDir dir;
  {
    Umask u(0);
    auto log = AccessLog::create(dir.path / "log", options());
    REQUIRE(log.ok());
  }
  CHECK(mode_of(dir.path / "log") == 0700);
  CHECK(mode_of(dir.path / "log" / "entries") == 0600);
  CHECK(mode_of(dir.path / "log" / "checkpoints") == 0600);
}

TEST_CASE("tillid init under umask 000 leaves the log 0700/0600", "[log][files][cli]") {
  TempDir dir;
  const auto vault = dir.path / "vault", pass = dir.path / "pass.txt";
  tillid::test::write_file(pass, "correct horse battery staple\n");
  auto r = tillid::test::shell("umask 000 && '" + tillid::test::tillid_program().string() + "' --vault '" +
                               vault.string() + "' --passphrase-file '" + pass.string() + "' init --kdf minimum");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(mode_of(vault / "log") == 0700);
  CHECK(mode_of(vault / "log" / "entries") == 0600);
  CHECK(mode_of(vault / "log" / "checkpoints") == 0600);
}

TEST_CASE("a symlink planted at log/entries before init is refused, never written through", "[log][files]") {
  TempDir dir;
  const auto target = dir.path / "root-owned-file";
  write_bytes(target, Bytes{'k', 'e', 'e', 'p'});
  fs::create_directories(dir.path / "log");
  fs::create_symlink(target, dir.path / "log" / "entries");
  auto log = AccessLog::create(dir.path / "log", options());
  REQUIRE_FALSE(log.ok());
  CHECK(log.error().code == Errc::already_exists);
  CHECK(read_bytes(target) == Bytes{'k', 'e', 'e', 'p'});
  CHECK_FALSE(fs::exists(dir.path / "log" / "checkpoints"));  // nothing was created

  SECTION("a dangling one too") {
    fs::remove(target);
    CHECK_FALSE(AccessLog::create(dir.path / "log", options()).ok());
    CHECK_FALSE(fs::exists(target));
  }
}

TEST_CASE("a symlink swapped in for a log file or the log directory is not followed at open", "[log][files]") {
  TempDir dir;
  const auto path = dir.path / "log";
  REQUIRE(AccessLog::create(path, options()).ok());
  SECTION("entries") {
    fs::rename(path / "entries", dir.path / "elsewhere");
    fs::create_symlink(dir.path / "elsewhere", path / "entries");
    auto log = AccessLog::open(path, options());
    REQUIRE_FALSE(log.ok());
    CHECK_THAT(log.error().message, Catch::Contains("symbolic link"));
    CHECK_FALSE(verify_log(path, Key().vkey(kOrigin)).ok());
  }
  SECTION("the directory itself, at create") {
    fs::rename(path, dir.path / "real");
    fs::create_symlink(dir.path / "real", path);
    fs::remove(dir.path / "real" / "entries");
    fs::remove(dir.path / "real" / "checkpoints");
    CHECK_FALSE(AccessLog::create(path, options()).ok());
    CHECK_FALSE(fs::exists(dir.path / "real" / "entries"));
  }
}
