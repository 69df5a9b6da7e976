// tillid-bench-daemon-startup: the real tillidd's start-up to ready on a vault whose access
// log holds 1,000,000 entries (issue 11: "start-up to ready with a 1,000,000-entry log, target
// <= 1 s"), its memory once ready, and the unlock that follows. Figures only, never pass/fail.
//
//   tillid-bench-daemon-startup [entries=1000000] [runs=5] [dir=/dev/shm/tillid-bench-startup]
//       [--threads N (appending threads, default 4)] [--tillidd PATH]
//
// Set-up (skipped when DIR already holds a vault this program made: "reused"): a vault in DIR
// (Vault::create, first admin = the invoking uid, key slot at the `interactive` Argon2id cost,
// as every slot of a release build must be), opened and unlocked with the Vault API,
// defer_checkpoints(true), then N authz_decision entries through Vault::log_event from
// --threads threads (the Vault serialises its calls, so the threads mostly queue on its lock:
// the figure printed is what that gives), a checkpoint signed every ~1000 entries and once at
// the end; then closed. DIR defaults to tmpfs (/dev/shm): fdatasync there costs next to
// nothing, so the build is fast, and the page cache cannot be dropped (there is no disk
// behind it): every start measured here is WARM. On the appliance's disk a cold start adds
// the read of the log's index and tail and of the database pages the daemon touches.
//
// Each run: fork and exec `tillidd --vault DIR/vault --config DIR/tillidd.toml` with
// NOTIFY_SOCKET naming an AF_UNIX datagram socket this program listens on (sd_notify(3)), and
// time from the fork to
//   ready   the READY=1 datagram (the daemon sends it once the control socket serves),
//   status  a first request answered: connect, hello, `status` reply (as the admin uid),
// then read the daemon's VmRSS and VmHWM (locked, idle), time `unlock` over the control socket
// (ControlClient, as `tillid unlock` does), read VmRSS/VmHWM again, `lock`, time a second
// unlock (as after an idle lock), and stop it (SIGTERM).
// Unlock is mostly Argon2id at the slot's cost; the same crypto_pwhash call is timed alone in
// this process so that the rest (key-slot open, the log's tail check, a checkpoint) shows.
// Observed (issue 11 bench, 1M entries): the first unlock of a daemon takes ~1 s more than on a
// small log and peaks near 200 MiB: check_roster_rollback (vault/src/users.cpp) reads every ok
// entry of the log into memory once per Vault (FORMAT.md §8.4); later unlocks of the same
// daemon compare with the remembered floor. Start-up itself (Vault::open) reads only the tail.
// Each start appends a few entries (daemon_started, the unlock, daemon_stopped...), so the
// log grows by a handful per run. Needs no root (the admin is whoever runs it).
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tillid/control.hpp"
#include "tillid/vault.hpp"

namespace fs = std::filesystem;
using namespace tillid;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

constexpr const char* kPassphrase = "bench daemon start-up passphrase";

[[noreturn]] void die(const std::string& what) {
  std::cerr << "tillid-bench-daemon-startup: " << what << "\n";
  std::exit(1);
}

double secs(Clock::time_point a, Clock::time_point b = Clock::now()) {
  return std::chrono::duration<double>(b - a).count();
}

long proc_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  return -1;
}

struct Stats {
  double median = 0, min = 0, max = 0;
};
Stats stats(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

void build_vault(const fs::path& vault, std::uint64_t entries, int threads) {
  NewUser admin{"admin", Role::admin, static_cast<unsigned>(::getuid()), ""};
  auto t = Clock::now();
  if (auto made = Vault::create(vault, passphrase_from(kPassphrase), "bench", KdfCost::interactive(), admin); !made)
    die("cannot create the vault: " + made.error().message);
  auto v = Vault::open(vault, Actor{"admin", "admin"});
  if (!v) die("open: " + v.error().message);
  if (auto u = v->unlock(passphrase_from(kPassphrase)); !u) die("unlock: " + u.error().message);
  v->defer_checkpoints(true);
  std::printf("set-up: vault created and unlocked in %.2f s; appending %llu entries from %d thread(s)...\n", secs(t),
              static_cast<unsigned long long>(entries), threads);
  std::fflush(stdout);
  t = Clock::now();
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&] {
      for (;;) {
        const std::uint64_t k = next.fetch_add(1);
        if (k >= entries || failed) return;
        if (auto r = v->log_event(LogAction::authz_decision, LogOutcome::ok, "op status"); !r) {
          std::cerr << "log_event: " << r.error().message << "\n";
          failed = true;
          return;
        }
        if ((k + 1) % 1000 == 0)
          if (auto c = v->sign_pending_checkpoint(); !c) {
            std::cerr << "checkpoint: " << c.error().message << "\n";
            failed = true;
            return;
          }
      }
    });
  for (auto& th : pool) th.join();
  if (failed) die("building the log failed");
  if (auto c = v->sign_pending_checkpoint(); !c) die("final checkpoint: " + c.error().message);
  const double s = secs(t);
  v = make_error(Errc::internal, "closed");
  std::printf("set-up: %llu entries in %.1f s (%.0f entries/s, a checkpoint every 1000)\n",
              static_cast<unsigned long long>(entries), s, entries / s);
}

