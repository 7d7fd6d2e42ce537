// The store on SQLite, the embedded default: one file, one coordinator
// (an flock on "<path>.lock" refuses a second), WAL mode with one write
// connection (every write under BEGIN IMMEDIATE) and a pool of read
// connections.
//
//   SqliteStoreOptions options;
//   options.path = "/var/lib/adsync/coordinator.db";
//   ASSIGN_OR_RETURN(std::unique_ptr<SqlStore> store,
//   OpenSqliteStore(options));
//
// Thread-safety: as SqlStore.
#ifndef ADSYNC_COORDINATOR_SQLITE_SQLITE_STORE_H_
#define ADSYNC_COORDINATOR_SQLITE_SQLITE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {

struct SqliteStoreOptions : StoreOptions {
  std::string path;  // required
  // How long a write waits for another process's lock on the database
  // before the batch fails with Unavailable (and the agent retries).
  uint32_t busy_timeout_ms = 5000;
};

// Opens (creating) the database file and migrates its schema.
// FailedPrecondition when another coordinator has the file open.
absl::StatusOr<std::unique_ptr<SqlStore>> OpenSqliteStore(
    const SqliteStoreOptions& options);

// The SQLite schema's migrations (sqlite_schema.cc).
const std::vector<const char*>& SqliteMigrations();

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_SQLITE_SQLITE_STORE_H_
