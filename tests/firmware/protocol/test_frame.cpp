// Frame codec (CONTROL-PROTOCOL.md §2): round trips, every byte split, and each bad header
// refused at the first byte that shows it, as a hostile local client would send them.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "tillid/control.hpp"

using namespace tillid;
using namespace tillid::control;

namespace {

using Bytes = std::vector<unsigned char>;

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes frame(FrameKind kind, const Bytes& body) {
  auto f = encode_frame(kind, body);
  REQUIRE(f.ok());
  return Bytes(f->data(), f->data() + f->size());
}

Bytes raw_header(std::uint32_t len, unsigned char kind) {
  return {static_cast<unsigned char>(len >> 24), static_cast<unsigned char>(len >> 16),
          static_cast<unsigned char>(len >> 8), static_cast<unsigned char>(len), kind};
}

struct Decoded {
  FrameKind kind;
  Bytes body;
  bool operator==(const Decoded&) const = default;
};

// Feeds `stream` in pieces of the given sizes (the last piece takes the rest) and collects frames.
Result<std::vector<Decoded>> decode_in_pieces(const Bytes& stream, const std::vector<std::size_t>& cuts) {
  FrameDecoder d;
  std::vector<Decoded> out;
  std::size_t pos = 0;
  auto run = [&](std::span<const unsigned char> piece) -> Result<void> {
    while (!piece.empty()) {
      auto used = d.feed(piece);
      if (!used) return used.error();
      piece = piece.subspan(*used);
      while (auto f = d.pop()) out.push_back({f->kind, Bytes(f->bytes().begin(), f->bytes().end())});
    }
    return {};
  };
  for (std::size_t cut : cuts) {
    TILLID_TRY(run({stream.data() + pos, cut - pos}));
    pos = cut;
  }
  TILLID_TRY(run({stream.data() + pos, stream.size() - pos}));
  if (!d.idle()) return make_error(Errc::corrupt, "truncated");
  return out;
}

Bytes big_body(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(i * 131 + 7);
  return b;
}

}  // namespace

TEST_CASE("frames: header layout is big-endian length of kind + body", "[protocol][frame]") {
  const Bytes f = frame(FrameKind::json, bytes_of("{}"));
  CHECK(f == Bytes{0, 0, 0, 3, 1, '{', '}'});
  CHECK(frame(FrameKind::end, {}) == Bytes{0, 0, 0, 1, 3});
  const Bytes max = frame(FrameKind::data, big_body(kMaxBody));
  REQUIRE(max.size() == kHeaderSize + kMaxBody);
  CHECK(Bytes(max.begin(), max.begin() + 5) == Bytes{0, 1, 0, 1, 2});  // 65537
}

TEST_CASE("frames: encode refuses what the decoder would refuse", "[protocol][frame]") {
  CHECK(encode_frame(FrameKind::data, big_body(kMaxBody + 1)).error().code == Errc::invalid_argument);
  CHECK(!encode_frame(FrameKind::data, {}).ok());
  CHECK(!encode_frame(FrameKind::json, {}).ok());
  CHECK(!encode_frame(FrameKind::file, {}).ok());
  const Bytes one{1};
  CHECK(!encode_frame(FrameKind::end, one).ok());
  CHECK(!encode_frame(static_cast<FrameKind>(6), one).ok());
  CHECK(!encode_frame(static_cast<FrameKind>(0), one).ok());
  // A file header must fit in one frame; a reply may not exceed kMaxReply.
  CHECK(encode_json_frame({{"file", std::string(kMaxBody, 'a')}}, FrameKind::file).error().code ==
        Errc::invalid_argument);
  CHECK(encode_json_frame({{"x", std::string(kMaxReply, 'a')}}).error().code == Errc::invalid_argument);
  CHECK(!encode_json_frame(nlohmann::json::object(), FrameKind::data).ok());
  CHECK(!encode_json_frame(nlohmann::json::object(), FrameKind::part).ok());
}

