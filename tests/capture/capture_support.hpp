// Helpers for the capture tests: a temporary directory, external tools (which must be
// installed: CI installs them, and a missing tool fails the test rather than skipping it),
// collecting chunks in memory, and simple signal measures.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tillid/capture.hpp"

namespace captest {

namespace fs = std::filesystem;
using namespace tillid::capture;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tillid-capture-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& name) const { return path / name; }
};

inline void require_tool(const std::string& tool) {
  const std::string cmd = "command -v " + tool + " >/dev/null 2>&1";
  INFO("missing test tool " << tool
                            << ": apt-get install espeak-ng sox opus-tools ffmpeg");
  REQUIRE(std::system(cmd.c_str()) == 0);
}

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs a shell command; returns its exit status and puts stdout+stderr in `output`.
inline int run(const std::string& cmd, std::string* output = nullptr) {
  std::string full = cmd + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline void run_ok(const std::string& cmd) {
  std::string out;
  const int rc = run(cmd, &out);
  INFO(cmd << "\n" << out);
  REQUIRE(rc == 0);
}

// Danish speech made with espeak-ng (22.05 kHz mono, so the encoder's resampler is used).
inline fs::path make_speech(const TempDir& dir, const std::string& name = "speech.wav") {
  require_tool("espeak-ng");
  const fs::path wav = dir / name;
  run_ok("espeak-ng -v da -w " + quote(wav) +
         " 'Hej. Jeg hedder Sofie, og jeg er ni år gammel. Jeg bor i Aarhus sammen med min mor "
         "og min lillebror. Om sommeren tager vi til stranden, og så bader vi hele dagen.'");
  return wav;
}

struct Collected {
  std::vector<std::uint8_t> bytes;
  std::vector<Chunk> chunks;                 // spans point into `copies`
  std::vector<std::vector<std::uint8_t>> copies;
  std::vector<std::size_t> ends;             // stream length after each chunk

  ChunkSink sink() {
    return [this](const Chunk& c) -> tillid::Result<void> {
      bytes.insert(bytes.end(), c.bytes.begin(), c.bytes.end());
      copies.emplace_back(c.bytes.begin(), c.bytes.end());
      Chunk copy = c;
      chunks.push_back(copy);
      ends.push_back(bytes.size());
      return {};
    };
  }
};

inline void write_file(const fs::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  REQUIRE(f.good());
}

struct Pcm {
  AudioFormat format;
  std::vector<std::int16_t> samples;  // interleaved
  std::size_t frames() const { return samples.size() / static_cast<std::size_t>(format.channels); }
};

inline Pcm read_wav(const fs::path& path) {
  auto src = open_wav(path);
  INFO(path << (src ? "" : ": " + src.error().message));
  REQUIRE(src.ok());
  Pcm pcm;
  pcm.format = (*src)->format();
  std::vector<std::int16_t> buf(4096 * static_cast<std::size_t>(pcm.format.channels));
  for (;;) {
    auto n = (*src)->read(buf);
    REQUIRE(n.ok());
    if (*n == 0) break;
    pcm.samples.insert(pcm.samples.end(), buf.begin(), buf.begin() + static_cast<long>(*n * static_cast<std::size_t>(pcm.format.channels)));
  }
  return pcm;
}

// Decodes an .opus file with opusdec at 48 kHz.
inline Pcm decode(const TempDir& dir, const fs::path& opus) {
  require_tool("opusdec");
  const fs::path out = dir / (opus.stem().string() + "-decoded.wav");
  run_ok("opusdec --quiet --rate 48000 " + quote(opus) + " " + quote(out));
  return read_wav(out);
}

// RMS envelope of channel 0 in windows of `window` frames.
inline std::vector<double> envelope(const Pcm& pcm, std::size_t window) {
  std::vector<double> env;
  const std::size_t ch = static_cast<std::size_t>(pcm.format.channels);
  for (std::size_t start = 0; start + window <= pcm.frames(); start += window) {
    double s = 0;
    for (std::size_t i = start; i < start + window; ++i) s += double(pcm.samples[i * ch]) * pcm.samples[i * ch];
    env.push_back(std::sqrt(s / double(window)));
  }
  return env;
}

inline double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  if (n < 2) return 0.0;
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) ma += a[i], mb += b[i];
  ma /= double(n);
  mb /= double(n);
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

inline double rms_dbfs(const Pcm& pcm) {
  double s = 0;
  for (auto v : pcm.samples) s += double(v) * v;
  if (pcm.samples.empty() || s == 0) return -120.0;
  return 10.0 * std::log10(s / double(pcm.samples.size()) / (32768.0 * 32768.0));
}

inline double seconds(AudioTime t) { return double(t.count()) / 48000.0; }

}  // namespace captest
