// Ogg Opus encoding through libopusenc, with the stream cut into chunks at Ogg page
// boundaries. libopusenc hands every finished page to on_page(); pages are collected and
// handed on as one chunk after each write, so a chunk boundary is always a page boundary and
// the stream truncated after any chunk is a valid Ogg Opus stream (capture/README.md).
#include "encoder.hpp"

#include <opus/opusenc.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

namespace tillid::capture {
namespace {

struct CommentsDeleter {
  void operator()(OggOpusComments* c) const { ope_comments_destroy(c); }
};

Error ope_error(const char* what, int err) {
  return make_error(Errc::internal, std::string("Opus encoder: ") + what + " failed: " + ope_strerror(err));
}

// Ogg page header (RFC 3533 §6): "OggS", version, flags, granule(8), serial(4), seq(4),
// crc(4), segment count, segment table.
constexpr std::size_t kPageHeader = 27;
constexpr std::uint8_t kFlagEos = 0x04;

std::int64_t read_granule(const unsigned char* page) {
  std::uint64_t g = 0;
  for (int i = 7; i >= 0; --i) g = (g << 8) | page[6 + i];
  return static_cast<std::int64_t>(g);
}

}  // namespace

void ChunkEncoder::EncDeleter::operator()(OggOpusEnc* enc) const { ope_encoder_destroy(enc); }

ChunkEncoder::~ChunkEncoder() = default;

int ChunkEncoder::on_page(void* user, const unsigned char* page, std::int32_t len) {
  auto* self = static_cast<ChunkEncoder*>(user);
  if (len < static_cast<std::int32_t>(kPageHeader) || std::memcmp(page, "OggS", 4) != 0) {
    self->page_error_ = true;
    return 1;
  }
  const std::size_t body = kPageHeader + page[26];
  if (self->preskip_ < 0) {
    // The first page holds OpusHead (RFC 7845 §5.1); pre-skip is at byte 10 of the packet.
    if (static_cast<std::size_t>(len) < body + 12 || std::memcmp(page + body, "OpusHead", 8) != 0) {
      self->page_error_ = true;
      return 1;
    }
    self->preskip_ = page[body + 10] | (page[body + 11] << 8);
  }
  self->pending_.append({page, static_cast<std::size_t>(len)});
  // A page whose granule is -1 ends inside a packet that continues on the next page; a
  // chunk may not end there or its stream would not decode up to its end.
  const std::int64_t granule = read_granule(page);
  const bool eos = (page[5] & kFlagEos) != 0;
  if (eos) self->eos_ = true;
  if (granule != -1) self->page_ends_.push_back({self->pending_.size(), granule, eos});
  return 0;
}

int ChunkEncoder::on_close(void*) { return 0; }

Result<std::unique_ptr<ChunkEncoder>> ChunkEncoder::create(AudioFormat input, const EncoderSettings& s,
                                                           std::function<Result<void>(const Chunk&)> emit) {
  if (input.channels != 1 && input.channels != 2)
    return make_error(Errc::invalid_argument, "the encoder takes 1 or 2 channels, not " + std::to_string(input.channels));
  if (input.rate < 8000 || input.rate > 192000)
    return make_error(Errc::invalid_argument, "input rate " + std::to_string(input.rate) + " Hz is outside 8000..192000");
  if (s.bitrate_per_channel < 6000 || s.bitrate_per_channel > 256000)
    return make_error(Errc::invalid_argument,
                      "bitrate " + std::to_string(s.bitrate_per_channel) + " b/s per channel is outside 6000..256000");
  if (s.complexity < 0 || s.complexity > 10)
    return make_error(Errc::invalid_argument, "complexity " + std::to_string(s.complexity) + " is outside 0..10");

  std::unique_ptr<ChunkEncoder> self(new ChunkEncoder());
  self->emit_ = std::move(emit);
  self->channels_ = input.channels;

  std::unique_ptr<OggOpusComments, CommentsDeleter> comments(ope_comments_create());
  if (!comments) return make_error(Errc::internal, "Opus encoder: out of memory creating comments");
  if (ope_comments_add(comments.get(), "ENCODER", "Tillid capture") != OPE_OK ||
      (!s.title.empty() && ope_comments_add(comments.get(), "TITLE", s.title.c_str()) != OPE_OK))
    return make_error(Errc::invalid_argument, "Opus encoder: cannot add the stream tags");

  static constexpr OpusEncCallbacks callbacks = {&ChunkEncoder::on_page, &ChunkEncoder::on_close};
  int err = OPE_OK;
  // Mapping family 0: mono or stereo in one Opus stream, what every player expects.
  self->enc_.reset(ope_encoder_create_callbacks(&callbacks, self.get(), comments.get(), input.rate,
                                                input.channels, 0, &err));
  if (!self->enc_ || err != OPE_OK) return ope_error("create", err);
  OggOpusEnc* enc = self->enc_.get();

  std::random_device rd;
  const auto serial = static_cast<opus_int32>(rd() & 0x7fffffff);
  if ((err = ope_encoder_ctl(enc, OPE_SET_SERIALNO(serial))) != OPE_OK) return ope_error("serial number", err);
  if ((err = ope_encoder_ctl(enc, OPUS_SET_APPLICATION(OPUS_APPLICATION_VOIP))) != OPE_OK)
    return ope_error("speech application", err);
  if ((err = ope_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPE_OK) return ope_error("voice signal", err);
  if ((err = ope_encoder_ctl(enc, OPUS_SET_BITRATE(s.bitrate_per_channel * input.channels))) != OPE_OK)
    return ope_error("bitrate", err);
  if ((err = ope_encoder_ctl(enc, OPUS_SET_COMPLEXITY(s.complexity))) != OPE_OK) return ope_error("complexity", err);
  // A page is closed as soon as it spans one second (48000 granules), so every chunk is at
  // most a second of audio. The decision delay (default two seconds of look-ahead buffered
  // inside libopusenc) is set to nothing so audio is encoded as soon as a frame is complete.
  if ((err = ope_encoder_ctl(enc, OPE_SET_MUXING_DELAY(48000))) != OPE_OK) return ope_error("muxing delay", err);
  if ((err = ope_encoder_ctl(enc, OPE_SET_DECISION_DELAY(0))) != OPE_OK) return ope_error("decision delay", err);
  if ((err = ope_encoder_flush_header(enc)) != OPE_OK) return ope_error("writing the headers", err);
  TILLID_TRY(self->emit_complete_pages(true));
  return self;
}

Result<void> ChunkEncoder::write(std::span<const std::int16_t> interleaved) {
  const int frames = static_cast<int>(interleaved.size() / static_cast<std::size_t>(channels_));
  const int err = ope_encoder_write(enc_.get(), interleaved.data(), frames);
  if (page_error_) return make_error(Errc::internal, "Opus encoder produced a malformed Ogg page");
  if (err != OPE_OK) return ope_error("encoding", err);
  if (page_ends_.empty()) return {};
  return emit_complete_pages(false);
}

Result<void> ChunkEncoder::finish() {
  const int err = ope_encoder_drain(enc_.get());
  if (page_error_) return make_error(Errc::internal, "Opus encoder produced a malformed Ogg page");
  if (err != OPE_OK) return ope_error("ending the stream", err);
  if (!eos_ || page_ends_.empty() || page_ends_.back().offset != pending_.size())
    return make_error(Errc::internal, "Opus encoder ended the stream without a final page");
  return emit_complete_pages(false);
}

Result<void> ChunkEncoder::emit_complete_pages(bool one_chunk) {
  // Normally one page arrives per write; draining at the end can complete two (the last
  // full second and the short EOS page), which go out as two chunks to keep each chunk
  // within one second.
  if (page_ends_.empty()) return {};
  std::size_t begin = 0;
  for (std::size_t i = one_chunk ? page_ends_.size() - 1 : 0; i < page_ends_.size(); ++i) {
    const PageEnd& mark = page_ends_[i];
    Chunk chunk;
    chunk.bytes = std::span<const std::uint8_t>(pending_.data() + begin, mark.offset - begin);
    chunk.index = next_index_;
    chunk.begin = emitted_end_;
    // Granule positions count 48 kHz samples including the pre-skip (RFC 7845 §4).
    chunk.end = std::max(emitted_end_, AudioTime(std::max<std::int64_t>(0, mark.granule - preskip_)));
    chunk.last = mark.eos;
    TILLID_TRY(emit_(chunk));
    ++next_index_;
    emitted_end_ = chunk.end;
    begin = mark.offset;
  }
  // Keep any pages that end inside a continued packet for the next chunk.
  pending_.erase_front(begin);
  page_ends_.clear();
  return {};
}

}  // namespace tillid::capture
