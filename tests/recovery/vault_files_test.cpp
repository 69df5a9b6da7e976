// Issue 10 class 6 (the vault's part, FORMAT.md §1): everything under a vault is 0700/0600
// whatever the umask, nothing is created through a planted symlink, and a vault directory
// another user owns or can write is refused with a message saying what to run.
#include <sys/stat.h>

#include "attack_support.hpp"

using namespace tillid::test;

TEST_CASE("vault files are 0600 and directories 0700 under umask 000", "[vault][permissions]") {
  Umask lax(0);  // inherited by every tillid the fixture starts
  RecVault v;
  auto input = v.tmp / "doc.bin";
  write_random_file(input, 5000, 3);
  REQUIRE(v.tillid({"doc", "add", "--case", "C1", input.string()}).exit_code == 0);
  {
    Background rec(v, recording_args(v));
    rec.wait_started();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    v.daemon->kill9();  // leaves tmp/ and run/ work for recovery, which rewrites the object
    rec.wait();
  }
  REQUIRE(v.tillid({"verify"}).exit_code == 0);
  CHECK(mode_of(v.vault) == 0700);
  std::size_t files = 0;
  for (auto it = fs::recursive_directory_iterator(v.vault); it != fs::recursive_directory_iterator(); ++it) {
    const auto rel = fs::relative(it->path(), v.vault);
    // log/ is the access log's (LOG-FORMAT.md), checked by the log tests.
    if (*rel.begin() == "log") {
      it.disable_recursion_pending();
      continue;
    }
    INFO(rel.string());
    if (it->is_directory()) CHECK(mode_of(it->path()) == 0700);
    else if (it->is_socket()) CHECK(mode_of(it->path()) == 0600);
    else {
      CHECK(mode_of(it->path()) == 0600);
      ++files;
    }
  }
  CHECK(files >= 4);  // marker, vault.db, two objects
}

TEST_CASE("a vault directory writable by others or owned by someone else is refused", "[vault][permissions]") {
  CliVault v;
  REQUIRE(v.tillid({"ls"}).exit_code == 0);
  SECTION("the vault directory world-writable") {
    fs::permissions(v.vault, fs::perms(0777));
    auto r = v.tillid({"ls"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("writable by other users") != std::string::npos);
    CHECK(r.err.find("chmod 700 " + v.vault.string()) != std::string::npos);
    fs::permissions(v.vault, fs::perms(0700));
  }
  SECTION("objects/ group-writable") {
    fs::permissions(v.vault / "objects", fs::perms(0770));
    auto r = v.tillid({"ls"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("chmod 700 " + (v.vault / "objects").string()) != std::string::npos);
    fs::permissions(v.vault / "objects", fs::perms(0700));
  }
  SECTION("tmp/ replaced by a symlink") {
    fs::remove(v.vault / "tmp");
    fs::create_directory(v.tmp / "elsewhere");
    fs::create_directory_symlink(v.tmp / "elsewhere", v.vault / "tmp");
    auto r = v.tillid({"ls"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("not a directory") != std::string::npos);
    fs::remove(v.vault / "tmp");
    fs::create_directory(v.vault / "tmp", v.vault);
    fs::permissions(v.vault / "tmp", fs::perms(0700));
  }
  SECTION("the vault directory owned by another user") {
    if (::geteuid() != 0) {
      WARN("not root: cannot give the directory to another user; skipped");
      return;
    }
    REQUIRE(::chown(v.vault.c_str(), 65534, 65534) == 0);
    auto r = v.tillid({"ls"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("not by you") != std::string::npos);
    CHECK(r.err.find("chown") != std::string::npos);
    REQUIRE(::chown(v.vault.c_str(), 0, 0) == 0);
  }
  CHECK(v.tillid({"ls"}).exit_code == 0);  // put back, it opens again: the refusal was the cause
}

TEST_CASE("init refuses a world-writable directory and never follows a planted symlink", "[vault][permissions]") {
  TempDir tmp;
  write_file(tmp / "pass.txt", "correct horse battery staple\n");
  auto init = [&](const fs::path& dir) {
    return run({tillid_program().string(), "--vault", dir.string(), "--passphrase-file", (tmp / "pass.txt").string(),
                "init", "--kdf", "minimum"});
  };
  fs::create_directory(tmp / "open");
  fs::permissions(tmp / "open", fs::perms(0777));
  auto r = init(tmp / "open");
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("chmod 700") != std::string::npos);
  CHECK(fs::is_empty(tmp / "open"));
  // Made new, the directory is 0700 whatever the umask.
  {
    Umask lax(0);
    REQUIRE(init(tmp / "new").exit_code == 0);
  }
  CHECK(mode_of(tmp / "new") == 0700);
  CHECK(mode_of(tmp / "new" / "vault.db") == 0600);
  // A symlink planted at vault.db before init: init refuses, the target is untouched.
  fs::create_directory(tmp / "planted");
  fs::permissions(tmp / "planted", fs::perms(0700));
  write_file(tmp / "victim", "precious");
  fs::create_symlink(tmp / "victim", tmp / "planted" / "vault.db");
  r = init(tmp / "planted");
  CHECK(r.exit_code != 0);
  CHECK(read_file(tmp / "victim") == "precious");
}
