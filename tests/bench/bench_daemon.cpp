// tillid-bench-daemon: many local clients against one tillidd (issue 11: 50 clients issuing
// `status` and `ls` for 30 s; targets p99 ≤ 5 ms, 0 errors, daemon RSS ≤ 32 MiB).
//
//   tillid-bench-daemon [--clients N] [--reconnect] [--ops both|status|ls] [--tillidd PATH] [--keep DIR]
//   tillid-bench-daemon --socket PATH [--staff-uid UID] [--clients N] [--reconnect]
//       seconds: $TILLID_BENCH_SECONDS (default 30)
//
// Without --socket it makes a temp vault (the invoking uid is its first admin), starts the
// real tillidd on it (socket 0666 in a 0755 directory, as the appliance's configuration
// does), unlocks it, enrols a staff user (uid 61001) and, as that user, adds one case and 20
// small documents so `ls` lists something. With --socket it uses a daemon already running
// there (unlocked; --staff-uid names an enrolled staff uid for `ls`).
//
// Clients are separate PROCESSES (fork), each switched to the staff uid with setresuid, since
// the daemon tells users apart by SO_PEERCRED — threads of one process would all be root, the
// admin, whom the matrix refuses `ls`. This needs root; run as another user, the clients stay
// that user (the vault's admin) and issue `status` only, which the figures then say. Each
// client keeps one connection and alternates status and ls (--reconnect: a new connection per
// request, as separate `tillid` invocations would) from a common start time for the given
// seconds, recording each request's latency (send to reply). The parent samples the daemon's
// VmRSS every 100 ms (its pid from SO_PEERCRED) and reads VmHWM, before the load (idle,
// unlocked, after set-up) and after it. Prints figures; never part of pass/fail.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
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

constexpr unsigned kStaffUid = 61001;
constexpr const char* kPassphrase = "bench daemon passphrase";

[[noreturn]] void die(const std::string& what) {
  std::cerr << "tillid-bench-daemon: " << what << "\n";
  std::exit(1);
}

struct Options {
  int clients = 50;
  int seconds = 30;
  bool reconnect = false;
  std::string ops = "both";
  std::optional<fs::path> socket;
  unsigned staff_uid = kStaffUid;
  fs::path tillidd = fs::path(TILLID_BINARY_DIR) / "firmware" / "tillidd";
  std::optional<fs::path> keep;
};

Options parse(int argc, char** argv) {
  Options o;
  if (const char* s = std::getenv("TILLID_BENCH_SECONDS"); s && *s) o.seconds = std::max(1, std::atoi(s));
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--clients") o.clients = std::max(1, std::atoi(next().c_str()));
    else if (a == "--reconnect") o.reconnect = true;
    else if (a == "--ops") o.ops = next();
    else if (a == "--socket") o.socket = next();
    else if (a == "--staff-uid") o.staff_uid = static_cast<unsigned>(std::stoul(next()));
    else if (a == "--tillidd") o.tillidd = next();
    else if (a == "--keep") o.keep = next();
    else die("unknown argument " + a + " (see the comment at the top of bench_daemon.cpp)");
  }
  return o;
}

// /proc/PID/status fields in KiB.
long proc_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  return -1;
}

// The daemon's pid, from the kernel's record of who listens on the socket (SO_PEERCRED).
pid_t daemon_pid(const fs::path& socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  pid_t pid = -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) pid = cred.pid;
  }
  ::close(fd);
  return pid;
}

json must(control::ControlClient& c, std::string_view op, const json& args, const ByteSource* in = nullptr) {
  auto r = c.call(op, args, in);
  if (!r) die(std::string(op) + ": " + r.error().message);
  return *r;
}

control::ControlClient connect_or_die(const fs::path& socket) {
  auto c = control::ControlClient::connect(socket);
  if (!c) die(c.error().message);
  return std::move(*c);
}

// Runs `body` in a child switched to `uid` (when switching is possible) and waits for it.
void as_uid(std::optional<unsigned> uid, const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    if (uid && (::setresgid(*uid, *uid, *uid) != 0 || ::setresuid(*uid, *uid, *uid) != 0)) _exit(3);
    body();
    _exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("a set-up step as uid " + std::to_string(uid.value_or(0)) + " failed");
}

struct Started {
  pid_t pid = -1;
  fs::path socket;
};

