// Input and output files of the client: see local_files.hpp.
#include "local_files.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tillid::cli {

namespace fs = std::filesystem;

Error errno_error(int err, const std::string& what) {
  Errc code = Errc::io;
  if (err == ENOENT || err == ENOTDIR) code = Errc::not_found;
  else if (err == EEXIST) code = Errc::already_exists;
  else if (err == ENOSPC || err == EDQUOT) code = Errc::no_space;
  else if (err == EACCES || err == EPERM) code = Errc::denied;
  return make_error(code, what + ": " + std::strerror(err));
}

Result<InputFile> InputFile::open(const fs::path& path) {
  // O_NONBLOCK: a FIFO planted in place of the file cannot block the command; fstat refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    Error e = errno_error(err, "cannot open the input file " + path.string());
    if (err == EACCES || err == EPERM) e.message += " (check the file's permissions)";
    return e;
  }
  InputFile f(fd, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error(errno, "cannot inspect the input file " + path.string());
  if (S_ISDIR(st.st_mode))
    return make_error(Errc::invalid_argument, path.string() + " is a directory; give a file to add");
  if (!S_ISREG(st.st_mode))
    return make_error(Errc::invalid_argument, path.string() + " is not a regular file; give a file to add");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return f;
}

InputFile::InputFile(InputFile&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> InputFile::rewind() {
  if (::lseek(fd_, 0, SEEK_SET) != 0) return errno_error(errno, "cannot read the input file " + path_.string());
  return {};
}

ByteSource InputFile::source() {
  return [this](std::span<unsigned char> buf) -> Result<std::size_t> {
    for (;;) {
      ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_error(errno, "cannot read the input file " + path_.string());
    }
  };
}

Result<void> require_absent(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) return make_error(Errc::already_exists, p.string() + " already exists; it was not overwritten");
  if (errno != ENOENT) return errno_error(errno, "cannot inspect " + p.string());
  return {};
}

Result<void> fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error(errno, "cannot open " + dir.string());
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_error(err, "cannot flush " + dir.string());
  return {};
}

Result<PartialFile> PartialFile::create(const fs::path& target) {
  TILLID_TRY(require_absent(target));
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(randombytes_random()));
  fs::path tmp = dir / ("." + target.filename().string() + ".tillid-partial-" + suffix);
  // O_EXCL|O_NOFOLLOW: never through a planted symlink, never onto someone else's file.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error(errno, "cannot create a file in " + dir.string());
  ::fchmod(fd, 0600);  // exactly 0600 whatever the umask
  return PartialFile(fd, tmp, target);
}

PartialFile::PartialFile(PartialFile&& o) noexcept
    : fd_(o.fd_), tmp_(std::move(o.tmp_)), target_(std::move(o.target_)), written_(o.written_), flushed_(o.flushed_),
      committed_(o.committed_) {
  o.fd_ = -1;
  o.committed_ = true;
}

PartialFile::~PartialFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Result<void> PartialFile::write(std::span<const unsigned char> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error(errno, "cannot write " + tmp_.string());
    bytes = bytes.subspan(static_cast<std::size_t>(n));
    written_ += static_cast<std::uint64_t>(n);
  }
  // Start writeback every 16 MiB so the closing fsync has little left to do.
  constexpr std::uint64_t kWritebackEvery = 16u << 20;
  if (written_ - flushed_ >= kWritebackEvery) {
    ::sync_file_range(fd_, static_cast<off_t>(flushed_), static_cast<off_t>(written_ - flushed_), SYNC_FILE_RANGE_WRITE);
    flushed_ = written_;
  }
  return {};
}

Result<void> PartialFile::commit() {
  // The fsync before the rename: after a power cut the name never points at missing bytes.
  if (::fsync(fd_) != 0) return errno_error(errno, "cannot flush " + tmp_.string());
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return errno_error(errno, "cannot close " + tmp_.string());
  if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return make_error(Errc::already_exists, target_.string() + " already exists; it was not overwritten");
    return errno_error(errno, "cannot rename onto " + target_.string());
  }
  committed_ = true;
  return fsync_dir(target_.parent_path().empty() ? fs::path(".") : target_.parent_path());
}

}  // namespace tillid::cli
