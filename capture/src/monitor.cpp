// Level monitoring. A dead or unplugged microphone must be noticed during the interview, not
// afterwards, so the recorder raises a silence alarm after a configurable stretch of near
// digital silence and a clipping alarm when the input is overdriven.
#include "monitor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tillid::capture {
namespace {

constexpr double kFloorDbfs = -120.0;
constexpr double kFullScale = 32768.0;

double peak_dbfs(std::int32_t peak) {
  return peak == 0 ? kFloorDbfs : std::max(kFloorDbfs, 20.0 * std::log10(peak / kFullScale));
}
double rms_dbfs(std::int64_t sumsq, std::int64_t frames) {
  if (frames == 0 || sumsq == 0) return kFloorDbfs;
  const double mean = static_cast<double>(sumsq) / static_cast<double>(frames);
  return std::max(kFloorDbfs, 10.0 * std::log10(mean / (kFullScale * kFullScale)));
}

}  // namespace

Result<void> LevelMonitor::validate(const MonitorSettings& s) {
  if (!(s.silence_threshold_dbfs < 0.0 && s.silence_threshold_dbfs >= kFloorDbfs))
    return make_error(Errc::invalid_argument, "silence threshold must be in -120..0 dBFS");
  if (s.silence_after.count() < 100) return make_error(Errc::invalid_argument, "silence alarm delay must be at least 100 ms");
  if (!(s.clip_fraction > 0.0 && s.clip_fraction <= 1.0))
    return make_error(Errc::invalid_argument, "clip fraction must be in (0, 1]");
  if (s.clip_window.count() < 100 || s.clip_window.count() > 60000)
    return make_error(Errc::invalid_argument, "clip window must be 100 ms .. 60 s");
  return {};
}

LevelMonitor::LevelMonitor(AudioFormat format, const MonitorSettings& settings)
    : format_(format), settings_(settings), block_frames_(std::max(1, format.rate / 10)) {
  level_.channels = format.channels;
  clip_counts_.assign(static_cast<std::size_t>((settings.clip_window.count() + 99) / 100), 0);
}

void LevelMonitor::feed(std::span<const std::int16_t> in, std::vector<AlarmEvent>& events) {
  const std::size_t channels = static_cast<std::size_t>(format_.channels);
  std::size_t frames = in.size() / channels;
  const std::int16_t* p = in.data();
  while (frames > 0) {
    const std::size_t n = std::min<std::size_t>(frames, static_cast<std::size_t>(block_frames_ - in_block_));
    for (std::size_t c = 0; c < channels; ++c) {
      std::int32_t peak = block_peak_[c];
      std::int64_t sumsq = 0;
      std::int64_t clipped = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t v = p[i * channels + c];
        peak = std::max(peak, std::abs(v));
        sumsq += v * v;
        clipped += (v >= 32767 || v <= -32767) ? 1 : 0;
      }
      block_peak_[c] = peak;
      block_sumsq_[c] += sumsq;
      block_clipped_ += clipped;
    }
    p += n * channels;
    frames -= n;
    in_block_ += static_cast<std::int64_t>(n);
    frames_ += static_cast<std::int64_t>(n);
    if (in_block_ == block_frames_) end_block(events);
  }
}

void LevelMonitor::end_block(std::vector<AlarmEvent>& events) {
  const AudioTime now(frames_ * 48000 / format_.rate);
  const int channels = format_.channels;

  // Silence: the loudest channel's RMS below the threshold.
  double loudest = kFloorDbfs;
  for (int c = 0; c < channels; ++c) loudest = std::max(loudest, rms_dbfs(block_sumsq_[c], in_block_));
  if (loudest < settings_.silence_threshold_dbfs) {
    quiet_frames_ += in_block_;
    if (!silence_ && quiet_frames_ * 1000 >= settings_.silence_after.count() * std::int64_t{format_.rate}) {
      silence_ = true;
      events.push_back({Alarm::silence, true, now});
    }
  } else {
    quiet_frames_ = 0;
    if (silence_) {
      silence_ = false;
      events.push_back({Alarm::silence, false, now});
    }
  }

  // Clipping: the fraction of full-scale samples over the sliding window.
  clip_sum_ += block_clipped_ - clip_counts_[clip_pos_];
  clip_counts_[clip_pos_] = block_clipped_;
  clip_pos_ = (clip_pos_ + 1) % clip_counts_.size();
  clip_filled_ = std::min(clip_filled_ + 1, clip_counts_.size());
  const double window_samples = static_cast<double>(clip_filled_) * static_cast<double>(block_frames_ * channels);
  const bool clipped = static_cast<double>(clip_sum_) >= settings_.clip_fraction * window_samples;
  if (clipped != clipping_) {
    clipping_ = clipped;
    events.push_back({Alarm::clipping, clipped, now});
  }

  // Level over whole seconds.
  for (int c = 0; c < channels; ++c) {
    second_peak_[c] = std::max(second_peak_[c], block_peak_[c]);
    second_sumsq_[c] += block_sumsq_[c];
    block_peak_[c] = 0;
    block_sumsq_[c] = 0;
  }
  second_frames_ += in_block_;
  block_clipped_ = 0;
  in_block_ = 0;
  if (++blocks_in_second_ == 10) {
    for (int c = 0; c < channels; ++c) {
      level_.peak_dbfs[c] = peak_dbfs(second_peak_[c]);
      level_.rms_dbfs[c] = rms_dbfs(second_sumsq_[c], second_frames_);
      second_peak_[c] = 0;
      second_sumsq_[c] = 0;
    }
    second_frames_ = 0;
    blocks_in_second_ = 0;
  }
}

}  // namespace tillid::capture
