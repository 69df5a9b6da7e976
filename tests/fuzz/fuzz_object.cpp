// Fuzz target: an encrypted object file (vault/FORMAT.md §3) read back by ObjectReader, the
// code that faces a tampered disk. Uses the fixed wrap key and item id of the committed
// vectors (tests/vectors/vault/README.md), so seeding the corpus with those vectors lets the
// fuzzer reach the chunk framing past the header's authentication.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "object_format.hpp"

namespace {

tillid::Secret fixed_wrap_key() {
  tillid::Secret k(32);
  for (unsigned i = 0; i < 32; ++i) k.data()[i] = static_cast<unsigned char>(0x20 + i);
  return k;
}

tillid::detail::Id16 fixed_item_id() {
  tillid::detail::Id16 id{};
  for (unsigned i = 0; i < id.size(); ++i) id[i] = static_cast<unsigned char>(0x40 + i);
  return id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const tillid::Secret wrap = fixed_wrap_key();
  static const tillid::detail::Id16 id = fixed_item_id();
  int fd = ::memfd_create("object", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (size > 0 && ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    ::close(fd);
    return 0;
  }
  ::lseek(fd, 0, SEEK_SET);
  auto reader = tillid::detail::ObjectReader::open(fd, id, wrap, "fuzz");
  if (reader.ok()) {
    std::vector<unsigned char> out(tillid::detail::kMaxChunkSize);
    for (int i = 0; i < 64; ++i) {
      auto chunk = reader->next(out);
      if (!chunk.ok() || chunk->final) break;
    }
  }
  ::close(fd);
  return 0;
}
