// POSIX file plumbing: see posix_io.hpp.
#include "posix_io.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tillid::detail {

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void> Fd::close_checked(std::string_view what) {
  if (fd_ < 0) return {};
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && errno != EINTR) return errno_error(errno, what);
  return {};
}

Error errno_error(int err, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) {
    msg += " (the disk or quota is full; free space and try again)";
    return make_error(Errc::no_space, std::move(msg));
  }
  if (err == ENOENT) return make_error(Errc::not_found, std::move(msg));
  return make_error(Errc::io, std::move(msg));
}

Result<Fd> open_file(const std::filesystem::path& p, int flags, unsigned mode) {
  // Creating never follows a symlink (one planted where we create a file would redirect our
  // writes, FORMAT.md §1).
  if (flags & O_CREAT) flags |= O_NOFOLLOW;
  int fd;
  do {
    fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP && (flags & O_NOFOLLOW))
      return make_error(Errc::io, "cannot open " + p.string() + ": it is a symbolic link, which Tillid never "
                                                                  "follows there; remove it");
    return errno_error(err, "cannot open " + p.string());
  }
  Fd out(fd);
  // A file we created has exactly `mode`, whatever the umask (FORMAT.md §1: 0600).
  if ((flags & O_CREAT) && (flags & O_EXCL) && ::fchmod(fd, mode) != 0)
    return errno_error(errno, "cannot set the mode of " + p.string());
  return out;
}

Result<Fd> open_regular_for_reading(const std::filesystem::path& p) {
  TILLID_ASSIGN(Fd fd, open_file(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error(errno, "cannot inspect " + p.string());
  if (!S_ISREG(st.st_mode))
    return make_error(Errc::corrupt, p.string() + " is not a regular file; something was put in its place");
  // Back to blocking reads (O_NONBLOCK has no effect on a regular file's data, but be plain).
  if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) != 0)
    return errno_error(errno, "cannot open " + p.string());
  return fd;
}

Result<void> make_private_dir(const std::filesystem::path& p) {
  if (::mkdir(p.c_str(), 0700) != 0) return errno_error(errno, "cannot create directory " + p.string());
  // mkdir's mode is reduced by the umask; chmod makes it exactly 0700 (FORMAT.md §1).
  if (::chmod(p.c_str(), 0700) != 0) return errno_error(errno, "cannot set the mode of " + p.string());
  return {};
}

Result<void> check_private_dir(const std::filesystem::path& p, bool follow) {
  struct stat st {};
  if ((follow ? ::stat(p.c_str(), &st) : ::lstat(p.c_str(), &st)) != 0)
    return errno_error(errno, "cannot inspect " + p.string());
  if (!S_ISDIR(st.st_mode))
    return make_error(Errc::corrupt, p.string() + " is not a directory (a symbolic link or another file stands "
                                                  "in its place); Tillid does not use it");
  const uid_t me = ::geteuid();
  if (st.st_uid != me)
    return make_error(Errc::io,
                      p.string() + " is owned by user id " + std::to_string(st.st_uid) + ", not by you (user id " +
                          std::to_string(me) + "); another user could change what it holds. Run `chown -R " +
                          std::to_string(me) + " " + p.string() + "` if it is yours, or use another directory");
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(Errc::io, p.string() + " is writable by other users (mode " + mode +
                                                   "); run `chmod 700 " + p.string() +
                                                   "` and check nothing in it was changed");
  }
  return {};
}

Result<void> write_all(int fd, std::span<const unsigned char> bytes, std::string_view what) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), std::min(bytes.size(), kMaxWriteBytes));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, what);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::size_t> read_full(int fd, std::span<unsigned char> buf, std::string_view what) {
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, what);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

Result<void> fsync_fd(int fd, std::string_view what) {
  if (::fsync(fd) != 0) return errno_error(errno, what);
  return {};
}

Result<void> fsync_dir(const std::filesystem::path& dir) {
  TILLID_ASSIGN(Fd fd, open_file(dir, O_RDONLY | O_DIRECTORY));
  return fsync_fd(fd.get(), "cannot flush directory " + dir.string());
}

Result<void> rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  int err = errno;
  if (err == EEXIST)
    return make_error(Errc::already_exists, to.string() + " already exists; it was not replaced");
  if (err != EINVAL && err != ENOSYS) return errno_error(err, "cannot rename into " + to.string());
  // The file system lacks RENAME_NOREPLACE: fall back to link+unlink, which also never replaces.
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST)
      return make_error(Errc::already_exists, to.string() + " already exists; it was not replaced");
    return errno_error(errno, "cannot rename into " + to.string());
  }
  ::unlink(from.c_str());
  return {};
}

Result<void> write_file_atomic(const std::filesystem::path& target,
                               std::span<const unsigned char> bytes) {
  auto tmp = target;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  TILLID_ASSIGN(Fd fd, open_file(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600));
  auto r = [&]() -> Result<void> {
    TILLID_TRY(write_all(fd.get(), bytes, "cannot write " + tmp.string()));
    TILLID_TRY(fsync_fd(fd.get(), "cannot flush " + tmp.string()));
    TILLID_TRY(fd.close_checked("cannot close " + tmp.string()));
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      return errno_error(errno, "cannot rename into " + target.string());
    return fsync_dir(target.parent_path().empty() ? "." : target.parent_path());
  }();
  if (!r.ok()) ::unlink(tmp.c_str());
  return r;
}

Result<void> remove_if_exists(const std::filesystem::path& p) {
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    return errno_error(errno, "cannot remove " + p.string());
  return {};
}

}  // namespace tillid::detail
