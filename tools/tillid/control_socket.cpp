// Control socket of a foreground recording: see control_socket.hpp and CONTROL-PROTOCOL.md.
#include "control_socket.hpp"

#include <sodium.h>

#include "tillid/secret.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

namespace tillid::cli::control {

namespace fs = std::filesystem;

namespace {

Error sys_error(Errc code, const std::string& what) { return make_error(code, what + ": " + std::strerror(errno)); }

Result<sockaddr_un> address_of(const fs::path& p) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string s = p.string();
  if (s.size() >= sizeof(a.sun_path))
    return make_error(Errc::invalid_argument, "the control socket path " + s + " is too long for a Unix socket (max " +
                                                  std::to_string(sizeof(a.sun_path) - 1) +
                                                  " bytes); use a vault with a shorter path");
  std::memcpy(a.sun_path, s.c_str(), s.size() + 1);
  return a;
}

// Reads exactly `lines` newline-terminated lines within the deadline, never more than
// kMaxLine bytes each. Reads byte-wise so nothing past the last line is consumed.
Result<std::vector<std::string>> read_lines(int fd, int lines) {
  std::vector<std::string> out;
  std::string cur;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kIoTimeoutMs);
  while (static_cast<int>(out.size()) < lines) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error(Errc::io, "the control socket peer did not answer in time");
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) return sys_error(Errc::io, "cannot wait on the control socket");
    if (pr == 0) continue;
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_PEEK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(Errc::io, "cannot read from the control socket");
    if (n == 0) return make_error(Errc::corrupt, "the control socket peer closed the connection mid-message");
    // Consume up to and including the first newline only.
    ssize_t take = n;
    for (ssize_t i = 0; i < n; ++i)
      if (buf[i] == '\n') {
        take = i + 1;
        break;
      }
    ssize_t got = ::recv(fd, buf, static_cast<std::size_t>(take), 0);
    if (got <= 0) return make_error(Errc::io, "cannot read from the control socket");
    for (ssize_t i = 0; i < got; ++i) {
      if (buf[i] == '\n') {
        out.push_back(std::move(cur));
        cur.clear();
      } else {
        cur.push_back(buf[i]);
        if (cur.size() >= kMaxLine) return make_error(Errc::corrupt, "a control message line is too long");
      }
    }
    sodium_memzero(buf, sizeof buf);
  }
  return out;
}

Result<void> send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(Errc::io, "cannot write to the control socket");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

