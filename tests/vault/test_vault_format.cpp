// The on-disk formats against committed vectors (vault/FORMAT.md §3 objects, §5 manifests):
// (a) the committed files decrypt / verify with the fixed keys to the expected plaintext and
// fields, (b) the code re-creates them byte for byte from the same fixed inputs. Plus the
// ObjectReader's behaviour on damaged objects, at chunk granularity.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "vault_vectors.hpp"

using namespace tillid;
using namespace tillid::detail;
using vectors::Bytes;
namespace fs = std::filesystem;

namespace {

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Tmp {
  fs::path path;
  Tmp() {
    std::string t = (fs::temp_directory_path() / "tillid-format-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~Tmp() { fs::remove_all(path); }
};

struct ReadOutcome {
  Bytes plaintext;
  std::vector<std::size_t> chunk_sizes;
  std::optional<Error> error;
  std::uint64_t chunks_ok = 0;
  std::uint64_t offset_ok = 0;
};

ReadOutcome read_object(const Bytes& object, const Id16& expect_id, Tmp& tmp) {
  auto p = tmp.path / "obj";
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(object.data()), object.size());
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  ReadOutcome o;
  auto r = ObjectReader::open(fd, expect_id, vectors::item_wrap_key(), "vector");
  if (!r.ok()) {
    o.error = r.error();
    ::close(fd);
    return o;
  }
  std::vector<unsigned char> buf(r->header().chunk_size);
  for (;;) {
    auto c = r->next(buf);
    if (!c.ok()) {
      o.error = c.error();
      break;
    }
    o.plaintext.insert(o.plaintext.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(c->size));
    o.chunk_sizes.push_back(c->size);
    if (c->final) break;
  }
  o.chunks_ok = r->chunks_authenticated();
  o.offset_ok = r->authenticated_offset();
  ::close(fd);
  return o;
}

}  // namespace

TEST_CASE("committed object vectors decrypt to their plaintext", "[vault][format][vectors]") {
  REQUIRE(sodium_init() >= 0);
  Tmp tmp;
  for (const auto& v : vectors::object_vectors()) {
    CAPTURE(v.name);
    Bytes committed = slurp(vectors::committed_dir() / v.name);
    auto o = read_object(committed, vectors::item_id(), tmp);
    INFO((o.error ? o.error->message : ""));
    REQUIRE_FALSE(o.error);
    CHECK(o.plaintext == v.plaintext);
    CHECK(o.chunk_sizes == v.chunk_sizes);
    // Size is fully determined by FORMAT.md §3: header + per chunk (4 + len + 17).
    std::size_t expect = kObjectHeaderBytes;
    for (auto s : v.chunk_sizes) expect += 4 + s + 17;
    CHECK(committed.size() == expect);
  }
}

TEST_CASE("object vectors are reproduced byte for byte from the fixed inputs", "[vault][format][vectors]") {
  REQUIRE(sodium_init() >= 0);
  Tmp tmp;
  for (const auto& v : vectors::object_vectors()) {
    CAPTURE(v.name);
    vectors::write_object(v, tmp.path / v.name);
    CHECK(slurp(tmp.path / v.name) == slurp(vectors::committed_dir() / v.name));
  }
}

TEST_CASE("committed manifest vector: encoding and Ed25519 signature", "[vault][format][vectors]") {
  REQUIRE(sodium_init() >= 0);
  auto m = vectors::manifest();
  Bytes enc = encode_manifest(m);
  Bytes committed = slurp(vectors::committed_dir() / "manifest-v1.bin");
  CHECK(enc == committed);
  // Spot-check the layout against FORMAT.md §5.1.
  REQUIRE(committed.size() == 19 + 16 + 16 + 1 + 8 + 32 + 8 + 4 + m.creator.size());
  CHECK(std::string(committed.begin(), committed.begin() + 18) == "tillid.manifest.v1");
  CHECK(committed[18] == 0);
  CHECK(committed[19 + 32] == 2);  // recording
  CHECK(committed[19 + 33] == 0x08);  // size, little-endian
  Bytes sig = slurp(vectors::committed_dir() / "manifest-v1.sig");
  auto resign = sign_manifest(vectors::signing_secret_key(), m);
  CHECK(Bytes(resign.begin(), resign.end()) == sig);
  PublicKey pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), vectors::signing_secret_key().data());
  CHECK(verify_manifest(pk, m, sig));
  auto altered = m;
  altered.size += 1;
  CHECK_FALSE(verify_manifest(pk, altered, sig));
  altered = m;
  altered.creator = "staff:bob";
  CHECK_FALSE(verify_manifest(pk, altered, sig));
}

