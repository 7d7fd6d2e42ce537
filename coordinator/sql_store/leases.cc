// SqlStore's leases: one primary AD Sync per (org, domain), each grant at
// a new epoch so fencing tells an old stream from a new one.

#include <string>

#include "absl/synchronization/mutex.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {

using sql_internal::LeaseRow;
using sql_internal::NowUnix;
using sql_internal::ReadLease;

absl::Status SqlStore::EndLeasesOfLocked(const std::string& sync_id) {
  // The holder stays named (status and the failover record say who held
  // it); the lapsed lease goes to a standby at a new epoch.
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("UPDATE leases SET expires_ms=0 "
                                   "WHERE holder_sync_id=?1"));
  q->Bind(1, sync_id);
  return q->Run();
}

absl::StatusOr<LeaseGrant> SqlStore::AcquireLease(const SyncRecord& sync,
                                                  int64_t now_ms,
                                                  int64_t ttl_ms,
                                                  const std::string& reason,
                                                  uint64_t last_sequence) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(CheckCredentialLocked(sync));
  ASSIGN_OR_RETURN(LeaseRow lease,
                   ReadLease(writer_.get(), org.key, sync.domain));
  LeaseGrant grant;
  const std::string& holder = lease.holder;
  if (!holder.empty() && holder != sync.sync_id && lease.expires_ms > now_ms) {
    grant.epoch = lease.epoch;
    grant.holder_sync_id = holder;
    grant.last_holder_sync_id = holder;
    return grant;  // someone else holds a live lease: standby
  }
  // Every grant is a new epoch, even to the same AD Sync: its earlier
  // stream (hung, or replaced by a new Hello) is fenced from now on.
  const uint64_t epoch = lease.epoch + 1;
  if (holder != sync.sync_id || !lease.exists) {
    ASSIGN_OR_RETURN(
        ScopedStatement f,
        writer_->Cached(
            "INSERT INTO failovers(org_key, domain, at, from_sync, "
            "to_sync, epoch, reason) VALUES(?1,?2,?3,?4,?5,?6,?7)"));
    f->Bind(1, org.key)
        .Bind(2, sync.domain)
        .Bind(3, NowUnix())
        .Bind(4, holder)
        .Bind(5, sync.sync_id)
        .Bind(6, static_cast<int64_t>(epoch))
        .Bind(7, reason);
    RETURN_IF_ERROR(f->Run());
  }
  ASSIGN_OR_RETURN(
      ScopedStatement put,
      writer_->Cached(
          "INSERT INTO leases(org_key, domain, holder_sync_id, epoch, "
          "expires_ms, last_sequence) VALUES(?1,?2,?3,?4,?5,?6) ON "
          "CONFLICT(org_key, domain) DO UPDATE SET holder_sync_id=?3, "
          "epoch=?4, expires_ms=?5, last_sequence=?6"));
  put->Bind(1, org.key)
      .Bind(2, sync.domain)
      .Bind(3, sync.sync_id)
      .Bind(4, static_cast<int64_t>(epoch))
      .Bind(5, now_ms + ttl_ms)
      .Bind(6, static_cast<int64_t>(last_sequence));
  RETURN_IF_ERROR(put->Run());
  RETURN_IF_ERROR(txn.Commit());
  grant.primary = true;
  grant.epoch = epoch;
  grant.holder_sync_id = sync.sync_id;
  grant.last_holder_sync_id = sync.sync_id;
  return grant;
}

absl::StatusOr<bool> SqlStore::RenewLeaseLocked(int64_t org_key,
                                                const SyncRecord& sync,
                                                uint64_t epoch,
                                                int64_t expires_ms) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("UPDATE leases SET expires_ms=?5 WHERE org_key=?1 AND "
                      "domain=?2 AND holder_sync_id=?3 AND epoch=?4"));
  q->Bind(1, org_key)
      .Bind(2, sync.domain)
      .Bind(3, sync.sync_id)
      .Bind(4, static_cast<int64_t>(epoch))
      .Bind(5, expires_ms);
  RETURN_IF_ERROR(q->Run());
  return writer_->Changes() == 1;
}

absl::StatusOr<bool> SqlStore::RenewLease(const SyncRecord& sync,
                                          uint64_t epoch, int64_t now_ms,
                                          int64_t ttl_ms) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  // The credential check and the renewal in one write transaction: a key
  // rotated or a sync removed (by any coordinator) in between must not see
  // its lease revived.
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(CheckCredentialLocked(sync));
  ASSIGN_OR_RETURN(bool renewed,
                   RenewLeaseLocked(org.key, sync, epoch, now_ms + ttl_ms));
  RETURN_IF_ERROR(txn.Commit());
  return renewed;
}

absl::Status SqlStore::ReleaseLease(const SyncRecord& sync, uint64_t epoch) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("UPDATE leases SET expires_ms=0 WHERE org_key=?1 AND "
                      "domain=?2 AND holder_sync_id=?3 AND epoch=?4"));
  q->Bind(1, org.key)
      .Bind(2, sync.domain)
      .Bind(3, sync.sync_id)
      .Bind(4, static_cast<int64_t>(epoch));
  return q->Run();
}

absl::StatusOr<LeaseGrant> SqlStore::GetLease(const std::string& org_id,
                                              const std::string& domain,
                                              int64_t now_ms) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), org_id));
  ASSIGN_OR_RETURN(LeaseRow lease, ReadLease(reader.get(), org.key, domain));
  LeaseGrant g;
  g.epoch = lease.epoch;
  g.last_holder_sync_id = lease.holder;
  if (lease.expires_ms > now_ms) g.holder_sync_id = lease.holder;
  return g;
}

}  // namespace adsync
