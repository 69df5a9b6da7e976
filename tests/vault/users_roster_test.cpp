// The users roster encoding (FORMAT.md §8.1) against its committed vector, and its strict
// decoder: every way of making bytes that are not exactly one roster's encoding is refused.
// The vector's inputs are below and in tests/vectors/vault/README.md; to rewrite the files
// after a deliberate format change, run this program with TILLID_WRITE_ROSTER_VECTORS=<dir>.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "users_roster.hpp"

using namespace tillid;
using namespace tillid::detail;

namespace {

using Bytes = std::vector<unsigned char>;

Id16 vault_id() {
  Id16 id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<unsigned char>(0x10 + i);
  return id;
}

Roster roster() {
  Roster r;
  r.version = 7;
  r.users = {
      User{"anne.admin", Role::admin, 0u, "", 1735689600, false},
      User{"bo", Role::staff, 61001u, "", 1735689601, true},
      User{"cw-0101", Role::caseworker, std::nullopt, "0101", 1735689602, false},
      User{"zoe_audit", Role::auditor, 61002u, "", 1735689603, false},
  };
  return r;
}

struct Keys {
  PublicKey pk{};
  Secret sk = Secret(crypto_sign_SECRETKEYBYTES);
  Keys() {
    REQUIRE(sodium_init() >= 0);
    unsigned char seed[crypto_sign_SEEDBYTES];
    for (std::size_t i = 0; i < sizeof seed; ++i) seed[i] = static_cast<unsigned char>(0x80 + i);
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed);
  }
};

std::filesystem::path vectors_dir() { return std::filesystem::path(TILLID_SOURCE_DIR) / "tests/vectors/vault"; }

Bytes slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  INFO(p.string());
  REQUIRE(in);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void spit(const std::filesystem::path& p, std::span<const unsigned char> b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

bool same_users(const std::vector<User>& a, const std::vector<User>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].role != b[i].role || a[i].uid != b[i].uid ||
        a[i].municipality != b[i].municipality || a[i].created_unix != b[i].created_unix ||
        a[i].revoked != b[i].revoked)
      return false;
  return true;
}

// The offset of user `name`'s name field's length prefix in an encoding.
std::size_t offset_of(const Bytes& enc, const std::string& name) {
  auto at = std::search(enc.begin(), enc.end(), name.begin(), name.end());
  REQUIRE(at != enc.end());
  return static_cast<std::size_t>(at - enc.begin()) - 4;
}

void require_refused(const Bytes& bytes) {
  auto r = decode_roster(vault_id(), bytes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::corrupt);
}

}  // namespace

TEST_CASE("users roster vector: encoding and Ed25519 signature (FORMAT.md §8.1, §8.3)", "[users][format][vectors]") {
  Keys k;
  const Bytes enc = encode_roster(vault_id(), roster());
  const auto sig = sign_roster(k.sk, enc);
  if (const char* out = std::getenv("TILLID_WRITE_ROSTER_VECTORS")) {
    spit(std::filesystem::path(out) / "roster-v1.bin", enc);
    spit(std::filesystem::path(out) / "roster-v1.sig", sig);
  }
  CHECK(enc == slurp(vectors_dir() / "roster-v1.bin"));
  const Bytes committed_sig = slurp(vectors_dir() / "roster-v1.sig");
  CHECK(Bytes(sig.begin(), sig.end()) == committed_sig);
  CHECK(verify_roster(k.pk, enc, committed_sig));
  // The layout, spelled out once: tag, vault id, version, count, then the first user.
  const std::string tag = "tillid.roster.v1";
  REQUIRE(enc.size() > 17 + 16 + 8 + 4);
  CHECK(std::string(enc.begin(), enc.begin() + 16) == tag);
  CHECK(enc[16] == 0);
  const Id16 id = vault_id();
  CHECK(Bytes(enc.begin() + 17, enc.begin() + 33) == Bytes(id.begin(), id.end()));
  CHECK(get_u64le(enc.data() + 33) == 7);
  CHECK(get_u32le(enc.data() + 41) == 4);
  CHECK(get_u32le(enc.data() + 45) == 10);  // "anne.admin"

  auto back = decode_roster(vault_id(), enc);
  REQUIRE(back.ok());
  CHECK(back->version == 7);
  CHECK(same_users(back->users, roster().users));
}

