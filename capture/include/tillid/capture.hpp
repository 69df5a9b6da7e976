// Capture: turns audio (a microphone through ALSA, a WAV file, or a generated tone) into an
// Ogg Opus byte stream handed out in chunks of whole Ogg pages, each covering at most about
// one second of audio. Nothing here writes audio to disk: the caller's ChunkSink decides
// where the bytes go (the vault encrypts and fsyncs them). capture/README.md is the contract.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tillid/result.hpp"

namespace tillid::capture {

// Audio time in samples at 48 kHz, the Ogg Opus granule rate. Exact for chunk boundaries;
// convert with std::chrono::duration_cast when a person needs seconds.
using AudioTime = std::chrono::duration<std::int64_t, std::ratio<1, 48000>>;

struct AudioFormat {
  int rate = 48000;   // frames per second
  int channels = 1;   // 1 or 2; samples are interleaved
};

// A producer of signed 16-bit interleaved PCM.
class AudioSource {
 public:
  virtual ~AudioSource() = default;
  virtual AudioFormat format() const = 0;
  // Fills up to out.size()/channels frames; returns the frames read, 0 at end of stream.
  virtual Result<std::size_t> read(std::span<std::int16_t> out) = 0;
  // A live source delivers audio in real time and loses it if not read in time; the
  // Recorder reads it on its own thread through a ring buffer.
  virtual bool live() const { return false; }
  // Times the device overran (audio lost inside the device); read only from the thread
  // that calls read().
  virtual std::uint64_t overruns() const { return 0; }
};

struct AlsaOptions {
  std::string device = "default";  // an ALSA PCM name: "default", "hw:0", "plughw:1,0", ...
  int rate = 48000;
  int channels = 1;
};

struct ToneOptions {
  double frequency = 440.0;  // Hz; 0 gives silence
  double amplitude = 0.1;    // fraction of full scale; above 1 the sine is clipped (overdriven)
  bool square = false;       // full-swing square wave instead of a sine
  AudioFormat format{};
  std::optional<std::chrono::milliseconds> duration;  // nullopt: endless
  bool realtime = false;     // pace like a device (live source) instead of as fast as possible
};

// Opens a capture device now, so a bad or missing device fails before the interview starts.
Result<std::unique_ptr<AudioSource>> open_alsa(const AlsaOptions& options);
// Opens a RIFF/WAVE file: PCM 8/16/24/32-bit or 32-bit float, mono or stereo, any rate.
Result<std::unique_ptr<AudioSource>> open_wav(const std::filesystem::path& path);
std::unique_ptr<AudioSource> make_tone(const ToneOptions& options);

// Parses a source spec and opens the source:
//   alsa:DEVICE[?rate=N,channels=N]          e.g. alsa:default, alsa:hw:0,0?channels=2
//   wav:PATH
//   tone[:HZ][?amplitude=A,duration=S,rate=N,channels=N,realtime=1,square=1]
//   silence[?duration=S,rate=N,channels=N,realtime=1]
Result<std::unique_ptr<AudioSource>> open_source(std::string_view spec);

struct EncoderSettings {
  int bitrate_per_channel = 32000;  // bits per second, 6000..256000
  int complexity = 10;              // 0..10, 10 is opusenc's default
  // Stored in the stream's TITLE tag, which any player shows. Never a child's name or any
  // other identifying data: the stream leaves the vault when exported for court.
  std::string title;
};

struct MonitorSettings {
  double silence_threshold_dbfs = -60.0;  // quieter than this (RMS, loudest channel) is silence
  std::chrono::milliseconds silence_after{10000};
  // Clipping: at least this fraction of samples at full scale within the last clip_window.
  double clip_fraction = 0.001;
  std::chrono::milliseconds clip_window{1000};
};

// Input level over the last full second of audio.
struct Level {
  int channels = 0;
  double peak_dbfs[2] = {-120.0, -120.0};  // -120 stands for digital silence
  double rms_dbfs[2] = {-120.0, -120.0};
};

enum class Alarm { silence, clipping };

struct AlarmEvent {
  Alarm alarm;
  bool raised;   // false: the alarm cleared
  AudioTime at;  // audio time at which the state changed
};

// A piece of the Ogg Opus stream: one or more whole Ogg pages, never part of one.
struct Chunk {
  std::span<const std::uint8_t> bytes;  // valid only during the sink call
  std::uint64_t index = 0;              // 0 holds the headers (OpusHead, OpusTags)
  AudioTime begin{};                    // decoded audio covered: [begin, end)
  AudioTime end{};
  bool last = false;                    // holds the end-of-stream page
};

// Receives each chunk in order. An error stops the recording; run() returns it.
using ChunkSink = std::function<Result<void>(const Chunk&)>;

struct RecorderSettings {
  EncoderSettings encoder;
  MonitorSettings monitor;
  std::optional<AudioTime> max_duration;  // stop by itself after this much audio
  AudioTime live_buffer = std::chrono::seconds(10);  // ring between device and encoder
  std::function<void(const AlarmEvent&)> on_alarm;   // called on run()'s thread
};

enum class RecorderState { idle, recording, finished, failed };

struct RecorderStatus {
  RecorderState state = RecorderState::idle;
  AudioTime captured{};  // audio read from the source so far: stamp bookmarks with this
  AudioTime encoded{};   // audio handed to the sink in whole chunks
  Level level;
  bool silence = false;  // alarms currently raised
  bool clipping = false;
  std::uint64_t bytes_emitted = 0;
  std::uint64_t chunks_emitted = 0;
  std::uint64_t overruns = 0;  // device overruns (each lost some audio inside the device)
  AudioTime dropped{};         // audio lost because the ring buffer was full (sink too slow)
};

// Pulls audio from a source, watches its level, encodes it and hands chunks to the sink.
class Recorder {
 public:
  Recorder(std::unique_ptr<AudioSource> source, ChunkSink sink, RecorderSettings settings = {});
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Records on the calling thread until the source ends, max_duration is reached or stop()
  // is called, then ends the stream (EOS) and returns the final status. If the source fails
  // mid-way the stream is still ended properly before the error is returned, so everything
  // captured stays playable. May be called once.
  Result<RecorderStatus> run();
  // Thread-safe; audio already captured is still encoded and emitted.
  void stop();
  // Thread-safe snapshot.
  RecorderStatus status() const;
  // Thread-safe: the audio time of the newest captured sample, for stamping a bookmark.
  AudioTime position() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tillid::capture
