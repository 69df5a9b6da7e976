// Fuzz target: what `tillid verify-export` reads from a court bundle it was handed — the
// signed item manifest (v1, v2, v3: a decoded manifest must re-encode to exactly the input,
// FORMAT.md §5), the PEM key, and manifest.json inside an otherwise valid bundle (the
// committed format 2 vector, tests/vectors/export/bundle-v2). The first byte picks which.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <iterator>
#include <string>

#include "export_format.hpp"
#include "tillid/export.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A private copy of the vector bundle whose manifest.json each input replaces.
const fs::path& bundle_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("tillid-fuzz-export-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::copy(fs::path(TILLID_SOURCE_DIR) / "tests/vectors/export/bundle-v2", d, fs::copy_options::recursive);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t which = data[0] % 3;
  ++data;
  --size;
  switch (which) {
    case 0: {
      // One encoding per manifest: whatever decodes re-encodes to the same bytes, so two
      // different byte strings never carry the same signed facts.
      auto m = tillid::exportfmt::decode_manifest({data, size});
      if (m.ok()) {
        const auto again = tillid::detail::encode_manifest(*m);
        if (again.size() != size || !std::equal(again.begin(), again.end(), data)) __builtin_trap();
      }
      break;
    }
    case 1:
      (void)tillid::exportfmt::parse_ed25519_pem({reinterpret_cast<const char*>(data), size});
      break;
    default: {
      {
        std::ofstream out(bundle_dir() / "manifest.json", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
      }
      static const std::string original =
          read_all(fs::path(TILLID_SOURCE_DIR) / "tests/vectors/export/bundle-v2/manifest.json");
      auto r = tillid::verify_export(bundle_dir(), std::nullopt);
      // A bundle whose manifest.json was replaced must never verify clean (manifest.json.sig
      // and SHA256SUMS cover the original bytes), unless the input is those very bytes.
      // (memcmp: bytes compared as unsigned, whatever the signedness of char.)
      const bool same = size == original.size() && std::memcmp(data, original.data(), size) == 0;
      if (r.ok() && r->problems.empty() && !same) __builtin_trap();
      break;
    }
  }
  return 0;
}
