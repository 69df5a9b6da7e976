// Access log on-disk framing (LOG-FORMAT.md §3): file headers, records framed as
// length || payload || [mac] || check, and a scanner that tells a torn tail (crash) from damage.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "merkle.hpp"
#include "tillid/access_log.hpp"

namespace tillid::logfmt {

inline constexpr std::string_view kEntriesHeader = "tillid-log entries v2\n";
// Version 1 framing (no MAC field): read by the auditor's side, upgraded by the writer at open
// (LOG-FORMAT.md §3.6). Never written.
inline constexpr std::string_view kEntriesHeaderV1 = "tillid-log entries v1\n";
inline constexpr std::string_view kCheckpointsHeader = "tillid-log checkpoints v1\n";
inline constexpr std::size_t kMaxEntryBytes = 474;     // LOG-FORMAT.md §2
inline constexpr std::size_t kMaxCheckpointBytes = 2048;
inline constexpr std::size_t kCheckBytes = 8;           // first 8 bytes of SHA-256(0x00 || payload)
inline constexpr std::size_t kMacBytes = 32;            // entries v2: MAC field (§3.1)
// Bytes of framing around a payload: length, the MAC field (entries only) and the check.
constexpr std::size_t frame_bytes(std::size_t mac_bytes) { return 4 + mac_bytes + kCheckBytes; }

using EntryMac = std::array<unsigned char, kMacBytes>;  // all zero: written without the key

// Append one framed record. `leaf` is log_leaf_hash(payload); its prefix is the check. `mac`
// is written between payload and check for the entries file (empty span for checkpoints).
void append_record(std::vector<unsigned char>& out, std::span<const unsigned char> payload,
                   std::span<const unsigned char> mac, const LogHash& leaf);

// LOG-FORMAT.md §3.3: BLAKE2b-256 keyed with vault subkey 5 over a domain label and the entry.
EntryMac entry_mac(const Secret& key, std::span<const unsigned char> entry);
bool entry_mac_valid(const Secret& key, std::span<const unsigned char> entry, std::span<const unsigned char> mac);

struct ScannedRecord {
  std::uint64_t offset;  // of the length field
  std::span<const unsigned char> payload;
  std::span<const unsigned char> mac;  // the MAC field (empty for checkpoints)
  LogHash leaf;  // SHA-256(0x00 || payload)
};

// Result of scanning a whole file image (header included).
struct Scan {
  bool header_ok = false;
  int version = 0;                     // entries file framing, 1 or 2 (0: checkpoints file)
  std::vector<ScannedRecord> records;  // the intact prefix
  std::uint64_t good_end = 0;          // byte offset just past the last intact record
  std::uint64_t torn_bytes = 0;        // a crash leftover at the end (safe to cut)
  // Damage that is not a torn tail: the first bad record's offset and index, and why.
  bool damaged = false;
  std::uint64_t damage_offset = 0;
  std::uint64_t damage_index = 0;
  std::string damage;
};

// Scan `image` (the whole file). Records whose check fails are damage unless they are the last
// thing in the file apart from zero bytes (LOG-FORMAT.md §3.2).
Scan scan_records(merkle::Hasher& h, std::span<const unsigned char> image,
                  std::string_view header, std::size_t max_payload, std::size_t mac_bytes);
// The records of `region`, bytes of a file starting at offset `base` that the caller knows
// to be a record boundary (reported offsets include `base`). Same rules as scan_records.
Scan scan_region(merkle::Hasher& h, std::span<const unsigned char> region, std::uint64_t base,
                 std::size_t max_payload, std::size_t mac_bytes);
// Either entries framing, told apart by the header: a version 1 record has no MAC field, so
// its ScannedRecord::mac is empty (LOG-FORMAT.md §3.6). The writer upgrades such a file at
// open and never appends to one.
Scan scan_entries(merkle::Hasher& h, std::span<const unsigned char> image);
inline Scan scan_checkpoints(merkle::Hasher& h, std::span<const unsigned char> image) {
  return scan_records(h, image, kCheckpointsHeader, kMaxCheckpointBytes, 0);
}

// The writer's index (LOG-FORMAT.md §3.7): a cache of the hashes of complete 256-entry blocks
// below the newest checkpoint, so that open() need not re-hash the whole log. Never trusted
// until the blocks hash, with the entries after them, to a checkpoint's signed root.
inline constexpr std::string_view kIndexHeader = "tillid-log index v1\n";
inline constexpr std::size_t kIndexRecordBytes = 48;
struct IndexRecord {
  LogHash block{};                  // MTH of the block's 256 leaves
  std::uint64_t entries_end = 0;    // offset in `entries` just past the block's last record
  std::uint64_t checkpoint_at = 0;  // offset in `checkpoints` of a checkpoint record (§3.7)
};
void append_index_record(std::vector<unsigned char>& out, const IndexRecord& rec);
// The whole records of an index file image (a torn last record is ignored); nullopt if the
// header is not kIndexHeader.
std::optional<std::vector<IndexRecord>> parse_index(std::span<const unsigned char> image);

// Read a whole file (opened O_NOFOLLOW: LOG-FORMAT.md §1); not_found if absent.
Result<std::vector<unsigned char>> read_file(const std::filesystem::path& path);

// Base64 (RFC 4648 §4, with padding); decoding accepts only the canonical encoding.
std::string base64(std::span<const unsigned char> bytes);
std::optional<std::vector<unsigned char>> unbase64(std::string_view text);
std::string hex(std::span<const unsigned char> bytes);

}  // namespace tillid::logfmt
