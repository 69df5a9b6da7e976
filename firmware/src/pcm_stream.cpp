// The ring behind PcmStream: bytes in, whole s16le frames out.
#include "pcm_stream.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tillid::daemon {

// The wire carries s16le and read() copies bytes straight into int16_t samples.
static_assert(std::endian::native == std::endian::little, "PcmStream assumes a little-endian host");

PcmStream::PcmStream(capture::AudioFormat format, std::size_t ring_bytes) : format_(format), ring_(ring_bytes) {}

bool PcmStream::push(std::span<const unsigned char> bytes) {
  std::unique_lock lk(mu_);
  while (!bytes.empty()) {
    // Wait for half the ring (or all this push needs) rather than any free byte: otherwise
    // every small read of the recorder wakes this thread for a few bytes, and the ping-pong
    // of wake-ups costs more CPU than the copy (bench: daemon-record-vs-opusenc.sh).
    const std::size_t enough = std::min(bytes.size(), ring_.size() / 2);
    cv_.wait(lk, [&] { return aborted_ || ring_.size() - size_ >= enough; });
    if (aborted_) return false;
    const std::size_t tail = (head_ + size_) % ring_.size();
    const std::size_t n = std::min({bytes.size(), ring_.size() - size_, ring_.size() - tail});
    std::memcpy(ring_.data() + tail, bytes.data(), n);
    size_ += n;
    bytes = bytes.subspan(n);
    cv_.notify_all();
  }
  return true;
}

void PcmStream::finish() {
  std::lock_guard lk(mu_);
  finished_ = true;
  cv_.notify_all();
}

void PcmStream::fail(std::string message) {
  std::lock_guard lk(mu_);
  error_ = std::move(message);
  finished_ = true;
  cv_.notify_all();
}

void PcmStream::abort() {
  std::lock_guard lk(mu_);
  aborted_ = true;
  cv_.notify_all();
}

Result<std::size_t> PcmStream::read(std::span<std::int16_t> out) {
  const std::size_t frame_bytes = 2 * static_cast<std::size_t>(format_.channels);
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return finished_ || size_ >= frame_bytes; });
  // After a broken connection the audio already received is still recorded; the error is
  // reported once the ring is drained so the recording ends where the input did.
  if (size_ < frame_bytes) {
    if (!error_.empty()) return make_error(Errc::io, error_);
    return std::size_t{0};  // end of input (a trailing partial frame is dropped)
  }
  const std::size_t frames = std::min(size_ / frame_bytes, out.size() / static_cast<std::size_t>(format_.channels));
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  std::size_t want = frames * frame_bytes;
  std::size_t done = 0;
  while (done < want) {
    const std::size_t n = std::min(want - done, ring_.size() - head_);
    std::memcpy(dst + done, ring_.data() + head_, n);  // s16le on a little-endian host
    head_ = (head_ + n) % ring_.size();
    size_ -= n;
    done += n;
  }
  // Wake a waiting push only once it can take a large piece (see push()).
  if (ring_.size() - size_ >= ring_.size() / 2) cv_.notify_all();
  return frames;
}

}  // namespace tillid::daemon
