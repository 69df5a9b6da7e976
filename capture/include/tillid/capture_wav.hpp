// The RIFF/WAVE header parser behind open_wav(), public so that tests and the fuzz target
// can feed it bytes directly. It trusts nothing: every size field is checked against the
// bytes actually present before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tillid/capture.hpp"
#include "tillid/result.hpp"

namespace tillid::capture {

enum class SampleEncoding { u8, s16, s24, s32, f32 };

struct WavLayout {
  AudioFormat format;
  SampleEncoding encoding = SampleEncoding::s16;
  std::uint32_t block_align = 0;   // bytes per frame
  std::uint64_t data_offset = 0;   // where the samples start in the file
  std::uint64_t data_bytes = 0;    // a whole number of frames
};

// The parser looks for "fmt " and the start of "data" within this many leading bytes.
inline constexpr std::size_t kWavMaxHeaderBytes = 256 * 1024;

// head: the first min(file_size, kWavMaxHeaderBytes) bytes of the file.
Result<WavLayout> parse_wav_header(std::span<const std::uint8_t> head, std::uint64_t file_size);

// Converts whole frames of `encoding` to signed 16-bit; returns the samples written
// (min of what fits in out and what is in in).
std::size_t convert_to_s16(SampleEncoding encoding, std::span<const std::uint8_t> in,
                           std::span<std::int16_t> out);

}  // namespace tillid::capture
