// Tampering: every kind of damage to objects or metadata is found by verify, which names the
// damaged item (and only it), and fetch refuses the damaged item. Also recovery of a crash
// left-over (pending row, stray tmp file) and that a stray object is reported, never deleted.
#include <sqlite3.h>

#include <algorithm>
#include <set>

#include "vault_test_util.hpp"

using namespace tillid;
using namespace vt;

namespace {

constexpr std::size_t kChunk = 1u << 20;
constexpr std::size_t kHeader = 128;           // FORMAT.md §3.2
constexpr std::size_t kRecordOverhead = 4 + 17;  // length prefix + secretstream ABYTES

std::set<std::string> named_items(const VerifyReport& r) {
  std::set<std::string> s;
  for (auto& p : r.problems) s.insert(p.item_id);
  return s;
}

std::string all_problems(const VerifyReport& r) {
  std::string s;
  for (auto& p : r.problems) s += "[" + p.item_id + "] " + p.what + "\n";
  return s;
}

void sql(const fs::path& db, const std::string& stmt) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, stmt.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

void flip_byte(const fs::path& p, std::size_t offset) {
  Bytes b = read_file(p);
  REQUIRE(offset < b.size());
  b[offset] ^= 0x01;
  write_file(p, b);
}

struct Fixture {
  TempDir t;
  fs::path dir = t.path() / "v";
  Bytes a = prng_bytes(2 * kChunk + kChunk / 2, 1);  // three chunks
  Bytes b = prng_bytes(kChunk + kChunk / 2, 2);      // two chunks, same first-chunk length as a
  Bytes c = prng_bytes(1000, 3);
  std::string ida, idb, idc;
  Fixture() {
    Vault v = make_vault(dir);
    auto case_id = add_case(v);
    ida = add_bytes(v, case_id, a).id;
    idb = add_bytes(v, case_id, b).id;
    idc = add_bytes(v, case_id, c).id;
    REQUIRE(v.verify()->clean());
  }  // the vault is closed before anything is tampered with
  fs::path obj(const std::string& id) const { return dir / "objects" / id; }
};

}  // namespace

TEST_CASE("verify names each tampered item and fetch refuses it", "[vault][tamper]") {
  Fixture f;
  std::string victim = f.ida;
  std::string must_contain;
  bool also_b = false;

  SECTION("a flipped byte inside a chunk") {
    flip_byte(f.obj(f.ida), kHeader + kRecordOverhead + kChunk + 500);
    must_contain = "failed authentication";
  }
  SECTION("a flipped byte in the header (secretstream header)") {
    flip_byte(f.obj(f.ida), 40);
    must_contain = "header altered";
  }
  SECTION("a flipped byte in the chunk size field") {
    flip_byte(f.obj(f.ida), 12);
    must_contain = "header altered";
  }
  SECTION("the final chunk cut off") {
    fs::resize_file(f.obj(f.ida), kHeader + 2 * (kRecordOverhead + kChunk));
    must_contain = "truncated";
  }
  SECTION("the object cut inside a chunk") {
    fs::resize_file(f.obj(f.ida), fs::file_size(f.obj(f.ida)) - 10);
    must_contain = "truncated";
  }
  SECTION("bytes appended after the final chunk") {
    Bytes x = read_file(f.obj(f.ida));
    x.push_back(0);
    write_file(f.obj(f.ida), x);
    must_contain = "after its final chunk";
  }
  SECTION("two chunks of one object reordered") {
    Bytes x = read_file(f.obj(f.ida));
    std::size_t rec = kRecordOverhead + kChunk;
    std::swap_ranges(x.begin() + kHeader, x.begin() + kHeader + rec, x.begin() + kHeader + rec);
    write_file(f.obj(f.ida), x);
    must_contain = "failed authentication";
  }
  SECTION("a chunk transplanted from another item's object") {
    Bytes x = read_file(f.obj(f.ida));
    Bytes y = read_file(f.obj(f.idb));
    std::copy(y.begin() + kHeader, y.begin() + kHeader + kRecordOverhead + kChunk, x.begin() + kHeader);
    write_file(f.obj(f.ida), x);
    must_contain = "failed authentication";
  }
  SECTION("two objects swapped") {
    fs::rename(f.obj(f.ida), f.dir / "objects" / "tmp-swap");
    fs::rename(f.obj(f.idb), f.obj(f.ida));
    fs::rename(f.dir / "objects" / "tmp-swap", f.obj(f.idb));
    must_contain = "belongs to another item";
    also_b = true;
  }
  SECTION("an object missing") {
    fs::remove(f.obj(f.ida));
    must_contain = "missing";
  }
  SECTION("the size altered in SQLite") {
    sql(f.dir / "vault.db", "UPDATE items SET size = size + 1 WHERE id = '" + f.ida + "'");
    must_contain = "size does not match";
  }
  SECTION("the SHA-256 altered in SQLite") {
    sql(f.dir / "vault.db",
        "UPDATE items SET sha256 = zeroblob(32) WHERE id = '" + f.ida + "'");
    must_contain = "SHA-256 does not match";
  }
  SECTION("the creator altered in SQLite (only the signature can tell)") {
    sql(f.dir / "vault.db", "UPDATE items SET creator = 'mallory' WHERE id = '" + f.ida + "'");
    must_contain = "signature does not verify";
  }
  SECTION("a sealed title moved to another item") {
    sql(f.dir / "vault.db", "UPDATE items SET title = (SELECT title FROM items WHERE id = '" + f.idc +
                                "') WHERE id = '" + f.ida + "'");
    must_contain = "does not authenticate";
  }

  Vault v = reopen(f.dir);
  auto rep = v.verify();
  REQUIRE(rep.ok());
  INFO(all_problems(rep.value()));
  CHECK_FALSE(rep->clean());
  auto named = named_items(rep.value());
  CHECK(named.count(victim) == 1);
  CHECK(named.count(f.idc) == 0);
  CHECK(named.count(f.idb) == (also_b ? 1u : 0u));
  CHECK(all_problems(rep.value()).find(must_contain) != std::string::npos);
  CHECK(rep->items_checked == 3);

  // The damaged item cannot be fetched; the intact one still can.
  Bytes out;
  auto fr = v.fetch(victim, collect_sink(out));
  if (must_contain == "does not authenticate") {
    REQUIRE_FALSE(fr.ok());  // the sealed title no longer opens
  } else {
    REQUIRE_FALSE(fr.ok());
    CHECK(fr.error().code == Errc::corrupt);
    CHECK(fr.error().message.find(victim) != std::string::npos);
  }
  CHECK(fetch_bytes(v, f.idc) == f.c);
}

