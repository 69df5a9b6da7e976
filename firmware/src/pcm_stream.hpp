// An AudioSource fed over the control socket: a client that opened a WAV file itself (the
// daemon never opens a client's path) streams signed 16-bit little-endian PCM as data frames,
// and the recorder reads it here. A fixed ring in sodium memory sits between the connection
// thread (push, which blocks while the ring is full: backpressure reaches the client through
// the socket) and the recorder thread (read).
#pragma once

#include <condition_variable>
#include <mutex>

#include "tillid/capture.hpp"
#include "tillid/secret.hpp"

namespace tillid::daemon {

class PcmStream final : public capture::AudioSource {
 public:
  explicit PcmStream(capture::AudioFormat format, std::size_t ring_bytes = 256 * 1024);

  capture::AudioFormat format() const override { return format_; }
  Result<std::size_t> read(std::span<std::int16_t> out) override;

  // Connection side. push() returns false once the reader is gone (abort()).
  bool push(std::span<const unsigned char> bytes);
  void finish();                  // end of input: read() drains the ring, then returns 0
  void fail(std::string message);  // the connection broke: read() returns this error
  void abort();                   // the recorder is done: push() stops waiting

 private:
  capture::AudioFormat format_;
  SecureArray<unsigned char> ring_;
  std::size_t head_ = 0, size_ = 0;  // ring_[head_, head_ + size_) modulo the ring's size
  bool finished_ = false, aborted_ = false;
  std::string error_;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace tillid::daemon
