// SqlStore's ingest: an agent's batch, matched and written with its
// watermark in one transaction, fenced by the lease; the known-accounts
// filter that lets unchanged re-sends skip the database.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/fencing.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {

using sql_internal::kSelectAccount;
using sql_internal::LeaseRow;
using sql_internal::NowUnix;
using sql_internal::ReadAccountColumns;
using sql_internal::ReadLease;

absl::StatusOr<MatchResult> SqlStore::Match(Database* db, const OrgRow& org,
                                            const AccountState& account) {
  ASSIGN_OR_RETURN(ScopedStatement q,
                   db->Cached("SELECT person_id FROM person_emails "
                              "WHERE org_key=?1 AND email=?2"));
  absl::Status error;
  auto lookup = [&](const std::string& email) {
    std::vector<std::string> people;
    q->Reset();
    q->Bind(1, org.key).Bind(2, email);
    while (true) {
      auto row = q->Step();
      if (!row.ok()) {
        error = row.status();
        break;
      }
      if (!*row) break;
      people.push_back(q->ColumnText(0));
    }
    return people;
  };
  MatchResult result = MatchAccount(account, org.settings, lookup);
  if (!error.ok()) return error;
  return result;
}

absl::StatusOr<SqlStore::StoredAccount> SqlStore::LoadAccount(
    Database* db, int64_t org_key, const std::string& guid) {
  ASSIGN_OR_RETURN(ScopedStatement q, db->Cached(kSelectAccount));
  q->Bind(1, org_key).BindBlob(2, guid);
  ASSIGN_OR_RETURN(bool row, q->Step());
  StoredAccount a;
  if (!row) return a;
  a.exists = true;
  ReadAccountColumns(*q, &a.state, &a.domain, &a.match);
  return a;
}

absl::StatusOr<AccountFilter*> SqlStore::KnownAccountsLocked(int64_t org_key) {
  std::unique_ptr<AccountFilter>& filter = known_accounts_[org_key];
  if (filter != nullptr && !filter->full()) return filter.get();
  ASSIGN_OR_RETURN(ScopedStatement count,
                   writer_->Cached("SELECT count(*) FROM profiles "
                                   "WHERE org_key=?1"));
  count->Bind(1, org_key);
  RETURN_IF_ERROR(count->Step().status());
  const size_t rows = static_cast<size_t>(count->ColumnInt(0));
  auto rebuilt = std::make_unique<AccountFilter>(
      std::max<size_t>(rows, filter ? filter->capacity() : 0) * 4);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT object_guid FROM profiles "
                                   "WHERE org_key=?1"));
  q->Bind(1, org_key);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    rebuilt->Add(q->ColumnBlobView(0));
  }
  filter = std::move(rebuilt);
  return filter.get();
}

absl::Status SqlStore::WriteAccountLocked(
    int64_t org_key, const std::string& domain, const StoredAccount& before,
    const AccountState& s, const MatchResult& m, ChangeSet* changes) {
  if (!before.exists && engine_->SoleWriter()) {
    // Before the row: the filter may claim too much, never too little.
    ASSIGN_OR_RETURN(AccountFilter * known, KnownAccountsLocked(org_key));
    known->Add(s.object_guid);
  }
  const std::string old_person =
      before.exists && before.match.outcome == Outcome::kMatched
          ? before.match.person_id
          : "";
  const std::string new_person =
      m.outcome == Outcome::kMatched ? m.person_id : "";
  if (old_person != new_person) {
    if (!old_person.empty()) {
      changes->dirty.insert(old_person);
      changes->losing.insert(old_person);
    }
    if (!new_person.empty()) changes->dirty.insert(new_person);
  } else if (!new_person.empty() && PanelIdentityChanged(before.state, s)) {
    changes->dirty.insert(new_person);
  }
  CountKey now_counted(domain, static_cast<int>(m.outcome),
                       AccountDisabled(s.user_account_control));
  if (!before.exists) {
    ++changes->counts[std::move(now_counted)];
  } else {
    CountKey was_counted(before.domain, static_cast<int>(before.match.outcome),
                         AccountDisabled(before.state.user_account_control));
    if (was_counted != now_counted) {
      --changes->counts[std::move(was_counted)];
      ++changes->counts[std::move(now_counted)];
    }
  }
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "INSERT INTO profiles(org_key, object_guid, domain, sid, sam, upn, "
          "mail, proxy, display_name, uac, deleted, absent, stamps, outcome, "
          "person_id, matched_email, updated) "
          "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17) "
          "ON CONFLICT(org_key, object_guid) DO UPDATE SET domain=?3, sid=?4, "
          "sam=?5, upn=?6, mail=?7, proxy=?8, display_name=?9, uac=?10, "
          "deleted=?11, absent=?12, stamps=?13, outcome=?14, person_id=?15, "
          "matched_email=?16, updated=?17"));
  // Every bound value outlives Run(): no copies (this runs per account
  // written, a million times in a large district's first full sync).
  const std::string proxy = absl::StrJoin(s.proxy_addresses, "\n");
  const std::string stamps = EncodeStamps(s.stamps);
  q->Bind(1, org_key)
      .BindBlobNoCopy(2, s.object_guid)
      .BindTextNoCopy(3, domain)
      .BindTextNoCopy(4, s.sid)
      .BindTextNoCopy(5, s.sam_account_name)
      .BindTextNoCopy(6, s.user_principal_name)
      .BindTextNoCopy(7, s.mail)
      .BindTextNoCopy(8, proxy)
      .BindTextNoCopy(9, s.display_name)
      .Bind(10, s.user_account_control)
      .Bind(11, s.deleted ? 1 : 0)
      .Bind(12, s.absent ? 1 : 0)
      .BindBlobNoCopy(13, stamps)
      .Bind(14, static_cast<int>(m.outcome))
      .BindTextNoCopy(15, m.person_id)
      .BindTextNoCopy(16, m.matched_email)
      .Bind(17, NowUnix());
  return q->Run();
}

