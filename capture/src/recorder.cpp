// The Recorder: source -> level monitor -> Opus encoder -> chunk sink. A live source (a
// microphone) is read on a thread of its own into a bounded ring, so a sink that is briefly
// slow (the vault's fsync) does not make the device overrun and lose interview audio.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "encoder.hpp"
#include "monitor.hpp"
#include "tillid/capture.hpp"
#include "tillid/secret.hpp"

namespace tillid::capture {
namespace {

AudioTime to_audio_time(std::int64_t frames, int rate) { return AudioTime(frames * 48000 / rate); }

// Single-producer single-consumer ring of interleaved samples, in sodium memory like every
// PCM buffer here (interview audio must not reach swap or a core dump). The producer never blocks:
// when the ring is full the newest audio is dropped (and counted), because blocking would
// only move the loss into the device.
class SampleRing {
 public:
  explicit SampleRing(std::size_t samples) : buf_(samples) {}

  // Returns the samples stored.
  std::size_t push(std::span<const std::int16_t> in) {
    std::size_t n;
    {
      std::lock_guard lock(mu_);
      n = std::min(in.size(), buf_.size() - size_);
      const std::size_t tail = (head_ + size_) % buf_.size();
      const std::size_t first = std::min(n, buf_.size() - tail);
      std::copy_n(in.begin(), first, buf_.data() + tail);
      std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(first), n - first, buf_.data());
      size_ += n;
    }
    cv_.notify_one();
    return n;
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_one();
  }

  // Waits for at least `want` samples (or close); returns the samples copied, 0 when closed
  // and empty.
  std::size_t pop(std::span<std::int16_t> out, std::size_t want) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return size_ >= want || closed_; });
    const std::size_t n = std::min(out.size(), size_);
    const std::size_t first = std::min(n, buf_.size() - head_);
    std::copy_n(buf_.data() + head_, first, out.begin());
    std::copy_n(buf_.data(), n - first, out.begin() + static_cast<std::ptrdiff_t>(first));
    head_ = (head_ + n) % buf_.size();
    size_ -= n;
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  SecureArray<std::int16_t> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool closed_ = false;
};

}  // namespace

struct Recorder::Impl {
  std::unique_ptr<AudioSource> source;
  ChunkSink sink;
  RecorderSettings settings;
  std::atomic<bool> stop_requested{false};
  bool ran = false;

  mutable std::mutex mu;
  RecorderStatus status;

  void set_state(RecorderState s) {
    std::lock_guard lock(mu);
    status.state = s;
  }
};

Recorder::Recorder(std::unique_ptr<AudioSource> source, ChunkSink sink, RecorderSettings settings)
    : impl_(std::make_unique<Impl>()) {
  impl_->source = std::move(source);
  impl_->sink = std::move(sink);
  impl_->settings = std::move(settings);
}

Recorder::~Recorder() = default;

void Recorder::stop() { impl_->stop_requested.store(true, std::memory_order_relaxed); }

RecorderStatus Recorder::status() const {
  std::lock_guard lock(impl_->mu);
  return impl_->status;
}

AudioTime Recorder::position() const {
  std::lock_guard lock(impl_->mu);
  return impl_->status.captured;
}

