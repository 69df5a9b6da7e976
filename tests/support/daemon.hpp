// The daemon `tillidd` for tests that drive the real `tillid` client: started on a vault with
// a configuration whose control socket other uids can reach, ready when the socket accepts,
// stopped with SIGTERM (it must exit 0) on close() or destruction. Tests run as root: the
// vault's first admin is root (it ran `tillid init`); staff and auditor are other uids, whose
// clients run through spawn(..., as_uid) (fork, setgroups, setresgid, setresuid).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <optional>

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace tillid::test {

// The uids the roles run as (plan-i11 harness): root is the admin.
struct TestUids {
  static constexpr int admin = kSameUid;  // root, who ran init
  static constexpr unsigned staff = 61001;
  static constexpr unsigned auditor = 61002;
  static constexpr unsigned caseworker = 61003;
  static constexpr unsigned unenrolled = 61004;
};

inline fs::path daemon_program() { return binary_dir() / "firmware" / "tillidd"; }

// Fails the test at once, saying why, unless the test can act as other uids.
inline void require_root_for_roles() {
  if (::geteuid() != 0)
    FAIL("these tests need root: they run the tillid client as other uids (staff " << TestUids::staff << ", auditor "
                                                                                    << TestUids::auditor
                                                                                    << ") to exercise the daemon's roles");
}

// Whether something accepts connections on the Unix socket at `path` now.
inline bool socket_accepts(const fs::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string s = path.string();
  if (s.size() >= sizeof a.sun_path) return false;
  std::memcpy(a.sun_path, s.c_str(), s.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class Daemon {
 public:
  Daemon(const fs::path& vault, const fs::path& config, const fs::path& socket, const fs::path& log_file)
      : socket_(socket), log_(log_file) {
    pid_ = spawn({daemon_program().string(), "--vault", vault.string(), "--config", config.string()}, "/dev/null", log_);
    for (int i = 0; i < 600; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        // It refused to start (not a vault, a vault it cannot open): the test sees why
        // through start_failed() and log_text(); clients then cannot reach it.
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return;
      }
      if (socket_accepts(socket_)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    FAIL("tillidd did not open its control socket " << socket_ << " within 15 s: " << log_text());
  }
  ~Daemon() {
    if (pid_ > 0) stop();
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // It exited on its own before serving (its exit code is stop()'s).
  bool start_failed() const { return pid_ <= 0 && !stopped_; }
  std::string log_text() const { return read_file(log_); }

  // SIGTERM and wait: the daemon seals a running recording and exits; its exit code (-1 if it
  // died of a signal; it is SIGKILLed after 30 s).
  int stop() {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        stopped_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    wait_exit(pid_);
    pid_ = -1;
    stopped_ = true;
    exit_code_ = -1;
    return exit_code_;
  }
  // Waits for it to exit on its own (a signal the test sent); the raw wait status.
  int wait_status() {
    if (pid_ <= 0) return 0;
    const int status = tillid::test::wait_status(pid_);
    pid_ = -1;
    stopped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return status;
  }
  // kill -9, as a power cut would stop it.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait_exit(pid_);
    pid_ = -1;
    stopped_ = true;
    exit_code_ = -1;
  }

 private:
  fs::path socket_, log_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  bool stopped_ = false;
};

}  // namespace tillid::test