Started start_daemon(const Options& o, const fs::path& dir) {
  const fs::path vault = dir / "vault", run = dir / "run", config = dir / "tillidd.toml";
  ::chmod(dir.c_str(), 0755);
  fs::create_directory(run);
  ::chmod(run.c_str(), 0755);
  NewUser admin{"admin", Role::admin, static_cast<unsigned>(::getuid()), ""};
  if (auto made = Vault::create(vault, passphrase_from(kPassphrase), "bench", KdfCost::minimum(), admin); !made)
    die("cannot create the vault: " + made.error().message);
  Started s;
  s.socket = run / "control.sock";
  std::ofstream(config) << "[control]\nsocket = \"" << s.socket.string() << "\"\nsocket_mode = 0o666\nmax_clients = "
                        << std::max(64, o.clients + 8) << "\n";
  s.pid = ::fork();
  if (s.pid < 0) die("fork failed");
  if (s.pid == 0) {
    const std::string err = (dir / "tillidd.err").string();
    std::freopen(err.c_str(), "w", stderr);
    std::freopen("/dev/null", "w", stdout);
    execl(o.tillidd.c_str(), o.tillidd.c_str(), "--vault", vault.c_str(), "--config", config.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    if (control::ControlClient::connect(s.socket, std::chrono::milliseconds(1000)).ok()) return s;
    int st = 0;
    if (::waitpid(s.pid, &st, WNOHANG) == s.pid) die("tillidd exited at start (see " + (dir / "tillidd.err").string() + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  die("tillidd did not become ready");
}

// One client's run: latencies in microseconds and an error count, written to `out_fd` at the end.
void client_loop(const fs::path& socket, const std::string& ops, bool reconnect, Clock::time_point start,
                 Clock::time_point end, int out_fd, int index) {
  std::vector<std::uint32_t> lat;
  lat.reserve(1 << 16);
  std::uint32_t errors = 0;
  std::string first_error;
  std::optional<control::ControlClient> conn;
  if (!reconnect) {
    auto c = control::ControlClient::connect(socket);
    if (c) conn.emplace(std::move(*c));
    else first_error = c.error().message;
  }
  std::this_thread::sleep_until(start);
  for (long n = index; Clock::now() < end; ++n) {
    const bool ls = ops == "ls" || (ops == "both" && n % 2 == 1);
    const auto t0 = Clock::now();
    bool ok = false;
    if (reconnect || !conn) {
      auto c = control::ControlClient::connect(socket);
      if (c) conn.emplace(std::move(*c));
      else if (first_error.empty()) first_error = c.error().message;
    }
    if (conn) {
      auto r = conn->call(ls ? "ls" : "status", json::object());
      ok = r.ok();
      if (!ok) {
        if (first_error.empty()) first_error = r.error().message;
        conn.reset();
      } else {
        control::wipe_json(*r);
      }
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    if (ok) lat.push_back(static_cast<std::uint32_t>(us));
    else ++errors;
    if (reconnect) conn.reset();
  }
  // Header: count, errors, error text length; then the latencies and the text.
  const std::uint32_t head[3] = {static_cast<std::uint32_t>(lat.size()), errors,
                                 static_cast<std::uint32_t>(first_error.size())};
  auto write_all = [&](const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const ssize_t w = ::write(out_fd, c, n);
      if (w <= 0) _exit(4);
      c += w;
      n -= static_cast<std::size_t>(w);
    }
  };
  write_all(head, sizeof head);
  write_all(lat.data(), lat.size() * sizeof(std::uint32_t));
  write_all(first_error.data(), first_error.size());
}

bool read_all(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

double percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const std::size_t i = std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return sorted[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  // The bench vault uses the minimum KDF cost (a test build allows it only with this set, and
  // tillidd inherits it for the unlock).
  ::setenv("TILLID_TEST_WEAK_KDF", "1", 1);
  const bool root = ::geteuid() == 0;
  std::optional<unsigned> client_uid;
  if (root) client_uid = o.staff_uid;
  const bool with_ls = root;
  const std::string ops = with_ls ? o.ops : "status";
  if (ops != "both" && ops != "status" && ops != "ls") die("--ops is both, status or ls");

  std::optional<Started> own;
  fs::path socket;
  fs::path dir;
  if (o.socket) {
    socket = *o.socket;
  } else {
    if (o.keep) {
      dir = *o.keep;
      fs::create_directories(dir);
    } else {
      std::string templ = (fs::temp_directory_path() / "tillid-bench-daemon-XXXXXX").string();
      if (!::mkdtemp(templ.data())) die("mkdtemp failed");
      dir = templ;
    }
    own = start_daemon(o, dir);
    socket = own->socket;
    auto admin = connect_or_die(socket);
    must(admin, "unlock", {{"passphrase", kPassphrase}});
    if (root) {
      must(admin, "user.add", {{"name", "staff1"}, {"role", "staff"}, {"uid", o.staff_uid}});
      // The staff user's case and documents, so ls returns rows (20 items, one case).
      as_uid(client_uid, [&] {
        auto staff = connect_or_die(socket);
        must(staff, "case.add", {{"number", "BENCH-1"}, {"municipality", "0101"}, {"child_name", "Test Barn"},
                                 {"cpr", "010101-1234"}, {"notes", ""}});
        for (int i = 0; i < 20; ++i) {
          std::string body = "document " + std::to_string(i) + "\n" + std::string(2000, 'x');
          std::size_t pos = 0;
          const ByteSource src = [&](std::span<unsigned char> buf) -> Result<std::size_t> {
            const std::size_t n = std::min(buf.size(), body.size() - pos);
            std::memcpy(buf.data(), body.data() + pos, n);
            pos += n;
            return n;
          };
          must(staff, "doc.add", {{"case", "BENCH-1"}, {"title", "Dokument " + std::to_string(i)},
                                  {"file_name", "doc" + std::to_string(i) + ".txt"}}, &src);
        }
      });
    }
  }
  const pid_t dpid = daemon_pid(socket);
  if (dpid <= 0) die("cannot find the daemon's pid on " + socket.string());
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the checkpoint timer settle
  const long idle_rss = proc_kib(dpid, "VmRSS"), idle_hwm = proc_kib(dpid, "VmHWM");

  const auto start = Clock::now() + std::chrono::milliseconds(300 + 20 * o.clients);
  const auto end = start + std::chrono::seconds(o.seconds);
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < o.clients; ++i) {
    int fds[2];
    if (::pipe(fds) != 0) die("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      ::close(fds[0]);
      if (client_uid && (::setresgid(*client_uid, *client_uid, *client_uid) != 0 ||
                         ::setresuid(*client_uid, *client_uid, *client_uid) != 0))
        _exit(3);
      client_loop(socket, ops, o.reconnect, start, end, fds[1], i);
      _exit(0);
    }
    ::close(fds[1]);
    children.push_back({pid, fds[0]});
  }
  long load_rss_max = 0;
  while (Clock::now() < end + std::chrono::milliseconds(200)) {
    if (Clock::now() >= start) load_rss_max = std::max(load_rss_max, proc_kib(dpid, "VmRSS"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::vector<std::uint32_t> all;
  std::uint64_t errors = 0;
  std::string first_error;
  int failed_children = 0;
  for (auto [pid, fd] : children) {
    std::uint32_t head[3];
    if (read_all(fd, head, sizeof head)) {
      std::vector<std::uint32_t> lat(head[0]);
      std::string err(head[2], '\0');
      if (read_all(fd, lat.data(), lat.size() * sizeof(std::uint32_t)) && read_all(fd, err.data(), err.size())) {
        all.insert(all.end(), lat.begin(), lat.end());
        errors += head[1];
        if (first_error.empty()) first_error = err;
      }
    } else {
      ++failed_children;
    }
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  const long after_rss = proc_kib(dpid, "VmRSS"), after_hwm = proc_kib(dpid, "VmHWM");
  std::sort(all.begin(), all.end());

  std::printf("tillid-bench-daemon: %d client processes%s, %s, %d s, %s\n", o.clients,
              client_uid ? (" as uid " + std::to_string(*client_uid)).c_str() : " as the invoking user (admin)",
              !with_ls ? "status only (not root: no staff uid to switch to)"
              : ops == "both" ? "alternating status and ls (20 items)"
              : ops == "ls" ? "ls only (20 items)" : "status only",
              o.seconds, o.reconnect ? "a new connection per request" : "one connection per client");
  std::printf("  requests    %zu ok, %llu errors%s%s\n", all.size(), static_cast<unsigned long long>(errors),
              first_error.empty() ? "" : "; first: ", first_error.c_str());
  if (failed_children) std::printf("  clients     %d did not report (could not switch uid?)\n", failed_children);
  std::printf("  throughput  %.0f requests/s\n", static_cast<double>(all.size()) / o.seconds);
  std::printf("  latency     p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 <= 5 ms)\n",
              percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99),
              all.empty() ? 0.0 : all.back() / 1000.0);
  std::printf("  daemon RSS  idle %.1f MiB (peak so far %.1f); under load max %.1f MiB; after %.1f MiB, peak %.1f MiB "
              "(target <= 32 MiB)\n",
              idle_rss / 1024.0, idle_hwm / 1024.0, load_rss_max / 1024.0, after_rss / 1024.0, after_hwm / 1024.0);

  if (own) {
    ::kill(own->pid, SIGTERM);
    int status = 0;
    ::waitpid(own->pid, &status, 0);
    if (!o.keep) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
  return 0;
}
