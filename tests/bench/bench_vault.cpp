// tillid-bench-vault: throughput and peak memory of adding and fetching one large document,
// optionally side by side with age(1) on the same file in the same run.
//
//   tillid-bench-vault [--runs N] [--age] [--only add|fetch] [DIR] [MIB]
//       DIR defaults to $TMPDIR or /tmp, MIB to $TILLID_BENCH_MIB or 1024, N to 1.
//
// Generates an MIB-MiB input file in a fresh directory under DIR, creates a vault beside it,
// then, N times, runs each phase in its own process (so peak RSS, VmHWM reset after the unlock,
// is per phase): add = add_document_file (read + SHA-256 + encrypt + write + fsync), fetch =
// fetch_to_file (read + decrypt + SHA-256 check + write + fsync). With --age each round also
// times `age -r` and `age -d` (which do not fsync) on the same input, alternating with ours so
// a noisy shared machine hits both alike. Prints every run (wall seconds, MiB/s, user and
// system CPU seconds of the whole process, peak RSS), then medians and ratios to age.
// --only fetch still adds the item once per round (untimed) so there is something to fetch.
// Before each add, the page cache of earlier rounds' objects is dropped (see evict_objects).
// Never run by CTest.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "peak_rss.hpp"
#include "tillid/vault.hpp"

namespace fs = std::filesystem;
using namespace tillid;

namespace {

const char* kPass = "bench passphrase";

// One timed run of one phase, as measured inside the phase's own process.
struct Sample {
  double wall = 0, user = 0, sys = 0;
  long rss_kib = 0;
};

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; }

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "tillid-bench-vault: " << what << "\n";
  std::exit(1);
}

// Times `op` (wall clock and this process's CPU, all threads) and prints one parseable line:
// "wall user sys peak_rss_kib [extra]".
template <class Op>
void timed(Op op) {
  rusage a{}, b{};
  reset_peak_rss();  // the unlock's Argon2id is not the phase's memory
  getrusage(RUSAGE_SELF, &a);
  double t0 = now();
  std::string extra = op();
  double t1 = now();
  getrusage(RUSAGE_SELF, &b);
  std::printf("%.6f %.6f %.6f %ld %s\n", t1 - t0, seconds(b.ru_utime) - seconds(a.ru_utime),
              seconds(b.ru_stime) - seconds(a.ru_stime), peak_rss_kib(), extra.c_str());
}

Vault unlocked(const fs::path& dir) {
  auto v = Vault::open(dir, Actor{"bench", "operator"});
  if (!v.ok()) die(v.error().message);
  if (auto u = v->unlock(passphrase_from(kPass)); !u.ok()) die(u.error().message);
  return std::move(v).value();
}

int phase_add(const fs::path& vault, const fs::path& input) {
  Vault v = unlocked(vault);
  auto c = v.find_case("BENCH-1");
  if (!c.ok()) c = v.add_case(NewCase{"BENCH-1", "0101", "bench", "bench", ""});
  if (!c.ok()) die(c.error().message);
  timed([&] {
    auto r = v.add_document_file(c->id, input, "bench");
    if (!r.ok()) die(r.error().message);
    return r->id;
  });
  return 0;
}

int phase_fetch(const fs::path& vault, const std::string& id, const fs::path& out) {
  Vault v = unlocked(vault);
  timed([&] {
    auto r = v.fetch_to_file(id, out);
    if (!r.ok()) die(r.error().message);
    return std::string();
  });
  return 0;
}

std::string run(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) die("cannot run " + cmd);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (::pclose(p) != 0) die("failed: " + cmd);
  return out;
}

