// Fuzz target for the access log's parsers of untrusted input: entry decoding, the record
// framing scanner (entries and checkpoints files), checkpoint notes, verifier keys and proof
// text. Build: -DTILLID_FUZZ=ON with clang-14; run: tillid-fuzz-log -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "access_log_format.hpp"
#include "checkpoint.hpp"
#include "merkle.hpp"
#include "tillid/access_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tillid;
  const std::span<const unsigned char> bytes(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // A decoded entry must re-encode to exactly its input (canonical encoding).
  if (auto e = decode_log_entry(bytes); e.ok()) {
    const auto again = encode_log_entry(*e);
    if (!std::equal(again.begin(), again.end(), bytes.begin(), bytes.end())) __builtin_trap();
  }
  // The framing scanner over a file image with each header (entries v1 and v2, checkpoints).
  merkle::Hasher h;
  for (const std::string_view header : {logfmt::kEntriesHeader, logfmt::kEntriesHeaderV1, logfmt::kCheckpointsHeader}) {
    const bool entries = header != logfmt::kCheckpointsHeader;
    std::vector<unsigned char> image(header.begin(), header.end());
    image.insert(image.end(), bytes.begin(), bytes.end());
    const auto scan = entries ? logfmt::scan_entries(h, image) : logfmt::scan_checkpoints(h, image);
    if (scan.good_end > image.size()) __builtin_trap();
    // A version 1 entries record has no MAC field (LOG-FORMAT.md §3.6).
    const std::size_t mac = entries && header == logfmt::kEntriesHeader ? logfmt::kMacBytes : 0;
    for (const auto& rec : scan.records)
      if (rec.mac.size() != mac) __builtin_trap();
  }
  // Quarantine details (LOG-FORMAT.md §3.4): what parses re-formats to exactly the input.
  if (auto ranges = parse_quarantine_details(text); ranges.ok()) {
    std::vector<std::uint64_t> seqs;
    bool small = true;
    for (const auto& r : *ranges) {
      if (r.last - r.first > 1000 || seqs.size() > 10000) { small = false; break; }
      for (std::uint64_t s = r.first;; ++s) {
        seqs.push_back(s);
        if (s == r.last) break;
      }
    }
    // Adjacent ranges ("1-2,3-4") parse but are written merged; compare only canonical input.
    if (small && text.size() <= 240) {
      const auto again = format_quarantine_details(seqs);
      bool adjacent = false;
      for (std::size_t i = 1; i < ranges->size(); ++i) adjacent |= (*ranges)[i].first == (*ranges)[i - 1].last + 1;
      if (!adjacent && (again.size() != 1 || again[0] != text)) __builtin_trap();
    }
  }
  (void)checkpoint::parse_unverified(text);
  static const std::string vkey =
      "tillid.local/vectors+13b0b4f9+ASFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS";
  (void)open_checkpoint(text, vkey);
  (void)open_checkpoint("", text);
  (void)parse_inclusion_proof(text);
  (void)parse_consistency_proof(text);
  return 0;
}
