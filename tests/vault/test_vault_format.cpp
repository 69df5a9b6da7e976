// The on-disk formats against committed vectors (vault/FORMAT.md §3 objects, §5 manifests):
// (a) the committed files decrypt / verify with the fixed keys to the expected plaintext and
// fields, (b) the code re-creates them byte for byte from the same fixed inputs. Plus the
// ObjectReader's behaviour on damaged objects, at chunk granularity.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>

#include "export_format.hpp"
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
  // Version 1 is only read now, by the v3 upgrade's check (FORMAT.md §5.5).
  CHECK(verify_manifest(pk, m, sig, /*allow_legacy=*/true));
  CHECK_FALSE(verify_manifest(pk, m, sig));
  auto altered = m;
  altered.size += 1;
  CHECK_FALSE(verify_manifest(pk, altered, sig, true));
  altered = m;
  altered.creator = "staff:bob";
  CHECK_FALSE(verify_manifest(pk, altered, sig, true));
}

TEST_CASE("committed manifest v3 vector: encoding, decoding and signature over every field", "[vault][format][vectors]") {
  REQUIRE(sodium_init() >= 0);
  const auto m = vectors::manifest_v3();
  const Bytes enc = encode_manifest(m);
  const Bytes committed = slurp(vectors::committed_dir() / "manifest-v3.bin");
  CHECK(enc == committed);
  // FORMAT.md §5.1 layout: prefix, creator, case number, municipality, three sealed-field
  // digests with the interviewer flag, then the recording tail.
  REQUIRE(committed.size() == 19 + 16 + 16 + 1 + 8 + 32 + 8 + 4 + m.creator.size() + 4 + m.case_number.size() + 4 +
                                  m.municipality.size() + 32 + 32 + 1 + 32 + 8 + 1 + 8 + 32);
  CHECK(std::string(committed.begin(), committed.begin() + 19) == std::string("tillid.manifest.v3\0", 19));
  const std::size_t at_case = 19 + 16 + 16 + 1 + 8 + 32 + 8 + 4 + m.creator.size();
  CHECK(committed[at_case] == m.case_number.size());
  CHECK(std::string(committed.begin() + at_case + 4, committed.begin() + at_case + 4 + 12) == "BH-2025-0042");
  const Bytes sig = slurp(vectors::committed_dir() / "manifest-v3.sig");
  const auto resign = sign_manifest(vectors::signing_secret_key(), m);
  CHECK(Bytes(resign.begin(), resign.end()) == sig);
  PublicKey pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), vectors::signing_secret_key().data());
  CHECK(verify_manifest(pk, m, sig));
  auto decoded = tillid::exportfmt::decode_manifest(committed);
  REQUIRE(decoded.ok());
  CHECK(encode_manifest(*decoded) == committed);
  CHECK(decoded->case_number == m.case_number);
  CHECK(decoded->municipality == m.municipality);
  CHECK(decoded->interviewer_sealed_sha256 == m.interviewer_sealed_sha256);
  // Every fact a court relies on is under the signature (issue 10, class 2).
  std::vector<std::pair<const char*, std::function<void(Manifest&)>>> edits{
      {"case number", [](Manifest& x) { x.case_number = "BH-2025-0043"; }},
      {"municipality", [](Manifest& x) { x.municipality = "0147"; }},
      {"case id", [](Manifest& x) { x.case_id[0] ^= 1; }},
      {"title", [](Manifest& x) { x.title_sealed_sha256[5] ^= 1; }},
      {"file name", [](Manifest& x) { x.file_name_sealed_sha256[5] ^= 1; }},
      {"interviewer removed", [](Manifest& x) { x.has_interviewer = false; }},
      {"interviewer", [](Manifest& x) { x.interviewer_sealed_sha256[0] ^= 1; }},
      {"kind", [](Manifest& x) { x.kind = tillid::ItemKind::document; }},
      {"creator", [](Manifest& x) { x.creator = "staff:bob"; }},
      {"time", [](Manifest& x) { x.created_unix += 1; }},
      {"duration", [](Manifest& x) { x.duration_ms += 1; }},
      {"interrupted", [](Manifest& x) { x.interrupted = false; }},
      {"bookmarks", [](Manifest& x) { x.bookmarks_sha256[31] ^= 1; }},
  };
  for (const auto& [what, edit] : edits) {
    CAPTURE(what);
    auto altered = m;
    edit(altered);
    CHECK_FALSE(verify_manifest(pk, altered, sig));
  }
  // A truncated or extended encoding never decodes.
  for (std::size_t cut : {std::size_t{1}, std::size_t{33}, committed.size() - 60}) {
    CAPTURE(cut);
    CHECK_FALSE(tillid::exportfmt::decode_manifest(std::span(committed).first(committed.size() - cut)).ok());
  }
  Bytes longer = committed;
  longer.push_back(0);
  CHECK_FALSE(tillid::exportfmt::decode_manifest(longer).ok());
}

TEST_CASE("committed case manifest vector: encoding and signature over every field", "[vault][format][vectors]") {
  REQUIRE(sodium_init() >= 0);
  const auto c = vectors::case_manifest();
  const Bytes committed = slurp(vectors::committed_dir() / "case-v1.bin");
  CHECK(encode_case_manifest(c) == committed);
  REQUIRE(committed.size() == 15 + 16 + 4 + c.case_number.size() + 4 + c.municipality.size() + 8 + 4 +
                                  c.creator.size() + 3 * 32);
  CHECK(std::string(committed.begin(), committed.begin() + 15) == std::string("tillid.case.v1\0", 15));
  const Bytes sig = slurp(vectors::committed_dir() / "case-v1.sig");
  const auto resign = sign_case_manifest(vectors::signing_secret_key(), c);
  CHECK(Bytes(resign.begin(), resign.end()) == sig);
  PublicKey pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), vectors::signing_secret_key().data());
  CHECK(verify_case_manifest(pk, c, sig));
  std::vector<std::pair<const char*, std::function<void(CaseManifest&)>>> edits{
      {"case id", [](CaseManifest& x) { x.case_id[15] ^= 1; }},
      {"case number", [](CaseManifest& x) { x.case_number = "BH-2025-0043"; }},
      {"municipality", [](CaseManifest& x) { x.municipality = "0147"; }},
      {"created", [](CaseManifest& x) { x.created_unix -= 1; }},
      {"creator", [](CaseManifest& x) { x.creator = "staff:bob"; }},
      {"child name", [](CaseManifest& x) { x.child_name_sealed_sha256[0] ^= 1; }},
      {"cpr", [](CaseManifest& x) { x.cpr_sealed_sha256[0] ^= 1; }},
      {"notes", [](CaseManifest& x) { x.notes_sealed_sha256[0] ^= 1; }},
  };
  for (const auto& [what, edit] : edits) {
    CAPTURE(what);
    auto altered = c;
    edit(altered);
    CHECK_FALSE(verify_case_manifest(pk, altered, sig));
  }
  // An item manifest's signature is never a case's, nor the reverse.
  const Bytes item_sig = slurp(vectors::committed_dir() / "manifest-v3.sig");
  CHECK_FALSE(verify_case_manifest(pk, c, item_sig));
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