Result<RecorderStatus> Recorder::run() {
  Impl& im = *impl_;
  if (im.ran) return make_error(Errc::invalid_argument, "a Recorder records once; create a new one");
  im.ran = true;
  if (!im.source) return make_error(Errc::invalid_argument, "the Recorder has no audio source");
  if (!im.sink) return make_error(Errc::invalid_argument, "the Recorder has no chunk sink");
  TILLID_TRY(LevelMonitor::validate(im.settings.monitor));
  if (im.settings.live_buffer < std::chrono::milliseconds(200) || im.settings.live_buffer > std::chrono::minutes(5))
    return make_error(Errc::invalid_argument, "the live buffer must hold 0.2 s .. 5 min of audio");
  if (im.settings.max_duration && im.settings.max_duration->count() <= 0)
    return make_error(Errc::invalid_argument, "the maximum duration must be positive");

  const AudioFormat format = im.source->format();
  const std::size_t channels = static_cast<std::size_t>(format.channels);

  auto emit = [&im](const Chunk& chunk) -> Result<void> {
    TILLID_TRY(im.sink(chunk));
    std::lock_guard lock(im.mu);
    im.status.bytes_emitted += chunk.bytes.size();
    im.status.chunks_emitted += 1;
    im.status.encoded = chunk.end;
    return {};
  };
  auto created = ChunkEncoder::create(format, im.settings.encoder, emit);
  if (!created) {
    im.set_state(RecorderState::failed);
    return created.error();
  }
  std::unique_ptr<ChunkEncoder> encoder = std::move(created).value();
  LevelMonitor monitor(format, im.settings.monitor);
  std::vector<AlarmEvent> events;
  im.set_state(RecorderState::recording);

  std::int64_t limit_frames = -1;  // -1: no limit
  if (im.settings.max_duration)
    limit_frames = std::max<std::int64_t>(1, im.settings.max_duration->count() * format.rate / 48000);

  // Monitor and encode one block on this thread.
  auto process = [&](std::span<const std::int16_t> samples) -> Result<void> {
    events.clear();
    monitor.feed(samples, events);
    {
      std::lock_guard lock(im.mu);
      im.status.level = monitor.level();
      im.status.silence = monitor.silence();
      im.status.clipping = monitor.clipping();
    }
    if (im.settings.on_alarm)
      for (const AlarmEvent& e : events) im.settings.on_alarm(e);
    return encoder->write(samples);
  };
  auto fail = [&](Error e) -> Result<RecorderStatus> {
    im.set_state(RecorderState::failed);
    return e;
  };

  // 100 ms blocks: small enough to keep memory and latency low, large enough that the
  // per-call overhead of libopusenc does not show.
  const std::size_t block_frames = static_cast<std::size_t>(std::max(1, format.rate / 10));
  SecureArray<std::int16_t> block_mem(block_frames * channels);
  const std::span<std::int16_t> block = block_mem.span();
  std::optional<Error> source_error;

  if (!im.source->live()) {
    std::int64_t read_frames = 0;
    while (!im.stop_requested.load(std::memory_order_relaxed)) {
      std::size_t want = block_frames;
      if (limit_frames >= 0) want = std::min<std::size_t>(want, static_cast<std::size_t>(limit_frames - read_frames));
      if (want == 0) break;
      auto n = im.source->read(block.first(want * channels));
      if (!n) {
        source_error = n.error();
        break;
      }
      if (*n == 0) break;
      read_frames += static_cast<std::int64_t>(*n);
      {
        std::lock_guard lock(im.mu);
        im.status.captured = to_audio_time(read_frames, format.rate);
      }
      if (auto r = process(block.first(*n * channels)); !r) return fail(r.error());
    }
  } else {
    const auto ring_frames = static_cast<std::size_t>(im.settings.live_buffer.count() * format.rate / 48000);
    SampleRing ring(ring_frames * channels);
    std::optional<Error> capture_error;
    std::thread capture([&] {
      // 50 ms reads: the device buffer is 500 ms, so this thread is always back in time.
      SecureArray<std::int16_t> period_mem(static_cast<std::size_t>(std::max(1, format.rate / 20)) * channels);
      const std::span<std::int16_t> period = period_mem.span();
      std::int64_t read_frames = 0;
      std::int64_t dropped_frames = 0;
      while (!im.stop_requested.load(std::memory_order_relaxed)) {
        std::size_t want = period.size() / channels;
        if (limit_frames >= 0) want = std::min<std::size_t>(want, static_cast<std::size_t>(limit_frames - read_frames));
        if (want == 0) break;
        auto n = im.source->read(period.first(want * channels));
        if (!n) {
          capture_error = n.error();
          break;
        }
        if (*n == 0) break;
        const std::size_t stored = ring.push(period.first(*n * channels));
        read_frames += static_cast<std::int64_t>(*n);
        dropped_frames += static_cast<std::int64_t>(*n - stored / channels);
        std::lock_guard lock(im.mu);
        im.status.captured = to_audio_time(read_frames, format.rate);
        im.status.dropped = to_audio_time(dropped_frames, format.rate);
        im.status.overruns = im.source->overruns();
      }
      ring.close();
    });
    Result<void> encoded{};
    for (;;) {
      const std::size_t n = ring.pop(block, block.size());
      if (n == 0) break;
      encoded = process(block.first(n - n % channels));
      if (!encoded) {
        // The sink or encoder failed: stop the device and discard what is left.
        im.stop_requested.store(true);
        while (ring.pop(block, 0) != 0) {
        }
        break;
      }
    }
    capture.join();
    if (!encoded) return fail(encoded.error());
    source_error = std::move(capture_error);
  }

  // End the stream even when the source failed, so everything captured stays playable.
  if (auto r = encoder->finish(); !r) return fail(r.error());
  if (source_error) return fail(*source_error);
  std::lock_guard lock(im.mu);
  im.status.state = RecorderState::finished;
  return im.status;
}

}  // namespace tillid::capture
