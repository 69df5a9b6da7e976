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
#include <optional>
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

// A deterministic clock: starts at 2024-11-22T18:26:40Z and advances 1 s per call. The log
// checks stored checkpoints against `pk` (default: Key()'s, the key the tests sign with).
inline tillid::AccessLogOptions options(std::string origin = kOrigin, bool fixed_clock = true,
                                        std::optional<std::array<unsigned char, 32>> pk = std::nullopt) {
  tillid::AccessLogOptions o;
  o.origin = std::move(origin);
  o.public_key = pk ? *pk : Key().pk;
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

inline constexpr std::size_t kEntriesHeaderSize = 22;      // "tillid-log entries v2\n"
inline constexpr std::size_t kCheckpointsHeaderSize = 26;  // "tillid-log checkpoints v1\n"
inline constexpr std::size_t kMacSize = 32;                // entries v2: MAC field (§3.1)

// A file split into its header and records, per LOG-FORMAT.md §3, written independently of
// the library so the tests check the documented format rather than the code against itself.
// Entries records are length || payload || mac (32) || check (8); checkpoints have no mac.
struct RawFile {
  Bytes header;
  std::vector<Bytes> records;  // payloads
  std::vector<Bytes> macs;     // per record (entries file only; empty vectors otherwise)
  std::size_t mac_size = 0;

  static RawFile load(const fs::path& p, std::size_t header_size) {
    RawFile f;
    f.mac_size = header_size == kEntriesHeaderSize ? kMacSize : 0;
    Bytes b = read_bytes(p);
    f.header.assign(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(header_size));
    std::size_t off = header_size;
    while (off + 4 <= b.size()) {
      const std::size_t n = (std::size_t{b[off]} << 24) | (std::size_t{b[off + 1]} << 16) |
                            (std::size_t{b[off + 2]} << 8) | b[off + 3];
      if (off + 12 + f.mac_size + n > b.size()) break;
      const auto at = [&](std::size_t k) { return b.begin() + static_cast<std::ptrdiff_t>(k); };
      f.records.emplace_back(at(off + 4), at(off + 4 + n));
      f.macs.emplace_back(at(off + 4 + n), at(off + 4 + n + f.mac_size));
      off += 12 + f.mac_size + n;
    }
    return f;
  }
  static Bytes frame(const Bytes& payload, const Bytes& mac) {
    Bytes out;
    const auto n = static_cast<std::uint32_t>(payload.size());
    out.push_back(static_cast<unsigned char>(n >> 24));
    out.push_back(static_cast<unsigned char>(n >> 16));
    out.push_back(static_cast<unsigned char>(n >> 8));
    out.push_back(static_cast<unsigned char>(n));
    out.insert(out.end(), payload.begin(), payload.end());
    out.insert(out.end(), mac.begin(), mac.end());
    const auto h = leaf_hash(payload);
    out.insert(out.end(), h.begin(), h.begin() + 8);
    return out;
  }
  // Append a record as an attacker would: correct check bytes, the MAC they choose (default:
  // none, i.e. zeros; they cannot compute a real one without the passphrase).
  void add(const Bytes& payload, Bytes mac = {}) {
    if (mac.empty()) mac.assign(mac_size, 0);
    records.push_back(payload);
    macs.push_back(std::move(mac));
  }
  // Offset of record i's length field.
  std::size_t offset_of(std::size_t i) const {
    std::size_t off = header.size();
    for (std::size_t k = 0; k < i; ++k) off += 12 + mac_size + records[k].size();
    return off;
  }
  // Write back with correct check bytes: an attacker who knows the (public) format.
  void save(const fs::path& p) const {
    Bytes b = header;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const Bytes fr = frame(records[i], i < macs.size() && macs[i].size() == mac_size ? macs[i] : Bytes(mac_size, 0));
      b.insert(b.end(), fr.begin(), fr.end());
    }
    write_bytes(p, b);
  }
};

inline std::string text_of(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace logtest
