// Creating the control socket (see listener.hpp).
#include "listener.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tillid::daemon {
namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

Result<sockaddr_un> address(const std::filesystem::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string s = path.string();
  if (s.size() >= sizeof a.sun_path)
    return make_error(Errc::invalid_argument, "the control socket path is " + std::to_string(s.size()) +
                                                  " bytes; a Unix socket path must be under " +
                                                  std::to_string(sizeof a.sun_path) + " (set control.socket)");
  std::memcpy(a.sun_path, s.data(), s.size());
  return a;
}

}  // namespace

Result<int> bind_control_socket(const std::filesystem::path& path, unsigned mode) {
  TILLID_ASSIGN(sockaddr_un addr, address(path));
  const std::filesystem::path dir = path.parent_path();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::io, std::string("cannot create the control socket's directory: ") + std::strerror(errno));

  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(Errc::already_exists, "something that is not a socket is at the control socket path; "
                                              "remove it or set control.socket");
    Fd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (probe.fd < 0) return make_error(Errc::io, "cannot create a socket");
    if (::connect(probe.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
      return make_error(Errc::already_exists, "another tillidd already serves this vault's control socket");
    if (errno != ECONNREFUSED)
      return make_error(Errc::io, std::string("cannot probe the old control socket: ") + std::strerror(errno));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return make_error(Errc::io, std::string("cannot remove a stale control socket: ") + std::strerror(errno));
  }

  Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return make_error(Errc::io, "cannot create the control socket");
  // Bound under a tight umask so the socket is never reachable with a wider mode than asked,
  // not even between bind() and chmod().
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) return make_error(Errc::io, std::string("cannot bind the control socket: ") + std::strerror(bind_errno));
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 || ::listen(s.fd, 128) != 0) {
    const int e = errno;
    ::unlink(path.c_str());
    return make_error(Errc::io, std::string("cannot open the control socket: ") + std::strerror(e));
  }
  return s.release();
}

}  // namespace tillid::daemon
