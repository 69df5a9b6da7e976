// Recording benchmark: a speech WAV through the whole vault recording path (capture → Opus →
// one secretstream chunk per ~1 s page, written and fdatasync'ed → signed, sealed item) as
// fast as the machine goes, against `opusenc --bitrate 32 --comp 10 --speech` on the same
// file. Runs alternate (ours, opusenc, ours, ...) and medians are reported. Each run is a
// child process: opusenc measured whole with /usr/bin/time -v, ours from inside after the
// vault is unlocked (the unlock's Argon2id has no counterpart in opusenc): CPU = user + sys,
// peak RSS = VmHWM (reset after the unlock) or maxrss.
//
//   tillid-bench-record SPEECH.wav [runs=5]
//
// Make an 11-minute speech file:
//   espeak-ng -v da -w one.wav "<a paragraph of Danish>"; sox one.wav -r 48000 one48.wav
//   sox one48.wav speech11.wav repeat N   (N so that soxi -D gives ≥ 660 s)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "peak_rss.hpp"
#include "tillid/capture.hpp"
#include "tillid/vault.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Run {
  double wall = 0, cpu = 0, rss_mib = 0, sys = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

int fail(const tillid::Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return 1;
}

double seconds(const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; }

// The measured work, in a child process: unlock, then (measured from here) record the whole
// WAV and seal. The unlock is left out: it runs Argon2id at the key slot's cost (64 MiB at
// `interactive`), which opusenc has no counterpart of. Writes "duration_ms wall cpu sys
// peak_rss_kib" of the recording part to `out_fd`.
int record_once(const fs::path& vault_dir, const std::string& case_id, const fs::path& wav, int out_fd) {
  auto v = tillid::Vault::open(vault_dir, tillid::Actor{});
  if (!v) return fail(v.error());
  if (auto u = v->unlock(tillid::passphrase_from("bench passphrase")); !u) return fail(u.error());
  reset_peak_rss();  // the unlock's Argon2id is not the recording's memory
  rusage r0{};
  ::getrusage(RUSAGE_SELF, &r0);
  const auto t0 = Clock::now();
  auto source = tillid::capture::open_wav(wav);
  if (!source) return fail(source.error());
  auto rec = v->begin_recording(case_id, "bench", "bench");
  if (!rec) return fail(rec.error());
  tillid::capture::Recorder recorder(
      std::move(*source),
      [&](const tillid::capture::Chunk& c) { return rec->append(c.bytes, c.end.count() * 1000 / 48000); });
  auto done = recorder.run();
  if (!done) return fail(done.error());
  auto item = rec->finish();
  if (!item) return fail(item.error());
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  rusage r1{};
  ::getrusage(RUSAGE_SELF, &r1);
  const double sys = seconds(r1.ru_stime) - seconds(r0.ru_stime);
  const double cpu = seconds(r1.ru_utime) - seconds(r0.ru_utime) + sys;
  const std::string out = std::to_string(item->duration_ms) + " " + std::to_string(wall) + " " + std::to_string(cpu) +
                          " " + std::to_string(sys) + " " + std::to_string(peak_rss_kib());
  if (::write(out_fd, out.data(), out.size()) < 0) return 1;
  return 0;
}

Run run_ours(const fs::path& vault_dir, const std::string& case_id, const fs::path& wav, double& audio_s) {
  int p[2];
  if (::pipe(p) != 0) std::exit(1);
  const auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    ::_exit(record_once(vault_dir, case_id, wav, p[1]));
  }
  ::close(p[1]);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  Run r;
  r.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  char buf[64] = {};
  const ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0) {
    std::fprintf(stderr, "the recording run failed\n");
    std::exit(1);
  }
  double ms = 0, rss_kib = 0;
  std::istringstream fields(buf);
  fields >> ms >> r.wall >> r.cpu >> r.sys >> rss_kib;
  audio_s = ms / 1000.0;
  r.rss_mib = rss_kib / 1024.0;
  return r;
}

