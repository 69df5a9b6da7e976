// Helpers for the recording-while-locked tests (FORMAT.md §7.6): a vault with one signed case
// that is then closed, so the next Vault::open starts locked; capture chunks that look like
// Ogg Opus (they carry "OpusHead" so a plaintext leak is greppable); the attacker's tools —
// SQL on vault.db through the sqlite3 C API and byte edits of objects — and the auditor's
// view of the access log.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tillid/access_log.hpp"
#include "tillid/vault.hpp"

namespace locked_test {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

inline const char* kPass = "correct horse battery staple";
inline const std::string kTitle = "Zebrafinch interview of Quillon";
inline const std::string kInterviewer = "Officer Marigoldsen";
inline const std::string kLabel = "child names Brackwater here";

inline tillid::Passphrase pass() { return tillid::passphrase_from(kPass); }

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tillid-locked-test-XXXXXX";
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

template <class T>
T must(tillid::Result<T> r) {
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(r).value();
}
inline void must(tillid::Result<void> r) {
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
}

// A vault with one case "C1", created and unlocked once, then closed: the next open is locked.
struct LockedVault {
  TempDir tmp;
  fs::path dir = tmp.path() / "vault";
  std::string case_id;

  LockedVault() {
    must(tillid::Vault::create(dir, pass(), "officer", tillid::KdfCost::minimum(), tillid::Actor{}));
    auto v = must(tillid::Vault::open(dir, tillid::Actor{"staff-1", "staff"}));
    must(v.unlock(pass()));
    case_id = must(v.add_case({"C1", "0101", "Brackwater Child", "0101011234", "notes"})).id;
  }
  tillid::Vault open() const { return must(tillid::Vault::open(dir, tillid::Actor{"staff-1", "staff"})); }

  fs::path object(const std::string& id) const { return dir / "objects" / id; }

  // The attacker's SQL on vault.db (another connection; the Vault may be open).
  void sql(const std::string& statement) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "vault.db").c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
    INFO(statement << ": " << (err ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
  }
  std::int64_t count(const std::string& query) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "vault.db").c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, query.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const std::int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }

  std::vector<tillid::LogEntry> log(tillid::LogAction action, const std::string& item_id = "") const {
    auto all = tillid::read_log_entries(dir / "log");
    REQUIRE(all.ok());
    std::vector<tillid::LogEntry> out;
    for (const auto& e : all.value())
      if (e.action == action && (item_id.empty() || e.item_id == item_id)) out.push_back(e);
    return out;
  }
};

// Capture chunk `n`: "OggS" + "OpusHead" (as chunk 0 of a real stream holds) + filler.
inline Bytes chunk(int n, std::size_t size = 3000) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<unsigned char>((i * 31 + n * 7) & 0xff);
  const std::string head = "OggS....OpusHead";
  std::copy(head.begin(), head.end(), b.begin());
  return b;
}

inline Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Every file under `dir` whose bytes contain `needle`.
inline std::vector<fs::path> files_containing(const fs::path& dir, const std::string& needle) {
  std::vector<fs::path> hits;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const Bytes b = read_file(e.path());
    if (std::search(b.begin(), b.end(), needle.begin(), needle.end()) != b.end()) hits.push_back(e.path());
  }
  return hits;
}

inline Bytes fetch(const tillid::Vault& v, const std::string& id) {
  Bytes got;
  must(v.fetch(id, [&](std::span<const unsigned char> b) -> tillid::Result<void> {
    got.insert(got.end(), b.begin(), b.end());
    return {};
  }));
  return got;
}

inline bool verify_names(const tillid::VerifyReport& rep, const std::string& id, const std::string& what) {
  for (const auto& p : rep.problems)
    if (p.item_id == id && p.what.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace locked_test
