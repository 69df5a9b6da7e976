// The `tillid` command end to end, a client of the real daemon: the demo flow, errors with
// their exit codes, tampering, identifying values and passphrases kept off argv, safe text
// output, global options anywhere, roles enforced whatever the client.
#include <poll.h>
#include <pty.h>

#include "cli_fixture.hpp"

using namespace tillid::test;

TEST_CASE("init, case, doc add, ls, get and verify round-trip a document", "[cli]") {
  CliVault v;
  REQUIRE(v.tillid({"case", "add", "--number", "BH-2026-0042", "--municipality", "0101", "--fields",
                    v.fields({{"child_name", "Testbarn Zyxwvu"}, {"cpr", "010203-9999"}})}).exit_code == 0);
  auto input = v.tmp / "journal.pdf";
  write_random_file(input, 300 * 1024 + 7, 42);
  auto added = v.json({"doc", "add", "--case", "BH-2026-0042", input.string()});
  CHECK(added["sha256"] == sha256sum(input));
  CHECK(added["size"] == 300 * 1024 + 7);

  auto items = v.json({"ls"});
  REQUIRE(items.size() == 1);
  CHECK(items[0]["id"] == added["id"]);
  CHECK(items[0]["case_number"] == "BH-2026-0042");
  CHECK(items[0]["title"] == "journal.pdf");

  auto cases = v.json({"case", "ls"});
  REQUIRE(cases.size() == 1);
  CHECK(cases[0]["child_name"] == "Testbarn Zyxwvu");

  auto out = v.tmp / "fetched.pdf";
  auto got = v.tillid({"get", added["id"], "-o", out.string()});
  INFO(got.err);
  REQUIRE(got.exit_code == 0);
  CHECK(read_file(out) == read_file(input));

  auto verify = v.tillid({"verify"});
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.find("OK") != std::string::npos);

  // Neither the child's name nor the CPR number is stored in the clear anywhere.
  CHECK(files_containing(v.vault, "Zyxwvu").empty());
  CHECK(files_containing(v.vault, "010203-9999").empty());
}

TEST_CASE("a second key slot unlocks; the last slot cannot be removed", "[cli]") {
  CliVault v;
  auto second = v.tmp / "second.txt";
  write_file(second, "another officer's passphrase\n");
  REQUIRE(v.tillid({"key", "add", "--label", "second officer", "--kdf", "minimum",
                    "--new-passphrase-file", second.string()}).exit_code == 0);
  auto slots = v.json({"key", "ls"});
  REQUIRE(slots.size() == 2);

  // Each command meets a fresh, locked daemon: the client unlocks it with the file it is given.
  auto with_second = v.as_with(TestUids::staff, second, {"case", "ls"});
  INFO(with_second.err);
  CHECK(with_second.exit_code == 0);

  int first_slot = slots[0]["slot"];
  REQUIRE(v.as_with(TestUids::admin, second, {"key", "remove", std::to_string(first_slot)}).exit_code == 0);
  CHECK(v.tillid({"case", "ls"}).exit_code == 3);  // the removed passphrase no longer opens it
  int second_slot = slots[1]["slot"];
  auto last = v.as_with(TestUids::admin, second, {"key", "remove", std::to_string(second_slot)});
  CHECK(last.exit_code == 2);
  CHECK(last.err.find("only one") != std::string::npos);
}

