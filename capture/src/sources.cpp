// The generated source (tone or silence, for demos and tests), the ALSA capture device, and
// the parser for source spec strings ("alsa:hw:0", "wav:PATH", "tone:440", "silence").
#include <alsa/asoundlib.h>

#include <charconv>
#include <cmath>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "tillid/capture.hpp"

namespace tillid::capture {
namespace {

// ---- generator --------------------------------------------------------------------------

class ToneSource final : public AudioSource {
 public:
  explicit ToneSource(const ToneOptions& o) : o_(o) {
    if (o_.duration) {
      remaining_ = o_.duration->count() * std::int64_t{o_.format.rate} / 1000;
    }
    step_ = 2.0 * std::numbers::pi * o_.frequency / o_.format.rate;
  }

  AudioFormat format() const override { return o_.format; }
  bool live() const override { return o_.realtime; }

  Result<std::size_t> read(std::span<std::int16_t> out) override {
    const std::size_t channels = static_cast<std::size_t>(o_.format.channels);
    std::size_t frames = out.size() / channels;
    if (remaining_ >= 0) frames = std::min<std::size_t>(frames, static_cast<std::size_t>(remaining_));
    if (o_.realtime) {
      // Deliver at most 50 ms per call, no earlier than a device would have it.
      frames = std::min<std::size_t>(frames, static_cast<std::size_t>(o_.format.rate / 20));
      if (!started_) {
        start_ = std::chrono::steady_clock::now();
        started_ = true;
      }
      const auto due = start_ + std::chrono::microseconds((produced_ + static_cast<std::int64_t>(frames)) *
                                                          1000000 / o_.format.rate);
      std::this_thread::sleep_until(due);
    }
    for (std::size_t i = 0; i < frames; ++i) {
      double v = 0.0;
      if (o_.frequency > 0.0) {
        const double s = std::sin(phase_);
        v = o_.square ? (s >= 0.0 ? 1.0 : -1.0) : o_.amplitude * s;
        phase_ += step_;
        if (phase_ > 2.0 * std::numbers::pi) phase_ -= 2.0 * std::numbers::pi;
      }
      const double scaled = std::clamp(v * 32768.0, -32768.0, 32767.0);
      const auto sample = static_cast<std::int16_t>(std::lrint(scaled));
      for (std::size_t c = 0; c < channels; ++c) out[i * channels + c] = sample;
    }
    produced_ += static_cast<std::int64_t>(frames);
    if (remaining_ >= 0) remaining_ -= static_cast<std::int64_t>(frames);
    return frames;
  }

 private:
  ToneOptions o_;
  std::int64_t remaining_ = -1;  // -1: endless
  std::int64_t produced_ = 0;
  double phase_ = 0.0;
  double step_ = 0.0;
  bool started_ = false;
  std::chrono::steady_clock::time_point start_;
};

// ---- ALSA -------------------------------------------------------------------------------

struct PcmCloser {
  void operator()(snd_pcm_t* pcm) const { snd_pcm_close(pcm); }
};
using Pcm = std::unique_ptr<snd_pcm_t, PcmCloser>;

struct HwParamsFree {
  void operator()(snd_pcm_hw_params_t* p) const { snd_pcm_hw_params_free(p); }
};

class AlsaSource final : public AudioSource {
 public:
  AlsaSource(Pcm pcm, AudioFormat format, std::string device)
      : pcm_(std::move(pcm)), format_(format), device_(std::move(device)) {}

  AudioFormat format() const override { return format_; }
  bool live() const override { return true; }
  std::uint64_t overruns() const override { return overruns_; }

  Result<std::size_t> read(std::span<std::int16_t> out) override {
    const auto frames = static_cast<snd_pcm_uframes_t>(out.size() / static_cast<std::size_t>(format_.channels));
    // Some plugins (null) hand back the buffer untouched; make that silence, not garbage.
    std::fill(out.begin(), out.end(), std::int16_t{0});
    for (int attempt = 0; attempt < 8; ++attempt) {
      const snd_pcm_sframes_t n = snd_pcm_readi(pcm_.get(), out.data(), frames);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (n == -EPIPE) ++overruns_;  // the device buffer overflowed: that audio is gone
      // Recovers overruns (EPIPE), suspend (ESTRPIPE) and interrupted calls (EINTR).
      const int r = snd_pcm_recover(pcm_.get(), static_cast<int>(n), 1);
      if (r < 0) {
        return make_error(Errc::io, "reading from ALSA device " + device_ + " failed: " + snd_strerror(r) +
                                        "; check that the microphone is still connected");
      }
    }
    return make_error(Errc::io, "ALSA device " + device_ + " keeps failing to deliver audio; check the microphone");
  }

