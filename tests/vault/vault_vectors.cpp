// Fixed inputs for the vault vectors: see vault_vectors.hpp.
#include "vault_vectors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

namespace vectors {

namespace {
tillid::Secret counting(unsigned char first, std::size_t n) {
  tillid::Secret s(n);
  for (std::size_t i = 0; i < n; ++i) s.data()[i] = static_cast<unsigned char>(first + i);
  return s;
}
Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }
}  // namespace

ObjectVector split(std::string name, Bytes plaintext, std::uint32_t chunk_size);

tillid::Secret content_key() { return counting(0x00, 32); }
tillid::Secret item_wrap_key() { return counting(0x20, 32); }

tillid::detail::Id16 item_id() {
  tillid::detail::Id16 id;
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<unsigned char>(0x40 + i);
  return id;
}

tillid::detail::FixedObjectRandomness randomness() {
  tillid::detail::FixedObjectRandomness r;
  for (std::size_t i = 0; i < r.stream_header.size(); ++i) r.stream_header[i] = static_cast<unsigned char>(0x50 + i);
  for (std::size_t i = 0; i < r.wrap_nonce.size(); ++i) r.wrap_nonce[i] = static_cast<unsigned char>(0x68 + i);
  return r;
}

ObjectVector split(std::string name, Bytes plaintext, std::uint32_t chunk_size) {
  // The writer's rule (FORMAT.md §3.3): full chunks, the last one short; empty content is a
  // single empty final chunk.
  ObjectVector v{std::move(name), std::move(plaintext), chunk_size, {}};
  std::size_t left = v.plaintext.size();
  do {
    std::size_t n = std::min<std::size_t>(left, chunk_size);
    v.chunk_sizes.push_back(n);
    left -= n;
  } while (left > 0);
  return v;
}

std::vector<ObjectVector> object_vectors() {
  return {
      // 45 bytes in 16-byte chunks: 16, 16, 13 (final).
      split("object-v1-three-chunks.bin", text("Tillid object format v1 vector: three chunks."), 16),
      // Empty content: a single empty final chunk.
      split("object-v1-empty.bin", Bytes{}, 16),
      // Content ending exactly on a chunk boundary: the last full chunk is the final one.
      split("object-v1-exact.bin", text("exactly thirty-two bytes, twice!exactly thirty-two bytes, twice!"), 32),
  };
}

void write_object(const ObjectVector& v, const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path.string());
  auto fixed = randomness();
  auto w = tillid::detail::ObjectWriter::begin(fd, item_id(), tillid::ItemKind::document, v.chunk_size,
                                               content_key(), item_wrap_key(), &fixed);
  if (!w.ok()) throw std::runtime_error(w.error().message);
  std::size_t off = 0;
  for (std::size_t i = 0; i < v.chunk_sizes.size(); ++i) {
    auto r = w->append_chunk({v.plaintext.data() + off, v.chunk_sizes[i]}, i + 1 == v.chunk_sizes.size());
    if (!r.ok()) throw std::runtime_error(r.error().message);
    off += v.chunk_sizes[i];
  }
  ::close(fd);
}

tillid::Secret signing_secret_key() {
  tillid::Secret seed = counting(0x80, 32);
  tillid::Secret sk(crypto_sign_SECRETKEYBYTES);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, sk.data(), seed.data());
  return sk;
}

tillid::detail::Manifest manifest() {
  tillid::detail::Manifest m;
  m.item_id = item_id();
  for (std::size_t i = 0; i < m.case_id.size(); ++i) m.case_id[i] = static_cast<unsigned char>(0xa0 + i);
  m.kind = tillid::ItemKind::recording;
  m.size = 0x0102030405060708ull;
  // SHA-256("abc")
  const char* abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  std::size_t len = 0;
  sodium_hex2bin(m.sha256.data(), 32, abc, 64, nullptr, &len, nullptr);
  m.created_unix = 1735689600;  // 2025-01-01T00:00:00Z
  m.creator = "staff:anne";
  m.version = 1;  // the pre-v3 layout (FORMAT.md §5.3), kept as a vector for the upgrade's check
  return m;
}

namespace {
tillid::detail::Digest32 filled(unsigned char first) {
  tillid::detail::Digest32 d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<unsigned char>(first + i);
  return d;
}
}  // namespace

tillid::detail::Manifest manifest_v3() {
  auto m = manifest();
  m.version = 3;
  m.case_number = "BH-2025-0042";
  m.municipality = "0101";
  m.title_sealed_sha256 = filled(0xb0);
  m.file_name_sealed_sha256 = filled(0xc0);
  m.has_interviewer = true;
  m.interviewer_sealed_sha256 = filled(0xd0);
  m.duration_ms = 1234567;
  m.interrupted = true;
  m.interrupted_unix = 1735693200;  // 2025-01-01T01:00:00Z
  m.bookmarks_sha256 = filled(0xe0);
  return m;
}

tillid::detail::CaseManifest case_manifest() {
  tillid::detail::CaseManifest c;
  for (std::size_t i = 0; i < c.case_id.size(); ++i) c.case_id[i] = static_cast<unsigned char>(0xa0 + i);
  c.case_number = "BH-2025-0042";
  c.municipality = "0101";
  c.created_unix = 1735689000;
  c.creator = "staff:anne";
  c.child_name_sealed_sha256 = filled(0x10);
  c.cpr_sealed_sha256 = filled(0x30);
  c.notes_sealed_sha256 = filled(0x50);
  return c;
}

std::filesystem::path committed_dir() { return std::filesystem::path(TILLID_SOURCE_DIR) / "tests/vectors/vault"; }

}  // namespace vectors
