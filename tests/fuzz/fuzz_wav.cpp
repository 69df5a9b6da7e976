// Fuzz target for the WAV parser: any bytes must give a layout that stays inside the input,
// or a clear error; never a crash, an out-of-bounds read or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "tillid/capture_wav.hpp"

using namespace tillid::capture;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> file(data, size);
  const auto head = file.first(std::min(size, kWavMaxHeaderBytes));
  auto layout = parse_wav_header(head, size);
  if (!layout.ok()) {
    if (layout.error().message.empty()) std::abort();
    return 0;
  }
  const WavLayout& l = *layout;
  if (l.format.channels != 1 && l.format.channels != 2) std::abort();
  if (l.format.rate < 8000 || l.format.rate > 192000) std::abort();
  if (l.block_align == 0 || l.data_bytes % l.block_align != 0) std::abort();
  if (l.data_offset > size || l.data_bytes > size - l.data_offset) std::abort();
  // Convert the samples the way the WAV source does, in small pieces.
  std::vector<std::int16_t> out(512);
  const auto samples = file.subspan(static_cast<std::size_t>(l.data_offset), static_cast<std::size_t>(l.data_bytes));
  const std::size_t piece = 256 * l.block_align;
  for (std::size_t off = 0; off < samples.size(); off += piece) {
    const auto in = samples.subspan(off, std::min(piece, samples.size() - off));
    convert_to_s16(l.encoding, in, out);
  }
  return 0;
}
