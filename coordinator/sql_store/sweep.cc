// SqlStore's sweep after a full sync: accounts the DC no longer reports
// are removed, or held for an operator when that looks like a mistake.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adsync/v1/agent.pb.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"
#include "coordinator/store_errors.h"
#include "coordinator/validation.h"

namespace adsync {

using sql_internal::NowUnix;

absl::StatusOr<uint32_t> SqlStore::SweepLocked(
    const OrgRow& org, const SyncRecord& sync, const SeenAccounts& seen,
    uint32_t skipped_entries, bool authoritative, ChangeSet* changes) {
  const std::string& domain = sync.domain;
  // A newer full sync decides afresh.
  RETURN_IF_ERROR(DropHeldSweepLocked(org.key, domain));
  {
    // Skipped accounts it did not see are gone from AD: not to fix.
    std::vector<std::string> vanished;
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("SELECT object_guid FROM skipped_accounts "
                                     "WHERE org_key=?1 AND domain=?2"));
    q->Bind(1, org.key).Bind(2, domain);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      std::string guid = q->ColumnBlob(0);
      if (!seen.contains(guid)) vanished.push_back(std::move(guid));
    }
    for (const std::string& guid : vanished) {
      ASSIGN_OR_RETURN(
          ScopedStatement d,
          writer_->Cached("DELETE FROM skipped_accounts WHERE org_key=?1 AND "
                          "domain=?2 AND object_guid=?3"));
      d->Bind(1, org.key).Bind(2, domain).BindBlob(3, guid);
      RETURN_IF_ERROR(d->Run());
    }
  }
  std::vector<std::string> gone;
  uint64_t active = 0;
  {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("SELECT object_guid FROM profiles WHERE "
                                     "org_key=?1 AND domain=?2 AND deleted=0 "
                                     "AND absent=0"));
    q->Bind(1, org.key).Bind(2, domain);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      std::string guid = q->ColumnBlob(0);
      ++active;
      if (!seen.contains(guid)) gone.push_back(std::move(guid));
    }
  }
  // Not in an authoritative full sync: stamps written with a leaked key
  // (an invented invocationId, a huge USN) would otherwise keep forged
  // accounts from ever being swept.
  if (!authoritative) {
    ASSIGN_OR_RETURN(gone, CaughtUpLocked(org.key, sync, std::move(gone)));
  }
  if (gone.empty()) return 0;
  // Removing is where a mistake costs most (an empty OU, a wrong base DN, a
  // filter that matches nothing, entries the agent could not read): hold
  // such a sweep here, in the store, until an operator decides.
  std::string hold;
  if (seen.empty()) {
    hold = "the full sync reported no accounts at all";
  } else if (skipped_entries > 0) {
    hold = absl::StrCat("the agent could not read ", skipped_entries,
                        " entries (see its log); they may be among those "
                        "that would be removed");
  } else if (gone.size() > options_.sweep_hold_min_accounts &&
             gone.size() > options_.sweep_hold_fraction * active) {
    hold = absl::StrCat("it would remove ", gone.size(), " of ", active,
                        " accounts of the domain (",
                        static_cast<int>(100.0 * gone.size() / active + 0.5),
                        "%)");
  }
  if (!hold.empty()) {
    const std::string reason =
        HeldSweepReason(domain, sync.sync_id, hold, org.org.org_id());
    ASSIGN_OR_RETURN(
        ScopedStatement h,
        writer_->Cached("INSERT INTO held_sweeps(org_key, domain, sync_id, "
                        "at, seen, domain_accounts, skipped_entries, reason) "
                        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"));
    h->Bind(1, org.key)
        .Bind(2, domain)
        .Bind(3, sync.sync_id)
        .Bind(4, NowUnix())
        .Bind(5, static_cast<int64_t>(seen.size()))
        .Bind(6, static_cast<int64_t>(active))
        .Bind(7, static_cast<int64_t>(skipped_entries))
        .Bind(8, reason);
    RETURN_IF_ERROR(h->Run());
    for (const std::string& guid : gone) {
      ASSIGN_OR_RETURN(
          ScopedStatement a,
          writer_->Cached("INSERT INTO held_sweep_accounts(org_key, domain, "
                          "object_guid) VALUES(?1,?2,?3) ON CONFLICT DO "
                          "NOTHING"));
      a->Bind(1, org.key).Bind(2, domain).BindBlob(3, guid);
      RETURN_IF_ERROR(a->Run());
    }
    return 0;
  }
  return RemoveAccountsLocked(org, gone, changes);
}

absl::StatusOr<std::vector<std::string>> SqlStore::CaughtUpLocked(
    int64_t org_key, const SyncRecord& sync, std::vector<std::string> gone) {
  // Where the sweeping DC stands: its own invocationId and its
  // replUpToDateVector (from its agent's last heartbeat).
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT dc_invocation, dc_position FROM "
                                   "syncs WHERE sync_id=?1"));
  q->Bind(1, sync.sync_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  adsync::v1::Heartbeat position;
  if (!row || !position.ParseFromString(q->ColumnBlob(1)) ||
      position.cursors().empty()) {
    return gone;  // nothing known about its replication: no filter
  }
  const DsaId own = DsaIdFromBytes(q->ColumnBlob(0).substr(0, 16));
  absl::flat_hash_map<std::string, int64_t> applied;
  for (const auto& c : position.cursors()) {
    if (c.invocation_id().size() == 16) applied[c.invocation_id()] = c.usn();
  }
  std::vector<std::string> caught_up;
  caught_up.reserve(gone.size());
  for (std::string& guid : gone) {
    ASSIGN_OR_RETURN(StoredAccount a,
                     LoadAccount(writer_.get(), org_key, guid));
    bool behind = false;
    for (const AttrStamp& s : a.state.stamps) {
      if (s.version == 0 || s.usn == 0 || s.invocation == own) continue;
      const std::string from(s.invocation.begin(), s.invocation.end());
      auto it = applied.find(from);
      if (it == applied.end() || it->second < s.usn) behind = true;
    }
    // A DC that has not applied the account's writes yet (a new primary
    // after a failover, still replicating) cannot say it is gone.
    if (!behind) caught_up.push_back(std::move(guid));
  }
  return caught_up;
}

