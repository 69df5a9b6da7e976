// Ogg Opus encoding with libopusenc, cut into chunks of whole Ogg pages (capture/README.md).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "tillid/capture.hpp"
#include "tillid/secret.hpp"

struct OggOpusEnc;

namespace tillid::capture {

class ChunkEncoder {
 public:
  // Validates the settings, creates the encoder and emits the header chunk (index 0).
  static Result<std::unique_ptr<ChunkEncoder>> create(AudioFormat input, const EncoderSettings& settings,
                                                      std::function<Result<void>(const Chunk&)> emit);
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // Encodes interleaved frames; emits a chunk whenever libopusenc completes a page, which
  // the muxing delay forces after every second of audio.
  Result<void> write(std::span<const std::int16_t> interleaved);
  // Pads and encodes what is buffered and emits the final chunk with the EOS page.
  Result<void> finish();

 private:
  ChunkEncoder() = default;
  static int on_page(void* self, const unsigned char* page, std::int32_t len);
  static int on_close(void* self);
  // Emits the complete pages, one chunk per page (or all as one chunk, for the headers).
  Result<void> emit_complete_pages(bool one_chunk);

  struct EncDeleter {
    void operator()(OggOpusEnc* enc) const;
  };
  std::unique_ptr<OggOpusEnc, EncDeleter> enc_;
  std::function<Result<void>(const Chunk&)> emit_;
  int channels_ = 1;
  // A point in pending_ where a page ends that a chunk may end with: the page's granule
  // position is not -1, so no packet continues past it.
  struct PageEnd {
    std::size_t offset;
    std::int64_t granule;
    bool eos;
  };
  SecureBytes pending_{16384};  // pages written by libopusenc, not yet emitted (sodium memory)
  std::vector<PageEnd> page_ends_;
  std::int64_t preskip_ = -1;
  bool eos_ = false;
  bool page_error_ = false;
  std::uint64_t next_index_ = 0;
  AudioTime emitted_end_{};
};

}  // namespace tillid::capture
