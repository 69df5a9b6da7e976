// `tillid audit` end to end: an auditor with only the log directory and the verifier key they
// kept detects edits, truncation and rollback, and gets readable reports.
#include "cli_fixture.hpp"

using namespace tillid::test;

namespace {

struct AuditedVault : CliVault {
  fs::path key = tmp / "verifier.key";
  fs::path kept = tmp / "kept-checkpoint.txt";
  std::string item_id;

  AuditedVault() {
    REQUIRE(tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
    auto doc = tmp / "doc.txt";
    write_file(doc, "statement");
    item_id = json({"doc", "add", "--case", "C1", doc.string()})["id"];
    auto k = tillid({"audit", "key"});
    REQUIRE(k.exit_code == 0);
    write_file(key, k.out);
    auto cp = tillid({"audit", "checkpoint"});
    REQUIRE(cp.exit_code == 0);
    write_file(kept, cp.out);
  }

  RunResult audit_verify() const {
    // The auditor's view: no vault, no passphrase; only the log directory and kept files.
    return run({tillid_program().string(), "audit", "verify", "--log", (vault / "log").string(),
                "--key-file", key.string(), "--since", kept.string()});
  }
};

}  // namespace

TEST_CASE("audit verify passes on an untouched log with no passphrase", "[cli][audit]") {
  AuditedVault v;
  REQUIRE(v.tillid({"ls"}).exit_code == 0);  // more entries after the kept checkpoint
  auto r = v.audit_verify();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK") != std::string::npos);
}

TEST_CASE("audit verify without --log checks the daemon's copy: OK while unlocked, UNSIGNED while locked",
          "[cli][audit]") {
  AuditedVault v;
  // Unlocked (the fixture's daemon is unlocked by the admin first): the copy audit.log sends
  // ends at a checkpoint the daemon signs for it, covering that request's own authz_decision.
  auto r = v.tillid({"audit", "verify", "--key-file", v.key.string(), "--since", v.kept.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("OK") != std::string::npos);
  // Locked (a fresh daemon): no key signs the request's entry, and the verifier says so.
  auto locked =
      v.as_with(static_cast<int>(TestUids::auditor), std::nullopt, {"audit", "verify", "--key-file", v.key.string()});
  INFO(locked.out << locked.err);
  CHECK(locked.exit_code == 8);
  CHECK(locked.out.find("UNSIGNED") != std::string::npos);
}

TEST_CASE("audit verify names the first bad entry when an entry is edited", "[cli][audit]") {
  AuditedVault v;
  auto entries = v.vault / "log" / "entries";
  std::string bytes = read_file(entries);
  // Rewrite the item id in the item_added entry to another plausible id.
  auto at = bytes.find(v.item_id);
  REQUIRE(at != std::string::npos);
  bytes[at] = bytes[at] == 'a' ? 'b' : 'a';
  write_file(entries, bytes);
  auto r = v.audit_verify();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("first bad sequence number") != std::string::npos);
}

TEST_CASE("audit verify detects a log rolled back behind a kept checkpoint", "[cli][audit]") {
  AuditedVault v;
  auto log = v.vault / "log";
  auto saved = v.tmp / "log-before";
  fs::copy(log, saved, fs::copy_options::recursive);
  REQUIRE(v.tillid({"ls"}).exit_code == 0);
  REQUIRE(v.tillid({"verify"}).exit_code == 0);
  auto newer = v.tmp / "newer-checkpoint.txt";
  write_file(newer, v.tillid({"audit", "checkpoint"}).out);
  // Someone with root puts the old log back to hide the later accesses.
  fs::remove_all(log);
  fs::copy(saved, log, fs::copy_options::recursive);
  auto r = run({tillid_program().string(), "audit", "verify", "--log", log.string(), "--key-file",
                v.key.string(), "--since", newer.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("rolled back") != std::string::npos);
}

TEST_CASE("audit verify refuses a log checked against another appliance's key", "[cli][audit]") {
  AuditedVault a;
  AuditedVault b;
  auto r = run({tillid_program().string(), "audit", "verify", "--log", (a.vault / "log").string(),
                "--key-file", b.key.string()});
  CHECK(r.exit_code != 0);
}

TEST_CASE("audit report filters by item and writes an HTML page", "[cli][audit]") {
  AuditedVault v;
  auto out = v.tmp / "x.out";
  REQUIRE(v.tillid({"get", v.item_id, "-o", out.string()}).exit_code == 0);
  auto wrong = v.tmp / "wrong.txt";
  write_file(wrong, "nope\n");
  v.as_with(TestUids::staff, wrong, {"ls"});

  auto j = nlohmann::json::parse(
      run({tillid_program().string(), "audit", "report", "--log", (v.vault / "log").string(), "--item",
           v.item_id, "--format", "json"}).out);
  REQUIRE(j.size() == 2);  // added, then read
  std::vector<std::string> actions;
  for (const auto& e : j) actions.push_back(e["action"]);
  CHECK(actions == std::vector<std::string>{"item_added", "item_read"});

  auto refused = nlohmann::json::parse(
      run({tillid_program().string(), "audit", "report", "--log", (v.vault / "log").string(), "--refused",
           "--format", "json"}).out);
  // The client's `ls` met the locked daemon (refused: locked), then its unlock failed.
  std::vector<std::string> refused_actions;
  for (const auto& e : refused) refused_actions.push_back(e["action"]);
  INFO(refused.dump(1));
  CHECK(std::count(refused_actions.begin(), refused_actions.end(), "unlock") == 1);
  CHECK(refused.size() <= 2);

  auto html = v.tmp / "report.html";
  auto r = run({tillid_program().string(), "audit", "report", "--log", (v.vault / "log").string(), "--key-file",
                v.key.string(), "--format", "html", "-o", html.string()});
  REQUIRE(r.exit_code == 0);
  auto page = read_file(html);
  CHECK(page.find("<html") != std::string::npos);
  CHECK(page.find(v.item_id) != std::string::npos);
  CHECK(page.find("item_read") != std::string::npos);
}

TEST_CASE("audit prove and consistency produce proofs an independent checker accepts", "[cli][audit]") {
  AuditedVault v;
  auto old_cp = v.kept;
  REQUIRE(v.tillid({"ls"}).exit_code == 0);
  auto new_cp = v.tmp / "new-checkpoint.txt";
  write_file(new_cp, v.tillid({"audit", "checkpoint"}).out);
  auto log = (v.vault / "log").string();
  auto size_of = [&](const fs::path& cp) {
    auto text = read_file(cp);
    auto first = text.find('\n');
    return text.substr(first + 1, text.find('\n', first + 1) - first - 1);
  };

  auto proof = v.tmp / "inclusion.txt";
  auto p = run({tillid_program().string(), "audit", "prove", "--log", log, "2", "--size", size_of(new_cp)});
  REQUIRE(p.exit_code == 0);
  write_file(proof, p.out);
  auto ok = run({tillid_program().string(), "audit", "check-proof", "--key-file", v.key.string(),
                 proof.string(), "--checkpoint", new_cp.string()});
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);

  // The same proof against the older, smaller checkpoint does not fit.
  CHECK(run({tillid_program().string(), "audit", "check-proof", "--key-file", v.key.string(), proof.string(),
             "--checkpoint", old_cp.string()}).exit_code == 1);

  auto cons = v.tmp / "consistency.txt";
  auto c = run({tillid_program().string(), "audit", "consistency", "--log", log, size_of(old_cp), size_of(new_cp)});
  REQUIRE(c.exit_code == 0);
  write_file(cons, c.out);
  auto good = run({tillid_program().string(), "audit", "check-proof", "--key-file", v.key.string(), cons.string(),
                   "--old-checkpoint", old_cp.string(), "--checkpoint", new_cp.string()});
  INFO(good.out << good.err);
  CHECK(good.exit_code == 0);

  // A proof with one hash altered is rejected.
  std::string text = read_file(proof);
  auto last_eq = text.rfind('=');
  REQUIRE(last_eq != std::string::npos);
  text[last_eq - 2] = text[last_eq - 2] == 'A' ? 'B' : 'A';
  write_file(proof, text);
  CHECK(run({tillid_program().string(), "audit", "check-proof", "--key-file", v.key.string(), proof.string(),
             "--checkpoint", new_cp.string()}).exit_code != 0);
}
