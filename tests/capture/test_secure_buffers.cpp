// The sodium-memory buffers that hold capture's PCM and Ogg pages (issue 10, class 7): they
// must behave like the std::vector they replaced, across growth and removal from the front.
#include <catch2/catch.hpp>

#include <cstdint>
#include <numeric>
#include <vector>

#include "tillid/secret.hpp"

using tillid::SecureArray;
using tillid::SecureBytes;

TEST_CASE("SecureBytes keeps its bytes in order across growth and removal from the front", "[capture][memory]") {
  SecureBytes buf(16);
  std::vector<unsigned char> model;
  std::uint32_t next = 0;
  // Appends of varied sizes (forcing several doublings), with front removals in between,
  // as the encoder does with its pending Ogg pages.
  for (int round = 0; round < 200; ++round) {
    std::vector<unsigned char> piece(static_cast<std::size_t>((round * 37) % 700 + 1));
    for (auto& b : piece) b = static_cast<unsigned char>(next++ * 2654435761u >> 24);
    buf.append(piece);
    model.insert(model.end(), piece.begin(), piece.end());
    if (round % 3 == 2) {
      const std::size_t n = model.size() / 2;
      buf.erase_front(n);
      model.erase(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(n));
    }
    REQUIRE(buf.size() == model.size());
    REQUIRE(std::equal(model.begin(), model.end(), buf.data()));
  }
  buf.erase_front(buf.size() + 10);  // more than held: empties it
  CHECK(buf.size() == 0);
  buf.append(std::vector<unsigned char>{1, 2, 3});
  CHECK(buf.size() == 3);
  CHECK(buf.data()[2] == 3);
}

TEST_CASE("SecureArray is a zeroed, aligned array of its element type", "[capture][memory]") {
  SecureArray<std::int16_t> pcm(4801);
  REQUIRE(pcm.size() == 4801);
  CHECK(reinterpret_cast<std::uintptr_t>(pcm.data()) % alignof(std::int16_t) == 0);
  CHECK(std::all_of(pcm.span().begin(), pcm.span().end(), [](std::int16_t s) { return s == 0; }));
  std::iota(pcm.span().begin(), pcm.span().end(), std::int16_t{-2400});
  CHECK(pcm[0] == -2400);
  CHECK(pcm[4800] == 2400);
}

TEST_CASE("wipe overwrites a string's characters, including past a shrunk size", "[capture][memory]") {
  std::string s = "Navnmarkoer Qwxz 010203-9999";
  const char* p = s.data();
  const std::size_t cap = s.capacity();
  s.resize(4);
  tillid::wipe(s);
  CHECK(s.empty());
  // The buffer is still the string's own (clear() keeps the capacity): every byte is zero.
  REQUIRE(s.data() == p);
  CHECK(std::all_of(p, p + cap, [](char c) { return c == 0; }));
}
