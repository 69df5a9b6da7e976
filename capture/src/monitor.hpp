// Input level and alarms: levels per second, silence (a dead microphone) and clipping.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tillid/capture.hpp"

namespace tillid::capture {

class LevelMonitor {
 public:
  // Settings must have passed validate().
  LevelMonitor(AudioFormat format, const MonitorSettings& settings);
  static Result<void> validate(const MonitorSettings& settings);

  // Analyses interleaved frames; appends alarm changes to events.
  void feed(std::span<const std::int16_t> interleaved, std::vector<AlarmEvent>& events);

  const Level& level() const { return level_; }
  bool silence() const { return silence_; }
  bool clipping() const { return clipping_; }

 private:
  void end_block(std::vector<AlarmEvent>& events);

  AudioFormat format_;
  MonitorSettings settings_;
  std::int64_t block_frames_;   // alarms are evaluated every 100 ms of audio
  std::int64_t frames_ = 0;     // frames analysed so far
  // Current block.
  std::int64_t in_block_ = 0;
  std::int32_t block_peak_[2] = {0, 0};
  std::int64_t block_sumsq_[2] = {0, 0};
  std::int64_t block_clipped_ = 0;
  // Current second.
  int blocks_in_second_ = 0;
  std::int32_t second_peak_[2] = {0, 0};
  std::int64_t second_sumsq_[2] = {0, 0};
  std::int64_t second_frames_ = 0;
  Level level_;
  // Silence.
  std::int64_t quiet_frames_ = 0;
  bool silence_ = false;
  // Clipping: clipped sample counts of the last clip_window, one entry per block.
  std::vector<std::int64_t> clip_counts_;
  std::size_t clip_pos_ = 0;
  std::size_t clip_filled_ = 0;
  std::int64_t clip_sum_ = 0;
  bool clipping_ = false;
};

}  // namespace tillid::capture
