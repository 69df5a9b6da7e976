// The SQLite schema of the vault metadata (FORMAT.md §4), its version, and the connection
// settings every vault connection uses.
#pragma once

#include "sqlite_db.hpp"

namespace tillid::detail {

inline constexpr int kSchemaVersion = 1;

// Connection settings: WAL (readers do not block the writer), synchronous=FULL (a committed
// item survives power loss: the item is visible only after its commit), foreign keys on.
Result<void> configure_connection(Db& db);
// Create every table in an empty database (inside the caller's transaction).
Result<void> create_schema(Db& db);
// Check the schema version; a newer or unknown schema is refused, never modified.
Result<void> check_schema(Db& db);

}  // namespace tillid::detail
