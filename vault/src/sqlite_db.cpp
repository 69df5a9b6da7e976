// RAII wrapper for SQLite: see sqlite_db.hpp.
#include "sqlite_db.hpp"

#include <cerrno>
#include <utility>

namespace tillid::detail {

Stmt::~Stmt() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Stmt::Stmt(Stmt&& o) noexcept
    : stmt_(std::exchange(o.stmt_, nullptr)),
      db_(o.db_),
      what_(std::move(o.what_)),
      bind_rc_(o.bind_rc_) {}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
    db_ = o.db_;
    what_ = std::move(o.what_);
    bind_rc_ = o.bind_rc_;
  }
  return *this;
}

static void keep_first_error(int& slot, int rc) {
  if (slot == SQLITE_OK && rc != SQLITE_OK) slot = rc;
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  keep_first_error(bind_rc_, sqlite3_bind_int64(stmt_, i, v));
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view text) {
  keep_first_error(bind_rc_, sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
                                               SQLITE_TRANSIENT));
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::span<const unsigned char> blob) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const unsigned char empty = 0;
  keep_first_error(bind_rc_, sqlite3_bind_blob(stmt_, i, blob.empty() ? &empty : blob.data(),
                                               static_cast<int>(blob.size()), SQLITE_TRANSIENT));
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  keep_first_error(bind_rc_, sqlite3_bind_null(stmt_, i));
  return *this;
}

Result<bool> Stmt::step() {
  if (bind_rc_ != SQLITE_OK) return db_->error(bind_rc_, what_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error e = db_->error(rc, what_);
  sqlite3_reset(stmt_);
  return e;
}

Result<void> Stmt::run() {
  for (;;) {
    TILLID_ASSIGN(bool row, step());
    if (!row) return {};
  }
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

std::int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

std::vector<unsigned char> Stmt::blob(int col) const {
  const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, col));
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::vector<unsigned char>() : std::vector<unsigned char>(p, p + n);
}

bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Db::~Db() { close(); }

Db::Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    close();
    db_ = std::exchange(o.db_, nullptr);
  }
  return *this;
}

void Db::close() {
  // sqlite3_close_v2 defers the close until outstanding statements are finalised; all of
  // ours are scoped, so in practice this closes (and checkpoints the WAL) at once.
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Result<Db> Db::open_existing(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    if (raw == nullptr) return make_error(Errc::internal, "out of memory opening the metadata database");
    return db.error(rc, "cannot open the metadata database " + path.string());
  }
  sqlite3_extended_result_codes(raw, 1);
  // Writers wait up to 10 s for another connection (e.g. a CLI beside the daemon) instead
  // of failing at once.
  sqlite3_busy_timeout(raw, 10000);
  return db;
}

Result<void> Db::exec(const char* sql, std::string_view what) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(rc, what);
  return {};
}

Result<Stmt> Db::prepare(const char* sql, std::string_view what) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) return error(rc, what);
  Stmt st(s, this);
  st.what_ = std::string(what);
  return st;
}

Error Db::error(int rc, std::string_view what) const {
  std::string msg(what);
  msg += ": ";
  msg += db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  int primary = rc & 0xff;
  int sys = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)))
    return make_error(Errc::no_space, msg + " (the disk or quota is full; free space and try again)");
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB)
    return make_error(Errc::corrupt, msg + " (the metadata database is damaged; restore from backup)");
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    return make_error(Errc::io, msg + " (another process holds the vault; try again)");
  if (primary == SQLITE_CONSTRAINT) return make_error(Errc::already_exists, msg);
  return make_error(Errc::io, msg);
}

Result<Transaction> Transaction::begin(Db& db, std::string_view what) {
  TILLID_TRY(db.exec("BEGIN IMMEDIATE", what));
  return Transaction(&db, std::string(what));
}

Transaction::Transaction(Transaction&& o) noexcept
    : db_(std::exchange(o.db_, nullptr)), what_(std::move(o.what_)) {}

Transaction::~Transaction() {
  if (db_ != nullptr) sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

Result<void> Transaction::commit() {
  Db* db = std::exchange(db_, nullptr);
  int rc = sqlite3_exec(db->handle(), "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    Error e = db->error(rc, what_);
    // COMMIT may leave the transaction open (e.g. SQLITE_BUSY or FULL); end it.
    if (!sqlite3_get_autocommit(db->handle()))
      sqlite3_exec(db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return {};
}

}  // namespace tillid::detail