TEST_CASE("errors are clear, have documented exit codes and change nothing", "[cli]") {
  CliVault v;
  REQUIRE(v.tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
  const auto before = tree_fingerprint(v.vault, "log");

  SECTION("wrong passphrase") {
    auto wrong = v.tmp / "wrong.txt";
    write_file(wrong, "not the passphrase\n");
    auto r = v.as_with(TestUids::staff, wrong, {"ls"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("passphrase") != std::string::npos);
  }
  SECTION("a locked daemon and no passphrase file: refused, saying how to unlock, never prompting") {
    auto r = v.as_with(TestUids::staff, std::nullopt, {"ls"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("tillid unlock") != std::string::npos);
    CHECK(r.err.find("--passphrase-file") != std::string::npos);
    auto unlock = v.as_with(TestUids::staff, std::nullopt, {"unlock"});
    CHECK(unlock.exit_code == 2);
    CHECK(unlock.err.find("--passphrase-file") != std::string::npos);
  }
  SECTION("no daemon: a clear message and exit code 9") {
    auto r = v.without_daemon({"ls"});
    CHECK(r.exit_code == 9);
    CHECK(r.err.find("cannot reach the daemon") != std::string::npos);
  }
  SECTION("missing input file") {
    auto r = v.tillid({"doc", "add", "--case", "C1", (v.tmp / "nope.pdf").string()});
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("nope.pdf") != std::string::npos);
  }
  SECTION("a directory as input") {
    auto r = v.tillid({"doc", "add", "--case", "C1", v.tmp.path().string()});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("director") != std::string::npos);
  }
  SECTION("unknown case") {
    auto f = v.tmp / "a.txt";
    write_file(f, "x");
    CHECK(v.tillid({"doc", "add", "--case", "NO-SUCH", f.string()}).exit_code == 4);
  }
  SECTION("get refuses to overwrite an existing file") {
    auto f = v.tmp / "a.txt";
    write_file(f, "x");
    auto id = v.json({"doc", "add", "--case", "C1", f.string()})["id"].get<std::string>();
    const auto with_item = tree_fingerprint(v.vault, "log");
    auto r = v.tillid({"get", id, "-o", f.string()});
    CHECK(r.exit_code == 7);
    CHECK(read_file(f) == "x");
    CHECK(tree_fingerprint(v.vault, "log") == with_item);
    return;
  }
  SECTION("unknown item") {
    CHECK(v.tillid({"get", "00112233445566778899aabbccddeeff", "-o", (v.tmp / "o").string()}).exit_code == 4);
  }
  SECTION("bad usage") {
    CHECK(v.tillid({"doc", "add"}).exit_code == 2);
    CHECK(v.tillid({"frobnicate"}).exit_code == 2);
  }
  CHECK(tree_fingerprint(v.vault, "log") == before);
}

TEST_CASE("a directory that is not a vault is refused and left untouched", "[cli]") {
  TempDir tmp;
  write_file(tmp / "holiday.jpg", "not evidence");
  write_file(tmp / "pass.txt", "pw\n");
  write_file(tmp / "tillidd.toml", "[control]\nsocket = \"" + (tmp / "control.sock").string() + "\"\n");
  const auto before = tree_fingerprint(tmp.path());
  // The daemon refuses to serve it; a client then finds no daemon.
  auto daemon = run({daemon_program().string(), "--vault", tmp.path().string(), "--config", (tmp / "tillidd.toml").string()});
  CHECK(daemon.exit_code == 1);
  CHECK(daemon.err.find("not a Tillid vault") != std::string::npos);
  auto r = run({tillid_program().string(), "--vault", tmp.path().string(), "--passphrase-file",
                (tmp / "pass.txt").string(), "ls"});
  CHECK(r.exit_code == 9);
  auto init = run({tillid_program().string(), "--vault", tmp.path().string(), "--passphrase-file",
                   (tmp / "pass.txt").string(), "init", "--kdf", "minimum"});
  CHECK(init.exit_code != 0);
  CHECK(tree_fingerprint(tmp.path()) == before);
}

TEST_CASE("verify names a tampered item and exits 1", "[cli]") {
  CliVault v;
  REQUIRE(v.tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
  auto a = v.tmp / "a.bin";
  auto b = v.tmp / "b.bin";
  write_random_file(a, 200000, 1);
  write_random_file(b, 200000, 2);
  auto id_a = v.json({"doc", "add", "--case", "C1", a.string()})["id"].get<std::string>();
  auto id_b = v.json({"doc", "add", "--case", "C1", b.string()})["id"].get<std::string>();
  REQUIRE(v.tillid({"verify"}).exit_code == 0);

  // Flip one byte in the middle of a's object.
  fs::path object_a;
  for (const auto& e : fs::recursive_directory_iterator(v.vault))
    if (e.is_regular_file() && e.path().filename().string().find(id_a) != std::string::npos) object_a = e.path();
  REQUIRE(!object_a.empty());
  std::string bytes = read_file(object_a);
  bytes[bytes.size() / 2] ^= 0x01;
  write_file(object_a, bytes);

  auto r = v.tillid({"verify"});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(id_a) != std::string::npos);
  CHECK(r.out.find("BAD item " + id_b) == std::string::npos);
  // Fetching the damaged item fails and leaves no output file behind.
  auto out = v.tmp / "out.bin";
  CHECK(v.tillid({"get", id_a, "-o", out.string()}).exit_code == 1);
  CHECK(!fs::exists(out));
}

TEST_CASE("every command has --help", "[cli]") {
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {}, {"init"}, {"key"}, {"key", "add"}, {"key", "remove"}, {"key", "ls"}, {"case"}, {"case", "add"},
           {"case", "ls"}, {"doc"}, {"doc", "add"}, {"ls"}, {"get"}, {"verify"}, {"record", "start"},
           {"record", "mark"}, {"unlock"}, {"lock"}, {"status"}, {"user"}, {"user", "add"}, {"user", "ls"},
           {"user", "revoke"}}) {
    cmd.insert(cmd.begin(), tillid_program().string());
    cmd.push_back("--help");
    auto r = run(cmd);
    INFO(cmd[1]);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Usage") != std::string::npos);
  }
}

