// Helpers shared by the access log tests: temporary directories, a fixed signing key, a fixed
// clock, event builders, and raw access to the documented record framing (LOG-FORMAT.md §3).
#pragma once

#include <openssl/sha.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tillid/access_log.hpp"

namespace logtest {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("tillid-log-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

struct Key {
  std::array<unsigned char, 32> pk{};
  tillid::Secret sk{64};
  explicit Key(unsigned char seed_byte = 7) {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init");
    std::array<unsigned char, 32> seed;
    seed.fill(seed_byte);
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  }
  std::string vkey(const std::string& name) const { return tillid::log_verifier_key(name, pk); }
};

inline const std::string kOrigin = "tillid.local/test-vault";

// A deterministic clock: starts at 2024-11-22T18:26:40Z and advances 1 s per call.
inline tillid::AccessLogOptions options(std::string origin = kOrigin, bool fixed_clock = true) {
  tillid::AccessLogOptions o;
  o.origin = std::move(origin);
  if (fixed_clock) {
    auto t = std::make_shared<std::atomic<std::int64_t>>(1732300000000);
    o.clock_unix_ms = [t] { return t->fetch_add(1000); };
  }
  return o;
}

inline tillid::LogEvent event(int i, tillid::LogOutcome outcome = tillid::LogOutcome::ok) {
  tillid::LogEvent e;
  e.actor_id = "user" + std::to_string(i % 3);
  e.actor_role = i % 3 == 0 ? "staff" : "caseworker";
  e.action = i % 2 == 0 ? tillid::LogAction::item_read : tillid::LogAction::item_added;
  e.outcome = outcome;
  e.case_id = "case" + std::to_string(i % 2);
  e.item_id = "item" + std::to_string(i % 4);
  e.details = "event " + std::to_string(i);
  return e;
}

// A fully specified event, field by field.
inline tillid::LogEvent make_event(std::string actor, std::string role, tillid::LogAction action,
                                   tillid::LogOutcome outcome, std::string case_id, std::string item_id,
                                   std::string details) {
  tillid::LogEvent e;
  e.actor_id = std::move(actor);
  e.actor_role = std::move(role);
  e.action = action;
  e.outcome = outcome;
  e.case_id = std::move(case_id);
  e.item_id = std::move(item_id);
  e.details = std::move(details);
  return e;
}

inline Bytes read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}
inline void write_bytes(const fs::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline std::array<unsigned char, 32> sha256(const Bytes& b) {
  std::array<unsigned char, 32> d;
  SHA256(b.data(), b.size(), d.data());
  return d;
}
inline std::array<unsigned char, 32> leaf_hash(const Bytes& entry) {
  Bytes b{0x00};
  b.insert(b.end(), entry.begin(), entry.end());
  return sha256(b);
}

// A file split into its header and records, per LOG-FORMAT.md §3, written independently of
// the library so the tests check the documented format rather than the code against itself.
struct RawFile {
  Bytes header;
  std::vector<Bytes> records;  // payloads

  static RawFile load(const fs::path& p, std::size_t header_size) {
    RawFile f;
    Bytes b = read_bytes(p);
    f.header.assign(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(header_size));
    std::size_t off = header_size;
    while (off + 4 <= b.size()) {
      const std::size_t n = (std::size_t{b[off]} << 24) | (std::size_t{b[off + 1]} << 16) |
                            (std::size_t{b[off + 2]} << 8) | b[off + 3];
      if (off + 12 + n > b.size()) break;
      f.records.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(off + 4),
                             b.begin() + static_cast<std::ptrdiff_t>(off + 4 + n));
      off += 12 + n;
    }
    return f;
  }
  static Bytes frame(const Bytes& payload) {
    Bytes out;
    const auto n = static_cast<std::uint32_t>(payload.size());
    out.push_back(static_cast<unsigned char>(n >> 24));
    out.push_back(static_cast<unsigned char>(n >> 16));
    out.push_back(static_cast<unsigned char>(n >> 8));
    out.push_back(static_cast<unsigned char>(n));
    out.insert(out.end(), payload.begin(), payload.end());
    const auto h = leaf_hash(payload);
    out.insert(out.end(), h.begin(), h.begin() + 8);
    return out;
  }
  // Write back with correct check bytes: an attacker who knows the (public) format.
  void save(const fs::path& p) const {
    Bytes b = header;
    for (const auto& r : records) {
      const Bytes fr = frame(r);
      b.insert(b.end(), fr.begin(), fr.end());
    }
    write_bytes(p, b);
  }
};

inline constexpr std::size_t kEntriesHeaderSize = 22;      // "tillid-log entries v1\n"
inline constexpr std::size_t kCheckpointsHeaderSize = 26;  // "tillid-log checkpoints v1\n"

inline std::string text_of(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace logtest
