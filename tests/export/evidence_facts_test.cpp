// Issue 10, classes 2, 3 and the export half of 10, tested as the attacker acts: with the vault
// closed (no passphrase), rows of vault.db and files are edited; then an officer runs the
// real `tillid verify`, `tillid export` and `tillid verify-export --key`, which must fail and
// name the item, the case or the access-log seq (FORMAT.md §5.1, §5.4–§5.6; EXPORT-FORMAT §5).
#include <sqlite3.h>
#include <sys/stat.h>

#include <regex>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "tillid/vault.hpp"

using namespace tillid::test;
using ojson = nlohmann::ordered_json;

namespace {

// One statement on vault.db as the attacker runs it: plain SQLite, foreign keys not enforced
// (the sqlite3 shell's default), nothing of Tillid involved.
void sql(const fs::path& db, const std::string& stmt) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, stmt.c_str(), nullptr, nullptr, &err);
  INFO(stmt << ": " << (err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

std::string sql_text(const fs::path& db, const std::string& query) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr)
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// A vault with two cases, one document in each; B is exported before any tampering.
struct Evidence : CliVault {
  fs::path db = vault / "vault.db";
  std::string case_a, case_b, item_a, item_b;
  fs::path bundle_before = tmp / "bundle-before";

  Evidence() {
    REQUIRE(tillid({"case", "add", "--number", "BH-2026-0001", "--municipality", "0101"}).exit_code == 0);
    REQUIRE(tillid({"case", "add", "--number", "BH-2026-0002", "--municipality", "0147"}).exit_code == 0);
    case_a = sql_text(db, "SELECT id FROM cases WHERE case_number = 'BH-2026-0001'");
    case_b = sql_text(db, "SELECT id FROM cases WHERE case_number = 'BH-2026-0002'");
    write_random_file(tmp / "a.pdf", 4000, 1);
    write_random_file(tmp / "b.pdf", 5000, 2);
    item_a = json({"doc", "add", "--case", "BH-2026-0001", (tmp / "a.pdf").string()})["id"].get<std::string>();
    item_b = json({"doc", "add", "--case", "BH-2026-0002", (tmp / "b.pdf").string()})["id"].get<std::string>();
    REQUIRE(tillid({"export", item_b, "--out", bundle_before.string()}).exit_code == 0);
    REQUIRE(tillid({"verify"}).exit_code == 0);
  }

  std::string verifier_key() const {
    return ojson::parse(read_file(bundle_before / "manifest.json"))["appliance"]["verifier_key"].get<std::string>();
  }
  RunResult verify() const { return tillid({"verify"}); }
  RunResult export_item(const std::string& id, const std::string& name) const {
    return tillid({"export", id, "--out", (tmp / name).string()});
  }
  RunResult verify_export(const fs::path& dir) const {
    return run({tillid_program().string(), "verify-export", "--key", verifier_key(), dir.string()});
  }
};

void expect_failure_naming(const RunResult& r, const std::vector<std::string>& names) {
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  for (const auto& n : names) CHECK((r.out + r.err).find(n) != std::string::npos);
}

}  // namespace

TEST_CASE("swapped case numbers fail verify and export, naming both cases and their items", "[facts][class2]") {
  Evidence e;
  sql(e.db, "UPDATE cases SET case_number = 'tmp' WHERE id = '" + e.case_a + "';"
            "UPDATE cases SET case_number = 'BH-2026-0001' WHERE id = '" + e.case_b + "';"
            "UPDATE cases SET case_number = 'BH-2026-0002' WHERE id = '" + e.case_a + "';");
  expect_failure_naming(e.verify(), {e.case_a, e.case_b, e.item_a, e.item_b, "case signature does not verify"});
  // A new export would state the wrong case: refused, naming the item and its case.
  auto ex = e.export_item(e.item_a, "after");
  expect_failure_naming(ex, {e.item_a, e.case_a});
  CHECK_FALSE(fs::exists(e.tmp / "after"));
  // The bundle made before still says what was signed then, and still verifies.
  auto before = e.verify_export(e.bundle_before);
  INFO(before.out);
  CHECK(before.exit_code == 0);
  CHECK(before.out.find("BH-2026-0002") != std::string::npos);
  // Listings show the relabelled cases and their items marked, never as genuine, and exit 1;
  // nothing is done in a case found by its (altered) number.
  auto cases = e.tillid({"--json", "case", "ls"});
  CHECK(cases.exit_code == 1);
  for (const auto& c : nlohmann::json::parse(cases.out)) CHECK(c["verified"] == false);
  auto items = e.tillid({"--json", "ls"});
  CHECK(items.exit_code == 1);
  for (const auto& it : nlohmann::json::parse(items.out)) CHECK(it["verified"] == false);
  auto text = e.tillid({"ls"});
  CHECK(text.out.find("(UNVERIFIED)") != std::string::npos);
  expect_failure_naming(e.tillid({"ls", "--case", "BH-2026-0001"}), {e.case_b, "does not verify"});
}

