// End to end with standard tools: Danish speech from espeak-ng is encoded through the
// library, and opusdec, opusinfo and ffprobe must accept the result; the decoded audio must
// be the same speech, and the stream cut after any chunk must still decode.
#include "capture_support.hpp"

using namespace captest;

namespace {

struct Encoded {
  Collected out;
  RecorderStatus status;
};

Encoded encode_wav(const fs::path& wav, RecorderSettings s = {}) {
  auto src = open_wav(wav);
  REQUIRE(src.ok());
  Encoded e;
  Recorder rec(std::move(*src), e.out.sink(), std::move(s));
  auto done = rec.run();
  INFO((done ? std::string() : done.error().message));
  REQUIRE(done.ok());
  e.status = *done;
  return e;
}

}  // namespace

TEST_CASE("Danish speech survives encoding: opusdec, opusinfo and ffprobe agree", "[capture][roundtrip]") {
  require_tool("sox");
  require_tool("opusinfo");
  require_tool("ffprobe");
  TempDir dir;
  const fs::path speech = make_speech(dir);
  const Pcm input = read_wav(speech);
  REQUIRE(input.format.rate == 22050);  // espeak-ng's rate: exercises libopusenc's resampler
  const double input_seconds = double(input.frames()) / input.format.rate;
  REQUIRE(input_seconds > 5.0);

  RecorderSettings s;
  s.encoder.title = "Interview test recording";
  Encoded e = encode_wav(speech, s);
  const fs::path opus = dir / "speech.opus";
  write_file(opus, e.out.bytes.data(), e.out.bytes.size());

  // Duration: within one 20 ms frame of the input (opusdec removes the pre-skip).
  const Pcm decoded = decode(dir, opus);
  CHECK(decoded.format.rate == 48000);
  CHECK(decoded.format.channels == 1);
  CHECK(double(decoded.frames()) == Approx(input_seconds * 48000).margin(960));
  CHECK(seconds(e.out.chunks.back().end) == Approx(input_seconds).margin(0.02));

  // Same speech, not silence: RMS envelopes per 100 ms correlate with the input's.
  run_ok("sox " + quote(speech) + " -r 48000 " + quote(dir / "speech48.wav"));
  const Pcm reference = read_wav(dir / "speech48.wav");
  const double r = correlation(envelope(reference, 4800), envelope(decoded, 4800));
  INFO("envelope correlation " << r);
  CHECK(r > 0.9);
  CHECK(rms_dbfs(decoded) == Approx(rms_dbfs(reference)).margin(2.0));

  std::string info;
  CHECK(run("opusinfo " + quote(opus), &info) == 0);
  INFO(info);
  CHECK_THAT(info, Catch::Contains("Interview test recording"));
  CHECK_THAT(info, Catch::Contains("ENCODER=Tillid capture"));

  std::string probe;
  REQUIRE(run("ffprobe -v error -show_entries stream=codec_name,channels,sample_rate:format=duration -of "
              "default=nw=1 " + quote(opus), &probe) == 0);
  INFO(probe);
  CHECK_THAT(probe, Catch::Contains("codec_name=opus"));
  CHECK_THAT(probe, Catch::Contains("channels=1"));
  const auto at = probe.find("duration=");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(probe.substr(at + 9)) == Approx(input_seconds).margin(0.03));
}

TEST_CASE("the stream cut after any chunk decodes up to that chunk", "[capture][roundtrip][chunks]") {
  require_tool("sox");
  TempDir dir;
  // 8 seconds of speech-like input at 48 kHz stereo.
  const fs::path speech = make_speech(dir);
  run_ok("sox " + quote(speech) + " -r 48000 -c 2 " + quote(dir / "s.wav") + " trim 0 8");
  Encoded e = encode_wav(dir / "s.wav");
  REQUIRE(e.out.chunks.size() >= 9);
  // A whole number of seconds: the drain completes the 8th second's page and the short EOS
  // page together, and they must still go out as separate chunks of at most a second.
  for (const Chunk& c : e.out.chunks) CHECK(c.end - c.begin <= AudioTime(48000));
  CHECK(e.out.chunks.back().end == std::chrono::seconds(8));
  for (std::size_t k : {1u, 2u, 4u, 7u}) {
    INFO("cut after chunk " << k);
    const fs::path cut = dir / ("cut" + std::to_string(k) + ".opus");
    write_file(cut, e.out.bytes.data(), e.out.ends[k]);
    const Pcm d = decode(dir, cut);
    CHECK(d.format.channels == 2);
    // Chunk k ends k seconds into the stream, less the pre-skip for the first page.
    CHECK(seconds(e.out.chunks[k].end) == Approx(double(k)).margin(0.01));
    CHECK(double(d.frames()) / 48000.0 == Approx(double(k)).margin(0.03));
    std::string probe;
    CHECK(run("ffprobe -v error " + quote(cut), &probe) == 0);
  }
  // Headers alone: a valid stream with no audio yet (opusinfo warns that it is empty).
  write_file(dir / "head.opus", e.out.bytes.data(), e.out.ends[0]);
  std::string info;
  run("opusinfo " + quote(dir / "head.opus"), &info);
  INFO(info);
  CHECK_THAT(info, Catch::Contains("type opus") && Catch::Contains("ENCODER=Tillid capture"));
  CHECK_THAT(info, Catch::Contains("stream 1 is empty"));
}
