// tillid-bench-vault: throughput and peak memory of adding and fetching one large document.
//
//   tillid-bench-vault [DIR] [MIB]      (defaults: $TMPDIR or /tmp, and $TILLID_BENCH_MIB or 1024)
//
// Generates an MIB-MiB input file in a fresh directory under DIR, creates a vault beside it,
// then runs each phase in its own process (so peak RSS, getrusage ru_maxrss, is per phase):
// add = add_document_file (read + SHA-256 + encrypt + write + fsync), fetch = fetch_to_file
// (read + decrypt + SHA-256 check + write + fsync). Prints MiB/s and peak RSS. Never run by CTest.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tillid/vault.hpp"

namespace fs = std::filesystem;
using namespace tillid;

namespace {

const char* kPass = "bench passphrase";

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "tillid-bench-vault: " << what << "\n";
  std::exit(1);
}

Vault unlocked(const fs::path& dir) {
  auto v = Vault::open(dir, Actor{"bench", "operator"});
  if (!v.ok()) die(v.error().message);
  if (auto u = v->unlock(passphrase_from(kPass)); !u.ok()) die(u.error().message);
  return std::move(v).value();
}

int phase_add(const fs::path& vault, const fs::path& input) {
  Vault v = unlocked(vault);
  auto c = v.add_case(NewCase{"BENCH-1", "0101", "bench", "bench", ""});
  if (!c.ok()) die(c.error().message);
  double t0 = now();
  auto r = v.add_document_file(c->id, input, "bench");
  double t1 = now();
  if (!r.ok()) die(r.error().message);
  std::printf("%.6f %ld %s\n", t1 - t0, peak_rss_kib(), r->id.c_str());
  return 0;
}

int phase_fetch(const fs::path& vault, const std::string& id, const fs::path& out) {
  Vault v = unlocked(vault);
  double t0 = now();
  auto r = v.fetch_to_file(id, out);
  double t1 = now();
  if (!r.ok()) die(r.error().message);
  std::printf("%.6f %ld\n", t1 - t0, peak_rss_kib());
  return 0;
}

std::string run(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) die("cannot run " + cmd);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (::pclose(p) != 0) die("phase failed: " + cmd);
  return out;
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--phase") == 0) {
    if (argc == 5 && std::strcmp(argv[2], "add") == 0) return phase_add(argv[3], argv[4]);
    if (argc == 6 && std::strcmp(argv[2], "fetch") == 0) return phase_fetch(argv[3], argv[4], argv[5]);
    die("bad --phase arguments");
  }
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = argc >= 2 ? fs::path(argv[1]) : fs::path(tmp && *tmp ? tmp : "/tmp");
  const char* env_mib = std::getenv("TILLID_BENCH_MIB");
  std::uint64_t mib = argc >= 3 ? std::strtoull(argv[2], nullptr, 10)
                                : (env_mib ? std::strtoull(env_mib, nullptr, 10) : 1024);
  if (mib == 0) die("size must be at least 1 MiB");

  std::string tmpl = (base / "tillid-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a directory under " + base.string());
  fs::path work = tmpl;
  fs::path input = work / "input.bin", output = work / "output.bin", vault = work / "vault";

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
  if (auto c = Vault::create(vault, passphrase_from(kPass), "bench", KdfCost::minimum(), Actor{}); !c.ok())
    die(c.error().message);

  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) die("cannot find my own executable");
  self[n] = 0;
  std::string exe = quote(self);

  double add_s = 0, fetch_s = 0;
  long add_rss = 0, fetch_rss = 0;
  char id[64] = {0};
  {
    auto out = run(exe + " --phase add " + quote(vault) + " " + quote(input));
    if (std::sscanf(out.c_str(), "%lf %ld %63s", &add_s, &add_rss, id) != 3) die("bad add output: " + out);
  }
  {
    auto out = run(exe + " --phase fetch " + quote(vault) + " " + id + " " + quote(output));
    if (std::sscanf(out.c_str(), "%lf %ld", &fetch_s, &fetch_rss) != 2) die("bad fetch output: " + out);
  }
  if (fs::file_size(output) != mib << 20) die("fetched file has the wrong size");

  const double m = static_cast<double>(mib);
  std::printf("tillid-bench-vault: %llu MiB in %s\n", static_cast<unsigned long long>(mib), work.c_str());
  std::printf("add   (read+SHA-256+encrypt+write+fsync): %8.3f s  %8.1f MiB/s  peak RSS %6.1f MiB\n", add_s,
              m / add_s, static_cast<double>(add_rss) / 1024.0);
  std::printf("fetch (read+decrypt+SHA-256+write+fsync): %8.3f s  %8.1f MiB/s  peak RSS %6.1f MiB\n", fetch_s,
              m / fetch_s, static_cast<double>(fetch_rss) / 1024.0);
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}
