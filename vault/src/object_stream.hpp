// Whole-object transfers with bounded memory, pipelined over two threads (the appliance has
// two cores): on ingest the calling thread reads and hashes (SHA-256) while a worker
// encrypts and writes; on fetch a worker reads and decrypts while the calling thread hashes
// and hands authenticated plaintext to the sink. Callbacks run on the calling thread only.
#pragma once

#include <cstdint>

#include "object_format.hpp"
#include "sha256.hpp"
#include "tillid/vault.hpp"

namespace tillid::detail {

struct StreamDigest {
  std::uint64_t size = 0;
  Sha256Digest sha256{};
};

// Split `source` into chunks of `chunk_size` (the last one shorter, or one empty final chunk
// for empty content) and append them all to `w`, the last tagged final.
Result<StreamDigest> encrypt_stream(ObjectWriter& w, const ByteSource& source,
                                    std::uint32_t chunk_size);
// Read every chunk of `r` to the final one; `sink` may be null (verify).
Result<StreamDigest> decrypt_stream(ObjectReader& r, const ByteSink* sink);

}  // namespace tillid::detail
