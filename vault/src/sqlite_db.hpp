// RAII wrapper for SQLite: a connection (Db), a prepared statement (Stmt) and a transaction
// guard that rolls back unless committed. Errors become Result values; SQLITE_FULL and a
// write failing with EDQUOT become Errc::no_space.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tillid/result.hpp"

namespace tillid::detail {

class Db;

class Stmt {
 public:
  Stmt() = default;
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept;
  Stmt& operator=(Stmt&& o) noexcept;

  // Parameters are 1-based, as in SQLite. Values are copied (SQLITE_TRANSIENT).
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view text);
  Stmt& bind_blob(int i, std::span<const unsigned char> blob);
  Stmt& bind_null(int i);

  // One step: true if a row is available, false when done.
  Result<bool> step();
  // Step to completion, for statements that return no rows.
  Result<void> run();
  void reset();

  std::int64_t int64(int col) const;
  std::string text(int col) const;
  std::vector<unsigned char> blob(int col) const;
  bool is_null(int col) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* s, Db* db) : stmt_(s), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  Db* db_ = nullptr;
  std::string what_;
  int bind_rc_ = SQLITE_OK;
};

class Db {
 public:
  Db() = default;
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  Db(Db&& o) noexcept;
  Db& operator=(Db&& o) noexcept;

  // Open an existing database file read-write; never creates one (a missing file would
  // otherwise silently become an empty database).
  static Result<Db> open_existing(const std::filesystem::path& path);

  Result<void> exec(const char* sql, std::string_view what);
  Result<Stmt> prepare(const char* sql, std::string_view what);
  // The Error for the connection's last failure: `what` says what we were doing.
  Error error(int rc, std::string_view what) const;
  sqlite3* handle() const { return db_; }
  void close();

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() succeeded.
// IMMEDIATE takes the write lock up front so a busy vault fails at BEGIN, not mid-way.
class Transaction {
 public:
  static Result<Transaction> begin(Db& db, std::string_view what);
  ~Transaction();
  Transaction(Transaction&& o) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  Result<void> commit();

 private:
  explicit Transaction(Db* db, std::string what) : db_(db), what_(std::move(what)) {}
  Db* db_ = nullptr;
  std::string what_;
};

}  // namespace tillid::detail
