// Recorder behaviour: chunk boundaries, alarms raising and clearing, the live ring buffer
// absorbing a slow sink, stop() from another thread, sink failures and bad settings.
#include <cstring>
#include <thread>

#include "capture_support.hpp"

using namespace captest;
using namespace std::chrono_literals;
using tillid::Errc;

namespace {

// Plays several sources one after the other (all must share a format).
class Sequence final : public AudioSource {
 public:
  explicit Sequence(std::vector<std::unique_ptr<AudioSource>> parts) : parts_(std::move(parts)) {}
  AudioFormat format() const override { return parts_.front()->format(); }
  tillid::Result<std::size_t> read(std::span<std::int16_t> out) override {
    while (next_ < parts_.size()) {
      auto n = parts_[next_]->read(out);
      if (!n || *n > 0) return n;
      ++next_;
    }
    return std::size_t{0};
  }

 private:
  std::vector<std::unique_ptr<AudioSource>> parts_;
  std::size_t next_ = 0;
};

std::unique_ptr<AudioSource> tone(double amplitude, std::chrono::milliseconds d, bool square = false,
                                  double hz = 440.0) {
  ToneOptions o;
  o.frequency = hz;
  o.amplitude = amplitude;
  o.square = square;
  o.duration = d;
  return make_tone(o);
}

// Walks the Ogg pages of a chunk; returns false unless it is a whole number of pages.
bool whole_pages(std::span<const std::uint8_t> b, int* pages) {
  std::size_t pos = 0;
  *pages = 0;
  while (pos < b.size()) {
    if (b.size() - pos < 27 || std::memcmp(&b[pos], "OggS", 4) != 0) return false;
    const std::size_t segs = b[pos + 26];
    if (b.size() - pos < 27 + segs) return false;
    std::size_t body = 0;
    for (std::size_t i = 0; i < segs; ++i) body += b[pos + 27 + i];
    pos += 27 + segs + body;
    ++*pages;
  }
  return pos == b.size();
}

}  // namespace

TEST_CASE("chunks are whole Ogg pages of at most one second", "[capture][chunks]") {
  for (int channels : {1, 2}) {
    INFO("channels " << channels);
    ToneOptions o;
    o.duration = 5500ms;
    o.format.channels = channels;
    o.format.rate = 44100;  // resampled inside libopusenc
    Collected out;
    Recorder rec(make_tone(o), out.sink());
    auto done = rec.run();
    REQUIRE(done.ok());
    REQUIRE(out.chunks.size() >= 7);  // headers, 5 whole seconds, the rest with EOS
    CHECK(out.chunks[0].index == 0);
    CHECK(out.chunks[0].end == AudioTime(0));
    for (std::size_t i = 0; i < out.chunks.size(); ++i) {
      INFO("chunk " << i);
      const Chunk& c = out.chunks[i];
      const auto& bytes = out.copies[i];
      int pages = 0;
      CHECK(c.index == i);
      CHECK(std::memcmp(bytes.data(), "OggS", 4) == 0);
      CHECK(whole_pages(bytes, &pages));
      CHECK(c.end - c.begin <= AudioTime(48000));
      CHECK(c.last == (i + 1 == out.chunks.size()));
      if (i > 0) CHECK(c.begin == out.chunks[i - 1].end);
    }
    CHECK(out.chunks.back().end == AudioTime(5500 * 48));  // exact, pre-skip accounted for
    CHECK(done->encoded == out.chunks.back().end);
    CHECK(done->bytes_emitted == out.bytes.size());
    CHECK(done->chunks_emitted == out.chunks.size());
    // 32 kb/s per channel: 5.5 s is about 22 kB per channel, plus headers.
    CHECK(out.bytes.size() == Approx(5.5 * 4000 * channels).epsilon(0.35));
  }
}

TEST_CASE("silence alarm raises after the set time and clears when sound returns", "[capture][alarms]") {
  std::vector<std::unique_ptr<AudioSource>> parts;
  parts.push_back(tone(0.3, 2000ms));
  parts.push_back(tone(0.0, 3000ms, false, 0.0));  // dead microphone
  parts.push_back(tone(0.3, 2000ms));
  std::vector<AlarmEvent> events;
  RecorderSettings s;
  s.monitor.silence_after = 2000ms;
  s.on_alarm = [&](const AlarmEvent& e) { events.push_back(e); };
  Collected out;
  Recorder rec(std::make_unique<Sequence>(std::move(parts)), out.sink(), s);
  auto done = rec.run();
  REQUIRE(done.ok());
  REQUIRE(events.size() == 2);
  CHECK(events[0].alarm == Alarm::silence);
  CHECK(events[0].raised);
  CHECK(seconds(events[0].at) == Approx(4.0).margin(0.001));  // 2 s into the silence
  CHECK(events[1].alarm == Alarm::silence);
  CHECK_FALSE(events[1].raised);
  CHECK(seconds(events[1].at) == Approx(5.1).margin(0.001));  // first block with sound
  CHECK_FALSE(done->silence);
  CHECK(done->level.rms_dbfs[0] == Approx(-13.5).margin(0.3));  // 0.3 sine
}

