// Round trips through the public API: every chunk-boundary size, a 100 MiB streamed item,
// files in and out, cases, listing, and concurrent use from several threads.
#include <thread>

#include "vault_test_util.hpp"

using namespace tillid;
using namespace vt;

namespace {
// Documents are stored in 1 MiB plaintext chunks (vault/FORMAT.md §3.3).
constexpr std::size_t kChunk = 1u << 20;
}  // namespace

TEST_CASE("documents of every boundary size round trip with their SHA-256", "[vault][roundtrip]") {
  TempDir t;
  Vault v = make_vault(t.path() / "v");
  auto case_id = add_case(v);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, kChunk - 1, kChunk, kChunk + 1, 2 * kChunk,
                           2 * kChunk + 17, 4 * kChunk, 4 * kChunk + 1, 8 * kChunk}) {
    CAPTURE(size);
    Bytes content = prng_bytes(size, size + 1);
    // A source that returns odd-sized short reads must give the same result.
    ItemInfo info = add_bytes(v, case_id, content, 4099);
    CHECK(info.size == size);
    CHECK(info.sha256 == sha256(content));
    CHECK(info.id.size() == 32);
    CHECK(fetch_bytes(v, info.id) == content);
    auto again = v.item(info.id);
    REQUIRE(again.ok());
    CHECK(again->sha256 == info.sha256);
    CHECK(again->title == "title");
    CHECK(again->file_name == "file.bin");
    CHECK(again->creator == "tester");
  }
  auto items = v.items();
  REQUIRE(items.ok());
  CHECK(items->size() == 10);
  auto rep = v.verify();
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  CHECK(rep->items_checked == 10);
}

TEST_CASE("a 100 MiB document streams in and out with bounded buffers", "[vault][roundtrip][large]") {
  TempDir t;
  Vault v = make_vault(t.path() / "v");
  auto case_id = add_case(v);
  constexpr std::uint64_t kSize = 100ull << 20;
  // Generated on the fly: neither the test nor the vault holds the whole content.
  Prng gen(42);
  std::uint64_t produced = 0;
  EVP_MD_CTX* in_ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(in_ctx, EVP_sha256(), nullptr);
  ByteSource src = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), kSize - produced));
    gen.fill(buf.data(), n);
    EVP_DigestUpdate(in_ctx, buf.data(), n);
    produced += n;
    return n;
  };
  auto added = v.add_document(case_id, src, "large", "large.bin");
  REQUIRE(added.ok());
  Digest expect{};
  EVP_DigestFinal_ex(in_ctx, expect.data(), nullptr);
  EVP_MD_CTX_free(in_ctx);
  CHECK(added->size == kSize);
  CHECK(added->sha256 == expect);

  EVP_MD_CTX* out_ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(out_ctx, EVP_sha256(), nullptr);
  std::uint64_t received = 0;
  auto f = v.fetch(added->id, [&](std::span<const unsigned char> b) -> Result<void> {
    EVP_DigestUpdate(out_ctx, b.data(), b.size());
    received += b.size();
    return {};
  });
  REQUIRE(f.ok());
  Digest got{};
  EVP_DigestFinal_ex(out_ctx, got.data(), nullptr);
  EVP_MD_CTX_free(out_ctx);
  CHECK(received == kSize);
  CHECK(got == expect);
}

TEST_CASE("files in and out: add_document_file and fetch_to_file", "[vault][roundtrip]") {
  TempDir t;
  Vault v = make_vault(t.path() / "v");
  auto case_id = add_case(v);
  Bytes content = prng_bytes(3 * kChunk + 5, 7);
  write_file(t.path() / "report.pdf", content);
  auto added = v.add_document_file(case_id, t.path() / "report.pdf", "Psychologist report");
  REQUIRE(added.ok());
  CHECK(added->file_name == "report.pdf");
  CHECK(added->title == "Psychologist report");
  auto out = t.path() / "out.pdf";
  auto f = v.fetch_to_file(added->id, out);
  REQUIRE(f.ok());
  CHECK(read_file(out) == content);
  CHECK((fs::status(out).permissions() & fs::perms::others_read) == fs::perms::none);
  // An existing target is never overwritten.
  auto again = v.fetch_to_file(added->id, out);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Errc::already_exists);
  CHECK(read_file(out) == content);
  // No partial files are left beside the target.
  for (auto& e : fs::directory_iterator(t.path()))
    CHECK(e.path().filename().string().find("tillid-partial") == std::string::npos);
}

TEST_CASE("cases: sealed fields round trip, lookup by id or number, duplicates refused", "[vault][cases]") {
  TempDir t;
  Vault v = make_vault(t.path() / "v");
  NewCase nc{"BH-2024-0042", "0851", "Ida Jensen", "120315-1234", "interview planned"};
  auto c = v.add_case(nc);
  REQUIRE(c.ok());
  auto by_number = v.find_case("BH-2024-0042");
  REQUIRE(by_number.ok());
  CHECK(by_number->id == c->id);
  CHECK(by_number->child_name == "Ida Jensen");
  CHECK(by_number->cpr == "120315-1234");
  CHECK(by_number->notes == "interview planned");
  CHECK(by_number->municipality == "0851");
  auto by_id = v.find_case(c->id);
  REQUIRE(by_id.ok());
  CHECK(by_id->case_number == "BH-2024-0042");
  auto dup = v.add_case(nc);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == Errc::already_exists);
  auto missing = v.find_case("nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
  auto other = add_case(v, "BH-2024-0043");
  add_bytes(v, c->id, prng_bytes(10, 1));
  add_bytes(v, other, prng_bytes(10, 2));
  add_bytes(v, other, prng_bytes(10, 3));
  auto all = v.cases();
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  CHECK(v.items(c->id)->size() == 1);
  CHECK(v.items(other)->size() == 2);
  CHECK(v.items("BH-2024-0043")->size() == 2);
  auto bad = v.add_document("no-such-case", buffer_source(Bytes{}), "t", "f");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::not_found);
}

TEST_CASE("a vault can be used from several threads at once", "[vault][threads]") {
  TempDir t;
  Vault v = make_vault(t.path() / "v");
  auto case_id = add_case(v);
  std::vector<std::thread> threads;
  std::vector<std::string> ids(4);
  std::vector<Bytes> contents(4);
  for (int i = 0; i < 4; ++i) contents[i] = prng_bytes(kChunk + 1000 * i, 100 + i);
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto r = v.add_document(case_id, buffer_source(contents[i]), "t", "f");
      if (!r.ok()) {
        ++failures;
        return;
      }
      ids[i] = r->id;
      if (!v.items().ok()) ++failures;
    });
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);
  for (int i = 0; i < 4; ++i) CHECK(fetch_bytes(v, ids[i]) == contents[i]);
  CHECK(v.verify()->clean());
}
