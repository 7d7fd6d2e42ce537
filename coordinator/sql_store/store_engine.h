// What SqlStore needs of a database engine beyond SQL: connections, the
// schema's migrations, whether anyone else writes, and claiming an org's
// push so that of several coordinators only one pushes an org at a time.
//
//   SqliteEngine    coordinator/sqlite/    one coordinator per file (flock)
//   PostgresEngine  coordinator/postgres/  several coordinators, one database
//
// Thread-safety: Connect, Name, Migrations and SoleWriter may be called from
// any thread; ClaimPush and ReleasePush from one thread at a time (PanelSync's
// push loop).
#ifndef ADSYNC_COORDINATOR_SQL_STORE_STORE_ENGINE_H_
#define ADSYNC_COORDINATOR_SQL_STORE_STORE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sql.h"

namespace adsync {

class StoreEngine {
 public:
  virtual ~StoreEngine() = default;

  // The database as operators know it, for messages: "database
  // /var/lib/adsync/coordinator.db", "PostgreSQL database adsync on ...".
  virtual std::string Name() const = 0;

  // A new connection (the store keeps one for writes, one for reads).
  virtual absl::StatusOr<std::unique_ptr<Database>> Connect() = 0;

  // Entry i migrates the schema from version i to i + 1; run in order in
  // write transactions. Never edit a released entry; append.
  virtual const std::vector<const char*>& Migrations() const = 0;

  // True when no other process writes the database (SQLite under its
  // flock): state kept beside it in memory (the known-accounts filters)
  // then stays exact. False when other coordinators insert accounts too.
  virtual bool SoleWriter() const = 0;

  // Claims the org's push for this coordinator until ReleasePush: false
  // when another coordinator is pushing it now. A coordinator that dies
  // loses its claims.
  virtual absl::StatusOr<bool> ClaimPush(int64_t org_key) = 0;
  virtual void ReleasePush(int64_t org_key) = 0;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_SQL_STORE_STORE_ENGINE_H_