TEST_CASE("a short pause does not raise the silence alarm", "[capture][alarms]") {
  std::vector<std::unique_ptr<AudioSource>> parts;
  parts.push_back(tone(0.3, 1000ms));
  parts.push_back(tone(0.0, 1500ms, false, 0.0));
  parts.push_back(tone(0.3, 1000ms));
  int alarms = 0;
  RecorderSettings s;
  s.monitor.silence_after = 2000ms;
  s.on_alarm = [&](const AlarmEvent&) { ++alarms; };
  Collected out;
  Recorder rec(std::make_unique<Sequence>(std::move(parts)), out.sink(), s);
  REQUIRE(rec.run().ok());
  CHECK(alarms == 0);
}

TEST_CASE("clipping alarm raises on overdriven input and clears afterwards", "[capture][alarms]") {
  for (bool square : {true, false}) {
    INFO((square ? "full-scale square" : "overdriven sine"));
    std::vector<std::unique_ptr<AudioSource>> parts;
    parts.push_back(tone(0.3, 1000ms));
    parts.push_back(tone(4.0, 2000ms, square));
    parts.push_back(tone(0.3, 3000ms));
    std::vector<AlarmEvent> events;
    RecorderSettings s;
    s.on_alarm = [&](const AlarmEvent& e) { events.push_back(e); };
    Collected out;
    Recorder rec(std::make_unique<Sequence>(std::move(parts)), out.sink(), s);
    auto done = rec.run();
    REQUIRE(done.ok());
    REQUIRE(events.size() == 2);
    CHECK(events[0].alarm == Alarm::clipping);
    CHECK(events[0].raised);
    CHECK(seconds(events[0].at) == Approx(1.1).margin(0.001));
    CHECK(events[1].alarm == Alarm::clipping);
    CHECK_FALSE(events[1].raised);
    CHECK(seconds(events[1].at) == Approx(4.0).margin(0.101));  // when the 1 s window is clean
    CHECK_FALSE(done->clipping);
  }
}

TEST_CASE("status shows alarms and level while recording", "[capture][alarms]") {
  ToneOptions o;
  o.frequency = 0.0;
  o.duration = 3000ms;
  RecorderSettings s;
  s.monitor.silence_after = 1000ms;
  Collected out;
  Recorder rec(make_tone(o), out.sink(), s);
  auto done = rec.run();
  REQUIRE(done.ok());
  CHECK(done->silence);
  CHECK(rec.status().silence);
  CHECK(rec.status().level.peak_dbfs[0] == -120.0);
  CHECK(rec.position() == std::chrono::seconds(3));
}

TEST_CASE("live source: a slow sink loses no audio", "[capture][live]") {
  ToneOptions o;
  o.duration = 3000ms;
  o.realtime = true;
  Collected out;
  auto inner = out.sink();
  ChunkSink slow = [&](const Chunk& c) -> tillid::Result<void> {
    if (c.index == 1) std::this_thread::sleep_for(1500ms);  // a long fsync
    return inner(c);
  };
  Recorder rec(make_tone(o), slow);
  const auto t0 = std::chrono::steady_clock::now();
  auto done = rec.run();
  const auto wall = std::chrono::steady_clock::now() - t0;
  REQUIRE(done.ok());
  CHECK(done->dropped == AudioTime(0));
  CHECK(done->captured == std::chrono::seconds(3));
  CHECK(out.chunks.back().end == std::chrono::seconds(3));
  CHECK(wall < 4500ms);  // 3 s of audio, the stall absorbed by the ring
}