 private:
  Pcm pcm_;
  AudioFormat format_;
  std::string device_;
  std::uint64_t overruns_ = 0;
};

Error alsa_error(const std::string& device, const std::string& step, int err) {
  std::string msg = "cannot open ALSA capture device \"" + device + "\": " + step + ": " + snd_strerror(err);
  if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
    msg += "; check the device name (list devices with `arecord -L`) and that the microphone is plugged in";
  else if (err == -EBUSY)
    msg += "; another program is using it";
  else if (err == -EACCES || err == -EPERM)
    msg += "; the service user needs to be in the audio group";
  return make_error(err == -ENOENT || err == -ENODEV ? Errc::not_found : Errc::io, std::move(msg));
}

// ---- spec parsing -----------------------------------------------------------------------

Error bad_spec(std::string_view spec, const std::string& why) {
  return make_error(Errc::invalid_argument,
                    "bad audio source \"" + std::string(spec) + "\": " + why +
                        "; use alsa:DEVICE[?rate=N,channels=N], wav:PATH, tone[:HZ] or silence");
}

Result<double> parse_number(std::string_view spec, std::string_view key, std::string_view text) {
  double v = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v))
    return bad_spec(spec, std::string(key) + " \"" + std::string(text) + "\" is not a number");
  return v;
}

struct SpecOptions {
  std::optional<double> rate, channels, amplitude, duration, realtime, square;
};

Result<SpecOptions> parse_options(std::string_view spec, std::string_view text, bool allow_tone_keys) {
  SpecOptions o;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return bad_spec(spec, "option \"" + std::string(item) + "\" needs a value (key=value)");
    const std::string_view key = item.substr(0, eq);
    TILLID_ASSIGN(const double v, parse_number(spec, key, item.substr(eq + 1)));
    if (key == "rate") o.rate = v;
    else if (key == "channels") o.channels = v;
    else if (allow_tone_keys && key == "amplitude") o.amplitude = v;
    else if (allow_tone_keys && key == "duration") o.duration = v;
    else if (allow_tone_keys && key == "realtime") o.realtime = v;
    else if (allow_tone_keys && key == "square") o.square = v;
    else return bad_spec(spec, "unknown option \"" + std::string(key) + "\"");
  }
  if (o.rate && (*o.rate < 8000 || *o.rate > 192000 || *o.rate != std::floor(*o.rate)))
    return bad_spec(spec, "rate must be a whole number of Hz in 8000..192000");
  if (o.channels && *o.channels != 1 && *o.channels != 2) return bad_spec(spec, "channels must be 1 or 2");
  if (o.amplitude && (*o.amplitude < 0 || *o.amplitude > 100)) return bad_spec(spec, "amplitude must be in 0..100");
  if (o.duration && (*o.duration <= 0 || *o.duration > 86400)) return bad_spec(spec, "duration must be in (0, 86400] seconds");
  return o;
}

}  // namespace

std::unique_ptr<AudioSource> make_tone(const ToneOptions& options) { return std::make_unique<ToneSource>(options); }

