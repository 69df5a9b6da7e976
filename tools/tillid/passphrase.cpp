// Passphrase input without echo and without copies outside sodium_malloc'ed memory.
#include "passphrase.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tillid::cli {
namespace {

constexpr std::size_t kMaxPassphrase = 1024;

// Reads up to the first newline from fd into sodium-owned memory.
Result<Secret> read_line_from(int fd, const std::string& what, bool allow_empty = false) {
  Secret buf(kMaxPassphrase + 1);
  std::size_t len = 0;
  while (len < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + len, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Errc::io, "cannot read the passphrase from " + what + ": " + std::strerror(errno));
    if (n == 0 || buf.data()[len] == '\n') break;
    ++len;
  }
  if (len > kMaxPassphrase) return make_error(Errc::invalid_argument, "the line from " + what + " is longer than 1024 bytes");
  if (len > 0 && buf.data()[len - 1] == '\r') --len;
  if (len == 0 && !allow_empty) return make_error(Errc::invalid_argument, "the passphrase from " + what + " is empty");
  return Secret::copy_of(buf.bytes().first(len));
}

Result<Passphrase> from_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::not_found, "cannot open passphrase file " + file.string() + ": " + std::strerror(errno));
  auto p = read_line_from(fd, "passphrase file " + file.string());
  ::close(fd);
  return p;
}

// Restores the terminal's echo setting however the prompt ends.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) == 0) {
      termios quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      active_ = tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
    }
  }
  ~EchoOff() { if (active_) tcsetattr(fd_, TCSAFLUSH, &saved_); }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

// The controlling terminal, or -1: nothing may ever wait for input that cannot come (CI).
int open_terminal() {
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty >= 0 && !isatty(tty)) {
    ::close(tty);
    return -1;
  }
  return tty;
}

Result<Secret> ask(int tty, const std::string& prompt, bool allow_empty) {
  Result<Secret> p = make_error(Errc::internal, "");
  {
    EchoOff quiet(tty);
    std::string text = prompt + ": ";
    [[maybe_unused]] auto w = ::write(tty, text.data(), text.size());
    p = read_line_from(tty, "the terminal", allow_empty);
    [[maybe_unused]] auto nl = ::write(tty, "\n", 1);
  }
  ::close(tty);
  return p;
}

Result<Passphrase> from_terminal(const std::string& prompt) {
  int tty = open_terminal();
  if (tty < 0)
    return make_error(Errc::invalid_argument,
                      "no passphrase given and no terminal to ask on: pass --passphrase-file FILE");
  return ask(tty, prompt, false);
}

}  // namespace

bool have_terminal() {
  int tty = open_terminal();
  if (tty < 0) return false;
  ::close(tty);
  return true;
}

Result<Secret> ask_without_echo(const std::string& prompt) {
  int tty = open_terminal();
  if (tty < 0) return make_error(Errc::invalid_argument, "no terminal to ask on");
  return ask(tty, prompt, true);
}

Result<Passphrase> obtain_passphrase(const std::optional<std::filesystem::path>& file,
                                     const std::string& prompt) {
  if (file) return from_file(*file);
  return from_terminal(prompt);
}

Result<Passphrase> obtain_new_passphrase(const std::optional<std::filesystem::path>& file,
                                         const std::string& prompt) {
  if (file) return from_file(*file);
  TILLID_ASSIGN(Passphrase first, from_terminal(prompt));
  TILLID_ASSIGN(Passphrase again, from_terminal("Repeat the passphrase"));
  if (!first.equals(again)) return make_error(Errc::invalid_argument, "the two passphrases differ; nothing was changed");
  return first;
}

}  // namespace tillid::cli