// Runs an external command and measures it from outside (wait4 gives its CPU and peak RSS).
Sample run_external(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  double t0 = now();
  pid_t pid = ::fork();
  if (pid < 0) die("cannot fork");
  if (pid == 0) {
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  int status = 0;
  rusage ru{};
  if (::wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("failed: " + argv[0] + " " + argv[1]);
  return Sample{now() - t0, seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_maxrss};
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

Sample parse_sample(const std::string& out, std::string* extra) {
  Sample s;
  char word[64] = {0};
  int n = std::sscanf(out.c_str(), "%lf %lf %lf %ld %63s", &s.wall, &s.user, &s.sys, &s.rss_kib, word);
  if (n < 4 || (extra != nullptr && n != 5)) die("bad phase output: " + out);
  if (extra != nullptr) *extra = word;
  return s;
}

// Drop the page cache of objects added by earlier rounds (they are fsynced, so clean). Each
// round's add writes a new 1 GiB object while age overwrites its deleted output, whose pages
// the kernel recycles; on this VM, page cache on memory the guest has not touched recently
// costs several times more system time to fill, so without this the add pays for it and age not.
void evict_objects(const fs::path& vault) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(vault / "objects", ec)) {
    int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void remove_file(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

struct Series {
  const char* label;
  std::vector<Sample> runs;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double median_wall(const Series& s) {
  std::vector<double> w;
  for (const auto& r : s.runs) w.push_back(r.wall);
  return median(w);
}

long max_rss(const Series& s) {
  long m = 0;
  for (const auto& r : s.runs) m = std::max(m, r.rss_kib);
  return m;
}

void print_run(const char* label, int round, const Sample& s, double mib) {
  std::printf("  %-38s run %d: %7.3f s %8.1f MiB/s  cpu user %6.3f s sys %6.3f s  peak RSS %6.1f MiB\n", label,
              round, s.wall, mib / s.wall, s.user, s.sys, static_cast<double>(s.rss_kib) / 1024.0);
  std::fflush(stdout);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
  if (!tillid::disable_core_dumps()) return 70;  // holds vault keys and plaintext (issue 10, class 7)
  if (argc >= 2 && std::strcmp(argv[1], "--phase") == 0) {
    if (argc == 5 && std::strcmp(argv[2], "add") == 0) return phase_add(argv[3], argv[4]);
    if (argc == 6 && std::strcmp(argv[2], "fetch") == 0) return phase_fetch(argv[3], argv[4], argv[5]);
    die("bad --phase arguments");
  }
  int runs = 1;
  bool with_age = false, do_add = true, do_fetch = true;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--age") {
      with_age = true;
    } else if (a == "--only" && i + 1 < argc) {
      std::string o = argv[++i];
      if (o != "add" && o != "fetch") die("--only takes add or fetch");
      do_add = o == "add";
      do_fetch = o == "fetch";
    } else if (a.starts_with("--")) {
      die("usage: tillid-bench-vault [--runs N] [--age] [--only add|fetch] [DIR] [MIB]");
    } else {
      pos.push_back(a);
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = !pos.empty() ? fs::path(pos[0]) : fs::path(tmp && *tmp ? tmp : "/tmp");
  const char* env_mib = std::getenv("TILLID_BENCH_MIB");
  std::uint64_t mib = pos.size() >= 2 ? std::strtoull(pos[1].c_str(), nullptr, 10)
                                      : (env_mib ? std::strtoull(env_mib, nullptr, 10) : 1024);
  if (mib == 0) die("size must be at least 1 MiB");

  std::string tmpl = (base / "tillid-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a directory under " + base.string());
  fs::path work = tmpl;
  fs::path input = work / "input.bin", output = work / "output.bin", vault = work / "vault";
  fs::path age_key = work / "age-key.txt", age_enc = work / "input.age", age_out = work / "age-output.bin";

  {  // Input: pseudo-random (incompressible) bytes, written once, left in the page cache.
    std::ofstream out(input, std::ios::binary);
    std::vector<std::uint64_t> block((8u << 20) / 8);
    std::uint64_t s = 0x9e3779b97f4a7c15ull;
    for (std::uint64_t done = 0; done < mib; done += 8) {
      for (auto& w : block) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        w = s;
      }
      std::uint64_t n = std::min<std::uint64_t>(8, mib - done) << 20;
      out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    }
    if (!out) die("cannot write the input file");
  }
  if (auto c = Vault::create(vault, passphrase_from(kPass), "bench", KdfCost::interactive(), tillid::Actor{}); !c.ok())
    die(c.error().message);
  std::string recipient;
  if (with_age) {
    run("age-keygen -o " + quote(age_key) + " 2>/dev/null");
    std::ifstream k(age_key);
    for (std::string line; std::getline(k, line);)
      if (auto at = line.find("age1"); at != std::string::npos) recipient = line.substr(at);
    if (recipient.empty()) die("age-keygen gave no recipient");
  }

  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) die("cannot find my own executable");
  self[n] = 0;
  std::string exe = quote(self);
  const double m = static_cast<double>(mib);

  std::printf("tillid-bench-vault: %llu MiB in %s, %d run(s), load average before: %s\n",
              static_cast<unsigned long long>(mib), work.c_str(), runs, load_average().c_str());
  Series add{"add   (read+SHA-256+encrypt+write+fsync)", {}};
  Series fetch{"fetch (read+decrypt+SHA-256+write+fsync)", {}};
  Series age_enc_s{"age -r (encrypt, no fsync)", {}};
  Series age_dec_s{"age -d (decrypt, no fsync)", {}};
  for (int round = 1; round <= runs; ++round) {
    if (with_age) {
      remove_file(age_enc);
      age_enc_s.runs.push_back(run_external({"age", "-r", recipient, "-o", age_enc.string(), input.string()}));
      print_run(age_enc_s.label, round, age_enc_s.runs.back(), m);
    }
    std::string id;
    evict_objects(vault);
    Sample a = parse_sample(run(exe + " --phase add " + quote(vault) + " " + quote(input)), &id);
    if (do_add) {
      add.runs.push_back(a);
      print_run(add.label, round, a, m);
    }
    if (with_age) {
      remove_file(age_out);
      age_dec_s.runs.push_back(run_external({"age", "-d", "-i", age_key.string(), "-o", age_out.string(),
                                             age_enc.string()}));
      print_run(age_dec_s.label, round, age_dec_s.runs.back(), m);
    }
    if (do_fetch) {
      remove_file(output);
      fetch.runs.push_back(parse_sample(run(exe + " --phase fetch " + quote(vault) + " " + id + " " + quote(output)),
                                        nullptr));
      if (fs::file_size(output) != mib << 20) die("fetched file has the wrong size");
      print_run(fetch.label, round, fetch.runs.back(), m);
    }
  }

  std::printf("medians over %d run(s), load average after: %s\n", runs, load_average().c_str());
  for (const Series* s : {&add, &fetch, &age_enc_s, &age_dec_s}) {
    if (s->runs.empty()) continue;
    double w = median_wall(*s);
    std::printf("  %-38s %7.3f s %8.1f MiB/s  max peak RSS %6.1f MiB", s->label, w, m / w,
                static_cast<double>(max_rss(*s)) / 1024.0);
    if (s == &add && !age_enc_s.runs.empty()) std::printf("  = %.2fx age -r", median_wall(age_enc_s) / w);
    if (s == &fetch && !age_dec_s.runs.empty()) std::printf("  = %.2fx age -d", median_wall(age_dec_s) / w);
    std::printf("\n");
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}
