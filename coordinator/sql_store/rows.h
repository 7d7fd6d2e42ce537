// Rows and small helpers the parts of SqlStore share: reading an account,
// an AD Sync and a lease row, hashing keys, the clock. Internal to
// coordinator/sql_store/; callers use store.h.
#ifndef ADSYNC_COORDINATOR_SQL_STORE_ROWS_H_
#define ADSYNC_COORDINATOR_SQL_STORE_ROWS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "adsync/v1/admin.pb.h"
#include "adsync/v1/panel.pb.h"
#include "common/sql.h"
#include "coordinator/merge_rules.h"

namespace adsync::sql_internal {

// The schema's partial index and the outbox's queries write "outcome = 0"
// for a matched account (an index definition cannot name a constant).
static_assert(static_cast<int>(Outcome::kMatched) == 0,
              "matched is outcome 0 in the schema's index and the SQL");

int64_t NowUnix();

// SHA-256 of salt + key: the only form in which an AD Sync key is kept.
std::string HashKey(const std::string& salt, const std::string& key);

// `n` bytes from the CSPRNG; aborts without one (no safe keys otherwise).
std::string RandomBytes(int n);

// One stored account: ?1 org key, ?2 objectGUID (binary); columns as
// ReadAccountColumns reads them.
extern const char kSelectAccount[];
void ReadAccountColumns(const Statement& q, AccountState* s,
                        std::string* domain, MatchResult* match);

// The org's AD Syncs (?1 org key), in the order status lists them; columns
// 0-6 as ReadSyncInfo reads them, then connection, watermark and DC state.
extern const char kSelectSyncs[];
void ReadSyncInfo(const Statement& q, const std::string& org_id,
                  adsync::v1::SyncInfo* info);

// The identity K12Panel is sent for a stored account (profiles columns,
// in ReadIdentity's order), read from column `first` on.
extern const char kIdentityColumns[];
absl::Status ReadIdentity(const Statement& q, int first,
                          adsync::v1::PanelIdentity* id);

// One row of the leases table; exists=false when the domain never had one.
struct LeaseRow {
  bool exists = false;
  std::string holder;
  uint64_t epoch = 0;
  int64_t expires_ms = 0;
  uint64_t last_sequence = 0;  // of the last batch committed at `epoch`
};

absl::StatusOr<LeaseRow> ReadLease(Database* db, int64_t org_key,
                                   const std::string& domain);

}  // namespace adsync::sql_internal

#endif  // ADSYNC_COORDINATOR_SQL_STORE_ROWS_H_
