// Threat model (PRODUCT.md): theft of the disk yields nothing readable. A marker placed in an
// item's content, title and file name, and a case's child name and CPR number, must appear
// in no file under the vault directory — including SQLite's -wal, -shm and journal files —
// while the vault is open and after it is closed.
#include "vault_test_util.hpp"

using namespace tillid;
using namespace vt;

TEST_CASE("no plaintext content or identifying metadata reaches the vault directory", "[vault][privacy]") {
  TempDir t;
  auto dir = t.path() / "v";
  const std::string marker = "TILLID-MARKER-" + to_hex(sha256(prng_bytes(16, static_cast<std::uint64_t>(::getpid()))));
  const std::string child = "Zaphira Quxwell-Marker";
  const std::string cpr = "290214-9877";

  std::string content_str;
  for (int i = 0; i < 3000; ++i) content_str += marker + " line " + std::to_string(i) + "\n";
  Bytes content(content_str.begin(), content_str.end());
  auto input = t.path() / ("interview-" + marker + ".txt");
  write_file(input, content);

  auto check_clean = [&](const char* when) {
    INFO(when);
    CHECK(files_containing(dir, marker).empty());
    CHECK(files_containing(dir, child).empty());
    CHECK(files_containing(dir, cpr).empty());
    CHECK(files_containing(dir, "Zaphira").empty());
  };
  {
    Vault v = make_vault(dir);
    auto c = v.add_case(NewCase{"BH-2025-7", "0751", child, cpr, "notes " + marker});
    REQUIRE(c.ok());
    auto item = v.add_document_file(c->id, input, "Title " + marker);
    REQUIRE(item.ok());
    auto item2 = v.add_document(c->id, buffer_source(content), "Second " + marker, marker + ".bin");
    REQUIRE(item2.ok());
    // The WAL and -shm exist now: make sure we looked at them.
    CHECK(fs::exists(dir / "vault.db-wal"));
    check_clean("while open");
    CHECK(fetch_bytes(v, item->id) == content);
    auto got = v.item(item->id);
    REQUIRE(got.ok());
    CHECK(got->file_name == input.filename().string());
    CHECK(got->title == "Title " + marker);
    check_clean("after reading");
  }
  check_clean("after closing");
  auto files = list_dir(dir);
  CHECK(std::find(files.begin(), files.end(), "vault.db") != files.end());
  // The appliance public key is readable while locked; content is not.
  auto v = Vault::open(dir, Actor{});
  REQUIRE(v.ok());
  CHECK(v->appliance_public_key().ok());
  CHECK(v->items().error().code == Errc::locked);
}
