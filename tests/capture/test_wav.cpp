// WAV parser: valid variants decode, and every malformed or truncated file gets a clear error.
#include <cstring>

#include "capture_support.hpp"
#include "tillid/capture_wav.hpp"

using namespace captest;
using tillid::Errc;

namespace {

void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put4(std::vector<std::uint8_t>& b, const char* id) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(id[i]));
}

struct WavSpec {
  std::uint16_t tag = 1;
  std::uint16_t channels = 1;
  std::uint32_t rate = 48000;
  std::uint16_t bits = 16;
  std::optional<std::uint16_t> block_align;
  std::vector<std::uint8_t> data = std::vector<std::uint8_t>(96, 0);
  std::optional<std::uint32_t> data_size;
  bool list_chunk_first = false;
  bool extensible = false;
};

std::vector<std::uint8_t> build(const WavSpec& s) {
  std::vector<std::uint8_t> b;
  put4(b, "RIFF");
  put32(b, 0);  // patched below
  put4(b, "WAVE");
  if (s.list_chunk_first) {
    put4(b, "LIST");
    put32(b, 5);  // odd size: a pad byte follows
    b.insert(b.end(), {'I', 'N', 'F', 'O', 'x', 0});
  }
  put4(b, "fmt ");
  put32(b, s.extensible ? 40 : 16);
  put16(b, s.extensible ? 0xFFFE : s.tag);
  put16(b, s.channels);
  put32(b, s.rate);
  const std::uint16_t align = s.block_align.value_or(static_cast<std::uint16_t>(s.channels * s.bits / 8));
  put32(b, s.rate * align);
  put16(b, align);
  put16(b, s.bits);
  if (s.extensible) {
    put16(b, 22);
    put16(b, s.bits);
    put32(b, 0);
    put16(b, s.tag);
    b.insert(b.end(), {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71});
  }
  put4(b, "data");
  put32(b, s.data_size.value_or(static_cast<std::uint32_t>(s.data.size())));
  b.insert(b.end(), s.data.begin(), s.data.end());
  const auto riff = static_cast<std::uint32_t>(b.size() - 8);
  std::memcpy(&b[4], &riff, 4);
  return b;
}

tillid::Result<WavLayout> parse(const std::vector<std::uint8_t>& b) { return parse_wav_header(b, b.size()); }

}  // namespace

TEST_CASE("WAV parser accepts the common variants", "[capture][wav]") {
  SECTION("16-bit mono with a LIST chunk before fmt") {
    WavSpec s;
    s.list_chunk_first = true;
    auto r = parse(build(s));
    REQUIRE(r.ok());
    CHECK(r->format.rate == 48000);
    CHECK(r->format.channels == 1);
    CHECK(r->encoding == SampleEncoding::s16);
    CHECK(r->data_bytes == 96);
  }
  SECTION("24-bit stereo 44.1 kHz") {
    WavSpec s;
    s.channels = 2;
    s.rate = 44100;
    s.bits = 24;
    auto r = parse(build(s));
    REQUIRE(r.ok());
    CHECK(r->encoding == SampleEncoding::s24);
    CHECK(r->block_align == 6);
  }
  SECTION("32-bit float and extensible PCM") {
    WavSpec f;
    f.tag = 3;
    f.bits = 32;
    auto r = parse(build(f));
    REQUIRE(r.ok());
    CHECK(r->encoding == SampleEncoding::f32);
    WavSpec e;
    e.extensible = true;
    auto r2 = parse(build(e));
    REQUIRE(r2.ok());
    CHECK(r2->encoding == SampleEncoding::s16);
  }
  SECTION("a streaming writer's 0xFFFFFFFF data size means: to the end of the file") {
    WavSpec s;
    s.data_size = 0xFFFFFFFFu;
    s.data.resize(101);  // an odd trailing byte is not a whole frame
    auto r = parse(build(s));
    REQUIRE(r.ok());
    CHECK(r->data_bytes == 100);
  }
}

TEST_CASE("WAV sample conversion to 16-bit", "[capture][wav]") {
  std::int16_t out[4];
  const std::uint8_t s24[] = {0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F};  // min, max
  REQUIRE(convert_to_s16(SampleEncoding::s24, s24, out) == 2);
  CHECK(out[0] == -32768);
  CHECK(out[1] == 32767);
  float f[] = {1.5f, -1.0f, 0.5f, std::nanf("")};
  REQUIRE(convert_to_s16(SampleEncoding::f32, {reinterpret_cast<const std::uint8_t*>(f), sizeof f}, out) == 4);
  CHECK(out[0] == 32767);  // clamped, not wrapped
  CHECK(out[1] == -32768);
  CHECK(out[2] == 16384);
  CHECK(out[3] == 0);
  const std::uint8_t u8[] = {0, 128, 255};
  REQUIRE(convert_to_s16(SampleEncoding::u8, u8, out) == 3);
  CHECK(out[0] == -32768);
  CHECK(out[1] == 0);
}