TEST_CASE("live source: a ring too small for the stall counts dropped audio", "[capture][live]") {
  ToneOptions o;
  o.duration = 3000ms;
  o.realtime = true;
  Collected out;
  auto inner = out.sink();
  ChunkSink slow = [&](const Chunk& c) -> tillid::Result<void> {
    if (c.index == 1) std::this_thread::sleep_for(1500ms);
    return inner(c);
  };
  RecorderSettings s;
  s.live_buffer = 500ms;
  Recorder rec(make_tone(o), slow, s);
  auto done = rec.run();
  REQUIRE(done.ok());
  CHECK(done->dropped > AudioTime(0));
  CHECK(done->captured == std::chrono::seconds(3));
  CHECK(out.chunks.back().end == done->captured - done->dropped);
}

TEST_CASE("stop() from another thread ends the stream cleanly", "[capture][live]") {
  ToneOptions o;  // endless
  o.realtime = true;
  Collected out;
  Recorder rec(make_tone(o), out.sink());
  std::thread stopper([&] {
    while (rec.status().encoded < std::chrono::milliseconds(900)) std::this_thread::sleep_for(10ms);
    CHECK(rec.status().state == RecorderState::recording);
    rec.stop();
  });
  auto done = rec.run();
  stopper.join();
  REQUIRE(done.ok());
  CHECK(done->state == RecorderState::finished);
  CHECK(out.chunks.back().last);
  CHECK(out.chunks.back().end == done->captured);  // everything captured was kept
  CHECK(seconds(done->captured) == Approx(1.0).margin(0.3));
}

TEST_CASE("max_duration stops exactly", "[capture]") {
  ToneOptions o;
  RecorderSettings s;
  s.max_duration = AudioTime(2 * 48000 + 480);
  Collected out;
  Recorder rec(make_tone(o), out.sink(), s);
  auto done = rec.run();
  REQUIRE(done.ok());
  CHECK(out.chunks.back().end == AudioTime(2 * 48000 + 480));
}

TEST_CASE("a failing sink stops the recording with its error", "[capture]") {
  ToneOptions o;
  o.duration = 5000ms;
  int calls = 0;
  ChunkSink sink = [&](const Chunk&) -> tillid::Result<void> {
    if (++calls == 3) return tillid::make_error(Errc::no_space, "disk full");
    return {};
  };
  Recorder rec(make_tone(o), sink);
  auto done = rec.run();
  REQUIRE_FALSE(done.ok());
  CHECK(done.error().code == Errc::no_space);
  CHECK(calls == 3);
  CHECK(rec.status().state == RecorderState::failed);

  // The same on the live path.
  o.realtime = true;
  o.duration = 3000ms;
  calls = 0;
  Recorder live(make_tone(o), sink);
  auto done2 = live.run();
  REQUIRE_FALSE(done2.ok());
  CHECK(done2.error().code == Errc::no_space);
}

TEST_CASE("a failing source still ends the stream, then reports", "[capture]") {
  class Failing final : public AudioSource {
   public:
    AudioFormat format() const override { return {}; }
    tillid::Result<std::size_t> read(std::span<std::int16_t> out) override {
      if (served_ >= 48000 * 2) return tillid::make_error(Errc::io, "microphone unplugged");
      std::fill(out.begin(), out.end(), std::int16_t{1000});
      served_ += out.size();
      return out.size();
    }
   private:
    std::size_t served_ = 0;
  };
  Collected out;
  Recorder rec(std::make_unique<Failing>(), out.sink());
  auto done = rec.run();
  REQUIRE_FALSE(done.ok());
  CHECK_THAT(done.error().message, Catch::Contains("unplugged"));
  REQUIRE_FALSE(out.chunks.empty());
  CHECK(out.chunks.back().last);
  CHECK(out.chunks.back().end == std::chrono::seconds(2));
}

TEST_CASE("bad settings are refused before anything is emitted", "[capture]") {
  auto check = [](RecorderSettings s, const char* says) {
    INFO(says);
    Collected out;
    Recorder rec(make_tone({}), out.sink(), std::move(s));
    auto r = rec.run();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(says));
    CHECK(out.chunks.empty());
  };
  RecorderSettings a;
  a.encoder.bitrate_per_channel = 1000;
  check(a, "bitrate");
  RecorderSettings b;
  b.encoder.complexity = 11;
  check(b, "complexity");
  RecorderSettings c;
  c.monitor.clip_fraction = 0;
  check(c, "clip fraction");
  RecorderSettings d;
  d.live_buffer = AudioTime(10);
  check(d, "live buffer");

  Collected out;
  Recorder once(make_tone({.duration = 100ms}), out.sink());
  REQUIRE(once.run().ok());
  auto again = once.run();
  REQUIRE_FALSE(again.ok());
  CHECK_THAT(again.error().message, Catch::Contains("once"));
}
