// Helpers for the vault tests: temporary directories, content sources, hashing of files and
// whole directories, and a search for a byte string anywhere under a directory.
#pragma once

#include <openssl/evp.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tillid/vault.hpp"

namespace vt {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;
using Digest = std::array<unsigned char, 32>;

inline const char* kPass = "correct horse battery staple";
inline const char* kPass2 = "second officer passphrase";

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tillid-vault-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline Digest sha256(const Bytes& b) {
  Digest d{};
  unsigned int n = 0;
  EVP_Digest(b.data(), b.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

inline Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Deterministic, fast pseudo-random bytes (xorshift64*), for large streaming contents.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : s_(seed ? seed : 1) {}
  void fill(unsigned char* p, std::size_t n) {
    while (n > 0) {
      s_ ^= s_ >> 12;
      s_ ^= s_ << 25;
      s_ ^= s_ >> 27;
      std::uint64_t v = s_ * 0x2545F4914F6CDD1DULL;
      std::size_t k = n < 8 ? n : 8;
      std::memcpy(p, &v, k);
      p += k;
      n -= k;
    }
  }

 private:
  std::uint64_t s_;
};

inline Bytes prng_bytes(std::size_t n, std::uint64_t seed) {
  Bytes b(n);
  Prng(seed).fill(b.data(), n);
  return b;
}

// A source over a buffer that hands out at most `step` bytes per call (exercises short reads).
inline tillid::ByteSource buffer_source(const Bytes& b, std::size_t step = SIZE_MAX) {
  auto pos = std::make_shared<std::size_t>(0);
  return [&b, pos, step](std::span<unsigned char> buf) -> tillid::Result<std::size_t> {
    std::size_t n = std::min({buf.size(), b.size() - *pos, step});
    if (n > 0) std::memcpy(buf.data(), b.data() + *pos, n);
    *pos += n;
    return n;
  };
}

inline tillid::ByteSink collect_sink(Bytes& out) {
  return [&out](std::span<const unsigned char> bytes) -> tillid::Result<void> {
    out.insert(out.end(), bytes.begin(), bytes.end());
    return {};
  };
}

// SHA-256 of path and content of every regular file under `dir`, keyed by relative path.
// The access log (log/) is left out: its job is to record every attempt, refused ones too.
inline std::map<std::string, Digest> hash_tree(const fs::path& dir) {
  std::map<std::string, Digest> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    auto rel = fs::relative(e.path(), dir).string();
    if (rel.rfind("log/", 0) == 0) continue;
    if (e.is_regular_file()) out[rel] = sha256(read_file(e.path()));
  }
  return out;
}

inline std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

// Files under `dir` whose bytes contain `needle`.
inline std::vector<std::string> files_containing(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    Bytes b = read_file(e.path());
    if (std::search(b.begin(), b.end(), needle.begin(), needle.end()) != b.end())
      hits.push_back(e.path().string());
  }
  return hits;
}

inline tillid::Passphrase pass(const char* p) { return tillid::passphrase_from(p); }

// Create a vault in `dir` and return it opened and unlocked.
inline tillid::Vault make_vault(const fs::path& dir) {
  auto c = tillid::Vault::create(dir, pass(kPass), "officer-1", tillid::KdfCost::minimum(), tillid::Actor{});
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
  auto v = tillid::Vault::open(dir, tillid::Actor{"tester", "staff"});
  REQUIRE(v.ok());
  REQUIRE(v->unlock(pass(kPass)).ok());
  return std::move(v).value();
}

inline tillid::Vault reopen(const fs::path& dir, const char* p = kPass) {
  auto v = tillid::Vault::open(dir, tillid::Actor{"tester", "staff"});
  REQUIRE(v.ok());
  auto u = v->unlock(pass(p));
  INFO((u.ok() ? std::string() : u.error().message));
  REQUIRE(u.ok());
  return std::move(v).value();
}

inline std::string add_case(tillid::Vault& v, const std::string& number = "BH-2024-0001") {
  tillid::NewCase nc{number, "0101", "Test Child", "010203-4455", "notes"};
  auto c = v.add_case(nc);
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
  return c->id;
}

inline tillid::ItemInfo add_bytes(tillid::Vault& v, const std::string& case_id, const Bytes& b,
                                  std::size_t step = SIZE_MAX) {
  auto r = v.add_document(case_id, buffer_source(b, step), "title", "file.bin");
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return r.value();
}

inline Bytes fetch_bytes(const tillid::Vault& v, const std::string& id) {
  Bytes out;
  auto r = v.fetch(id, collect_sink(out));
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return out;
}

}  // namespace vt