struct RunResult {
  double ready = 0, status = 0, unlock = 0, unlock2 = 0;
  long rss = 0, hwm = 0, rss_unlocked = 0, hwm_unlocked = 0;
};

RunResult run_once(const fs::path& tillidd, const fs::path& dir, int run) {
  const fs::path vault = dir / "vault", config = dir / "tillidd.toml", notify = dir / "notify.sock";
  const fs::path socket = vault / "run" / "control.sock";
  fs::remove(notify);
  const int nfd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify.c_str(), sizeof addr.sun_path - 1);
  if (nfd < 0 || ::bind(nfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    die("cannot bind the notify socket " + notify.string());
  const fs::path err = dir / ("tillidd-" + std::to_string(run) + ".err");

  std::fflush(nullptr);  // else the child's freopen flushes this process's buffered output again
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
    std::freopen(err.c_str(), "w", stderr);
    std::freopen("/dev/null", "w", stdout);
    execl(tillidd.c_str(), tillidd.c_str(), "--vault", vault.c_str(), "--config", config.c_str(), nullptr);
    _exit(127);
  }
  RunResult r;
  // Wait for READY=1 (other notifications, e.g. STATUS=..., may come first or with it).
  for (bool ready = false; !ready;) {
    pollfd p{nfd, POLLIN, 0};
    const int n = ::poll(&p, 1, 30000);
    if (n <= 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      die("no READY=1 within 30 s (see " + err.string() + ")");
    }
    char buf[4096];
    const ssize_t got = ::recv(nfd, buf, sizeof buf - 1, 0);
    if (got <= 0) continue;
    buf[got] = '\0';
    const std::string msg(buf);
    if (msg.find("READY=1") != std::string::npos) ready = true;
  }
  r.ready = secs(t0);
  ::close(nfd);
  fs::remove(notify);

  auto c = control::ControlClient::connect(socket);
  if (!c) die("connect after READY=1: " + c.error().message);
  if (auto s = c->call("status", json::object()); !s) die("status: " + s.error().message);
  r.status = secs(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.rss = proc_kib(pid, "VmRSS");
  r.hwm = proc_kib(pid, "VmHWM");

  const auto tu = Clock::now();
  if (auto u = c->call("unlock", {{"passphrase", kPassphrase}}); !u) die("unlock: " + u.error().message);
  r.unlock = secs(tu);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r.rss_unlocked = proc_kib(pid, "VmRSS");
  r.hwm_unlocked = proc_kib(pid, "VmHWM");
  // A second unlock of the same daemon (after `lock`), as after an idle lock.
  if (auto l = c->call("lock", json::object()); !l) die("lock: " + l.error().message);
  const auto tu2 = Clock::now();
  if (auto u = c->call("unlock", {{"passphrase", kPassphrase}}); !u) die("second unlock: " + u.error().message);
  r.unlock2 = secs(tu2);

  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::fprintf(stderr, "note: run %d: tillidd ended with status %d (see %s)\n", run,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, err.c_str());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) die("libsodium failed to initialise");
  std::vector<std::string> pos;
  int threads = 4;
  fs::path tillidd = fs::path(TILLID_BINARY_DIR) / "firmware" / "tillidd";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--tillidd" && i + 1 < argc) tillidd = argv[++i];
    else if (!a.empty() && a[0] == '-') die("unknown option " + a + " (see the comment at the top of the source)");
    else pos.push_back(a);
  }
  const std::uint64_t entries = pos.size() > 0 ? std::stoull(pos[0]) : 1000000;
  const int runs = pos.size() > 1 ? std::max(1, std::atoi(pos[1].c_str())) : 5;
  const fs::path dir = pos.size() > 2 ? fs::path(pos[2]) : fs::path("/dev/shm/tillid-bench-startup");

  const fs::path vault = dir / "vault", marker = dir / "built-entries";
  std::uint64_t built = 0;
  if (std::ifstream in(marker); in) in >> built;
  if (built == entries && fs::exists(vault)) {
    std::printf("set-up: reusing the vault in %s (%llu entries appended when it was built, plus a few per earlier "
                "daemon start)\n",
                dir.c_str(), static_cast<unsigned long long>(built));
  } else {
    fs::remove_all(dir);
    fs::create_directories(dir);
    build_vault(vault, entries, threads);
    std::ofstream(marker) << entries << "\n";
  }
  std::ofstream(dir / "tillidd.toml") << "# tillid-bench-daemon-startup: defaults (socket in the vault's run/)\n";
  std::uintmax_t log_bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(vault))
    if (e.is_regular_file() && e.path().string().find("/log/") != std::string::npos) log_bytes += e.file_size();
  std::printf("vault on %s; access log files %.1f MB\n", dir.c_str(), log_bytes / 1e6);

  // Argon2id alone at the slot's cost (what unlock spends most of its time on).
  std::vector<double> kdf;
  {
    const KdfCost cost = KdfCost::interactive();
    unsigned char out[32], salt[crypto_pwhash_SALTBYTES] = {1};
    for (int i = 0; i < 3; ++i) {
      const auto t = Clock::now();
      if (crypto_pwhash(out, sizeof out, kPassphrase, std::strlen(kPassphrase), salt, cost.opslimit, cost.memlimit,
                        crypto_pwhash_ALG_ARGON2ID13) != 0)
        die("crypto_pwhash failed");
      kdf.push_back(secs(t));
    }
  }

  std::vector<double> ready, status, unlock, unlock2;
  std::vector<double> rss, hwm, rss_u, hwm_u;
  for (int i = 0; i < runs; ++i) {
    const RunResult r = run_once(tillidd, dir, i);
    std::printf("run %d: READY=1 %.3f s, first status reply %.3f s, unlock %.3f s (again after lock %.3f s); VmRSS %.1f MiB (peak %.1f) "
                "locked, %.1f MiB (peak %.1f) unlocked\n",
                i + 1, r.ready, r.status, r.unlock, r.unlock2, r.rss / 1024.0, r.hwm / 1024.0, r.rss_unlocked / 1024.0,
                r.hwm_unlocked / 1024.0);
    std::fflush(stdout);
    ready.push_back(r.ready);
    status.push_back(r.status);
    unlock.push_back(r.unlock);
    unlock2.push_back(r.unlock2);
    rss.push_back(r.rss / 1024.0);
    hwm.push_back(r.hwm / 1024.0);
    rss_u.push_back(r.rss_unlocked / 1024.0);
    hwm_u.push_back(r.hwm_unlocked / 1024.0);
  }
  auto line = [](const char* what, const std::vector<double>& v, const char* unit, const char* note) {
    const Stats s = stats(v);
    std::printf("  %-34s median %.3f %s (min %.3f, max %.3f)%s\n", what, s.median, unit, s.min, s.max, note);
  };
  std::printf("tillidd start-up, %llu-entry log, %d runs, warm (tmpfs):\n", static_cast<unsigned long long>(entries),
              runs);
  line("fork to READY=1", ready, "s", "  (target <= 1 s)");
  line("fork to first status reply", status, "s", "");
  line("VmRSS ready, locked", rss, "MiB", "");
  line("VmHWM ready, locked", hwm, "MiB", "");
  line("first unlock (control socket)", unlock, "s", "");
  line("unlock again after lock", unlock2, "s", "");
  line("  of which Argon2id alone", kdf, "s", "  (interactive cost, in this process)");
  line("VmRSS unlocked", rss_u, "MiB", "");
  line("VmHWM unlocked", hwm_u, "MiB", "  (includes Argon2id's 64 MiB)");
  return 0;
}
