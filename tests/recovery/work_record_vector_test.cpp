// Fixed vector for the work record (FORMAT.md §6.1): its encoding and its MAC under subkey 4.
// The expected bytes were computed independently of this code (Python: hashlib.blake2b with
// key/salt/person for crypto_kdf_derive_from_key, HMAC-SHA-512 truncated to 32 bytes for
// crypto_auth), so a change to the encoding, the subkey id or the MAC input fails here.
#include <catch2/catch.hpp>

#include "tillid/vault.hpp"
#include "work_record.hpp"

using namespace tillid::detail;

namespace {
template <std::size_t N>
std::array<unsigned char, N> counting(unsigned char from) {
  std::array<unsigned char, N> a{};
  for (std::size_t i = 0; i < N; ++i) a[i] = static_cast<unsigned char>(from + i);
  return a;
}
}  // namespace

TEST_CASE("the work record encoding and MAC match the fixed vector", "[recovery][vectors]") {
  REQUIRE(sodium_init() >= 0);
  const std::vector<unsigned char> title{1, 2, 3}, file_name{4, 5}, interviewer{6};
  WorkRecord w = new_work_record(WorkOp::recording, counting<16>(0x10), tillid::to_hex(counting<16>(0x20)),
                                 tillid::ItemKind::recording, 1700000000, "officer-1", title, file_name, interviewer);
  const std::vector<StoredBookmark> bookmarks{StoredBookmark{0, 1500, 1700000001, {7, 8}}};
  w.bookmark_count = 1;
  w.bookmarks_sha256 = bookmarks_digest(bookmarks);
  const auto record = encode_work_record(w);
  CHECK(record.size() == 202);
  CHECK(tillid::to_hex(record) ==
        "74696c6c69642e776f726b2e76310002101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f0200f1"
        "536500000000090000006f6666696365722d31039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81"
        "2fa1b377bf67309f65e5e7bc9d924345ca648dec4e601a398a9cb497dcba376567586e98fad27da0b9968bc039a1ef34c939b9"
        "b8e523a8bef89d478608c5ecf601000000490330846118cdffda81b72d71fcf4c596ec1af3b0cb70a69cd5c86adb85ca7d");
  tillid::Secret master(kKeyBytes);
  for (std::size_t i = 0; i < kKeyBytes; ++i) master.data()[i] = static_cast<unsigned char>(i);
  const tillid::Secret key = derive_subkey(master, Subkey::work_mac);
  CHECK(tillid::to_hex(key.bytes()) == "53c237cc230ba0c3bd0aa53afe478c7b357aeee0a4556d3f1d596231ff2ee855");
  CHECK(tillid::to_hex(work_mac(key, counting<16>(0xa0), record)) ==
        "049fd1925fc85fe12321dfeee278204f60333325b80e918b575a5713c33bc908");
  // Any other vault id gives another MAC: a record cannot be carried between vaults.
  CHECK(tillid::to_hex(work_mac(key, counting<16>(0xa1), record)) !=
        "049fd1925fc85fe12321dfeee278204f60333325b80e918b575a5713c33bc908");
}