TEST_CASE("frames: a JSON message over 64 KiB travels as part frames and a final json frame", "[protocol][frame]") {
  for (std::size_t len : {kMaxBody - 8, kMaxBody - 7, kMaxBody - 6, 3 * kMaxBody - 7, 3 * kMaxBody + 100}) {
    // {"x":"…"} is 8 bytes around the string.
    const nlohmann::json message = {{"x", std::string(len, 'q')}};
    const std::size_t text = len + 8;
    CAPTURE(text);
    auto encoded = encode_json_frame(message);
    REQUIRE(encoded.ok());
    const std::size_t pieces = (text + kMaxBody - 1) / kMaxBody;
    CHECK(encoded->size() == text + pieces * kHeaderSize);
    FrameDecoder d;
    std::span<const unsigned char> rest = encoded->bytes();
    Bytes joined;
    std::vector<FrameKind> kinds;
    while (!rest.empty()) {
      auto used = d.feed(rest);
      REQUIRE(used.ok());
      rest = rest.subspan(*used);
      while (auto f = d.pop()) {
        kinds.push_back(f->kind);
        CHECK(f->body.size() <= kMaxBody);
        joined.insert(joined.end(), f->bytes().begin(), f->bytes().end());
      }
    }
    REQUIRE(kinds.size() == pieces);
    for (std::size_t i = 0; i + 1 < pieces; ++i) CHECK(kinds[i] == FrameKind::part);
    CHECK(kinds.back() == FrameKind::json);
    auto back = parse_json_object(joined);
    REQUIRE(back.ok());
    CHECK(*back == message);
  }
}

TEST_CASE("frames: a stream decodes the same split at every byte", "[protocol][frame]") {
  Bytes stream;
  std::vector<Decoded> expected;
  auto add = [&](FrameKind k, Bytes body) {
    const Bytes f = frame(k, body);
    stream.insert(stream.end(), f.begin(), f.end());
    expected.push_back({k, std::move(body)});
  };
  add(FrameKind::json, bytes_of(R"({"op":"doc.add","v":1})"));
  add(FrameKind::data, bytes_of("x"));
  add(FrameKind::data, big_body(300));
  add(FrameKind::end, {});
  add(FrameKind::file, bytes_of(R"({"file":"a","size":3})"));
  add(FrameKind::data, bytes_of("abc"));
  add(FrameKind::end, {});

  auto whole = decode_in_pieces(stream, {});
  REQUIRE(whole.ok());
  CHECK(*whole == expected);
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    auto two = decode_in_pieces(stream, {cut});
    REQUIRE(two.ok());
    CHECK(*two == expected);
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  auto bytewise = decode_in_pieces(stream, every);
  REQUIRE(bytewise.ok());
  CHECK(*bytewise == expected);
}

TEST_CASE("frames: the largest data frame decodes, byte by byte too", "[protocol][frame]") {
  const Bytes body = big_body(kMaxBody);
  const Bytes f = frame(FrameKind::data, body);
  FrameDecoder d;
  for (std::size_t i = 0; i < f.size(); ++i) {
    auto used = d.feed({f.data() + i, 1});
    REQUIRE(used.ok());
    REQUIRE(*used == 1);
    if (i + 1 < f.size()) REQUIRE_FALSE(d.idle());
  }
  auto got = d.pop();
  REQUIRE(got);
  CHECK(got->kind == FrameKind::data);
  CHECK(Bytes(got->bytes().begin(), got->bytes().end()) == body);
  CHECK(d.idle());
}

TEST_CASE("frames: a bad length is refused as soon as its 4 bytes arrive", "[protocol][frame]") {
  for (std::uint32_t len : {0u, std::uint32_t(kMaxFrameLength + 1), 0x7fffffffu, 0xffffffffu}) {
    CAPTURE(len);
    const Bytes h = raw_header(len, 2);
    FrameDecoder d;
    REQUIRE(d.feed({h.data(), 3}).ok());
    auto r = d.feed({h.data() + 3, 1});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find("frame length") != std::string::npos);
    CHECK(d.failed());
    // And it stays refused: nothing after a bad header is read as a frame.
    const Bytes good = frame(FrameKind::end, {});
    CHECK_FALSE(d.feed(good).ok());
    CHECK_FALSE(d.pop());
  }
}