TEST_CASE("a changed municipality fails verify and export", "[facts][class2]") {
  Evidence e;
  sql(e.db, "UPDATE cases SET municipality = '0999' WHERE id = '" + e.case_b + "'");
  expect_failure_naming(e.verify(), {e.case_b, e.item_b});
  expect_failure_naming(e.export_item(e.item_b, "after"), {e.item_b, e.case_b});
  // Nor is the item handed out under the relabelled case.
  expect_failure_naming(e.tillid({"get", e.item_b, "-o", (e.tmp / "b-out.pdf").string()}), {e.item_b, e.case_b});
  CHECK_FALSE(fs::exists(e.tmp / "b-out.pdf"));
}

TEST_CASE("a relabelled bundle fails verify-export --key against the signed manifest", "[facts][class10]") {
  Evidence e;
  // The forger edits the readable case number and municipality and cannot re-sign
  // manifest.json; the item manifest v3 itself says which case this is.
  ojson m = ojson::parse(read_file(e.bundle_before / "manifest.json"));
  m["case"]["case_number"] = "BH-2026-0001";
  m["case"]["municipality"] = "0101";
  write_file(e.bundle_before / "manifest.json", m.dump(2) + "\n");
  auto r = e.verify_export(e.bundle_before);
  expect_failure_naming(r, {"case.case_number (BH-2026-0001) differs from the signed item manifest (BH-2026-0002)",
                            "case.municipality (0101) differs from the signed item manifest (0147)"});
}

TEST_CASE("an item moved to another case fails verify and export", "[facts][class2]") {
  Evidence e;
  sql(e.db, "UPDATE items SET case_id = '" + e.case_b + "' WHERE id = '" + e.item_a + "'");
  expect_failure_naming(e.verify(), {e.item_a, "manifest signature does not verify"});
  expect_failure_naming(e.export_item(e.item_a, "after"), {e.item_a});
}

TEST_CASE("a changed title or an added interviewer fails verify and export", "[facts][class2]") {
  Evidence e;
  SECTION("title emptied") {
    sql(e.db, "UPDATE items SET title = x'' WHERE id = '" + e.item_a + "'");
  }
  SECTION("title replaced by another item's sealed title") {
    sql(e.db, "UPDATE items SET title = (SELECT title FROM items WHERE id = '" + e.item_b + "') WHERE id = '" +
                  e.item_a + "'");
  }
  SECTION("file name replaced by another item's") {
    sql(e.db, "UPDATE items SET file_name = (SELECT file_name FROM items WHERE id = '" + e.item_b +
                  "') WHERE id = '" + e.item_a + "'");
  }
  SECTION("interviewer added to a document") {
    sql(e.db, "UPDATE items SET interviewer = title WHERE id = '" + e.item_a + "'");
  }
  expect_failure_naming(e.verify(), {e.item_a});
  expect_failure_naming(e.export_item(e.item_a, "after"), {e.item_a});
}

