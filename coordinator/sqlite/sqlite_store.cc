// SqliteStore's connections: opening the database (one coordinator per
// file, under an flock), the write and read connections, and what every
// part of the store reads first (an org's row).

#include "coordinator/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/guid.h"
#include "common/sqlite.h"
#include "common/status_macros.h"
#include "coordinator/sqlite/rows.h"
#include "coordinator/store_errors.h"
#include "coordinator/validation.h"

namespace adsync {

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    const SqliteStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError(
        "database_path is required in the coordinator config");
  }
  const std::string lock_path = options.path + ".lock";
  const int lock_fd =
      open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create ", lock_path, ": ", strerror(errno),
        "; check that the database directory exists and is writable"));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    close(lock_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("database ", options.path,
                     " is in use by another coordinator (", lock_path,
                     " is locked); stop that one, or give this one its own "
                     "database_path"));
  }
  auto writer = Database::Open(options.path, /*read_only=*/false,
                               static_cast<int>(options.busy_timeout_ms));
  if (!writer.ok()) {
    close(lock_fd);
    return writer.status();
  }
  std::unique_ptr<SqliteStore> store(
      new SqliteStore(options, lock_fd, *std::move(writer)));
  RETURN_IF_ERROR(store->Migrate());
  ASSIGN_OR_RETURN(std::unique_ptr<Database> reader,
                   Database::Open(options.path, /*read_only=*/false,
                                  static_cast<int>(options.busy_timeout_ms)));
  {
    absl::MutexLock lock(&store->read_mu_);
    store->reader_ = std::move(reader);
  }
  return store;
}

SqliteStore::~SqliteStore() {
  writer_.reset();
  reader_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

absl::StatusOr<SqliteStore::OrgRow> SqliteStore::LoadOrg(
    Database* db, const std::string& org_id_raw) {
  ASSIGN_OR_RETURN(std::string org_id, CanonicalGuid(org_id_raw, "Org ID"));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   db->Cached("SELECT org_key, name, match_proxy, match_upn, "
                              "created FROM orgs WHERE org_id=?1"));
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
  org.settings.match_proxy_addresses = org.org.match_proxy_addresses();
  org.settings.match_upn = org.org.match_upn();
  return org;
}

}  // namespace adsync
