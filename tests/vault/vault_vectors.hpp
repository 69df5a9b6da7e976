// The fixed inputs of the committed vault vectors (tests/vectors/vault/README.md) and the
// functions that turn them into bytes. Used by the generator and by the format test, which
// checks the committed files were made by exactly this code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "manifest.hpp"
#include "object_format.hpp"

namespace vectors {

using Bytes = std::vector<unsigned char>;

struct ObjectVector {
  std::string name;      // file name under tests/vectors/vault/
  Bytes plaintext;
  std::uint32_t chunk_size;
  std::vector<std::size_t> chunk_sizes;  // how the writer splits the plaintext
};

tillid::Secret content_key();    // 00 01 .. 1f
tillid::Secret item_wrap_key();  // 20 21 .. 3f
tillid::detail::Id16 item_id();  // 40 41 .. 4f
tillid::detail::FixedObjectRandomness randomness();  // stream header 50..67, wrap nonce 68..7f
std::vector<ObjectVector> object_vectors();
// Write `v` with ObjectWriter to `path`.
void write_object(const ObjectVector& v, const std::filesystem::path& path);

tillid::Secret signing_secret_key();  // Ed25519 from seed 80 81 .. 9f
tillid::detail::Manifest manifest();           // version 1 layout (manifest-v1.*)
tillid::detail::Manifest manifest_v3();        // version 3, a recording (manifest-v3.*)
tillid::detail::CaseManifest case_manifest();  // case manifest (case-v1.*)

std::filesystem::path committed_dir();

}  // namespace vectors