// Issue 10, class 8: an identifying value given as an argument is readable by every local user
// in /proc/PID/cmdline while the command runs; the old options are refused, the values come
// from a JSON document (file or standard input) or a no-echo prompt.
TEST_CASE("identifying values are refused on the command line and read from --fields", "[cli][argv]") {
  CliVault v;
  REQUIRE(v.tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
  auto doc = v.tmp / "doc.txt";
  write_file(doc, "x");
  const auto before = tree_fingerprint(v.vault);
  for (std::vector<std::string> cmd : std::vector<std::vector<std::string>>{
           {"case", "add", "--number", "C2", "--municipality", "0101", "--child-name", "Navnmarkoer Qwxz"},
           {"case", "add", "--number", "C2", "--municipality", "0101", "--cpr", "010203-9999"},
           {"case", "add", "--number", "C2", "--municipality", "0101", "--notes", "secret notes"},
           {"doc", "add", "--case", "C1", "--title", "Titelmarkoer", doc.string()},
           {"record", "start", "--case", "C1", "--interviewer", "Anne", "--source", "tone?duration=1"},
           {"record", "start", "--case", "C1", "--title", "Titelmarkoer", "--source", "tone?duration=1"},
           {"record", "mark", "a label"}}) {
    // No daemon at all: the command line is refused before anyone is asked.
    auto r = v.without_daemon(cmd);
    INFO(cmd[0] << " " << cmd[1] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("no longer accepted") != std::string::npos);
    CHECK(r.err.find("--fields") != std::string::npos);
  }
  CHECK(tree_fingerprint(v.vault) == before);  // refused before the vault was even opened

  SECTION("no terminal and no --fields: a required value fails at once, naming --fields") {
    auto r = v.without_daemon({"record", "start", "--case", "C1", "--source", "tone?duration=1"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("no terminal") != std::string::npos);
    CHECK(r.err.find("--fields") != std::string::npos);
    CHECK(tree_fingerprint(v.vault) == before);
    // Standard input at end (/dev/null in the test runner) is an error too, not a wait.
    auto empty = v.without_daemon({"record", "start", "--case", "C1", "--fields", "-", "--source", "tone?duration=1"});
    CHECK(empty.exit_code == 2);
    CHECK(empty.err.find("standard input") != std::string::npos);
  }
  SECTION("a document with an unknown member or a non-string value is refused") {
    auto typo = v.tillid({"case", "add", "--number", "C2", "--municipality", "0101", "--fields",
                          v.fields({{"child_nmae", "Navnmarkoer Qwxz"}})});
    CHECK(typo.exit_code == 2);
    CHECK(typo.err.find("unknown member \"child_nmae\"") != std::string::npos);
    CHECK(typo.err.find("Navnmarkoer") == std::string::npos);  // a value is never echoed
    auto number = v.tillid({"case", "add", "--number", "C2", "--municipality", "0101", "--fields",
                            v.fields({{"cpr", 10203}})});
    CHECK(number.exit_code == 2);
    CHECK(v.json({"case", "ls"}).size() == 1);
  }
  SECTION("--fields - reads the document from standard input") {
    v.ensure_daemon();
    PipedRun r(v.argv({"--json", "case", "add", "--number", "C2", "--municipality", "0101", "--fields", "-"}),
               TestUids::staff);
    auto done = r.feed(R"({"child_name": "Navnmarkoer Qwxz", "cpr": "010203-9999", "notes": "n"})");
    v.close();
    INFO(done.err);
    REQUIRE(done.exit_code == 0);
    auto c = nlohmann::json::parse(done.out);
    CHECK(c["child_name"] == "Navnmarkoer Qwxz");
    CHECK(c["cpr"] == "010203-9999");
    auto title = v.json({"doc", "add", "--case", "C2", "--fields", v.fields({{"title", "Underretning"}}), doc.string()});
    CHECK(title["title"] == "Underretning");
  }
}

TEST_CASE("/proc/PID/cmdline of a running case add or doc add holds no identifying value", "[cli][argv]") {
  CliVault v;
  const std::string name = "Navnmarkoer Qwxz", cpr = "121212-1212", notes = "Notemarkoer 5e1", title = "Titelmarkoer 9d";
  // The commands block reading their fields from the pipe: they are running, and every
  // local user could read their arguments now.
  v.ensure_daemon();
  PipedRun add_case(v.argv({"case", "add", "--number", "C1", "--municipality", "0101", "--fields", "-"}), TestUids::staff);
  std::string cmdline;
  for (int i = 0; i < 500 && cmdline.find("--fields") == std::string::npos; ++i) {
    cmdline = add_case.cmdline();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(cmdline.find("municipality") != std::string::npos);  // we read the right process
  auto done = add_case.feed(nlohmann::json{{"child_name", name}, {"cpr", cpr}, {"notes", notes}}.dump());
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  for (const auto& secret : {name, cpr, notes}) CHECK(cmdline.find(secret) == std::string::npos);

  auto doc = v.tmp / "doc.txt";
  write_file(doc, "x");
  PipedRun add_doc(v.argv({"doc", "add", "--case", "C1", "--fields", "-", doc.string()}), TestUids::staff);
  cmdline.clear();
  for (int i = 0; i < 500 && cmdline.find("doc.txt") == std::string::npos; ++i) {
    cmdline = add_doc.cmdline();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(cmdline.find("doc.txt") != std::string::npos);
  done = add_doc.feed(nlohmann::json{{"title", title}}.dump());
  REQUIRE(done.exit_code == 0);
  v.close();
  CHECK(cmdline.find(title) == std::string::npos);
  CHECK(v.json({"case", "ls"})[0]["child_name"] == name);
  CHECK(v.json({"ls"})[0]["title"] == title);
}

// Issue 10, class 10: a title, file name or case number is data, never terminal control.
TEST_CASE("control characters in titles and file names do not reach the terminal raw", "[cli][output]") {
  CliVault v;
  REQUIRE(v.tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
  // A file name may hold ESC and newline (Linux allows every byte but '/' and NUL).
  const std::string evil_name = "evil\x1b[2J\x1b]0;owned\x07\nFAKE\rROW.pdf";
  auto evil = v.tmp / evil_name;
  write_file(evil, "content");
  auto stored = v.tillid({"doc", "add", "--case", "C1", evil.string()});
  INFO(stored.err);
  REQUIRE(stored.exit_code == 0);
  // C1 controls (U+009B is CSI to many terminals) and a right-to-left override in a title.
  const std::string c1_title = "Samtale \xc2\x9b" "2J \xe2\x80\xae" "fdp.exe";
  auto plain = v.tmp / "plain.txt";
  write_file(plain, "p");
  REQUIRE(v.tillid({"doc", "add", "--case", "C1", "--fields", v.fields({{"title", c1_title}}), plain.string()})
              .exit_code == 0);

  auto raw_controls = [](const std::string& s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
      if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
          static_cast<unsigned char>(s[i + 1]) <= 0x9f)
        return true;
      if (s.compare(i, 3, "\xe2\x80\xae") == 0) return true;
    }
    return false;
  };
  CHECK(!raw_controls(stored.out));
  CHECK(stored.out.find("evil\\x1b[2J\\x1b]0;owned\\x07\\x0aFAKE\\x0dROW.pdf") != std::string::npos);

  auto ls = v.tillid({"ls"});
  REQUIRE(ls.exit_code == 0);
  CHECK(!raw_controls(ls.out));
  CHECK(std::count(ls.out.begin(), ls.out.end(), '\n') == 3);  // header + two rows: no faked row
  CHECK(ls.out.find("\\x0aFAKE\\x0dROW.pdf") != std::string::npos);
  CHECK(ls.out.find("Samtale \\u{009b}2J \\u{202e}fdp.exe") != std::string::npos);

  // JSON keeps the exact strings (its own escaping makes them safe).
  auto items = v.json({"ls"});
  std::vector<std::string> titles;
  for (const auto& it : items) titles.push_back(it["title"]);
  CHECK(std::find(titles.begin(), titles.end(), evil_name) != titles.end());
  CHECK(std::find(titles.begin(), titles.end(), c1_title) != titles.end());

  // An error quoting what the user typed is neutralised too.
  auto err = v.tillid({"doc", "add", "--case", "NO\x1b[2JSUCH", plain.string()});
  CHECK(err.exit_code == 4);
  CHECK(!raw_controls(err.err));
  CHECK(err.err.find("NO\\x1b[2JSUCH") != std::string::npos);
}

// Issue 10, class 10: `tillid ls --json`, `tillid init --passphrase-file F` as in git.
TEST_CASE("global options work after the subcommand too", "[cli][options]") {
  CliVault v(CliOptions::kept());
  const auto vault = v.vault.string(), pass = v.pass.string(), sock = v.socket.string();
  const auto t = tillid_program().string();
  const int staff = TestUids::staff;
  auto add = run({t, "case", "add", "--number", "C1", "--municipality", "0101", "--vault", vault, "--socket", sock,
                  "--passphrase-file", pass}, {}, staff);
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  auto ls = run({t, "ls", "--json", "--socket", sock, "--passphrase-file", pass}, {}, staff);
  INFO(ls.err);
  REQUIRE(ls.exit_code == 0);
  CHECK(nlohmann::json::parse(ls.out).is_array());
  // Nested subcommands, and global options split either side of the subcommand.
  auto keys = run({t, "--socket", sock, "key", "ls", "--json", "--passphrase-file", pass});
  REQUIRE(keys.exit_code == 0);
  CHECK(nlohmann::json::parse(keys.out).size() == 1);
  auto cases = run({t, "case", "ls", "--passphrase-file", pass, "--json", "--socket", sock}, {}, staff);
  REQUIRE(cases.exit_code == 0);
  // The daemon names the user from the connection's uid; nobody says who they are any more.
  CHECK(nlohmann::json::parse(cases.out)[0]["creator"] == "staff1");
  CHECK(run({t, "case", "ls", "--socket", sock, "--actor", "local:someone-else"}, {}, staff).exit_code == 2);
  // The socket from the environment, as TILLID_SOCKET.
  auto env = run({t, "--json", "status"}, {"TILLID_SOCKET=" + sock}, staff);
  INFO(env.err);
  REQUIRE(env.exit_code == 0);
  CHECK(nlohmann::json::parse(env.out)["user"]["name"] == "staff1");
  // A subcommand's own options still belong to it, and unknown ones are still errors.
  CHECK(run({t, "ls", "--frobnicate", "--socket", sock, "--passphrase-file", pass}, {}, staff).exit_code == 2);
}

// Issue 10, class 8: at a terminal the values are asked for, and what is typed is not shown.
TEST_CASE("at a terminal, identifying values are asked for without echo", "[cli][argv][tty]") {
  CliVault v;
  v.ensure_daemon();
  const auto argv = v.argv({"case", "add", "--number", "C1", "--municipality", "0101"});
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    become_uid(static_cast<int>(TestUids::staff));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  std::string screen;
  // Reads what the program shows until `what` appears (or it ends, or 20 s pass).
  auto read_until = [&](const std::string& what) {
    for (int i = 0; i < 200 && screen.find(what) == std::string::npos; ++i) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;
      screen.append(buf, static_cast<std::size_t>(n));
    }
    return screen.find(what) != std::string::npos;
  };
  auto type = [&](const std::string& line) { REQUIRE(::write(master, line.data(), line.size()) == ssize_t(line.size())); };
  REQUIRE(read_until("Child's name"));
  type("Navnmarkoer Ptyx\n");
  REQUIRE(read_until("CPR number"));
  type("121212-1212\n");
  REQUIRE(read_until("Notes"));
  type("\n");  // optional: left out
  CHECK(read_until("Opened case C1"));
  read_until("\x01 never shown: read to the end");  // until the program closes the terminal
  CHECK(wait_exit(pid) == 0);
  ::close(master);
  v.close();
  INFO(screen);
  CHECK(screen.find("Navnmarkoer") == std::string::npos);
  CHECK(screen.find("121212-1212") == std::string::npos);
  auto cases = v.json({"case", "ls"});
  REQUIRE(cases.size() == 1);
  CHECK(cases[0]["child_name"] == "Navnmarkoer Ptyx");
  CHECK(cases[0]["cpr"] == "121212-1212");
  CHECK(cases[0]["notes"] == "");
}
