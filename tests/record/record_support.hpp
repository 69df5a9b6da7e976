// Helpers for the recording tests: a CLI vault with a case and one daemon for the whole test,
// a background `tillid record start --wait` (the client that shows a recording until it
// ends), WAV reading, and audio comparisons (duration, RMS envelope correlation).
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_fixture.hpp"

namespace tillid::test {

using Clock = std::chrono::steady_clock;

inline void require_tool(const std::string& tool) {
  INFO("missing test tool " << tool << ": apt-get install espeak-ng sox opus-tools ffmpeg");
  REQUIRE(shell("command -v " + tool + " >/dev/null 2>&1").exit_code == 0);
}

inline std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

inline void shell_ok(const std::string& cmd) {
  auto r = shell(cmd);
  INFO(cmd << "\n" << r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

// One daemon for the test (recordings live in it); `extra_config` for tillidd (e.g. a mirror).
struct RecVault : CliVault {
  explicit RecVault(const std::string& extra_config = "") : CliVault(CliOptions::kept(extra_config)) {
    REQUIRE(tillid({"case", "add", "--number", "C1", "--municipality", "0101"}).exit_code == 0);
  }
};

// `tillid record start --wait` running in the background as staff: it prints "Recording item
// <id>" once capture runs, status lines and alarms while it lasts, and the sealed item at the
// end; stdout/stderr go to files.
struct Background {
  pid_t pid = -1;
  fs::path out, err;
  std::optional<int> exit_code;

  Background(const RecVault& v, std::vector<std::string> args, const std::string& name = "rec") {
    out = v.tmp / (name + ".out");
    err = v.tmp / (name + ".err");
    fs::remove(out);
    fs::remove(err);
    args.insert(args.begin(), {"--json", "record", "start", "--wait"});
    v.ensure_daemon();
    pid = spawn(v.argv(args), out, err, {}, -1, static_cast<int>(TestUids::staff));
  }
  ~Background() {
    if (!exit_code) {
      ::kill(pid, SIGKILL);
      wait();
    }
  }
  int wait() {
    if (!exit_code) exit_code = wait_exit(pid);
    return *exit_code;
  }
  // Waits and returns the raw wait status (to see a signal and whether it dumped core).
  int wait_status() {
    const int status = tillid::test::wait_status(pid);
    exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return status;
  }
  std::string proc_file(const std::string& name) const {
    return read_file("/proc/" + std::to_string(pid) + "/" + name);
  }
  std::string err_text() const { return read_file(err); }
  // Waits until stderr says the recording started; returns its item id.
  std::string wait_started(std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto end = Clock::now() + limit;
    // Found by hand: std::regex trips GCC 12's -Wmaybe-uninitialized under -fsanitize.
    static const std::string marker = "Recording item ";
    auto item_id = [](const std::string& e) -> std::string {
      const auto at = e.find(marker);
      if (at == std::string::npos || e.size() < at + marker.size() + 32) return {};
      const std::string id = e.substr(at + marker.size(), 32);
      return id.find_first_not_of("0123456789abcdef") == std::string::npos ? id : std::string();
    };
    while (Clock::now() < end) {
      if (std::string id = item_id(err_text()); !id.empty()) return id;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        FAIL("recorder exited early: " << err_text());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("recording did not start: " << err_text());
    return {};
  }
};

struct Pcm {
  int rate = 0;
  int channels = 0;
  std::vector<std::int16_t> samples;  // interleaved
  double seconds() const { return rate == 0 ? 0.0 : double(samples.size()) / channels / rate; }
};

// Minimal RIFF/WAVE reader for the 16-bit PCM files sox and opusdec write.
inline Pcm read_wav(const fs::path& p) {
  const std::string b = read_file(p);
  REQUIRE(b.size() >= 12);
  REQUIRE(b.compare(0, 4, "RIFF") == 0);
  REQUIRE(b.compare(8, 4, "WAVE") == 0);
  auto u32 = [&](std::size_t o) {
    std::uint32_t v;
    std::memcpy(&v, b.data() + o, 4);
    return v;
  };
  auto u16 = [&](std::size_t o) {
    std::uint16_t v;
    std::memcpy(&v, b.data() + o, 2);
    return v;
  };
  Pcm pcm;
  std::size_t o = 12;
  while (o + 8 <= b.size()) {
    const std::string id = b.substr(o, 4);
    std::size_t len = u32(o + 4);
    if (id == "fmt ") {
      pcm.channels = u16(o + 10);
      pcm.rate = static_cast<int>(u32(o + 12));
      REQUIRE(u16(o + 22) == 16);
    } else if (id == "data") {
      len = std::min(len, b.size() - o - 8);
      pcm.samples.resize(len / 2);
      std::memcpy(pcm.samples.data(), b.data() + o + 8, pcm.samples.size() * 2);
      break;
    }
    o += 8 + len + (len & 1);
  }
  REQUIRE(pcm.rate > 0);
  return pcm;
}

// RMS per 20 ms window of the first channel.
inline std::vector<double> envelope(const Pcm& p) {
  const std::size_t win = static_cast<std::size_t>(p.rate / 50);
  std::vector<double> e;
  const std::size_t frames = p.samples.size() / p.channels;
  for (std::size_t f = 0; f + win <= frames; f += win) {
    double s = 0;
    for (std::size_t i = 0; i < win; ++i) {
      const double v = p.samples[(f + i) * p.channels];
      s += v * v;
    }
    e.push_back(std::sqrt(s / win));
  }
  return e;
}

// Best Pearson correlation of two envelopes over lags of ±`max_lag` windows.
inline double envelope_correlation(const std::vector<double>& a, const std::vector<double>& b, int max_lag = 5) {
  double best = -1.0;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const long j = static_cast<long>(i) + lag;
      if (j < 0 || j >= static_cast<long>(b.size())) continue;
      const double x = a[i], y = b[static_cast<std::size_t>(j)];
      sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
      ++n;
    }
    if (n < 10) continue;
    const double cov = sab - sa * sb / n, va = saa - sa * sa / n, vb = sbb - sb * sb / n;
    if (va <= 0 || vb <= 0) continue;
    best = std::max(best, cov / std::sqrt(va * vb));
  }
  return best;
}

// Fetches an item with `tillid get` and decodes it with opusdec to 48 kHz PCM.
inline Pcm fetch_and_decode(const RecVault& v, const std::string& item, const std::string& name = "out") {
  const fs::path opus = v.tmp / (name + ".opus"), wav = v.tmp / (name + ".wav");
  fs::remove(opus);
  fs::remove(wav);
  auto g = v.tillid({"get", item, "-o", opus.string()});
  INFO(g.out << g.err);
  REQUIRE(g.exit_code == 0);
  shell_ok("opusdec --quiet --rate 48000 " + q(opus) + " " + q(wav));
  return read_wav(wav);
}

}  // namespace tillid::test
