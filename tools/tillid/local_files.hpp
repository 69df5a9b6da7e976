// The files the client itself reads and writes for the daemon: a document to store (streamed
// to the daemon), and outputs (`get -o`, `export --out`) that appear only once the daemon's
// final reply says the bytes were authenticated (FORMAT.md §5: nothing unverified is served).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "tillid/result.hpp"
#include "tillid/vault.hpp"

namespace tillid::cli {

Error errno_error(int err, const std::string& what);

// An open regular file to stream to the daemon; the same checks and messages the vault made
// when it opened the file itself (a directory, a device or a FIFO is refused).
class InputFile {
 public:
  static Result<InputFile> open(const std::filesystem::path& path);
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&&) = delete;
  ~InputFile();
  // Reads from the start again (a retry after unlock sends the whole file again).
  Result<void> rewind();
  ByteSource source();

 private:
  InputFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::filesystem::path path_;
};

// A new file written beside `target` (same file system, so the final rename is atomic),
// created 0600 with O_EXCL|O_NOFOLLOW; commit() fsyncs it, renames it onto `target` without
// replacing anything and fsyncs the directory. Destroyed uncommitted, it is removed.
class PartialFile {
 public:
  static Result<PartialFile> create(const std::filesystem::path& target);
  PartialFile(PartialFile&& other) noexcept;
  PartialFile& operator=(PartialFile&&) = delete;
  ~PartialFile();
  Result<void> write(std::span<const unsigned char> bytes);
  Result<void> commit();
  std::uint64_t written() const { return written_; }

 private:
  PartialFile(int fd, std::filesystem::path tmp, std::filesystem::path target)
      : fd_(fd), tmp_(std::move(tmp)), target_(std::move(target)) {}
  int fd_ = -1;
  std::filesystem::path tmp_, target_;
  std::uint64_t written_ = 0, flushed_ = 0;
  bool committed_ = false;
};

// fails with already_exists if anything (even a dangling symlink) is at `p`.
Result<void> require_absent(const std::filesystem::path& p);
Result<void> fsync_dir(const std::filesystem::path& dir);

}  // namespace tillid::cli
