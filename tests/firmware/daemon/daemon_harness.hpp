// The daemon tests' harness: a temp vault, the real tillidd started on it as a child, clients
// through the real ControlClient (as root = the vault's admin, or as another uid in a forked
// child with setresuid), and the access log read back with the daemon stopped.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <optional>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_support.hpp"
#include "tillid/access_log.hpp"
#include "tillid/control.hpp"
#include "tillid/vault.hpp"

namespace tillid::test {

inline const char* kPassphrase = "daemon test passphrase";
inline constexpr unsigned kStaffUid = 61001;
inline constexpr unsigned kUnenrolledUid = 61004;

inline fs::path tillidd_program() { return binary_dir() / "firmware" / "tillidd"; }

// A vault made with the vault API; the test process (root) is its first admin. The control
// socket lives in a 0755 directory with mode 0666 so other uids can reach it: the daemon
// decides by SO_PEERCRED, not by file modes.
struct DaemonVault {
  TempDir tmp;
  fs::path vault = tmp / "vault";
  fs::path run_dir = tmp / "run";
  fs::path socket = run_dir / "control.sock";
  fs::path config = tmp / "tillidd.toml";

  explicit DaemonVault(const std::string& extra_config = "") {
    ::chmod(tmp.path().c_str(), 0755);
    fs::create_directory(run_dir);
    ::chmod(run_dir.c_str(), 0755);
    NewUser admin{"admin", Role::admin, static_cast<unsigned>(::getuid()), ""};
    auto made = Vault::create(vault, passphrase_from(kPassphrase), "first", KdfCost::minimum(), admin);
    if (!made) FAIL("cannot create the test vault: " << made.error().message);
    write_file(config, "[control]\nsocket = \"" + socket.string() + "\"\nsocket_mode = 0o666\n" + extra_config);
  }

  // The access log's entries, read from its directory (the daemon must be stopped).
  std::vector<LogEntry> log_entries() const {
    auto e = read_log_entries(vault / "log", {});
    REQUIRE(e.ok());
    return *e;
  }
};

// tillidd running on a DaemonVault; SIGKILLed on destruction if still running.
class DaemonProcess {
 public:
  explicit DaemonProcess(const DaemonVault& dv, std::vector<std::string> extra_env = {})
      : err_(dv.tmp / ("tillidd-" + std::to_string(counter()++) + ".err")) {
    pid_ = spawn({tillidd_program().string(), "--vault", dv.vault.string(), "--config", dv.config.string()},
                 "/dev/null", err_, std::move(extra_env));
    // Ready when a client gets the hello.
    for (int i = 0; i < 400; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("tillidd exited at start: " << stderr_text());
      }
      if (control::ControlClient::connect(dv.socket, std::chrono::milliseconds(2000)).ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("tillidd did not become ready: " << stderr_text());
  }
  ~DaemonProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_);
    }
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string stderr_text() const { return read_file(err_); }

  // SIGTERM; the exit status if it exits within `limit`, else nullopt (then SIGKILLed).
  std::optional<int> terminate(std::chrono::milliseconds limit) {
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_);
    pid_ = -1;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  pid_t pid_ = -1;
  fs::path err_;
};

// One call as root (the vault's admin). The reply as {"ok": true, "result"} or {"ok": false,
// "code", "message"}.
inline nlohmann::json call(const fs::path& socket, const std::string& op, const nlohmann::json& args = nlohmann::json::object()) {
  auto c = control::ControlClient::connect(socket);
  if (!c) return {{"ok", false}, {"code", to_string(c.error().code)}, {"message", c.error().message}};
  auto r = c->call(op, args);
  if (!r) return {{"ok", false}, {"code", to_string(r.error().code)}, {"message", r.error().message}};
  return {{"ok", true}, {"result", *r}};
}

// Runs `body` in a forked child running as `uid` (tests run as root, plan-i11 harness) and
// returns the JSON it returned.
inline nlohmann::json as_uid(unsigned uid, const std::function<nlohmann::json()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) ::_exit(3);
    const std::string out = body().dump();
    const ssize_t n = ::write(fds[1], out.data(), out.size());
    ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 4);
  }
  ::close(fds[1]);
  const std::string text = slurp_fd(fds[0]);
  ::close(fds[0]);
  const int rc = wait_exit(pid);
  if (rc == 3) FAIL("cannot switch to uid " << uid << ": these tests need root");
  REQUIRE(rc == 0);
  return nlohmann::json::parse(text);
}

inline nlohmann::json call_as(unsigned uid, const fs::path& socket, const std::string& op,
                              const nlohmann::json& args = nlohmann::json::object()) {
  return as_uid(uid, [&] { return call(socket, op, args); });
}

// Unlocks and enrols the staff user the recording tests act as.
inline void unlock_and_enrol_staff(const fs::path& socket) {
  auto u = call(socket, "unlock", {{"passphrase", kPassphrase}});
  REQUIRE(u["ok"] == true);
  auto s = call(socket, "user.add", {{"name", "staff1"}, {"role", "staff"}, {"uid", kStaffUid}});
  if (s["ok"] != true) REQUIRE(s.value("code", "") == "already_exists");
}

}  // namespace tillid::test
