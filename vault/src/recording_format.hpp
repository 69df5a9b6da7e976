// Recordings in the vault (FORMAT.md §7): the pieces shared by the live writer
// (recording.cpp) and crash recovery (recovery.cpp) — chunk size, Ogg page scanning for the
// duration, sealing a recording's row, and recovering one cut off by a crash.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "item_rows.hpp"
#include "sha256.hpp"
#include "vault_state.hpp"

namespace tillid::detail {

// FORMAT.md §7.2: the object's chunk size C for recordings. A chunk holds ~1 s of Ogg Opus:
// at most 512 kb/s (2 × 256 kb/s) ≈ 64 KiB, plus headers; 256 KiB leaves a wide margin while
// keeping the reader's buffers small.
inline constexpr std::uint32_t kRecordingChunkSize = 256u << 10;

// The name of the mirror copy of a recording's object in the mirror directory (§7.4).
std::string mirror_object_name(std::string_view item_id);

// Walks whole Ogg pages (RFC 3533 §6) to learn the Opus pre-skip (OpusHead, RFC 7845 §5.1)
// and the last granule position; decoded duration = last granule − pre-skip.
struct OggScan {
  std::int64_t preskip = -1;
  std::int64_t last_granule = -1;
  bool malformed = false;
  void feed(std::span<const unsigned char> pages);
  std::int64_t duration_ms() const;
};

// Sets the end-of-stream flag on the last Ogg page in `pages` (whole pages) and recomputes
// its CRC (RFC 3533 §6: CRC-32, polynomial 0x04c11db7, initial 0, over the page with the CRC
// field zeroed). Recovery closes a cut stream this way so strict checkers (opusinfo) accept
// it. Returns false if `pages` is not a sequence of whole pages (nothing is changed then).
bool set_last_page_eos(std::span<unsigned char> pages);

// What a finished or recovered recording is sealed with.
struct RecordingSeal {
  std::uint64_t size = 0;
  Sha256Digest sha256{};
  std::int64_t duration_ms = 0;
  bool interrupted = false;
  std::int64_t interrupted_unix = 0;
};

// Sign the v2 manifest (with the stored bookmarks) and set size, SHA-256, duration, the
// interruption fields, signature and state 'sealed' in one commit. Caller holds the mutex.
Result<ItemInfo> seal_recording_row(Vault::State& s, const std::string& item_id, const RecordingSeal& seal);

// Recovery of one 'recording' row at unlock (FORMAT.md §7.5). Logs what it did; returns an
// error only when the vault itself cannot be written (a damaged object is logged and left
// for verify to report, so one bad recording does not lock everyone out).
Result<void> recover_recording(Vault::State& s, const ItemRow& row);

}  // namespace tillid::detail
