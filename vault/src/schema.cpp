// The vault's SQLite schema: see schema.hpp and FORMAT.md §4.
#include "schema.hpp"

#include <string>

namespace tillid::detail {

Result<void> configure_connection(Db& db) {
  TILLID_TRY(db.exec("PRAGMA foreign_keys=ON", "cannot configure the metadata database"));
  TILLID_TRY(db.exec("PRAGMA synchronous=FULL", "cannot configure the metadata database"));
  // journal_mode=WAL is persistent in the file; setting it again on an existing WAL database
  // changes nothing.
  TILLID_ASSIGN(Stmt st, db.prepare("PRAGMA journal_mode=WAL", "cannot configure the metadata database"));
  TILLID_ASSIGN(bool row, st.step());
  if (!row || st.text(0) != "wal")
    return make_error(Errc::io, "the metadata database cannot use write-ahead logging on this file system");
  return {};
}

namespace {

// FORMAT.md §4.1, schema version 2: recordings. New columns are nullable or defaulted so that
// every version 1 row stays valid; documents leave them NULL / 0.
//   items.interviewer       sealed like items.title (AD column "interviewer")
//   items.duration_ms       decoded audio duration, pre-skip removed
//   items.interrupted       1 if recovery sealed the recording after a cut
//   items.interrupted_unix  the time of the cut (the object's last durable write)
//   bookmarks               one row per bookmark; label sealed (AD table "bookmarks",
//                           column "label", row id "<item id>/<seq>")
Result<void> migrate_1_to_2(Db& db) {
  static const char* kMigration = R"sql(
ALTER TABLE items ADD COLUMN interviewer BLOB;
ALTER TABLE items ADD COLUMN duration_ms INTEGER;
ALTER TABLE items ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN interrupted_unix INTEGER;
CREATE TABLE bookmarks (
  item_id      TEXT NOT NULL REFERENCES items(id),
  seq          INTEGER NOT NULL,
  offset_ms    INTEGER NOT NULL,
  created_unix INTEGER NOT NULL,
  label        BLOB NOT NULL,
  PRIMARY KEY (item_id, seq)
) WITHOUT ROWID;
UPDATE schema_version SET version = 2;
)sql";
  return db.exec(kMigration, "cannot upgrade the metadata schema to version 2");
}

// FORMAT.md §4.2, schema version 3: evidence integrity (issue 10).
//   cases.signature  Ed25519 signature of the case manifest (FORMAT.md §5.4)
//   work             one row per unfinished add or recording: the authenticated record of
//                    work in progress that recovery acts on (FORMAT.md §6); removed in the
//                    same commit that seals the item
//   vault_meta 'resign_pending'  set by this migration; the next unlock re-signs every item
//                    under manifest v3 (and signs every case), then removes it
Result<void> migrate_2_to_3(Db& db, bool existing) {
  static const char* kMigration = R"sql(
ALTER TABLE cases ADD COLUMN signature BLOB;
CREATE TABLE work (
  item_id TEXT PRIMARY KEY,
  record  BLOB NOT NULL,
  mac     BLOB NOT NULL
) WITHOUT ROWID;
UPDATE schema_version SET version = 3;
)sql";
  TILLID_TRY(db.exec(kMigration, "cannot upgrade the metadata schema to version 3"));
  if (existing)
    TILLID_TRY(db.exec("INSERT INTO vault_meta (key, value) VALUES ('resign_pending', x'01')",
                       "cannot upgrade the metadata schema to version 3"));
  return {};
}