absl::StatusOr<uint32_t> SqlStore::RemoveAccountsLocked(
    const OrgRow& org, const std::vector<std::string>& gone,
    ChangeSet* changes) {
  uint32_t removed = 0;
  for (const std::string& guid : gone) {
    ASSIGN_OR_RETURN(StoredAccount a,
                     LoadAccount(writer_.get(), org.key, guid));
    if (!a.exists || a.state.removed()) continue;
    AccountState gone_state = a.state;
    gone_state.absent = true;
    MatchResult gone_match;
    gone_match.outcome = Outcome::kRemoved;
    RETURN_IF_ERROR(WriteAccountLocked(org.key, a.domain, a, gone_state,
                                       gone_match, changes));
    ++removed;
  }
  return removed;
}

absl::Status SqlStore::DropHeldSweepLocked(int64_t org_key,
                                           const std::string& domain) {
  for (const char* sql :
       {"DELETE FROM held_sweeps WHERE org_key=?1 AND domain=?2",
        "DELETE FROM held_sweep_accounts WHERE org_key=?1 AND domain=?2"}) {
    ASSIGN_OR_RETURN(ScopedStatement q, writer_->Cached(sql));
    q->Bind(1, org_key).Bind(2, domain);
    RETURN_IF_ERROR(q->Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SqlStore::ResolveSweep(const std::string& org_id,
                                                const std::string& domain_raw,
                                                bool approve) {
  ASSIGN_OR_RETURN(std::string domain, ValidateDomainName(domain_raw));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("SELECT 1 FROM held_sweeps WHERE "
                                     "org_key=?1 AND domain=?2"));
    q->Bind(1, org.key).Bind(2, domain);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) {
      return NoHeldSweepError(domain, org.org.org_id());
    }
  }
  uint64_t removed = 0;
  if (approve) {
    // Accounts reported again since the hold have left it: they stay.
    std::vector<std::string> gone;
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("SELECT object_guid FROM held_sweep_accounts "
                        "WHERE org_key=?1 AND domain=?2"));
    q->Bind(1, org.key).Bind(2, domain);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      gone.push_back(q->ColumnBlob(0));
    }
    ChangeSet changes;
    ASSIGN_OR_RETURN(removed, RemoveAccountsLocked(org, gone, &changes));
    RETURN_IF_ERROR(FinishChangesLocked(
        org, changes, absl::StrCat("the approved sweep of domain ", domain),
        /*operator_approved=*/true));
  }
  RETURN_IF_ERROR(DropHeldSweepLocked(org.key, domain));
  RETURN_IF_ERROR(txn.Commit());
  return removed;
}

}  // namespace adsync
