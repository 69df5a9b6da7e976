// Capture benchmark: encodes a WAV file through the capture library as fast as possible into
// a sink that discards the chunks, and prints the real-time factor, CPU time and peak RSS.
// Compare with `opusenc --bitrate 32 --comp 10 --speech in.wav out.opus` under `time -v`.
//
//   tillid-bench-capture SPEECH.wav [bitrate_per_channel] [complexity]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tillid/capture.hpp"

using namespace tillid::capture;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SPEECH.wav [bitrate_per_channel] [complexity]\n", argv[0]);
    return 2;
  }
  RecorderSettings settings;
  if (argc > 2) settings.encoder.bitrate_per_channel = std::atoi(argv[2]);
  if (argc > 3) settings.encoder.complexity = std::atoi(argv[3]);

  auto source = open_wav(argv[1]);
  if (!source) {
    std::fprintf(stderr, "error: %s\n", source.error().message.c_str());
    return 1;
  }
  const AudioFormat format = (*source)->format();
  std::uint64_t bytes = 0, chunks = 0;
  AudioTime longest{};
  Recorder recorder(std::move(*source),
                    [&](const Chunk& c) -> tillid::Result<void> {
                      bytes += c.bytes.size();
                      ++chunks;
                      if (c.end - c.begin > longest) longest = c.end - c.begin;
                      return {};
                    },
                    settings);

  const auto t0 = std::chrono::steady_clock::now();
  auto done = recorder.run();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!done) {
    std::fprintf(stderr, "error: %s\n", done.error().message.c_str());
    return 1;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) / 1e6 + double(ru.ru_stime.tv_sec) +
                     double(ru.ru_stime.tv_usec) / 1e6;
  const double audio = double(done->encoded.count()) / 48000.0;
  std::printf("input            %d Hz, %d ch, %.1f s of audio\n", format.rate, format.channels, audio);
  std::printf("output           %llu bytes in %llu chunks (longest %.3f s), %.1f kb/s\n",
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(chunks),
              double(longest.count()) / 48000.0, double(bytes) * 8.0 / audio / 1000.0);
  std::printf("wall             %.2f s   (real-time factor %.1fx)\n", wall, audio / wall);
  std::printf("cpu (user+sys)   %.2f s\n", cpu);
  std::printf("peak RSS         %.1f MiB\n", double(ru.ru_maxrss) / 1024.0);
  return 0;
}