Result<std::unique_ptr<AudioSource>> open_alsa(const AlsaOptions& o) {
  if (o.device.empty()) return make_error(Errc::invalid_argument, "no ALSA device name given; use e.g. \"default\" or \"hw:0\"");
  if (o.channels != 1 && o.channels != 2)
    return make_error(Errc::invalid_argument, "ALSA capture supports 1 or 2 channels, not " + std::to_string(o.channels));
  if (o.rate < 8000 || o.rate > 192000)
    return make_error(Errc::invalid_argument, "ALSA capture rate " + std::to_string(o.rate) + " Hz is outside 8000..192000");

  snd_pcm_t* raw = nullptr;
  int err = snd_pcm_open(&raw, o.device.c_str(), SND_PCM_STREAM_CAPTURE, 0);
  if (err < 0) return alsa_error(o.device, "open", err);
  Pcm pcm(raw);

  snd_pcm_hw_params_t* hw_raw = nullptr;
  if ((err = snd_pcm_hw_params_malloc(&hw_raw)) < 0) return alsa_error(o.device, "allocating parameters", err);
  std::unique_ptr<snd_pcm_hw_params_t, HwParamsFree> hw(hw_raw);
  if ((err = snd_pcm_hw_params_any(pcm.get(), hw.get())) < 0) return alsa_error(o.device, "reading capabilities", err);
  if ((err = snd_pcm_hw_params_set_access(pcm.get(), hw.get(), SND_PCM_ACCESS_RW_INTERLEAVED)) < 0)
    return alsa_error(o.device, "interleaved access", err);
  if ((err = snd_pcm_hw_params_set_format(pcm.get(), hw.get(), SND_PCM_FORMAT_S16_LE)) < 0)
    return alsa_error(o.device, "16-bit sample format (try the plughw: or default device)", err);
  if ((err = snd_pcm_hw_params_set_channels(pcm.get(), hw.get(), static_cast<unsigned>(o.channels))) < 0)
    return alsa_error(o.device, std::to_string(o.channels) + "-channel capture (try the plughw: or default device)", err);
  unsigned rate = static_cast<unsigned>(o.rate);
  if ((err = snd_pcm_hw_params_set_rate_near(pcm.get(), hw.get(), &rate, nullptr)) < 0)
    return alsa_error(o.device, "setting the rate", err);
  // A half-second device buffer read in 50 ms periods: the capture thread only copies into
  // the Recorder's ring, so it is never away long enough to overrun.
  unsigned buffer_us = 500000, period_us = 50000;
  if ((err = snd_pcm_hw_params_set_buffer_time_near(pcm.get(), hw.get(), &buffer_us, nullptr)) < 0)
    return alsa_error(o.device, "setting the buffer size", err);
  if ((err = snd_pcm_hw_params_set_period_time_near(pcm.get(), hw.get(), &period_us, nullptr)) < 0)
    return alsa_error(o.device, "setting the period size", err);
  if ((err = snd_pcm_hw_params(pcm.get(), hw.get())) < 0) return alsa_error(o.device, "applying parameters", err);
  if ((err = snd_pcm_prepare(pcm.get())) < 0) return alsa_error(o.device, "prepare", err);

  return std::unique_ptr<AudioSource>(
      std::make_unique<AlsaSource>(std::move(pcm), AudioFormat{static_cast<int>(rate), o.channels}, o.device));
}

Result<std::unique_ptr<AudioSource>> open_source(std::string_view spec) {
  if (spec.starts_with("wav:")) {
    if (spec.size() == 4) return bad_spec(spec, "wav: needs a file path");
    return open_wav(std::filesystem::path(std::string(spec.substr(4))));
  }
  // Options follow the last '?'; ALSA device names never contain one.
  std::string_view head = spec, options;
  if (const auto q = spec.rfind('?'); q != std::string_view::npos) {
    head = spec.substr(0, q);
    options = spec.substr(q + 1);
  }
  const auto colon = head.find(':');
  const std::string_view kind = head.substr(0, colon);
  const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : head.substr(colon + 1);

  if (kind == "alsa") {
    if (rest.empty()) return bad_spec(spec, "alsa: needs a device name, e.g. alsa:default");
    TILLID_ASSIGN(const SpecOptions o, parse_options(spec, options, false));
    AlsaOptions a;
    a.device = std::string(rest);
    if (o.rate) a.rate = static_cast<int>(*o.rate);
    if (o.channels) a.channels = static_cast<int>(*o.channels);
    return open_alsa(a);
  }
  if (kind == "tone" || kind == "silence") {
    TILLID_ASSIGN(const SpecOptions o, parse_options(spec, options, true));
    ToneOptions t;
    if (kind == "silence") {
      if (!rest.empty()) return bad_spec(spec, "silence takes no frequency");
      t.frequency = 0.0;
    } else if (!rest.empty()) {
      TILLID_ASSIGN(t.frequency, parse_number(spec, "frequency", rest));
      if (t.frequency <= 0.0 || t.frequency >= 24000.0) return bad_spec(spec, "tone frequency must be in (0, 24000) Hz");
    }
    if (o.amplitude) t.amplitude = *o.amplitude;
    if (o.rate) t.format.rate = static_cast<int>(*o.rate);
    if (o.channels) t.format.channels = static_cast<int>(*o.channels);
    if (o.duration) t.duration = std::chrono::milliseconds(std::llround(*o.duration * 1000.0));
    if (o.realtime) t.realtime = *o.realtime != 0.0;
    if (o.square) t.square = *o.square != 0.0;
    if (t.frequency * 2 >= t.format.rate) return bad_spec(spec, "tone frequency must be below half the sample rate");
    return make_tone(t);
  }
  if (spec.empty()) return bad_spec(spec, "empty");
  return bad_spec(spec, "unknown kind \"" + std::string(kind) + "\"");
}

}  // namespace tillid::capture
