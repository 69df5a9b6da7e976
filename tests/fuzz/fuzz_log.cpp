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
  // The framing scanner over a file image with either header.
  merkle::Hasher h;
  for (std::string_view header : {logfmt::kEntriesHeader, logfmt::kCheckpointsHeader}) {
    std::vector<unsigned char> image(header.begin(), header.end());
    image.insert(image.end(), bytes.begin(), bytes.end());
    const auto scan = logfmt::scan_records(h, image, header, logfmt::kMaxEntryBytes);
    if (scan.good_end > image.size()) __builtin_trap();
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
