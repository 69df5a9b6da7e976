// The `tillid` command end to end: the demo flow, errors with their exit codes, tampering.
#include "cli_fixture.hpp"

using namespace tillid::test;

TEST_CASE("init, case, doc add, ls, get and verify round-trip a document", "[cli]") {
  CliVault v;
  REQUIRE(v.tillid({"case", "add", "--number", "BH-2026-0042", "--municipality", "0101",
                    "--child-name", "Testbarn Zyxwvu", "--cpr", "010203-9999"}).exit_code == 0);
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

  auto with_second = run({tillid_program().string(), "--vault", v.vault.string(), "--passphrase-file",
                          second.string(), "case", "ls"});
  CHECK(with_second.exit_code == 0);

  int first_slot = slots[0]["slot"];
  REQUIRE(run({tillid_program().string(), "--vault", v.vault.string(), "--passphrase-file",
               second.string(), "key", "remove", std::to_string(first_slot)}).exit_code == 0);
  CHECK(v.tillid({"case", "ls"}).exit_code == 3);  // the removed passphrase no longer opens it
  int second_slot = slots[1]["slot"];
  auto last = run({tillid_program().string(), "--vault", v.vault.string(), "--passphrase-file",
                   second.string(), "key", "remove", std::to_string(second_slot)});
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
    auto r = run({tillid_program().string(), "--vault", v.vault.string(), "--passphrase-file",
                  wrong.string(), "ls"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("passphrase") != std::string::npos);
  }
  SECTION("no passphrase and no terminal: refuses instead of prompting") {
    auto r = run({tillid_program().string(), "--vault", v.vault.string(), "ls"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--passphrase-file") != std::string::npos);
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
  const auto before = tree_fingerprint(tmp.path());
  auto r = run({tillid_program().string(), "--vault", tmp.path().string(), "--passphrase-file",
                (tmp / "pass.txt").string(), "ls"});
  CHECK(r.exit_code == 6);
  CHECK(r.err.find("not a Tillid vault") != std::string::npos);
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
           {"case", "ls"}, {"doc"}, {"doc", "add"}, {"ls"}, {"get"}, {"verify"}}) {
    cmd.insert(cmd.begin(), tillid_program().string());
    cmd.push_back("--help");
    auto r = run(cmd);
    INFO(cmd[1]);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Usage") != std::string::npos);
  }
}