absl::StatusOr<BatchOutcome> SqlStore::ApplyBatch(const SyncRecord& sync,
                                                  PreparedBatch batch,
                                                  const SeenAccounts* seen,
                                                  int64_t lease_expires_ms) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  if (options_.test_hooks.before_apply) {
    RETURN_IF_ERROR(options_.test_hooks.before_apply(batch));
  }
  RETURN_IF_ERROR(CheckCredentialLocked(sync));
  {
    // Fencing (docs/design.md, rule 6): only the current lease holder, at
    // the current epoch, writes. Checked inside the batch's own transaction.
    ASSIGN_OR_RETURN(LeaseRow lease,
                     ReadLease(writer_.get(), org.key, sync.domain));
    if (!lease.exists || lease.holder != sync.sync_id ||
        lease.epoch != batch.lease_epoch) {
      return FencedError(absl::StrCat(
          "fenced: AD Sync ", sync.sync_id, " wrote at lease epoch ",
          batch.lease_epoch, " but ",
          lease.exists ? absl::StrCat("AD Sync ", lease.holder, " holds epoch ",
                                      lease.epoch)
                       : std::string("no agent holds the lease"),
          " for domain ", sync.domain, "; the agent reconnects as a standby"));
    }
    // A batch that failed is never skipped: the agent's watermark must not
    // move past changes that were not stored.
    if (batch.sequence != lease.last_sequence + 1) {
      return FencedError(absl::StrCat(
          "fenced: batch ", batch.sequence, " does not follow batch ",
          lease.last_sequence,
          ", the last one stored at this lease epoch; the agent reconnects "
          "and resends from its last acknowledged batch"));
    }
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("UPDATE leases SET last_sequence=?3, expires_ms=CASE "
                        "WHEN expires_ms > ?4 THEN expires_ms ELSE ?4 END "
                        "WHERE org_key=?1 AND domain=?2"));
    // A primary streaming a long full sync sends batches, not heartbeats:
    // the same write renews its lease.
    q->Bind(1, org.key)
        .Bind(2, sync.domain)
        .Bind(3, static_cast<int64_t>(batch.sequence))
        .Bind(4, lease_expires_ms);
    RETURN_IF_ERROR(q->Run());
  }
  BatchOutcome outcome;
  ChangeSet changes;
  if (batch.full_sync_begin) {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("UPDATE syncs SET full_sync_in_progress=1, "
                        "wm_invocation=NULL, wm_usn=NULL "
                        "WHERE sync_id=?1"));
    q->Bind(1, sync.sync_id);
    RETURN_IF_ERROR(q->Run());
  }
  RETURN_IF_ERROR(NoteReportedAccountsLocked(org.key, sync.domain, batch));
  // After a key rotation the domain's next full sync is authoritative: what
  // the DC reports replaces what is stored, whatever stamps a holder of
  // the old key wrote (a version of 0xFFFFFFFF would otherwise pin a
  // forged value forever).
  bool authoritative = false;
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("SELECT authoritative_resync, full_sync_in_progress "
                        "FROM syncs WHERE sync_id=?1"));
    q->Bind(1, sync.sync_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    const bool owed = row && q->ColumnInt(0) != 0;
    authoritative = owed && q->ColumnInt(1) != 0;
    if (owed && !authoritative) {
      // A primary that was streaming changes when another sync's key was
      // rotated: its watermark was cleared, and it must start over.
      return absl::FailedPreconditionError(absl::StrCat(
          "domain ", sync.domain,
          " needs a full sync first (an AD Sync key of the domain was rotated "
          "or a sync removed); the agent reconnects and starts one"));
    }
  }
  for (AccountState& incoming : batch.accounts) {
    bool exists = false;
    // An account the filter has never seen is new: no lookup needed. With
    // other writers (several coordinators) only the table knows.
    bool may_exist = true;
    if (engine_->SoleWriter()) {
      ASSIGN_OR_RETURN(AccountFilter * known, KnownAccountsLocked(org.key));
      may_exist = known->MayContain(incoming.object_guid);
    }
    if (may_exist) {
      // Fast path for re-sent accounts: compare stamps only, write nothing.
      ASSIGN_OR_RETURN(
          ScopedStatement q,
          writer_->Cached("SELECT stamps, absent, domain FROM profiles WHERE "
                          "org_key=?1 AND object_guid=?2"));
      q->Bind(1, org.key).BindBlobNoCopy(2, incoming.object_guid);
      ASSIGN_OR_RETURN(exists, q->Step());
      if (exists && !authoritative && q->ColumnInt(1) == 0 &&
          q->ColumnBlobView(2) == sync.domain &&
          NothingNewer(DecodeStamps(q->ColumnBlobView(0)), incoming.stamps)) {
        ++outcome.unchanged;
        continue;
      }
    }
    StoredAccount stored;
    if (exists) {
      ASSIGN_OR_RETURN(
          stored, LoadAccount(writer_.get(), org.key, incoming.object_guid));
    }
    const StoredAccount before = stored;
    const bool other_domain = stored.exists && stored.domain != sync.domain;
    if (other_domain && !stored.state.removed()) {
      // A sync writes only its own domain's accounts. (An account moved
      // between domains keeps its objectGUID: it is taken over once its
      // old domain reports it gone.)
      SkippedAccount refused;
      refused.object_guid = incoming.object_guid;
      refused.sam_account_name = incoming.sam_account_name;
      refused.reason = absl::StrCat(
          "its objectGUID belongs to ", stored.domain, "\\",
          stored.state.sam_account_name,
          ", an active account of another domain; it is stored here once ",
          stored.domain, " reports that account gone");
      RETURN_IF_ERROR(SkipAccountLocked(org.key, sync.domain, refused));
      ++outcome.unchanged;
      continue;
    }
    if (stored.exists && (authoritative || other_domain)) {
      stored.state = std::move(incoming);
      stored.domain = sync.domain;
    } else if (stored.exists) {
      if (!MergeAccount(incoming, &stored.state)) {
        ++outcome.unchanged;
        continue;
      }
    } else if (incoming.deleted) {
      // A tombstone of an account this org never had (the agent reads
      // tombstones domain-wide): nothing to remove.
      ++outcome.unchanged;
      continue;
    } else {
      stored.state = std::move(incoming);
      stored.domain = sync.domain;
    }
    ASSIGN_OR_RETURN(MatchResult match,
                     Match(writer_.get(), org, stored.state));
    RETURN_IF_ERROR(WriteAccountLocked(org.key, stored.domain, before,
                                       stored.state, match, &changes));
    ++outcome.applied;
  }
  if (batch.full_sync_end) {
    if (seen == nullptr) {
      return absl::FailedPreconditionError(
          "full sync end without the accounts it saw");
    }
    ASSIGN_OR_RETURN(outcome.removed,
                     SweepLocked(org, sync, *seen, batch.skipped_entries,
                                 authoritative, &changes));
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("UPDATE syncs SET full_sync_in_progress=0, "
                        "last_full_sync=?2, report_due_ms=?3 WHERE "
                        "sync_id=?1"));
    // A completed full sync is a sync cycle: its report is due.
    q->Bind(1, sync.sync_id)
        .Bind(2, NowUnix())
        .Bind(3, absl::ToUnixMillis(absl::Now()));
    RETURN_IF_ERROR(q->Run());
    if (authoritative) {
      ASSIGN_OR_RETURN(
          ScopedStatement done,
          writer_->Cached("UPDATE syncs SET authoritative_resync=0 WHERE "
                          "org_key=?1 AND domain=?2"));
      done->Bind(1, org.key).Bind(2, sync.domain);
      RETURN_IF_ERROR(done->Run());
    }
  }
  if (batch.has_watermark) {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("UPDATE syncs SET wm_invocation=?2, "
                                     "wm_usn=?3 WHERE sync_id=?1"));
    q->Bind(1, sync.sync_id)
        .BindBlob(2, batch.watermark.invocation_id())
        .Bind(3, batch.watermark.usn());
    RETURN_IF_ERROR(q->Run());
  }
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("UPDATE syncs SET batches=batches+1, "
                                   "deltas=deltas+?2, last_contact=?3 "
                                   "WHERE sync_id=?1"));
  q->Bind(1, sync.sync_id)
      .Bind(2, static_cast<int64_t>(batch.accounts.size()))
      .Bind(3, NowUnix());
  RETURN_IF_ERROR(q->Run());
  RETURN_IF_ERROR(FinishChangesLocked(
      org, changes,
      batch.full_sync_end
          ? absl::StrCat("the full sync of domain ", sync.domain)
          : absl::StrCat("changes from domain ", sync.domain, " (AD Sync ",
                         sync.sync_id.substr(0, 8), ")")));
  if (options_.crash_before_commit_for_testing) _exit(42);
  RETURN_IF_ERROR(txn.Commit());
  return outcome;
}

