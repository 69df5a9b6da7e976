// Streamed directories: see export_dir.hpp.
#include "export_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tillid::cli {

namespace fs = std::filesystem;

namespace {

// A plain file name: no directory part, nothing hidden behind "." or "..", no control bytes.
bool plain_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name == "." || name == ".." || name[0] == '.') return false;
  for (unsigned char c : name)
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  return true;
}

Result<fs::path> make_staging(const fs::path& parent, const std::string& stem) {
  std::string tmpl = (parent / ("." + stem + ".tillid-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return errno_error(errno, "cannot create a directory in " + parent.string());
  return fs::path(tmpl);  // mkdtemp makes it 0700
}

}  // namespace

Result<StreamedDir> StreamedDir::create(const fs::path& out) {
  const fs::path target = out.filename().empty() ? out.parent_path() : out;
  if (target.empty()) return make_error(Errc::invalid_argument, "no export directory given");
  std::error_code ec;
  const auto st = fs::symlink_status(target, ec);
  if (fs::exists(st) && (!fs::is_directory(st) || !fs::is_empty(target, ec) || ec))
    return make_error(Errc::already_exists, target.string() + " already exists and is not an empty directory; "
                                                               "nothing was written: choose a new directory");
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  TILLID_ASSIGN(fs::path staging, make_staging(parent, target.filename().string()));
  return StreamedDir(staging, target);
}

Result<StreamedDir> StreamedDir::temporary() {
  const char* base = std::getenv("TMPDIR");
  TILLID_ASSIGN(fs::path staging, make_staging(base && *base ? base : "/tmp", "audit-log"));
  return StreamedDir(staging, {});
}

StreamedDir::StreamedDir(StreamedDir&& o) noexcept
    : staging_(std::move(o.staging_)), target_(std::move(o.target_)), current_(std::move(o.current_)),
      expected_(o.expected_), open_(o.open_), done_(o.done_) {
  o.done_ = true;
  o.current_.reset();
}

StreamedDir::~StreamedDir() {
  current_.reset();
  if (done_ && !target_.empty()) return;
  if (staging_.empty()) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

Incoming StreamedDir::receiver() {
  Incoming in;
  in.on_file = [this](const std::string& name, std::uint64_t size) -> Result<void> {
    if (open_) return make_error(Errc::corrupt, "the daemon announced a file before the last one ended");
    if (!plain_name(name)) return make_error(Errc::corrupt, "the daemon sent a file with a name that is not a plain file name");
    TILLID_ASSIGN(PartialFile f, PartialFile::create(staging_ / name));
    current_.emplace(std::move(f));
    expected_ = size;
    open_ = true;
    return {};
  };
  in.on_data = [this](std::span<const unsigned char> bytes) -> Result<void> {
    if (!open_) return make_error(Errc::corrupt, "the daemon sent data outside a file");
    if (current_->written() + bytes.size() > expected_)
      return make_error(Errc::corrupt, "the daemon sent more bytes than the file it announced");
    return current_->write(bytes);
  };
  in.on_end = [this]() -> Result<void> {
    if (!open_) return make_error(Errc::corrupt, "the daemon ended a file it did not announce");
    if (current_->written() != expected_) return make_error(Errc::corrupt, "the daemon sent a file shorter than announced");
    TILLID_TRY(current_->commit());
    current_.reset();
    open_ = false;
    return {};
  };
  return in;
}

Result<void> StreamedDir::publish() {
  if (open_) return make_error(Errc::corrupt, "the daemon's reply came before its last file ended");
  TILLID_TRY(fsync_dir(staging_));
  if (target_.empty()) return {};
  if (::rename(staging_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    if (err == EEXIST || err == ENOTEMPTY || err == ENOTDIR)
      return make_error(Errc::already_exists, target_.string() + " appeared while the export was written and is "
                                                                 "not an empty directory; nothing was written");
    return errno_error(err, "cannot rename the bundle into " + target_.string());
  }
  done_ = true;
  const fs::path parent = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
  if (auto synced = fsync_dir(parent); !synced) {
    std::error_code ec;
    fs::remove_all(target_, ec);  // not durable: undo, so a failure leaves nothing behind
    return synced.error();
  }
  return {};
}

}  // namespace tillid::cli
