// WAV file source: a defensive RIFF/WAVE parser and a reader that converts the samples to
// signed 16-bit. A WAV handed in for import may be truncated or damaged; every size field is
// checked against the bytes present and every failure says what is wrong and what to do.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tillid/capture_wav.hpp"
#include "tillid/secret.hpp"

namespace tillid::capture {
namespace {

constexpr std::uint16_t kFormatPcm = 1;
constexpr std::uint16_t kFormatFloat = 3;
constexpr std::uint16_t kFormatExtensible = 0xFFFE;
// Tail of the KSDATAFORMAT_SUBTYPE GUIDs after the 2-byte format tag.
constexpr std::array<std::uint8_t, 14> kGuidTail = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                                    0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

std::uint16_t le16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

Error malformed(const std::string& what) {
  return make_error(Errc::corrupt, "WAV file is malformed: " + what +
                                       "; re-export it as 16-bit PCM WAV (e.g. with sox)");
}
Error truncated(const std::string& what) {
  return make_error(Errc::corrupt, "WAV file is truncated: " + what +
                                       "; if it is a damaged recording, salvage it with "
                                       "`sox --ignore-length in.wav out.wav`");
}
Error unsupported(const std::string& what) {
  return make_error(Errc::unsupported, "WAV file is not supported: " + what +
                                           "; convert it with `sox in.wav -b 16 out.wav`");
}

struct Fmt {
  std::uint16_t tag = 0;
  std::uint16_t channels = 0;
  std::uint32_t rate = 0;
  std::uint16_t block_align = 0;
  std::uint16_t bits = 0;
};

Result<Fmt> parse_fmt(std::span<const std::uint8_t> body) {
  if (body.size() < 16) return malformed("the fmt chunk is " + std::to_string(body.size()) + " bytes, needs 16");
  Fmt f;
  f.tag = le16(&body[0]);
  f.channels = le16(&body[2]);
  f.rate = le32(&body[4]);
  f.block_align = le16(&body[12]);
  f.bits = le16(&body[14]);
  if (f.tag == kFormatExtensible) {
    // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16).
    if (body.size() < 40) return malformed("the extensible fmt chunk is shorter than 40 bytes");
    const std::uint8_t* guid = &body[24];
    if (!std::equal(kGuidTail.begin(), kGuidTail.end(), guid + 2))
      return unsupported("the extensible sub-format is not PCM or IEEE float");
    f.tag = le16(guid);
  }
  return f;
}

}  // namespace

Result<WavLayout> parse_wav_header(std::span<const std::uint8_t> head, std::uint64_t file_size) {
  if (head.size() > file_size) return make_error(Errc::internal, "WAV parser given more bytes than the file holds");
  if (head.size() < 12) return truncated("the file is " + std::to_string(head.size()) + " bytes, shorter than a RIFF header");
  if (std::memcmp(head.data(), "RIFF", 4) != 0) {
    if (std::memcmp(head.data(), "RF64", 4) == 0) return unsupported("RF64 (over 4 GiB) files");
    return malformed("it does not start with \"RIFF\"");
  }
  if (std::memcmp(head.data() + 8, "WAVE", 4) != 0) return malformed("the RIFF form type is not \"WAVE\"");

  // The RIFF size only bounds the chunk walk; writers that were killed leave it wrong, and
  // streaming writers leave 0 or 0xFFFFFFFF, so the file size is the hard limit.
  std::uint64_t riff_end = std::uint64_t{le32(head.data() + 4)} + 8;
  if (riff_end < 12 || riff_end > file_size) riff_end = file_size;

  std::optional<Fmt> fmt;
  std::uint64_t pos = 12;
  for (;;) {
    if (pos + 8 > riff_end) {
      if (!fmt) return truncated("no \"fmt \" chunk before the end of the file");
      return truncated("no \"data\" chunk before the end of the file");
    }
    if (pos + 8 > head.size()) {
      return unsupported("the audio data does not start within the first " +
                         std::to_string(kWavMaxHeaderBytes / 1024) + " KiB");
    }
    const std::uint8_t* id = head.data() + pos;
    const std::uint64_t size = le32(id + 4);
    const std::uint64_t body = pos + 8;
    const std::string name(reinterpret_cast<const char*>(id), 4);

    if (std::memcmp(id, "data", 4) == 0) {
      if (!fmt) return malformed("the \"data\" chunk comes before the \"fmt \" chunk");
      std::uint64_t bytes = size;
      const std::uint64_t available = file_size - body;
      if (size == 0 || size == 0xFFFFFFFFu) {
        bytes = available;  // written by a streaming recorder that never came back to patch it
      } else if (size > available) {
        return truncated("the data chunk declares " + std::to_string(size) + " bytes but only " +
                         std::to_string(available) + " follow");
      }
      WavLayout layout;
      layout.format.rate = static_cast<int>(fmt->rate);
      layout.format.channels = fmt->channels;
      layout.block_align = fmt->block_align;
      layout.data_offset = body;
      layout.data_bytes = bytes - bytes % fmt->block_align;
      switch (fmt->bits) {
        case 8: layout.encoding = SampleEncoding::u8; break;
        case 16: layout.encoding = SampleEncoding::s16; break;
        case 24: layout.encoding = SampleEncoding::s24; break;
        default: layout.encoding = fmt->tag == kFormatFloat ? SampleEncoding::f32 : SampleEncoding::s32; break;
      }
      return layout;
    }

    if (body + size > riff_end) return truncated("the \"" + name + "\" chunk runs past the end of the file");
    if (std::memcmp(id, "fmt ", 4) == 0) {
      if (fmt) return malformed("it has two \"fmt \" chunks");
      if (body + size > head.size()) return unsupported("the fmt chunk is implausibly large");
      TILLID_ASSIGN(Fmt f, parse_fmt(head.subspan(static_cast<std::size_t>(body), static_cast<std::size_t>(size))));
      if (f.tag != kFormatPcm && f.tag != kFormatFloat)
        return unsupported("format tag " + std::to_string(f.tag) + " (only PCM and IEEE float)");
      if (f.channels != 1 && f.channels != 2)
        return unsupported(std::to_string(f.channels) + " channels (only mono and stereo)");
      if (f.rate < 8000 || f.rate > 192000)
        return unsupported("sample rate " + std::to_string(f.rate) + " Hz (8000..192000)");
      const bool ok_bits = f.tag == kFormatFloat ? f.bits == 32
                                                 : (f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32);
      if (!ok_bits) return unsupported(std::to_string(f.bits) + "-bit samples" + (f.tag == kFormatFloat ? " in float format" : ""));
      if (f.block_align != f.channels * (f.bits / 8))
        return malformed("block align " + std::to_string(f.block_align) + " does not match " +
                         std::to_string(f.channels) + " channels of " + std::to_string(f.bits) + " bits");
      fmt = f;
    }
    pos = body + size + (size & 1);  // chunks are padded to an even length
  }
}

std::size_t convert_to_s16(SampleEncoding encoding, std::span<const std::uint8_t> in,
                           std::span<std::int16_t> out) {
  const std::size_t width = encoding == SampleEncoding::u8    ? 1
                            : encoding == SampleEncoding::s16 ? 2
                            : encoding == SampleEncoding::s24 ? 3
                                                              : 4;
  const std::size_t n = std::min(in.size() / width, out.size());
  const std::uint8_t* p = in.data();
  switch (encoding) {
    case SampleEncoding::u8:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int16_t>((p[i] - 128) * 256);
      break;
    case SampleEncoding::s16:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int16_t>(le16(p + 2 * i));
      break;
    case SampleEncoding::s24:  // keep the top 16 bits
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int16_t>(p[3 * i + 1] | (p[3 * i + 2] << 8));
      break;
    case SampleEncoding::s32:
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::int16_t>(le32(p + 4 * i) >> 16);
      break;
    case SampleEncoding::f32:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t bits = le32(p + 4 * i);
        float f;
        std::memcpy(&f, &bits, sizeof f);
        if (!(f == f)) f = 0.0f;  // NaN from a damaged file becomes silence
        const float scaled = std::clamp(f * 32768.0f, -32768.0f, 32767.0f);
        out[i] = static_cast<std::int16_t>(std::lrintf(scaled));
      }
      break;
  }
  return n;
}

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