TEST_CASE("WAV parser rejects malformed and truncated files with clear errors", "[capture][wav]") {
  struct Case {
    const char* name;
    std::vector<std::uint8_t> bytes;
    Errc code;
    const char* says;
  };
  const auto good = build(WavSpec{});
  auto with = [](auto f) {
    WavSpec s;
    f(s);
    return build(s);
  };
  auto mutate = [&](std::size_t at, const char* four) {
    auto b = good;
    std::memcpy(&b[at], four, 4);
    return b;
  };
  std::vector<Case> cases = {
      {"empty", {}, Errc::corrupt, "truncated"},
      {"only RIFF", {'R', 'I', 'F', 'F'}, Errc::corrupt, "shorter than a RIFF header"},
      {"not RIFF", mutate(0, "JUNK"), Errc::corrupt, "does not start with \"RIFF\""},
      {"RF64", mutate(0, "RF64"), Errc::unsupported, "RF64"},
      {"not WAVE", mutate(8, "AVI "), Errc::corrupt, "not \"WAVE\""},
      {"cut in fmt", std::vector<std::uint8_t>(good.begin(), good.begin() + 30), Errc::corrupt, "runs past the end"},
      {"cut before data", std::vector<std::uint8_t>(good.begin(), good.begin() + 36), Errc::corrupt, "no \"data\" chunk"},
      {"no fmt", mutate(12, "abcd"), Errc::corrupt, "before the \"fmt \" chunk"},
      {"data cut short", std::vector<std::uint8_t>(good.begin(), good.end() - 10), Errc::corrupt, "declares 96 bytes but only 86"},
      {"fmt too small", [&] { auto b = good; b[16] = 8; return b; }(), Errc::corrupt, "needs 16"},
      {"huge fmt size", [&] { auto b = good; b[19] = 0x7F; return b; }(), Errc::corrupt, "runs past the end"},
      {"ADPCM", with([](WavSpec& s) { s.tag = 2; }), Errc::unsupported, "format tag 2"},
      {"6 channels", with([](WavSpec& s) { s.channels = 6; }), Errc::unsupported, "6 channels"},
      {"0 channels", with([](WavSpec& s) { s.channels = 0; }), Errc::unsupported, "0 channels"},
      {"rate 0", with([](WavSpec& s) { s.rate = 0; }), Errc::unsupported, "sample rate 0"},
      {"12-bit", with([](WavSpec& s) { s.bits = 12; }), Errc::unsupported, "12-bit"},
      {"64-bit float", with([](WavSpec& s) { s.tag = 3; s.bits = 64; }), Errc::unsupported, "float"},
      {"bad block align", with([](WavSpec& s) { s.block_align = 3; }), Errc::corrupt, "block align 3"},
      {"two fmt chunks", [&] {
         auto b = good;
         std::vector<std::uint8_t> fmt(b.begin() + 12, b.begin() + 36);
         b.insert(b.begin() + 36, fmt.begin(), fmt.end());
         return b;
       }(), Errc::corrupt, "two \"fmt \" chunks"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto r = parse(c.bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == c.code);
    CHECK_THAT(r.error().message, Catch::Contains(c.says));
    CHECK_THAT(r.error().message, Catch::Contains("sox"));  // says what to do
  }
}

TEST_CASE("open_wav names the file and the problem", "[capture][wav]") {
  TempDir dir;
  auto missing = open_wav(dir / "nope.wav");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
  CHECK_THAT(missing.error().message, Catch::Contains("nope.wav"));

  const auto bytes = build(WavSpec{});
  write_file(dir / "cut.wav", bytes.data(), bytes.size() - 20);
  auto cut = open_wav(dir / "cut.wav");
  REQUIRE_FALSE(cut.ok());
  CHECK_THAT(cut.error().message, Catch::Contains("cut.wav") && Catch::Contains("truncated"));

  auto dirsrc = open_wav(dir.path);
  REQUIRE_FALSE(dirsrc.ok());
}

TEST_CASE("WAV source reads 24-bit stereo through sox-made files", "[capture][wav]") {
  require_tool("sox");
  TempDir dir;
  run_ok("sox -n -r 44100 -c 2 -b 24 " + quote(dir / "t24.wav") + " synth 0.5 sine 1000 vol 0.5");
  run_ok("sox -n -r 16000 -c 1 -e floating-point -b 32 " + quote(dir / "tf.wav") + " synth 0.25 sine 300 vol 0.5");
  const Pcm a = read_wav(dir / "t24.wav");
  CHECK(a.format.rate == 44100);
  CHECK(a.format.channels == 2);
  CHECK(a.frames() == 22050);
  CHECK(rms_dbfs(a) == Approx(-9.03).margin(0.3));  // 0.5 amplitude sine: -6 dB peak, -9 dB RMS
  const Pcm f = read_wav(dir / "tf.wav");
  CHECK(f.format.rate == 16000);
  CHECK(f.frames() == 4000);
  CHECK(rms_dbfs(f) == Approx(-9.03).margin(0.3));
}