TEST_CASE("an object with no metadata row is reported, never deleted", "[vault][tamper]") {
  Fixture f;
  const std::string stray = "0123456789abcdef0123456789abcdef";
  fs::copy_file(f.obj(f.idc), f.dir / "objects" / stray);
  Vault v = reopen(f.dir);  // unlock runs recovery: it must leave the stray object alone
  CHECK(fs::exists(f.dir / "objects" / stray));
  auto rep = v.verify();
  REQUIRE(rep.ok());
  INFO(all_problems(rep.value()));
  REQUIRE(rep->problems.size() == 1);
  CHECK(rep->problems[0].item_id.empty());
  CHECK(rep->problems[0].what.find(stray) != std::string::npos);
  CHECK(rep->problems[0].what.find("unaccounted") != std::string::npos);
}

TEST_CASE("recovery at unlock leaves an unauthenticated pending row alone and removes stray temporary files",
          "[vault][recovery]") {
  Fixture f;
  // A pending row and object written by someone without the keys (no work record, FORMAT.md
  // §6.1): recovery must not delete them (they could be evidence flipped back from 'sealed').
  const std::string pending = "fedcba9876543210fedcba9876543210";
  sql(f.dir / "vault.db",
      "INSERT INTO items (id, case_id, kind, state, title, file_name, created_unix, creator) "
      "SELECT '" + pending + "', case_id, 'document', 'pending', x'00', x'00', 0, 'x' FROM items LIMIT 1");
  fs::copy_file(f.obj(f.idc), f.obj(pending));
  write_file(f.dir / "tmp" / (pending + ".tmp"), Bytes(100, 7));
  write_file(f.dir / "tmp" / "leftover.tmp", Bytes(10, 1));
  {
    auto v = Vault::open(f.dir, Actor{});
    REQUIRE(v.ok());
    // Locked: nothing has been recovered yet, and nothing can be listed.
    CHECK(v->items().error().code == Errc::locked);
    REQUIRE(v->unlock(pass(kPass)).ok());
    CHECK(fs::exists(f.obj(pending)));
    CHECK(fs::is_empty(f.dir / "tmp"));
    auto items = v->items();
    REQUIRE(items.ok());
    CHECK(items->size() == 3);
    auto rep = v->verify();
    REQUIRE(rep.ok());
    REQUIRE(rep->problems.size() == 1);
    CHECK(rep->problems[0].item_id == pending);
    CHECK(v->item(pending).error().code == Errc::not_found);
  }
}