absl::Status SqlStore::SkipAccountLocked(int64_t org_key,
                                         const std::string& domain,
                                         const SkippedAccount& skipped) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("INSERT INTO skipped_accounts(org_key, domain, "
                      "object_guid, sam, reason, at) VALUES(?1,?2,?3,?4,?5,"
                      "?6) ON CONFLICT(org_key, domain, object_guid) DO "
                      "UPDATE SET sam=?4, reason=?5, at=?6"));
  q->Bind(1, org_key)
      .Bind(2, domain)
      .BindBlob(3, skipped.object_guid)
      .Bind(4, skipped.sam_account_name)
      .Bind(5, skipped.reason)
      .Bind(6, NowUnix());
  return q->Run();
}

absl::Status SqlStore::NoteReportedAccountsLocked(int64_t org_key,
                                                  const std::string& domain,
                                                  const PreparedBatch& batch) {
  for (const SkippedAccount& skipped : batch.skipped) {
    RETURN_IF_ERROR(SkipAccountLocked(org_key, domain, skipped));
  }
  // An account reported again is not gone: it leaves a held sweep.
  ASSIGN_OR_RETURN(
      ScopedStatement held,
      writer_->Cached("SELECT 1 FROM held_sweep_accounts WHERE org_key=?1 AND "
                      "domain=?2 LIMIT 1"));
  held->Bind(1, org_key).Bind(2, domain);
  ASSIGN_OR_RETURN(bool has_held, held->Step());
  if (has_held) {
    for (const AccountState& account : batch.accounts) {
      ASSIGN_OR_RETURN(
          ScopedStatement q,
          writer_->Cached("DELETE FROM held_sweep_accounts WHERE org_key=?1 "
                          "AND domain=?2 AND object_guid=?3"));
      q->Bind(1, org_key)
          .Bind(2, domain)
          .BindBlobNoCopy(3, account.object_guid);
      RETURN_IF_ERROR(q->Run());
    }
  }
  // An account that arrives within the limits again is no longer skipped.
  // One lookup per batch; a lookup per account only while the domain has
  // skipped accounts at all.
  ASSIGN_OR_RETURN(
      ScopedStatement any,
      writer_->Cached("SELECT 1 FROM skipped_accounts WHERE org_key=?1 AND "
                      "domain=?2 LIMIT 1"));
  any->Bind(1, org_key).Bind(2, domain);
  ASSIGN_OR_RETURN(bool has_skipped, any->Step());
  if (!has_skipped) return absl::OkStatus();
  for (const AccountState& account : batch.accounts) {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("DELETE FROM skipped_accounts WHERE org_key=?1 AND "
                        "domain=?2 AND object_guid=?3"));
    q->Bind(1, org_key).Bind(2, domain).BindBlobNoCopy(3, account.object_guid);
    RETURN_IF_ERROR(q->Run());
  }
  return absl::OkStatus();
}

}  // namespace adsync