TEST_CASE("users roster: every byte is under the signature", "[users][format]") {
  Keys k;
  const Bytes enc = encode_roster(vault_id(), roster());
  const auto sig = sign_roster(k.sk, enc);
  for (std::size_t i = 0; i < enc.size(); ++i) {
    Bytes e = enc;
    e[i] ^= 0x01;
    INFO("byte " << i);
    CHECK_FALSE(verify_roster(k.pk, e, sig));
  }
  CHECK_FALSE(verify_roster(k.pk, Bytes(enc.begin(), enc.end() - 1), sig));
  CHECK_FALSE(verify_roster(k.pk, enc, std::span<const unsigned char>(sig.data(), sig.size() - 1)));
}

TEST_CASE("users roster: the decoder takes exactly one encoding per roster", "[users][format]") {
  const Bytes enc = encode_roster(vault_id(), roster());
  REQUIRE(decode_roster(vault_id(), enc).ok());

  SECTION("another vault's id") {
    Id16 other = vault_id();
    other[0] ^= 0xff;
    auto r = decode_roster(other, enc);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("another vault") != std::string::npos);
  }
  SECTION("trailing bytes, and every truncation") {
    Bytes longer = enc;
    longer.push_back(0);
    require_refused(longer);
    for (std::size_t n = 0; n < enc.size(); ++n) {
      INFO("first " << n << " bytes");
      require_refused(Bytes(enc.begin(), enc.begin() + static_cast<std::ptrdiff_t>(n)));
    }
  }
  SECTION("a wrong tag") {
    Bytes e = enc;
    e[15] = '2';  // "tillid.roster.v2"
    require_refused(e);
  }
  SECTION("version 0, a huge count") {
    Bytes e = enc;
    std::fill(e.begin() + 33, e.begin() + 41, 0);
    require_refused(e);
    e = enc;
    e[41] = 0xff, e[42] = 0xff, e[43] = 0xff, e[44] = 0xff;
    require_refused(e);
  }
  SECTION("fields outside their rules") {
    const std::size_t bo = offset_of(enc, "bo");
    const std::size_t role = bo + 4 + 2;
    const std::size_t revoked = role + 1 + 4 + 4 + 8;
    REQUIRE(enc[revoked] == 1);
    for (unsigned char bad : {0, 5, 0xff}) {
      Bytes e = enc;
      e[role] = bad;
      require_refused(e);
    }
    Bytes e = enc;
    e[revoked] = 2;
    require_refused(e);
    e = enc;
    e[bo + 4] = 'B';  // a capital letter in a name
    require_refused(e);
    e = enc;
    e[role] = 3;  // staff -> caseworker without a municipality
    require_refused(e);
  }
  SECTION("names out of order or repeated") {
    Roster r = roster();
    std::swap(r.users[0], r.users[1]);
    require_refused(encode_roster(vault_id(), r));
    r = roster();
    r.users[1].name = r.users[0].name;
    require_refused(encode_roster(vault_id(), r));
  }
  SECTION("a municipality on someone who is not a caseworker") {
    Roster r = roster();
    r.users[3].municipality = "0101";
    require_refused(encode_roster(vault_id(), r));
  }
}

TEST_CASE("users roster: versions in log details round-trip", "[users][format]") {
  const User u{"roster", Role::staff, 1u, "", 0, false};  // a name that is the key word itself
  const std::string d = user_event_details(u, 42);
  CHECK(d == "user roster role staff roster 42");
  CHECK(roster_version_in_details(d) == 42u);
  CHECK(roster_version_in_details("vault format 1, manifest v3, roster 1") == 1u);
  CHECK_FALSE(roster_version_in_details("vault format 1, manifest v3").has_value());
  CHECK_FALSE(roster_version_in_details("roster ").has_value());
  CHECK_FALSE(roster_version_in_details("roster 12x").has_value());
  CHECK_FALSE(roster_version_in_details("roster 99999999999999999999").has_value());
}