class WavSource final : public AudioSource {
 public:
  WavSource(File file, WavLayout layout, std::string path)
      : file_(std::move(file)), layout_(layout), path_(std::move(path)), remaining_(layout.data_bytes) {}

  AudioFormat format() const override { return layout_.format; }

  Result<std::size_t> read(std::span<std::int16_t> out) override {
    const std::size_t channels = static_cast<std::size_t>(layout_.format.channels);
    std::size_t frames = std::min<std::uint64_t>(out.size() / channels, remaining_ / layout_.block_align);
    std::size_t done = 0;
    while (done < frames) {
      const std::size_t n = std::min(frames - done, bytes_.size() / layout_.block_align);
      const std::size_t want = n * layout_.block_align;
      const std::size_t got = std::fread(bytes_.data(), 1, want, file_.get());
      if (got != want) {
        if (std::ferror(file_.get()))
          return make_error(Errc::io, "reading " + path_ + " failed: " + std::strerror(errno));
        return make_error(Errc::corrupt, path_ + " became shorter while it was being read");
      }
      convert_to_s16(layout_.encoding, {bytes_.data(), got}, out.subspan(done * channels, n * channels));
      done += n;
    }
    remaining_ -= std::uint64_t{done} * layout_.block_align;
    return done;
  }

 private:
  File file_;
  WavLayout layout_;
  std::string path_;
  std::uint64_t remaining_;
  SecureArray<std::uint8_t> bytes_{16384};  // raw PCM, in sodium memory
};

}  // namespace

Result<std::unique_ptr<AudioSource>> open_wav(const std::filesystem::path& path) {
  const std::string name = path.string();
  File file(std::fopen(name.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                      "cannot open WAV file " + name + ": " + std::strerror(err));
  }
  // Unbuffered: fread fills our sodium-memory buffers directly, so no copy of the audio
  // stays behind in stdio's heap buffer.
  std::setvbuf(file.get(), nullptr, _IONBF, 0);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return make_error(Errc::invalid_argument, name + " is not a regular file");
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(Errc::io, "cannot get the size of " + name + ": " + ec.message());

  // The header read may run into the first samples: sodium memory too.
  SecureArray<std::uint8_t> head(static_cast<std::size_t>(std::min<std::uint64_t>(size, kWavMaxHeaderBytes)));
  if (std::fread(head.data(), 1, head.size(), file.get()) != head.size())
    return make_error(Errc::io, "reading the header of " + name + " failed");
  auto layout = parse_wav_header(head.span(), size);
  if (!layout) return make_error(layout.error().code, name + ": " + layout.error().message);
  if (std::fseek(file.get(), static_cast<long>(layout->data_offset), SEEK_SET) != 0)
    return make_error(Errc::io, "seeking in " + name + " failed");
  return std::unique_ptr<AudioSource>(std::make_unique<WavSource>(std::move(file), *layout, name));
}

}  // namespace tillid::capture
