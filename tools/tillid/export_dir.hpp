// A directory of files streamed by the daemon (an export bundle, a copy of the access log),
// assembled in a private staging directory beside the destination and renamed onto it only
// when the daemon's final reply is ok; otherwise nothing is left behind.
#pragma once

#include <filesystem>
#include <optional>

#include "daemon_link.hpp"
#include "local_files.hpp"

namespace tillid::cli {

class StreamedDir {
 public:
  // `target` must be absent or an empty directory (EXPORT-FORMAT.md §1).
  static Result<StreamedDir> create(const std::filesystem::path& target);
  // A fresh private directory (0700) for files that are used and then removed.
  static Result<StreamedDir> temporary();
  StreamedDir(StreamedDir&& other) noexcept;
  StreamedDir& operator=(StreamedDir&&) = delete;
  ~StreamedDir();  // removes the staging directory unless published (or a temporary one)

  // Handlers that write each announced file (a plain name only) into the staging directory.
  Incoming receiver();
  // Checks the last file ended, fsyncs and renames the staging directory onto the target.
  Result<void> publish();
  const std::filesystem::path& staging() const { return staging_; }

 private:
  StreamedDir(std::filesystem::path staging, std::filesystem::path target) : staging_(std::move(staging)), target_(std::move(target)) {}
  std::filesystem::path staging_, target_;
  std::optional<PartialFile> current_;
  std::uint64_t expected_ = 0;
  bool open_ = false;
  bool done_ = false;  // published, or moved from
};

}  // namespace tillid::cli