TEST_CASE("a deleted case row is named with the seq of its creation", "[facts][class2][class3]") {
  Evidence e;
  SECTION("a case with no items") {
    REQUIRE(e.tillid({"case", "add", "--number", "BH-2026-0003", "--municipality", "0101"}).exit_code == 0);
    const std::string empty_case = sql_text(e.db, "SELECT id FROM cases WHERE case_number = 'BH-2026-0003'");
    sql(e.db, "DELETE FROM cases WHERE id = '" + empty_case + "'");
    auto r = e.verify();
    expect_failure_naming(r, {"case " + empty_case + " is missing", "(case_created)"});
    CHECK(std::regex_search(r.out, std::regex("case " + empty_case + " is missing: .* at seq [0-9]+ \\(case_created\\)")));
  }
  SECTION("a case with an item: the item is named too") {
    sql(e.db, "DELETE FROM cases WHERE id = '" + e.case_a + "'");
    expect_failure_naming(e.verify(), {"case " + e.case_a + " is missing", e.item_a, "(case_created)"});
    expect_failure_naming(e.export_item(e.item_a, "after"), {e.item_a, e.case_a, "missing"});
  }
}

TEST_CASE("a deleted item row and object are named missing by seq", "[facts][class3]") {
  Evidence e;
  sql(e.db, "DELETE FROM items WHERE id = '" + e.item_a + "'");
  fs::remove(e.vault / "objects" / e.item_a);
  auto r = e.verify();
  expect_failure_naming(r, {e.item_a, "missing from the metadata", "(item_added)"});
  CHECK(std::regex_search(r.out, std::regex(e.item_a + ".*at seq [0-9]+ \\(item_added\\)")));
}

TEST_CASE("a sealed item set back to pending is named, by the seq that logged it", "[facts][class3]") {
  Evidence e;
  sql(e.db, "UPDATE items SET state = 'pending' WHERE id = '" + e.item_a + "'");
  // Whatever unlock makes of it (left alone, or removed as an interrupted add), the signed
  // log's item_added says it was sealed: verify names it with that seq.
  auto r = e.verify();
  expect_failure_naming(r, {e.item_a, "(item_added)"});
  CHECK(std::regex_search(r.out, std::regex(e.item_a + ".*seq [0-9]+ \\(item_added\\)")));
}

TEST_CASE("a resign marker put back after the upgrade is refused as a rollback", "[facts][class2]") {
  Evidence e;
  const std::string sig_a = sql_text(e.db, "SELECT hex(signature) FROM items WHERE id = '" + e.item_a + "'");
  // The attacker relabels a case and asks for the one-time re-signing (FORMAT.md §5.5).
  sql(e.db, "UPDATE cases SET municipality = '0999' WHERE id = '" + e.case_a + "';"
            "INSERT INTO vault_meta (key, value) VALUES ('resign_pending', x'01')");
  auto r = e.verify();
  expect_failure_naming(r, {"rolled back"});
  // Nothing was signed: the marker and the tampered row are as the attacker left them.
  CHECK(sql_text(e.db, "SELECT count(*) FROM vault_meta WHERE key = 'resign_pending'") == "1");
  CHECK(sql_text(e.db, "SELECT hex(signature) FROM items WHERE id = '" + e.item_a + "'") == sig_a);
  // Without the marker, the relabelled case is named.
  sql(e.db, "DELETE FROM vault_meta WHERE key = 'resign_pending'");
  expect_failure_naming(e.verify(), {e.case_a, e.item_a});
}

TEST_CASE("a downgraded item signature is named by verify", "[facts][class2]") {
  Evidence e;
  // A signature over the pre-v3 encoding (or any other bytes) no longer verifies.
  sql(e.db, "UPDATE items SET signature = (SELECT signature FROM items WHERE id = '" + e.item_b + "') WHERE id = '" +
                e.item_a + "'");
  expect_failure_naming(e.verify(), {e.item_a, "manifest signature does not verify"});
}

TEST_CASE("verify-export enforces the exact set of files in a bundle", "[facts][class10]") {
  Evidence e;
  const auto dir = e.bundle_before;
  SECTION("an extra file") {
    write_file(dir / "confession.txt", "planted\n");
    expect_failure_naming(e.verify_export(dir), {"confession.txt is in the bundle directory but is not part"});
  }
  SECTION("an extra directory") {
    fs::create_directory(dir / "extra");
    expect_failure_naming(e.verify_export(dir), {"extra is in the bundle directory"});
  }
  SECTION("an extra line in SHA256SUMS for a planted file") {
    write_file(dir / "confession.txt", "planted\n");
    const auto sums = read_file(dir / "SHA256SUMS");
    write_file(dir / "SHA256SUMS", sums + sha256sum(dir / "confession.txt") + "  confession.txt\n");
    expect_failure_naming(e.verify_export(dir), {"SHA256SUMS lists confession.txt, which is not part of a bundle"});
  }
}