TEST_CASE("frames: unknown kinds and wrong body sizes are refused at the kind byte", "[protocol][frame]") {
  struct Case { std::uint32_t len; unsigned char kind; };
  for (auto c : {Case{1, 0}, Case{5, 6}, Case{1, 255}, Case{2, 0x81},  // unknown kinds
                 Case{2, 3}, Case{65537, 3},                          // end with a body
                 Case{1, 2}, Case{1, 1}, Case{1, 4}, Case{1, 5}}) {   // empty data, json, file, part
    CAPTURE(c.len, int(c.kind));
    const Bytes h = raw_header(c.len, c.kind);
    FrameDecoder d;
    REQUIRE(d.feed({h.data(), 4}).ok());
    auto r = d.feed({h.data() + 4, 1});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("frames: a truncated frame is never popped and is not idle", "[protocol][frame]") {
  const Bytes f = frame(FrameKind::json, bytes_of(R"({"v":1})"));
  for (std::size_t n = 1; n < f.size(); ++n) {
    FrameDecoder d;
    auto used = d.feed({f.data(), n});
    REQUIRE(used.ok());
    CHECK(*used == n);
    CHECK_FALSE(d.pop());
    CHECK_FALSE(d.idle());
  }
  FrameDecoder fresh;
  CHECK(fresh.idle());
  CHECK_FALSE(fresh.pop());
}

TEST_CASE("frames: feed stops at the end of a frame until it is popped", "[protocol][frame]") {
  Bytes two = frame(FrameKind::data, bytes_of("ab"));
  const Bytes end = frame(FrameKind::end, {});
  two.insert(two.end(), end.begin(), end.end());
  FrameDecoder d;
  auto used = d.feed(two);
  REQUIRE(used.ok());
  CHECK(*used == 7);
  auto again = d.feed({two.data() + 7, two.size() - 7});
  REQUIRE(again.ok());
  CHECK(*again == 0);  // the first frame waits
  REQUIRE(d.pop());
  again = d.feed({two.data() + 7, two.size() - 7});
  REQUIRE(again.ok());
  CHECK(*again == 5);
  auto f = d.pop();
  REQUIRE(f);
  CHECK(f->kind == FrameKind::end);
  CHECK(f->body.size() == 0);
}

TEST_CASE("frames: JSON bodies must be one UTF-8 object of bounded depth", "[protocol][frame]") {
  auto parse = [](std::string_view s) {
    return parse_json_object({reinterpret_cast<const unsigned char*>(s.data()), s.size()});
  };
  CHECK(parse(R"({"a":[1,{"b":"c"}]})").ok());
  CHECK_FALSE(parse("[1,2]").ok());
  CHECK_FALSE(parse("\"x\"").ok());
  CHECK_FALSE(parse("{").ok());
  CHECK_FALSE(parse("{} {}").ok());
  CHECK_FALSE(parse("{\"a\":\"\xff\"}").ok());      // not UTF-8
  CHECK_FALSE(parse("{\"a\":\"\xc0\xaf\"}").ok());  // overlong
  std::string deep = "{\"a\":";
  for (int i = 0; i < kMaxJsonDepth - 1; ++i) deep += "[";  // with the outer object: exactly the limit
  deep += "1";
  for (int i = 0; i < kMaxJsonDepth - 1; ++i) deep += "]";
  deep += "}";
  CHECK(parse(deep).ok());
  std::string too_deep(kMaxJsonDepth + 1, '[');
  too_deep = "{\"a\":" + too_deep + std::string(kMaxJsonDepth + 1, ']') + "}";
  auto r = parse(too_deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("deeper") != std::string::npos);
  // Brackets inside strings are text, escaped quotes included.
  std::string in_string = "{\"a\":\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\"}";
  CHECK(parse(in_string).ok());
  // 100 000 opening brackets: refused by the depth count, not by the stack.
  CHECK_FALSE(parse("{\"a\":" + std::string(100000, '[')).ok());
}
