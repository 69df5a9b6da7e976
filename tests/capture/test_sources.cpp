// Source specs, the generator, and ALSA: a missing device fails at open with a clear error;
// the file and null plugins stand in for a microphone on machines without a sound card.
#include <cstdlib>

#include "capture_support.hpp"

using namespace captest;
using tillid::Errc;

TEST_CASE("source specs open the right source", "[capture][spec]") {
  auto tone = open_source("tone");
  REQUIRE(tone.ok());
  CHECK((*tone)->format().rate == 48000);
  CHECK((*tone)->format().channels == 1);
  CHECK_FALSE((*tone)->live());

  auto t2 = open_source("tone:1000?amplitude=0.5,duration=0.5,rate=16000,channels=2");
  REQUIRE(t2.ok());
  CHECK((*t2)->format().rate == 16000);
  CHECK((*t2)->format().channels == 2);
  std::vector<std::int16_t> buf(2 * 16000);
  auto n = (*t2)->read(buf);
  REQUIRE(n.ok());
  CHECK(*n == 8000);  // 0.5 s, then the end
  auto end = (*t2)->read(buf);
  REQUIRE(end.ok());
  CHECK(*end == 0);

  auto silence = open_source("silence?duration=1,realtime=1");
  REQUIRE(silence.ok());
  CHECK((*silence)->live());
}

TEST_CASE("bad source specs give clear errors", "[capture][spec]") {
  struct Case {
    const char* spec;
    const char* says;
  };
  const Case cases[] = {
      {"", "empty"},
      {"mic", "unknown kind \"mic\""},
      {"wav:", "needs a file path"},
      {"alsa:", "needs a device name"},
      {"tone:abc", "\"abc\" is not a number"},
      {"tone:30000", "frequency"},
      {"tone?duration=-1", "duration"},
      {"tone?volume=3", "unknown option \"volume\""},
      {"tone?rate", "needs a value"},
      {"silence:440", "silence takes no frequency"},
      {"alsa:default?channels=3", "channels must be 1 or 2"},
      {"alsa:default?rate=1000", "rate must be"},
      {"alsa:default?amplitude=1", "unknown option"},
  };
  for (const Case& c : cases) {
    INFO(c.spec);
    auto r = open_source(c.spec);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(c.says));
    CHECK_THAT(r.error().message, Catch::Contains("use alsa:DEVICE"));
  }
  auto missing = open_source("wav:/nonexistent/interview.wav");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("a missing ALSA device fails at open, before recording", "[capture][alsa]") {
  for (const char* spec : {"alsa:hw:97", "alsa:no_such_pcm_device"}) {
    INFO(spec);
    auto r = open_source(spec);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("cannot open ALSA capture device"));
    CHECK_THAT(r.error().message, Catch::Contains("arecord -L"));
  }
}

namespace {

// Points alsa-lib at the system configuration plus a test file, for this process.
struct AlsaConfig {
  explicit AlsaConfig(const TempDir& dir, const std::string& text) {
    const fs::path conf = dir / "asound.conf";
    std::ofstream(conf) << text;
    ::setenv("ALSA_CONFIG_PATH", ("/usr/share/alsa/alsa.conf:" + conf.string()).c_str(), 1);
  }
  ~AlsaConfig() { ::unsetenv("ALSA_CONFIG_PATH"); }
};

}  // namespace

TEST_CASE("ALSA capture through the file plugin records the speech it plays", "[capture][alsa]") {
  require_tool("sox");
  require_tool("opusdec");
  TempDir dir;
  const fs::path speech = make_speech(dir);
  // The file plugin reads its infile as raw samples in the negotiated format.
  const fs::path speech48 = dir / "speech48.wav";
  const fs::path raw = dir / "speech.raw";
  run_ok("sox " + quote(speech) + " -r 48000 " + quote(speech48));
  run_ok("sox " + quote(speech48) + " -e signed -b 16 -t raw " + quote(raw));
  AlsaConfig cfg(dir, "pcm.tillidtest { type file slave.pcm \"null\" file \"/dev/null\" infile \"" + raw.string() +
                          "\" format \"raw\" }\n");

  auto src = open_source("alsa:tillidtest?rate=48000,channels=1");
  INFO((src ? std::string() : src.error().message));
  REQUIRE(src.ok());
  CHECK((*src)->live());

  Collected out;
  RecorderSettings settings;
  settings.max_duration = std::chrono::seconds(6);  // the null slave may run faster than real time
  Recorder rec(std::move(*src), out.sink(), settings);
  auto done = rec.run();
  INFO((done ? std::string() : done.error().message));
  REQUIRE(done.ok());
  CHECK(done->state == RecorderState::finished);
  CHECK(done->captured == std::chrono::seconds(6));
  CHECK(done->dropped == AudioTime(0));
  write_file(dir / "alsa.opus", out.bytes.data(), out.bytes.size());

  const Pcm decoded = decode(dir, dir / "alsa.opus");
  CHECK(decoded.frames() == Approx(6 * 48000).margin(960));
  CHECK(rms_dbfs(decoded) > -35.0);  // speech, not silence
  // The device delivered the file from its first sample: the envelopes line up.
  const double r = correlation(envelope(read_wav(speech48), 4800), envelope(decoded, 4800));
  INFO("envelope correlation " << r);
  CHECK(r > 0.8);
}

TEST_CASE("ALSA null device: silence raises the silence alarm", "[capture][alsa]") {
  TempDir dir;
  AlsaConfig cfg(dir, "# system configuration only\n");
  auto src = open_source("alsa:null?channels=2");
  INFO((src ? std::string() : src.error().message));
  REQUIRE(src.ok());
  std::vector<AlarmEvent> events;
  RecorderSettings settings;
  settings.max_duration = std::chrono::seconds(3);
  settings.monitor.silence_after = std::chrono::milliseconds(1500);
  settings.on_alarm = [&](const AlarmEvent& e) { events.push_back(e); };
  Collected out;
  Recorder rec(std::move(*src), out.sink(), settings);
  auto done = rec.run();
  REQUIRE(done.ok());
  CHECK(done->silence);
  REQUIRE(events.size() == 1);
  CHECK(events[0].alarm == Alarm::silence);
  CHECK(events[0].raised);
  CHECK(seconds(events[0].at) == Approx(1.5).margin(0.101));
  CHECK(done->level.channels == 2);
  CHECK(done->level.rms_dbfs[0] == -120.0);
}