TEST_CASE("a recording's interviewer removed fails verify and export", "[facts][class2][record]") {
  CliVault v;
  const fs::path db = v.vault / "vault.db";
  REQUIRE(v.tillid({"case", "add", "--number", "BH-REC-0001", "--municipality", "0101"}).exit_code == 0);
  // The identifying values of a recording (interviewer) go in the way `record start` takes them.
  auto rec = v.tillid({"--json", "record", "start", "--case", "BH-REC-0001", "--fields", v.fields({{"interviewer", "Anne Jensen"}}),
                       "--source", "tone?duration=1", "--wait"});
  INFO(rec.err);
  REQUIRE(rec.exit_code == 0);
  const std::string id = nlohmann::json::parse(rec.out)["id"];
  REQUIRE(v.tillid({"verify"}).exit_code == 0);
  sql(db, "UPDATE items SET interviewer = NULL WHERE id = '" + id + "'");
  expect_failure_naming(v.tillid({"verify"}), {id, "manifest signature does not verify"});
  expect_failure_naming(v.tillid({"export", id, "--out", (v.tmp / "after").string()}), {id});
  CHECK_FALSE(fs::exists(v.tmp / "after"));
}

namespace {

// A copy of the committed pre-v3 vault (tests/vectors/vault/README.md: made by the release
// before manifest v3; schema 2, v1/v2 item signatures, unsigned cases, log born "vault format 1").
// It predates the users roster (FORMAT.md §8), so the daemon would serve nobody: just before
// the first daemon starts (after whatever the test did to the closed vault), the vault library
// itself unlocks it, which runs the upgrade, and enrols root as admin, staff1 and auditor1.
struct LegacyVault : CliVault {
  fs::path db = vault / "vault.db";
  const std::string doc_one = "479659bab0fb2bf2a1a1390b41b7b0ac";   // case BH-LEGACY-1
  const std::string doc_two = "36fe1752a385580cee242361e8886ebe";   // case BH-LEGACY-2
  const std::string recording = "ae518c9537ab7ca6f6654d03af39be71";  // case BH-LEGACY-1
  const std::string case_one = "568969e127895242aa5d7dacfef6c988";