bool has_control_chars(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

std::optional<Errc> errc_from_name(std::string_view n) {
  for (int i = 0; i <= static_cast<int>(Errc::internal); ++i)
    if (n == to_string(static_cast<Errc>(i))) return static_cast<Errc>(i);
  return std::nullopt;
}

void set_timeouts(int fd) {
  timeval tv{kIoTimeoutMs / 1000, (kIoTimeoutMs % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

fs::path socket_path(const fs::path& vault) { return vault / "run" / "record.sock"; }

Result<Request> parse_request(std::string_view line) {
  if (has_control_chars(line)) return make_error(Errc::invalid_argument, "control characters in the request");
  Request r;
  if (line == "STOP") {
    r.kind = Request::stop;
  } else if (line == "STATUS") {
    r.kind = Request::status;
  } else if (line.rfind("MARK ", 0) == 0) {
    r.kind = Request::mark;
    r.label = std::string(line.substr(5));
    if (r.label.empty()) return make_error(Errc::invalid_argument, "the bookmark label is empty");
    if (r.label.size() > 1000) return make_error(Errc::invalid_argument, "the bookmark label is longer than 1000 bytes");
  } else {
    return make_error(Errc::invalid_argument, "unknown request; expected MARK <label>, STOP or STATUS");
  }
  return r;
}

Result<Server> Server::listen(const fs::path& vault) {
  const fs::path dir = vault / "run";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return sys_error(Errc::io, "cannot create " + dir.string());
  if (::chmod(dir.c_str(), 0700) != 0) return sys_error(Errc::io, "cannot restrict " + dir.string());
  Server s;
  s.path_ = socket_path(vault);
  TILLID_ASSIGN(sockaddr_un addr, address_of(s.path_));
  // A socket file left by a recorder that was killed: remove it, but only if nobody answers.
  struct stat st {};
  if (::lstat(s.path_.c_str(), &st) == 0) {
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool alive = probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (alive) return make_error(Errc::already_exists, "a recording is already running in this vault");
    if (::unlink(s.path_.c_str()) != 0) return sys_error(Errc::io, "cannot remove the stale " + s.path_.string());
  }
  s.listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.listen_fd_ < 0) return sys_error(Errc::io, "cannot create the control socket");
  // Mode 0600 from the start: umask 077 around bind (the directory is 0700 as well).
  const mode_t old = ::umask(077);
  const int b = ::bind(s.listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (b != 0) return sys_error(Errc::io, "cannot bind the control socket " + s.path_.string());
  if (::chmod(s.path_.c_str(), 0600) != 0) return sys_error(Errc::io, "cannot restrict " + s.path_.string());
  if (::listen(s.listen_fd_, 4) != 0) return sys_error(Errc::io, "cannot listen on " + s.path_.string());
  if (::pipe2(s.wake_, O_CLOEXEC | O_NONBLOCK) != 0) return sys_error(Errc::io, "cannot create a pipe");
  return s;
}

Server::Server(Server&& o) noexcept
    : listen_fd_(std::exchange(o.listen_fd_, -1)), path_(std::move(o.path_)) {
  wake_[0] = std::exchange(o.wake_[0], -1);
  wake_[1] = std::exchange(o.wake_[1], -1);
  o.path_.clear();
}

Server::~Server() {
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

void Server::stop() {
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
}

void Server::serve(const std::function<Reply(const Request&)>& handler) {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int pr = ::poll(p, 2, -1);
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0 || (p[1].revents & POLLIN) != 0) return;
    int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    set_timeouts(c);
    Reply reply;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
      reply = Reply{false, "only the user running the recording may control it", Errc::denied};
    } else {
      auto lines = read_lines(c, 2);
      if (!lines.ok()) {
        reply = Reply{false, lines.error().message, Errc::invalid_argument};
      } else if ((*lines)[0] != kVersionLine) {
        reply = Reply{false, "unsupported protocol version; expected " + std::string(kVersionLine), Errc::unsupported};
      } else if (auto req = parse_request((*lines)[1]); !req.ok()) {
        reply = Reply{false, req.error().message, req.error().code};
      } else {
        reply = handler(req.value());
        wipe(req.value().label);  // a bookmark label may describe what the child said
      }
      if (lines.ok())
        for (auto& l : *lines) wipe(l);
    }
    std::string out = std::string(kVersionLine) + "\n";
    std::string body = reply.body;
    for (char& ch : body)
      if (ch == '\n' || ch == '\r') ch = ' ';
    out += reply.ok ? "OK " + body + "\n" : "ERR " + std::string(to_string(reply.code)) + " " + body + "\n";
    (void)send_all(c, out);
    ::close(c);
  }
}

Result<std::string> request(const fs::path& vault, std::string_view command_line) {
  const fs::path path = socket_path(vault);
  TILLID_ASSIGN(sockaddr_un addr, address_of(path));
  const std::string none = "no recording is running in vault " + vault.string() +
                           " (start one with `tillid record start`)";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(Errc::io, "cannot create a socket");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  set_timeouts(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) return make_error(Errc::not_found, none);
    return sys_error(Errc::io, "cannot connect to the recording's control socket " + path.string());
  }
  TILLID_TRY(send_all(fd, std::string(kVersionLine) + "\n" + std::string(command_line) + "\n"));
  TILLID_ASSIGN(auto lines, read_lines(fd, 2));
  if (lines[0] != kVersionLine)
    return make_error(Errc::unsupported, "the recorder speaks another control protocol version");
  const std::string& l = lines[1];
  if (l.rfind("OK ", 0) == 0) return l.substr(3);
  if (l.rfind("ERR ", 0) == 0) {
    const std::string rest = l.substr(4);
    const auto sp = rest.find(' ');
    auto code = errc_from_name(rest.substr(0, sp));
    if (!code) return make_error(Errc::corrupt, "malformed reply from the recorder");
    return make_error(*code, sp == std::string::npos ? "the recorder refused" : rest.substr(sp + 1));
  }
  return make_error(Errc::corrupt, "malformed reply from the recorder");
}

}  // namespace tillid::cli::control
