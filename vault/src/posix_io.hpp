// POSIX file plumbing for the vault: an owning file descriptor, whole reads and writes that
// survive EINTR and short transfers, fsync of files and directories, and the mapping from errno
// to Errc (ENOSPC/EDQUOT become no_space so callers can tell a full disk from a broken one).
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "tillid/result.hpp"

namespace tillid::detail {

// Owns one file descriptor; closes it on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();
  // close(2) and report its error: on some file systems a deferred write error shows up here.
  Result<void> close_checked(std::string_view what);

 private:
  int fd_ = -1;
};

// An Error for a failed system call: `what` says what we were doing, errno says why.
Error errno_error(int err, std::string_view what);

// open(2), O_CLOEXEC. With O_CREAT it never follows a symlink (O_NOFOLLOW is added); a file
// it creates with O_EXCL gets exactly `mode`, whatever the umask.
Result<Fd> open_file(const std::filesystem::path& p, int flags, unsigned mode = 0600);
// Open an existing object for reading, refusing anything but a regular file: never through a
// symlink, and a FIFO or device planted in its place can neither block nor feed the reader
// (O_NONBLOCK on open, then fstat; FORMAT.md §1).
Result<Fd> open_regular_for_reading(const std::filesystem::path& p);
// mkdir(2) with mode exactly 0700, whatever the umask.
Result<void> make_private_dir(const std::filesystem::path& p);
// A directory only the caller can write: owned by the effective user, not group- or
// world-writable, and (unless `follow`) not a symlink. The error says what to run.
Result<void> check_private_dir(const std::filesystem::path& p, bool follow);
// write_all issues write(2)s of at most this many bytes. Linux sizes a file's page-cache
// folios by the write: 1-4 MiB writes get 1-2 MiB folios, and on the appliance (a VM that
// hands free memory back to its host) filling fresh high-order pages was measured 3-8x slower,
// intermittently, than 128 KiB writes (order-5 folios at most). A syscall per 128 KiB is noise.
inline constexpr std::size_t kMaxWriteBytes = 128 * 1024;
Result<void> write_all(int fd, std::span<const unsigned char> bytes, std::string_view what);
// Read until `buf` is full or end of file; returns the number of bytes read.
Result<std::size_t> read_full(int fd, std::span<unsigned char> buf, std::string_view what);
Result<void> fsync_fd(int fd, std::string_view what);
// fsync a directory so that a rename or unlink inside it is durable (POSIX leaves the
// directory entry itself in the page cache until then).
Result<void> fsync_dir(const std::filesystem::path& dir);
// rename(2) that refuses to replace an existing target (renameat2 RENAME_NOREPLACE).
Result<void> rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to);
// Write `bytes` to `target` atomically: temp file beside it, fsync, rename, fsync directory.
Result<void> write_file_atomic(const std::filesystem::path& target,
                               std::span<const unsigned char> bytes);
// unlink(2) that treats "already gone" as success.
Result<void> remove_if_exists(const std::filesystem::path& p);

}  // namespace tillid::detail
