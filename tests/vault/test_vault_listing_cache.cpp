// The listing paths remember signatures they found valid (vault/src/signature_cache.hpp). The
// attacker here edits the metadata on disk while one Vault stays open, between two listings:
// the second listing must check the changed rows afresh and flag them, and a fetch must refuse
// them, exactly as a freshly opened vault would.
#include <sqlite3.h>

#include <map>

#include "vault_test_util.hpp"

using namespace tillid;
using namespace vt;

namespace {

void sql_exec(const fs::path& db, const std::string& stmt) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, stmt.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

std::map<std::string, bool> verified_by_id(const Vault& v) {
  auto items = v.items();
  INFO((items.ok() ? std::string() : items.error().message));
  REQUIRE(items.ok());
  std::map<std::string, bool> out;
  for (const auto& it : *items) out[it.id] = it.verified;
  return out;
}

}  // namespace

TEST_CASE("a row edited on disk between two listings of one open vault is checked again", "[vault][cache]") {
  TempDir t;
  const fs::path dir = t.path() / "v";
  const fs::path db = dir / "vault.db";
  Vault v = make_vault(dir);
  const std::string case_a = add_case(v, "BH-1");
  const std::string case_b = add_case(v, "BH-2");
  const std::string a = add_bytes(v, case_a, prng_bytes(100, 1)).id;
  const std::string b = add_bytes(v, case_b, prng_bytes(100, 2)).id;

  // Twice, so that the second listing is the one answered from remembered signatures.
  for (int i = 0; i < 2; ++i) {
    auto seen = verified_by_id(v);
    REQUIRE(seen.size() == 2);
    CHECK(seen[a]);
    CHECK(seen[b]);
  }

  SECTION("an item's creator") {
    sql_exec(db, "UPDATE items SET creator = 'mallory' WHERE id = '" + a + "'");
    auto seen = verified_by_id(v);
    CHECK_FALSE(seen[a]);
    CHECK(seen[b]);
    Bytes out;
    auto r = v.fetch(a, collect_sink(out));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::corrupt);
    CHECK(out.empty());
    SECTION("and put back: the same bytes verify again") {
      sql_exec(db, "UPDATE items SET creator = 'tester' WHERE id = '" + a + "'");
      CHECK(verified_by_id(v)[a]);
    }
  }
  SECTION("an item's signature") {
    sql_exec(db, "UPDATE items SET signature = zeroblob(64) WHERE id = '" + a + "'");
    auto seen = verified_by_id(v);
    CHECK_FALSE(seen[a]);
    CHECK(seen[b]);
  }
  SECTION("an item moved to the other case") {
    sql_exec(db, "UPDATE items SET case_id = '" + case_b + "' WHERE id = '" + a + "'");
    auto seen = verified_by_id(v);
    CHECK_FALSE(seen[a]);
    CHECK(seen[b]);
  }
  SECTION("a case's municipality: every item of that case, and the case itself") {
    sql_exec(db, "UPDATE cases SET municipality = '0999' WHERE id = '" + case_a + "'");
    auto seen = verified_by_id(v);
    CHECK_FALSE(seen[a]);
    CHECK(seen[b]);
    auto cases = v.cases();
    REQUIRE(cases.ok());
    for (const auto& c : *cases) CHECK(c.verified == (c.id == case_b));
    auto listed = v.items(case_a);
    REQUIRE_FALSE(listed.ok());  // a case whose signature fails lists nothing
    CHECK(listed.error().code == Errc::corrupt);
  }
  SECTION("a case's sealed notes replaced by another case's") {
    sql_exec(db, "UPDATE cases SET notes = (SELECT notes FROM cases WHERE id = '" + case_b + "') WHERE id = '" +
                     case_a + "'");
    auto seen = verified_by_id(v);
    CHECK_FALSE(seen[a]);
    CHECK(seen[b]);
  }
}