  LegacyVault() : CliVault(legacy_options(this)) {
    const fs::path src = fs::path(TILLID_SOURCE_DIR) / "tests/vectors/vault";
    fs::copy(src / "legacy-v2-vault", vault, fs::copy_options::recursive);
    fs::remove(pass);
    fs::copy_file(src / "legacy-v2-vault.pass", pass);
    ::chmod(pass.c_str(), 0644);
    for (const char* d : {"tmp", "run"}) fs::create_directories(vault / d);
    // git keeps no modes: give the copy the modes a vault has (FORMAT.md §1).
    for (const auto& e : fs::recursive_directory_iterator(vault))
      fs::permissions(e.path(), e.is_directory() ? fs::perms::owner_all : fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(vault, fs::perms::owner_all);
  }

  static CliOptions legacy_options(LegacyVault* self) {
    CliOptions o;
    o.init = false;
    o.before_first_daemon = [self] { self->enrol_offline(); };
    return o;
  }

  void enrol_offline() const {
    auto v = tillid::Vault::open(vault, tillid::Actor{"root", "admin"});
    REQUIRE(v.ok());
    auto p = read_file(pass);
    while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
    // A refused unlock (a test's rollback) leaves the vault to the daemon to refuse as well.
    if (!v->unlock(tillid::passphrase_from(p)).ok()) return;
    REQUIRE(v->add_user({"root", tillid::Role::admin, static_cast<unsigned>(::getuid()), ""}).ok());
    REQUIRE(v->add_user({"staff1", tillid::Role::staff, TestUids::staff, ""}).ok());
    REQUIRE(v->add_user({"auditor1", tillid::Role::auditor, TestUids::auditor, ""}).ok());
  }
};

}  // namespace

TEST_CASE("a pre-v3 vault is upgraded at unlock: cases signed, items re-signed, exports carry v3", "[facts][upgrade]") {
  LegacyVault v;
  auto r = v.tillid({"verify"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(sql_text(v.db, "SELECT count(*) FROM vault_meta WHERE key = 'resign_pending'") == "0");
  CHECK(sql_text(v.db, "SELECT count(*) FROM cases WHERE length(signature) = 64") == "2");
  auto log = v.tillid({"--json", "audit", "report"});
  CHECK(log.out.find("vault_upgraded") != std::string::npos);
  CHECK(log.out.find("3 items re-signed, 0 items not re-signed") != std::string::npos);
  // The upgraded signatures are v3: an export carries them and checks against the log's key.
  REQUIRE(v.tillid({"export", v.recording, "--out", (v.tmp / "bundle").string()}).exit_code == 0);
  const auto m = ojson::parse(read_file(v.tmp / "bundle" / "manifest.json"));
  CHECK(m["item_manifest"]["encoding"] == "tillid.manifest.v3");
  CHECK(m["case"]["case_number"] == "BH-LEGACY-1");
  auto ve = run({tillid_program().string(), "verify-export", "--key", m["appliance"]["verifier_key"].get<std::string>(),
                 (v.tmp / "bundle").string()});
  INFO(ve.out);
  CHECK(ve.exit_code == 0);
  // Putting the marker back afterwards is a rollback: refused, nothing signed.
  sql(v.db, "UPDATE cases SET case_number = 'BH-LEGACY-9' WHERE id = '" + v.case_one + "';"
            "INSERT INTO vault_meta (key, value) VALUES ('resign_pending', x'01')");
  auto again = v.tillid({"verify"});
  expect_failure_naming(again, {"rolled back", "vault_upgraded"});
  CHECK(sql_text(v.db, "SELECT count(*) FROM vault_meta WHERE key = 'resign_pending'") == "1");
}

TEST_CASE("the upgrade re-signs only items whose old signature verifies", "[facts][upgrade]") {
  LegacyVault v;
  // Tampered before the upgrade (vault closed): the document's creator and the recording's
  // duration. Their v1/v2 signatures fail, so the upgrade must not sign the new values.
  const std::string old_sig = sql_text(v.db, "SELECT hex(signature) FROM items WHERE id = '" + v.doc_two + "'");
  sql(v.db, "UPDATE items SET creator = 'staff:mallory' WHERE id = '" + v.doc_two + "';"
            "UPDATE items SET duration_ms = 999999 WHERE id = '" + v.recording + "'");
  auto r = v.tillid({"verify"});
  expect_failure_naming(r, {v.doc_two, v.recording});
  CHECK(r.out.find(v.doc_one) == std::string::npos);  // the intact item was re-signed
  CHECK(sql_text(v.db, "SELECT hex(signature) FROM items WHERE id = '" + v.doc_two + "'") == old_sig);
  CHECK(v.tillid({"--json", "audit", "report"}).out.find("1 items re-signed, 2 items not re-signed") !=
        std::string::npos);
  expect_failure_naming(v.tillid({"export", v.doc_two, "--out", (v.tmp / "b").string()}), {v.doc_two});
}

// Issue 10 class 6: what sits at objects/<id> is read only if it is a regular file. A FIFO
// would block a reader forever and a symlink would feed it another file.
TEST_CASE("a FIFO or symlink put in place of an object is named by verify and never read", "[facts][class6]") {
  Evidence e;
  const fs::path object = e.vault / "objects" / e.item_a;
  const fs::path out = e.tmp / "a-out.pdf";
  SECTION("a FIFO") {
    fs::remove(object);
    REQUIRE(::mkfifo(object.c_str(), 0600) == 0);
  }
  SECTION("a symlink to the other item's object") {
    fs::remove(object);
    fs::create_symlink(e.vault / "objects" / e.item_b, object);
  }
  expect_failure_naming(e.verify(), {e.item_a});
  expect_failure_naming(e.tillid({"get", e.item_a, "-o", out.string()}), {e.item_a});
  CHECK_FALSE(fs::exists(out));
}