Run run_opusenc(const fs::path& wav, const fs::path& scratch) {
  const fs::path out = scratch / "opusenc.opus", timing = scratch / "time.txt";
  fs::remove(out);
  const std::string cmd = "/usr/bin/time -v -o '" + timing.string() + "' opusenc --quiet --bitrate 32 --comp 10 --speech '" +
                          wav.string() + "' '" + out.string() + "'";
  const auto t0 = Clock::now();
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "opusenc failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  Run r;
  r.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  std::ifstream in(timing);
  std::string line;
  double user = 0, sys = 0;
  while (std::getline(in, line)) {
    auto value = [&](const char* key, double& v) {
      auto k = line.find(key);
      if (k != std::string::npos) v = std::atof(line.c_str() + line.rfind(':') + 1);
    };
    value("User time (seconds)", user);
    value("System time (seconds)", sys);
    double kb = 0;
    value("Maximum resident set size (kbytes)", kb);
    if (kb > 0) r.rss_mib = kb / 1024.0;
  }
  r.cpu = user + sys;
  r.sys = sys;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (!tillid::disable_core_dumps()) return 70;  // holds vault keys and plaintext (issue 10, class 7)
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SPEECH.wav [runs=5]\n", argv[0]);
    return 2;
  }
  const fs::path wav = fs::absolute(argv[1]);
  const int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  char tmpl[] = "/tmp/tillid-bench-record-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const fs::path scratch = tmpl, vault_dir = scratch / "vault";
  std::string case_id;
  {
    auto pass = tillid::passphrase_from("bench passphrase");
    if (auto c = tillid::Vault::create(vault_dir, pass, "bench", tillid::KdfCost::interactive(), tillid::Actor{}); !c)
      return fail(c.error());
    auto v = tillid::Vault::open(vault_dir, tillid::Actor{});
    if (!v) return fail(v.error());
    if (auto u = v->unlock(pass); !u) return fail(u.error());
    auto c = v->add_case(tillid::NewCase{"BENCH-1", "0101", "", "", ""});
    if (!c) return fail(c.error());
    case_id = c->id;
  }  // closed: the child processes open it (one writer process at a time)

  std::vector<double> ow, oc, orss, ew, ec, erss;
  double audio = 0;
  for (int i = 0; i < runs; ++i) {
    Run o = run_ours(vault_dir, case_id, wav, audio);
    Run e = run_opusenc(wav, scratch);
    std::printf("run %d: vault %.2f s wall %.2f s cpu (%.2f sys) %.1f MiB | opusenc %.2f s wall %.2f s cpu (%.2f sys) "
                "%.1f MiB\n",
                i + 1, o.wall, o.cpu, o.sys, o.rss_mib, e.wall, e.cpu, e.sys, e.rss_mib);
    ow.push_back(o.wall); oc.push_back(o.cpu); orss.push_back(o.rss_mib);
    ew.push_back(e.wall); ec.push_back(e.cpu); erss.push_back(e.rss_mib);
  }
  std::printf("\naudio            %.1f s (%s)\n", audio, wav.c_str());
  std::printf("medians of %d     wall      RTF      CPU (user+sys)   peak RSS\n", runs);
  std::printf("vault recording  %6.2f s  %6.1fx  %6.2f s         %5.1f MiB\n", median(ow), audio / median(ow), median(oc),
              median(orss));
  std::printf("opusenc alone    %6.2f s  %6.1fx  %6.2f s         %5.1f MiB\n", median(ew), audio / median(ew), median(ec),
              median(erss));
  std::printf("CPU vault/opusenc: %+.1f %%   (target: within +5 %%; RSS target < 32 MiB)\n",
              (median(oc) / median(ec) - 1.0) * 100.0);
  std::printf("note: capture encodes with OPUS_APPLICATION_VOIP, opusenc with AUDIO; both 32 kb/s, complexity 10, "
              "signal voice; the vault run includes unlock, SQLite, fdatasync per ~1 s chunk and signing.\n");
  std::error_code err;
  fs::remove_all(scratch, err);
  return 0;
}
