// POSIX helpers of the access log writer: checked writes and flushes, its private directory
// and files (LOG-FORMAT.md §1), whole and ranged reads through an open descriptor.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "access_log_state.hpp"

namespace tillid::logio {

Error os_error(const std::string& what, int err) {
  const Errc code = (err == ENOSPC || err == EDQUOT) ? Errc::no_space : Errc::io;
  return make_error(code, what + ": " + std::strerror(err));
}

Result<void> write_all(int fd, const unsigned char* p, std::size_t n, const fs::path& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return os_error("cannot write " + path.string(), errno);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

Result<void> sync_fd(int fd, const fs::path& path) {
  if (::fdatasync(fd) != 0) return os_error("cannot flush " + path.string() + " to disk", errno);
  return {};
}

// Make `dir` (if absent) and return it open, owned by us and 0700 whatever the umask
// (LOG-FORMAT.md §1). O_NOFOLLOW: a symlink in place of the directory is refused.
Result<int> open_log_dir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
  if (ec) return make_error(Errc::io, "cannot create " + dir.parent_path().string() + ": " + ec.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return os_error("cannot create " + dir.string(), errno);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return make_error(Errc::io, "cannot open the log directory " + dir.string() + ": " + std::strerror(errno) +
                                    " (a symbolic link is refused)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_uid != ::geteuid()) {
    ::close(fd);
    return make_error(Errc::denied, "the log directory " + dir.string() + " is not owned by this user; "
                                        "remove it or give it to the appliance's user (chown)");
  }
  if (::fchmod(fd, 0700) != 0) {
    const int err = errno;
    ::close(fd);
    return os_error("cannot set the mode of " + dir.string(), err);
  }
  return fd;
}

// Create one log file holding only its header: O_EXCL|O_NOFOLLOW so nothing an attacker
// planted at the name (a file, a symlink) is ever written through, 0600 whatever the umask.
Result<void> create_file(int dir_fd, const fs::path& dir, const char* name, std::string_view contents) {
  const fs::path path = dir / name;
  const int fd = ::openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return make_error(err == EEXIST ? Errc::already_exists : Errc::io,
                      "cannot create " + path.string() + ": " + std::strerror(err));
  }
  Result<void> r;
  if (::fchmod(fd, 0600) != 0) r = os_error("cannot set the mode of " + path.string(), errno);
  if (r) r = write_all(fd, reinterpret_cast<const unsigned char*>(contents.data()), contents.size(), path);
  if (r) r = sync_fd(fd, path);
  ::close(fd);
  return r;
}

// A whole file through an open descriptor (not by name again: the name could be swapped).
Result<std::vector<unsigned char>> read_fd(int fd, const fs::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error("cannot read " + path.string(), errno);
  std::vector<unsigned char> data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t r = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return os_error("cannot read " + path.string(), errno);
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  data.resize(got);
  return data;
}

std::int64_t system_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Open one of the log files for appending; `entries` is also locked (one writer, §1).
Result<int> open_log_file(const fs::path& path, bool entries) {
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      const int err = errno;
      return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                        "cannot open " + path.string() + ": " + std::strerror(err) +
                            (err == ELOOP ? " (it is a symbolic link; log files never are)" : ""));
    }
    if (!entries) return fd;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return make_error(Errc::io, "the access log " + path.parent_path().string() +
                                      " is already open for writing by another process");
    }
    // The lock belongs to an inode, not to the name: if another writer renamed an upgraded
    // file over `entries` since we opened it (LOG-FORMAT.md §3.6), ours is the replaced
    // version 1 file and the lock guards nothing. Open the name again.
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino)
      return fd;
    ::close(fd);
    if (attempt == 2)
      return make_error(Errc::io, "the access log " + path.parent_path().string() +
                                      " was replaced repeatedly while it was being opened; try again");
  }
}

// Bytes [from, to) of a file.
Result<std::vector<unsigned char>> pread_range(int fd, std::uint64_t from, std::uint64_t to, const fs::path& path) {
  std::vector<unsigned char> image(to - from);
  std::size_t got = 0;
  while (got < image.size()) {
    const ssize_t r = ::pread(fd, image.data() + got, image.size() - got, static_cast<off_t>(from + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return os_error("cannot read " + path.string(), r < 0 ? errno : EIO);
    got += static_cast<std::size_t>(r);
  }
  return image;
}

Result<std::uint64_t> file_size(int fd, const fs::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error("cannot read " + path.string(), errno);
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace tillid::logio