TEST_CASE("ObjectReader stops exactly where authentication stops", "[vault][format]") {
  REQUIRE(sodium_init() >= 0);
  Tmp tmp;
  const auto v = vectors::object_vectors()[0];  // chunks 16, 16, 13
  Bytes good = slurp(vectors::committed_dir() / v.name);
  const std::size_t r0 = kObjectHeaderBytes, r1 = r0 + 4 + 16 + 17, r2 = r1 + 4 + 16 + 17;
  REQUIRE(good.size() == r2 + 4 + 13 + 17);

  SECTION("wrong expected item id: object belongs to another item") {
    auto other = vectors::item_id();
    other[0] ^= 1;
    auto o = read_object(good, other, tmp);
    REQUIRE(o.error);
    CHECK(o.error->message.find("belongs to another item") != std::string::npos);
  }
  SECTION("item id in the header rewritten to match: the key wrap catches it") {
    Bytes x = good;
    x[16] ^= 1;
    auto id = vectors::item_id();
    id[0] ^= 1;
    auto o = read_object(x, id, tmp);
    REQUIRE(o.error);
    CHECK(o.error->message.find("header altered") != std::string::npos);
  }
  SECTION("bad magic and unknown version") {
    Bytes x = good;
    x[0] = 'X';
    CHECK(read_object(x, vectors::item_id(), tmp).error->message.find("magic") != std::string::npos);
    x = good;
    x[8] = 2;
    CHECK(read_object(x, vectors::item_id(), tmp).error->code == Errc::unsupported);
  }
  SECTION("a damaged second chunk: the first is delivered, then it stops") {
    Bytes x = good;
    x[r1 + 10] ^= 0x80;
    auto o = read_object(x, vectors::item_id(), tmp);
    REQUIRE(o.error);
    CHECK(o.error->message.find("chunk 1 (at byte " + std::to_string(r1) + ") failed authentication") !=
          std::string::npos);
    CHECK(o.chunks_ok == 1);
    CHECK(o.offset_ok == r1);
    CHECK(o.plaintext == Bytes(v.plaintext.begin(), v.plaintext.begin() + 16));
  }
  SECTION("chunks 0 and 1 swapped") {
    Bytes x = good;
    std::swap_ranges(x.begin() + r0, x.begin() + r1, x.begin() + r1);
    auto o = read_object(x, vectors::item_id(), tmp);
    REQUIRE(o.error);
    CHECK(o.chunks_ok == 0);
  }
  SECTION("final chunk missing: truncation") {
    Bytes x(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(r2));
    auto o = read_object(x, vectors::item_id(), tmp);
    REQUIRE(o.error);
    CHECK(o.error->message.find("without the final chunk") != std::string::npos);
    CHECK(o.chunks_ok == 2);
  }
  SECTION("an oversized length prefix is refused before reading it") {
    Bytes x = good;
    x[r0 + 3] = 0x7f;
    auto o = read_object(x, vectors::item_id(), tmp);
    REQUIRE(o.error);
    CHECK(o.error->message.find("invalid length") != std::string::npos);
  }
  SECTION("trailing bytes after the final chunk") {
    Bytes x = good;
    x.push_back(0);
    auto o = read_object(x, vectors::item_id(), tmp);
    REQUIRE(o.error);
    CHECK(o.error->message.find("after its final chunk") != std::string::npos);
  }
}
