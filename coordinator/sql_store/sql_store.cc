// SqlStore's connections: opening the store through its engine, the write
// and the pool of read connections, and what every part of the store reads
// first (an org's row).

#include "coordinator/sql_store/sql_store.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/guid.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/store_errors.h"
#include "coordinator/validation.h"

namespace adsync {

absl::StatusOr<std::unique_ptr<SqlStore>> SqlStore::Open(
    const StoreOptions& options, std::unique_ptr<StoreEngine> engine) {
  ASSIGN_OR_RETURN(std::unique_ptr<Database> writer, engine->Connect());
  std::unique_ptr<SqlStore> store(new SqlStore(options, std::move(engine)));
  {
    absl::MutexLock lock(&store->write_mu_);
    store->writer_ = std::move(writer);
  }
  RETURN_IF_ERROR(store->Migrate());
  StoreEngine* const connector = store->engine_.get();
  store->readers_ = std::make_unique<DatabasePool>(
      options.read_connections, [connector] { return connector->Connect(); });
  // One reader now: a database that cannot be read fails here, at start.
  RETURN_IF_ERROR(store->readers_->Acquire().status());
  return store;
}

SqlStore::~SqlStore() {
  // The connections close before the engine (which may hold the lock that
  // made this store the database's only writer).
  {
    absl::MutexLock lock(&write_mu_);
    writer_.reset();
  }
  readers_.reset();
}

absl::StatusOr<SqlStore::OrgRow> SqlStore::LoadOrg(
    Database* db, const std::string& org_id_raw) {
  ASSIGN_OR_RETURN(std::string org_id, CanonicalGuid(org_id_raw, "Org ID"));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   db->Cached("SELECT org_key, name, match_proxy, match_upn, "
                              "created, live, live_changed FROM orgs WHERE "
                              "org_id=?1"));
  q->Bind(1, org_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return UnknownOrgError(org_id);
  OrgRow org;
  org.key = q->ColumnInt(0);
  org.org.set_org_id(org_id);
  org.org.set_name(q->ColumnText(1));
  org.org.set_match_proxy_addresses(q->ColumnInt(2) != 0);
  org.org.set_match_upn(q->ColumnInt(3) != 0);
  org.org.set_created_unix(q->ColumnInt(4));
  org.org.set_live(q->ColumnInt(5) != 0);
  org.org.set_live_changed_unix(q->ColumnInt(6));
  org.settings.match_proxy_addresses = org.org.match_proxy_addresses();
  org.settings.match_upn = org.org.match_upn();
  return org;
}

}  // namespace adsync
