// A recording being written into the vault (Vault::begin_recording): Ogg Opus chunks from
// capture/ are encrypted one chunk each, written and fdatasync'ed as they arrive, so a power
// cut loses at most the chunk in flight (PRODUCT.md threat model; FORMAT.md §7). Plaintext
// audio never reaches the disk: the only bytes written are encrypted chunks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "tillid/result.hpp"

namespace tillid {

struct ItemInfo;

// A bookmark in a recording: an audio offset and a label. The label is sealed at rest; the
// access log holds only the offset (FORMAT.md §7.3).
struct Bookmark {
  int seq = 0;                 // 0, 1, 2, ... in the order they were made
  std::int64_t offset_ms = 0;  // audio time from the start of the recording
  std::string label;           // encrypted at rest
  std::int64_t created_unix = 0;
};

// Move-only handle on a recording in progress. It must not outlive the Vault that began it.
// append() and bookmark() may be called from different threads. Destroying it without
// finish() (a crash, an abandoned interview) leaves the item in state 'recording' with every
// appended chunk durable; the next unlock recovers and seals it as interrupted (FORMAT.md §7.5).
//
// Begun while the vault is locked (FORMAT.md §7.6), the same calls work with only the vault's
// public recording key: chunks are encrypted and fdatasync'ed exactly the same, title,
// interviewer and labels are sealed to the vault, and finish() closes the stream but cannot
// sign (the ItemInfo it returns has verified == false). The Vault that began it adopts it at
// its next unlock — signed then, or, if still running, turned into an ordinary recording whose
// finish() signs. A locked recording dropped without finish(), or whose Vault ended before
// unlocking, is never signed: verify names it and nothing serves it.
class Recording {
 public:
  Recording(Recording&&) noexcept;
  Recording& operator=(Recording&&) noexcept;
  ~Recording();

  const std::string& item_id() const;
  const std::string& case_id() const;

  // Encrypt `ogg_chunk` (whole Ogg pages, capture/README.md) as ONE secretstream chunk,
  // write it, fdatasync, and copy the same encrypted bytes to the mirror if there is one.
  // `audio_end_ms`: audio time covered up to the end of this chunk.
  Result<void> append(std::span<const unsigned char> ogg_chunk, std::int64_t audio_end_ms);
  // Store a bookmark (label sealed, bound to this item) and log it (offset only).
  Result<Bookmark> bookmark(std::int64_t offset_ms, std::string label);
  // Close the stream (final chunk), sign the manifest (SHA-256, size, duration, bookmarks),
  // seal the item and log record_stop. The item is then listed like any other. While still a
  // locked capture: close the stream only; signing waits for adoption at unlock (§7.6).
  Result<ItemInfo> finish();

  bool finished() const;
  // Set once writing the mirror copy failed; the recording itself goes on (the primary
  // object is the evidence) but the mirror is no longer updated.
  std::optional<Error> mirror_error() const;
  std::int64_t duration_ms() const;  // audio appended so far

  struct Impl;  // internal

 private:
  friend class Vault;
  explicit Recording(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tillid