// FORMAT.md §4.3, schema version 4: recordings captured while the vault is locked (§7.6).
//   locked_recordings  one row per recording begun while locked: its content key, title and
//                      interviewer sealed (crypto_box_seal) to the vault's X25519 recording
//                      key; no signature, no work record (no key exists to make one)
//   locked_bookmarks   its bookmarks, labels sealed the same way
// Rows leave these tables only when the Vault that captured them adopts them at unlock; the
// rest stay as they are and verify names them. IF NOT EXISTS: the step is idempotent, so a
// crash mid-migration (or tables left by a downgraded copy) cannot wedge the upgrade.
Result<void> migrate_3_to_4(Db& db) {
  static const char* kMigration = R"sql(
CREATE TABLE IF NOT EXISTS locked_recordings (
  id           TEXT PRIMARY KEY,
  case_id      TEXT NOT NULL,
  state        TEXT NOT NULL,
  created_unix INTEGER NOT NULL,
  creator      TEXT NOT NULL,
  sealed_key   BLOB NOT NULL,
  title        BLOB NOT NULL,
  interviewer  BLOB NOT NULL,
  size         INTEGER,
  sha256       BLOB,
  duration_ms  INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locked_bookmarks (
  item_id      TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  offset_ms    INTEGER NOT NULL,
  created_unix INTEGER NOT NULL,
  label        BLOB NOT NULL,
  PRIMARY KEY (item_id, seq)
) WITHOUT ROWID;
UPDATE schema_version SET version = 4;
)sql";
  return db.exec(kMigration, "cannot upgrade the metadata schema to version 4");
}

}  // namespace

Result<void> create_schema(Db& db) {
  // FORMAT.md §4. Nothing that identifies a child is stored in the clear: every such column
  // is a BLOB sealed by metadata_seal.cpp.
  static const char* kSchema = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE vault_meta (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE key_slots (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  label          TEXT NOT NULL,
  created_unix   INTEGER NOT NULL,
  kdf_alg        INTEGER NOT NULL,
  opslimit       INTEGER NOT NULL,
  memlimit       INTEGER NOT NULL,
  salt           BLOB NOT NULL,
  wrapped_master BLOB NOT NULL
);
CREATE TABLE cases (
  id           TEXT PRIMARY KEY,
  case_number  TEXT NOT NULL UNIQUE,
  municipality TEXT NOT NULL,
  child_name   BLOB NOT NULL,
  cpr          BLOB NOT NULL,
  notes        BLOB NOT NULL,
  created_unix INTEGER NOT NULL,
  creator      TEXT NOT NULL
);
CREATE TABLE items (
  id           TEXT PRIMARY KEY,
  case_id      TEXT NOT NULL REFERENCES cases(id),
  kind         TEXT NOT NULL CHECK (kind IN ('document', 'recording')),
  state        TEXT NOT NULL CHECK (state IN ('pending', 'recording', 'sealed')),
  size         INTEGER,
  sha256       BLOB,
  title        BLOB NOT NULL,
  file_name    BLOB NOT NULL,
  created_unix INTEGER NOT NULL,
  creator      TEXT NOT NULL,
  signature    BLOB
);
CREATE INDEX items_by_case ON items(case_id);
INSERT INTO schema_version (version) VALUES (1);
)sql";
  TILLID_TRY(db.exec(kSchema, "cannot create the metadata schema"));
  TILLID_TRY(migrate_1_to_2(db));
  TILLID_TRY(migrate_2_to_3(db, false));
  return migrate_3_to_4(db);
}

Result<void> check_schema(Db& db) {
  std::int64_t v = 0;
  {  // the statement is finalised before any upgrade touches the schema
    auto st = db.prepare("SELECT version FROM schema_version", "cannot read the schema version");
    if (!st.ok())
      return make_error(Errc::corrupt, "the metadata database has no Tillid schema (" +
                                           st.error().message + "); restore it from backup");
    TILLID_ASSIGN(bool row, st->step());
    if (!row) return make_error(Errc::corrupt, "the metadata database has no schema version row");
    v = st->int64(0);
  }
  if (v >= 1 && v <= 3) {
    // Upgrade in place, all or nothing: a crash mid-way leaves the old version and the next
    // open runs the migration again.
    TILLID_ASSIGN(Transaction tx, Transaction::begin(db, "cannot upgrade the metadata schema"));
    if (v == 1) TILLID_TRY(migrate_1_to_2(db));
    if (v <= 2) TILLID_TRY(migrate_2_to_3(db, true));
    TILLID_TRY(migrate_3_to_4(db));
    return tx.commit();
  }
  if (v != kSchemaVersion)
    return make_error(Errc::unsupported, "the metadata schema is version " + std::to_string(v) +
                                             "; this build understands versions 1 to 4 only");
  return {};
}

}  // namespace tillid::detail
