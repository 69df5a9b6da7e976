// The SQLite schema of the vault metadata (FORMAT.md §4), its version, and the connection
// settings every vault connection uses.
#pragma once

#include "sqlite_db.hpp"

namespace tillid::detail {

// Version 2 (FORMAT.md §4.1) adds the recording columns and the bookmarks table, version 3
// (§4.2) signed cases and work records, version 4 (§4.3) recordings captured while locked; an
// older database is upgraded in place, in one transaction, when the vault is opened.
inline constexpr int kSchemaVersion = 4;

// Connection settings: WAL (readers do not block the writer), synchronous=FULL (a committed
// item survives power loss: the item is visible only after its commit), foreign keys on.
Result<void> configure_connection(Db& db);
// Create every table in an empty database (inside the caller's transaction): the version 1
// tables, then the same migration steps an upgraded vault runs, so both end up identical.
Result<void> create_schema(Db& db);
// Check the schema version; version 1 is upgraded to 2 in one transaction; a newer or
// unknown schema is refused, never modified.
Result<void> check_schema(Db& db);

}  // namespace tillid::detail
