// SqlStore's schema: the schema_version table that records how far a
// database has come, and running the engine's forward migrations from there.

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {

int SqlStore::CurrentSchemaVersion() const {
  return static_cast<int>(engine_->Migrations().size());
}

absl::StatusOr<int> SqlStore::SchemaVersion() {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT version FROM schema_version"));
  ASSIGN_OR_RETURN(bool row, q->Step());
  return row ? static_cast<int>(q->ColumnInt(0)) : 0;
}

absl::Status SqlStore::Migrate() {
  absl::MutexLock lock(&write_mu_);
  // One migration per write transaction, the version read inside it:
  // coordinators starting together on one database migrate it once.
  while (true) {
    Transaction txn(writer_.get());
    RETURN_IF_ERROR(txn.Begin());
    RETURN_IF_ERROR(writer_->Execute(
        "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT "
        "NULL)"));
    int version = 0;
    {
      ASSIGN_OR_RETURN(ScopedStatement q,
                       writer_->Cached("SELECT version FROM schema_version"));
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (row) version = static_cast<int>(q->ColumnInt(0));
    }
    if (version > CurrentSchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          engine_->Name(), " has schema version ", version,
          ", newer than this coordinator understands (", CurrentSchemaVersion(),
          "); run the newer coordinator or restore a backup"));
    }
    if (version == CurrentSchemaVersion()) return txn.Commit();
    RETURN_IF_ERROR(writer_->Execute(engine_->Migrations()[version]));
    RETURN_IF_ERROR(writer_->Execute("DELETE FROM schema_version"));
    RETURN_IF_ERROR(writer_->Execute(
        absl::StrCat("INSERT INTO schema_version VALUES(", version + 1, ")")));
    RETURN_IF_ERROR(txn.Commit());
  }
}

}  // namespace adsync
