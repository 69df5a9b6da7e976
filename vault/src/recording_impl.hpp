// Recording::Impl, the state of one recording being written, shared by the unlocked writer
// (recording.cpp) and the locked one with its adoption at unlock (recording_locked.cpp), plus
// the small helpers both begin paths use (text checks, the default file name, undoing a
// failed begin).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "object_format.hpp"
#include "posix_io.hpp"
#include "recording_format.hpp"
#include "recording_locked.hpp"
#include "work_record.hpp"

namespace tillid {

struct Recording::Impl {
  Vault::State* s = nullptr;
  std::string item_id;
  std::string case_id;
  detail::Fd fd;         // objects/<id>, O_RDWR (read back to copy to the mirror)
  detail::Fd mirror_fd;  // <mirror>/<id>.tillid-object, or invalid
  std::filesystem::path mirror_path;
  std::optional<detail::ObjectWriter> writer;
  std::optional<detail::Sha256> sha;
  std::vector<unsigned char> copy_buf;
  std::optional<Error> mirror_error;

  // io_mu: the object stream (append, finish). meta_mu: bookmarks vs. finish, so no bookmark
  // lands after finish() computed the digest it signs. Order: meta_mu, io_mu, vault mutex.
  mutable std::mutex io_mu;
  std::mutex meta_mu;
  bool finished = false;
  bool failed = false;
  std::uint64_t size = 0;
  std::int64_t duration_ms = 0;
  std::int64_t next_seq = 0;
  // The work record as last written, and the stored bookmarks its digest covers (unlocked
  // mode only).
  detail::WorkRecord work;
  std::vector<detail::StoredBookmark> stored_bookmarks;
  // FORMAT.md §7.6: begun while the vault was locked and not adopted yet. The row lives in
  // locked_recordings, its facts sealed to `box_pk`; bookmarks and finish take the locked
  // path. Guarded by the VAULT mutex (not io_mu): unlock adopts a running recording under
  // it and flips this to false, and from then on the recording is an ordinary one.
  bool locked_capture = false;
  detail::X25519Public box_pk{};

  ~Impl() {
    if (s == nullptr) return;
    std::lock_guard lk(s->mutex);
    s->live_recordings.erase(item_id);
    detail::forget_live_capture(*s, this);
  }

  // Copy the encrypted bytes [from, to) of the primary object to the mirror, durably. A
  // mirror failure never stops the recording (the primary is the evidence); it is kept and
  // reported through mirror_error().
  void mirror_range(std::uint64_t from, std::uint64_t to) {
    if (!mirror_fd.valid()) return;
    auto r = [&]() -> Result<void> {
      copy_buf.resize(static_cast<std::size_t>(to - from));
      std::size_t done = 0;
      while (done < copy_buf.size()) {
        ssize_t n = ::pread(fd.get(), copy_buf.data() + done, copy_buf.size() - done,
                            static_cast<off_t>(from + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return detail::errno_error(n < 0 ? errno : EIO, "cannot read back the recording for its mirror");
        done += static_cast<std::size_t>(n);
      }
      TILLID_TRY(detail::write_all(mirror_fd.get(), copy_buf, "cannot write the mirror copy " + mirror_path.string()));
      if (::fdatasync(mirror_fd.get()) != 0)
        return detail::errno_error(errno, "cannot flush the mirror copy " + mirror_path.string());
      return {};
    }();
    if (!r.ok()) {
      mirror_error = r.error();
      mirror_fd.reset();
    }
  }
};

namespace detail {

// What a begin made so far, so a failure can undo exactly that.
struct Begun {
  std::string id;
  bool locked = false;  // the row is in locked_recordings (§7.6), not items
  bool row_inserted = false;
  bool object_created = false;
  std::filesystem::path mirror_file;
};

// Remove what a failed begin created: mirror file, object, then the row (and work record).
void discard_failed_begin(Vault::State& s, const Begun& b);
// A free-text field: `required` non-empty, at most `max` bytes, no control characters.
Result<void> check_text(std::string_view what, std::string_view v, std::size_t max, bool required);
// "interview-YYYYMMDD-HHMMSSZ.opus" (FORMAT.md §7.1), from the recording's start time.
std::string default_file_name(std::int64_t unix_s);
// Open the mirror copy and write what the object holds so far (§7.4).
Result<void> start_mirror(Recording::Impl& im, Begun& b, const std::filesystem::path& mirror_dir);

}  // namespace detail

}  // namespace tillid
