// The store on PostgreSQL, for redundancy and growth: several coordinators
// on one database, the database itself made redundant by PostgreSQL's own
// replication (a streaming standby, Patroni): docs/operations.md.
//
// Each coordinator's writes run in transactions that take one advisory
// lock (common/postgres.h), so the rules of SqlStore (fencing checked in the
// transaction of the write, one outbox entry per change) hold across
// coordinators as they do for SQLite's single writer. An org's push is
// claimed by one coordinator at a time: a row lock on push_claims taken
// with FOR UPDATE SKIP LOCKED on a connection of its own, held while the
// batch is delivered and released when it is completed, deferred or
// parked, or when the coordinator dies (its session ends).
//
//   PostgresStoreOptions options;
//   options.conninfo = "host=db1,db2 dbname=adsync user=adsync "
//                      "target_session_attrs=read-write";
//   ASSIGN_OR_RETURN(std::unique_ptr<SqlStore> store,
//                    OpenPostgresStore(options));
//
// Thread-safety: as SqlStore.
#ifndef ADSYNC_COORDINATOR_POSTGRES_POSTGRES_STORE_H_
#define ADSYNC_COORDINATOR_POSTGRES_POSTGRES_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {

struct PostgresStoreOptions : StoreOptions {
  // A libpq connection string or URI; required. No password in it: libpq
  // reads one from its passfile (~/.pgpass, PGPASSFILE or passfile=).
  std::string conninfo;
};

// Connects, and migrates the schema (once, whichever coordinator is first).
absl::StatusOr<std::unique_ptr<SqlStore>> OpenPostgresStore(
    const PostgresStoreOptions& options);

// InvalidArgument (saying how to give the password instead) when
// `conninfo` holds a password: the config file is not the place for one.
absl::Status CheckPostgresConnInfo(const std::string& conninfo);

// The PostgreSQL schema's migrations (postgres_schema.cc).
const std::vector<const char*>& PostgresMigrations();

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_POSTGRES_POSTGRES_STORE_H_
