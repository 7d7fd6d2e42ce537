// SqlStore's outbox: the People whose identity sets changed, queued in
// the transaction that changed them, claimed and completed by the push to
// K12Panel; quarantine when removals look like a mistake.

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/guid.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"
#include "coordinator/store_errors.h"

namespace adsync {

using sql_internal::NowUnix;

absl::Status SqlStore::FinishChangesLocked(const OrgRow& org,
                                           const ChangeSet& changes,
                                           const std::string& cause,
                                           bool operator_approved) {
  // Once per transaction and in key order: with several coordinators the
  // counter rows are locked in one order (and their writes are serialized
  // by the write lock anyway, common/postgres.cc).
  for (const auto& [key, delta] : changes.counts) {
    if (delta == 0) continue;
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("INSERT INTO account_counts(org_key, domain, outcome, "
                        "disabled, n) VALUES(?1,?2,?3,?4,?5) ON "
                        "CONFLICT(org_key, domain, outcome, disabled) DO "
                        "UPDATE SET n=account_counts.n+?5"));
    q->Bind(1, org.key)
        .Bind(2, std::get<0>(key))
        .Bind(3, std::get<1>(key))
        .Bind(4, std::get<2>(key) ? 1 : 0)
        .Bind(5, delta);
    RETURN_IF_ERROR(q->Run());
  }
  if (changes.dirty.empty()) return absl::OkStatus();
  // Deletion safety (docs/design.md, rule 7): many People losing identities
  // at once is more likely a wrong base DN than a real event; hold the push
  // for an operator.
  bool quarantine = false;
  std::string reason;
  // An org in preview pushes nothing: going live recomputes what to send
  // (and the operator approves those removals by going live).
  if (!operator_approved && org.org.live() &&
      changes.losing.size() > options_.quarantine_min_people) {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("SELECT count(DISTINCT person_id) FROM profiles "
                        "WHERE org_key=?1 AND outcome=0"));
    q->Bind(1, org.key);
    ASSIGN_OR_RETURN(bool row, q->Step());
    const uint64_t mapped_after = row ? q->ColumnInt(0) : 0;
    uint64_t lost_all = 0;
    for (const std::string& person : changes.losing) {
      ASSIGN_OR_RETURN(
          ScopedStatement c,
          writer_->Cached("SELECT 1 FROM profiles WHERE org_key=?1 AND "
                          "person_id=?2 AND outcome=0 LIMIT 1"));
      c->Bind(1, org.key).Bind(2, person);
      ASSIGN_OR_RETURN(bool has, c->Step());
      if (!has) ++lost_all;
    }
    const uint64_t mapped_before = mapped_after + lost_all;
    const double share =
        mapped_before
            ? static_cast<double>(changes.losing.size()) / mapped_before
            : 1;
    if (share > options_.quarantine_fraction) {
      quarantine = true;
      reason = QuarantineReason(cause, changes.losing.size(), mapped_before,
                                share, org.org.org_id());
    }
  }
  const int64_t now = NowUnix();
  OrgCountsDelta counted;
  for (const std::string& person : changes.dirty) {
    ASSIGN_OR_RETURN(
        ScopedStatement v,
        writer_->Cached(
            "INSERT INTO person_versions(org_key, person_id, version) "
            "VALUES(?1,?2,1) ON CONFLICT(org_key, person_id) DO "
            "UPDATE SET version=person_versions.version+1 RETURNING version"));
    v->Bind(1, org.key).Bind(2, person);
    ASSIGN_OR_RETURN(bool row, v->Step());
    if (!row) return absl::InternalError("no version returned");
    const int64_t version = v->ColumnInt(0);
    const bool held = quarantine && changes.losing.count(person) > 0;
    // The outbox counts change by what this Person's row was. An outbox
    // row carries a version its Person's person_versions row has reached
    // (both are written together, and versions only grow), so a first
    // version means no row yet: no lookup on a first sync, where nearly
    // every Person is new.
    bool queued = false, parked = false, quarantined = false;
    if (version > 1) {
      ASSIGN_OR_RETURN(ScopedStatement b,
                       writer_->Cached("SELECT parked, quarantined FROM "
                                       "outbox WHERE org_key=?1 AND "
                                       "person_id=?2"));
      b->Bind(1, org.key).Bind(2, person);
      ASSIGN_OR_RETURN(queued, b->Step());
      parked = queued && b->ColumnInt(0) != 0;
      quarantined = queued && b->ColumnInt(1) != 0;
    }
    counted.queued += queued ? 0 : 1;
    counted.parked -= parked ? 1 : 0;  // a new version is not parked
    counted.quarantined += (held && !quarantined) ? 1 : 0;
    ASSIGN_OR_RETURN(
        ScopedStatement o,
        writer_->Cached(
            "INSERT INTO outbox(org_key, person_id, version, enqueued, "
            "quarantined) VALUES(?1,?2,?3,?4,?5) ON CONFLICT(org_key, "
            "person_id) DO UPDATE SET version=?3, parked=0, error='', "
            "quarantined=CASE WHEN outbox.quarantined > ?5 THEN "
            "outbox.quarantined "
            "ELSE ?5 END"));
    o->Bind(1, org.key)
        .Bind(2, person)
        .Bind(3, version)
        .Bind(4, now)
        .Bind(5, held ? 1 : 0);
    RETURN_IF_ERROR(o->Run());
  }
  RETURN_IF_ERROR(AddOrgCountsLocked(org.key, counted));
  if (quarantine) {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached(
            "INSERT INTO push_state(org_key, quarantined, "
            "quarantine_reason) VALUES(?1,1,?2) ON CONFLICT(org_key) "
            "DO UPDATE SET quarantined=1, quarantine_reason=?2"));
    q->Bind(1, org.key).Bind(2, reason);
    RETURN_IF_ERROR(q->Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SqlStore::OrgsReadyToPush(
    int64_t now_ms) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      reader->Cached(
          "SELECT o.org_id FROM orgs o LEFT JOIN push_state p USING(org_key) "
          "WHERE o.live=1 AND coalesce(p.quarantined, 0)=0 AND "
          "coalesce(p.next_attempt_ms, 0)<=?1 "
          "AND EXISTS(SELECT 1 FROM outbox b WHERE b.org_key=o.org_key AND "
          "b.parked=0 AND b.quarantined=0)"));
  q->Bind(1, now_ms);
  std::vector<std::string> orgs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    orgs.push_back(q->ColumnText(0));
  }
  return orgs;
}

absl::StatusOr<PushBatch> SqlStore::NextPushBatch(const std::string& org_id,
                                                  int max_people) {
  OrgRow org;
  {
    ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
    ASSIGN_OR_RETURN(org, LoadOrg(reader.get(), org_id));
  }
  PushBatch batch;
  batch.org_id = org.org.org_id();
  if (!org.org.live()) return batch;  // in preview: nothing goes out
  // Claimed holding no pooled reader: claiming may wait for a
  // (re)connection, and status and Hellos read meanwhile.
  ASSIGN_OR_RETURN(bool claimed, engine_->ClaimPush(org.key));
  if (!claimed) return batch;  // another coordinator is pushing the org
  // The claim lasts until the batch is completed, deferred or parked.
  absl::Cleanup release = [&] { engine_->ReleasePush(org.key); };
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        reader->Cached("SELECT attempts FROM push_state WHERE org_key=?1"));
    q->Bind(1, org.key);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) batch.attempts = static_cast<int>(q->ColumnInt(0));
  }
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        reader->Cached("SELECT person_id, version FROM outbox WHERE org_key=?1 "
                       "AND parked=0 AND quarantined=0 ORDER BY enqueued, "
                       "person_id LIMIT ?2"));
    q->Bind(1, org.key).Bind(2, max_people);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      adsync::v1::PersonUpdate& u = batch.updates.emplace_back();
      u.set_person_id(q->ColumnText(0));
      u.set_version(static_cast<uint32_t>(q->ColumnInt(1)));
    }
  }
  for (adsync::v1::PersonUpdate& u : batch.updates) {
    // Sorted here, not by ORDER BY: with one, SQLite walks an index of the
    // org's whole (domain, sAMAccountName) instead of the Person's few rows
    // by profiles_by_person, 0.2 s at 20,000 accounts.
    static const std::string* const kSql = new std::string(
        absl::StrCat("SELECT ", sql_internal::kIdentityColumns,
                     " FROM profiles WHERE org_key=?1 AND person_id=?2 AND "
                     "outcome=0"));
    ASSIGN_OR_RETURN(ScopedStatement q, reader->Cached(kSql->c_str()));
    q->Bind(1, org.key).Bind(2, u.person_id());
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      RETURN_IF_ERROR(
          sql_internal::ReadIdentity(*q, /*first=*/0, u.add_identities()));
    }
    std::sort(
        u.mutable_identities()->begin(), u.mutable_identities()->end(),
        [](const adsync::v1::PanelIdentity& a,
           const adsync::v1::PanelIdentity& b) {
          return std::tie(a.domain(), a.sam_account_name(), a.object_guid()) <
                 std::tie(b.domain(), b.sam_account_name(), b.object_guid());
        });
  }
  if (!batch.updates.empty()) std::move(release).Cancel();
  return batch;
}

absl::Status SqlStore::CompletePush(const PushBatch& batch) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), batch.org_id));
  absl::Cleanup release = [&] { engine_->ReleasePush(org.key); };
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  OrgCountsDelta counted;
  for (const auto& u : batch.updates) {
    // Gone only if not changed since (a newer version stays queued).
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("DELETE FROM outbox WHERE org_key=?1 AND person_id=?2 "
                        "AND version=?3 RETURNING parked, quarantined"));
    q->Bind(1, org.key).Bind(2, u.person_id()).Bind(3, u.version());
    ASSIGN_OR_RETURN(bool deleted, q->Step());
    if (!deleted) continue;
    --counted.queued;
    counted.parked -= q->ColumnInt(0) != 0 ? 1 : 0;
    counted.quarantined -= q->ColumnInt(1) != 0 ? 1 : 0;
  }
  RETURN_IF_ERROR(AddOrgCountsLocked(org.key, counted));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "INSERT INTO push_state(org_key, last_success, delivered) "
          "VALUES(?1,?2,?3) ON CONFLICT(org_key) DO UPDATE SET "
          "last_success=?2, delivered=push_state.delivered+?3, attempts=0, "
          "next_attempt_ms=0"));
  q->Bind(1, org.key)
      .Bind(2, NowUnix())
      .Bind(3, static_cast<int64_t>(batch.updates.size()));
  RETURN_IF_ERROR(q->Run());
  return txn.Commit();
}

absl::Status SqlStore::DeferPush(const std::string& org_id,
                                 int64_t next_attempt_ms,
                                 const std::string& error) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  absl::Cleanup release = [&] { engine_->ReleasePush(org.key); };
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "INSERT INTO push_state(org_key, next_attempt_ms, attempts, "
          "last_error, last_error_at) VALUES(?1,?2,1,?3,?4) ON "
          "CONFLICT(org_key) DO UPDATE SET next_attempt_ms=?2, "
          "attempts=push_state.attempts+1, last_error=?3, last_error_at=?4"));
  q->Bind(1, org.key)
      .Bind(2, next_attempt_ms)
      .Bind(3, error)
      .Bind(4, NowUnix());
  return q->Run();
}

absl::Status SqlStore::ParkPush(const PushBatch& batch,
                                const std::string& error) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), batch.org_id));
  absl::Cleanup release = [&] { engine_->ReleasePush(org.key); };
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  // Counted as they change, not recounted: a K12Panel refusing everything
  // would make draining a long queue quadratic.
  OrgCountsDelta counted;
  for (const auto& u : batch.updates) {
    // Only the version pushed: a newer one stays queued, not parked. A row
    // parked already (a retry) keeps its first error, and is not counted
    // again.
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("UPDATE outbox SET parked=1, error=?4 WHERE "
                        "org_key=?1 AND person_id=?2 AND version=?3 AND "
                        "parked=0 RETURNING 1"));
    q->Bind(1, org.key)
        .Bind(2, u.person_id())
        .Bind(3, u.version())
        .Bind(4, error);
    ASSIGN_OR_RETURN(bool parked, q->Step());
    if (parked) ++counted.parked;
  }
  RETURN_IF_ERROR(AddOrgCountsLocked(org.key, counted));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "INSERT INTO push_state(org_key, last_error, last_error_at) "
          "VALUES(?1,?2,?3) ON CONFLICT(org_key) DO UPDATE SET "
          "last_error=?2, last_error_at=?3, attempts=0"));
  q->Bind(1, org.key).Bind(2, error).Bind(3, NowUnix());
  RETURN_IF_ERROR(q->Run());
  return txn.Commit();
}

absl::StatusOr<adsync::v1::PushStatus> SqlStore::ResolveQuarantine(
    const std::string& org_id, bool approve) {
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
    Transaction txn(writer_.get());
    RETURN_IF_ERROR(txn.Begin());
    ASSIGN_OR_RETURN(
        ScopedStatement state,
        writer_->Cached("SELECT quarantined FROM push_state WHERE org_key=?1"));
    state->Bind(1, org.key);
    ASSIGN_OR_RETURN(bool row, state->Step());
    if (!row || state->ColumnInt(0) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "org ", org.org.org_id(), "'s push is not quarantined; nothing to ",
          approve ? "approve" : "reject"));
    }
    ASSIGN_OR_RETURN(
        ScopedStatement items,
        writer_->Cached(approve
                            ? "UPDATE outbox SET quarantined=0 WHERE org_key=?1"
                            : "DELETE FROM outbox WHERE org_key=?1 AND "
                              "quarantined=1"));
    items->Bind(1, org.key);
    RETURN_IF_ERROR(items->Run());
    RETURN_IF_ERROR(RecountOutboxLocked(org.key));
    ASSIGN_OR_RETURN(
        ScopedStatement clear,
        writer_->Cached(
            "UPDATE push_state SET quarantined=0, quarantine_reason='' "
            "WHERE org_key=?1"));
    clear->Bind(1, org.key);
    RETURN_IF_ERROR(clear->Run());
    RETURN_IF_ERROR(txn.Commit());
  }
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), org_id));
  return ReadPushStatus(reader.get(), org.key);
}

absl::Status SqlStore::AddOrgCountsLocked(int64_t org_key,
                                          const OrgCountsDelta& delta) {
  if (delta.queued == 0 && delta.parked == 0 && delta.quarantined == 0) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("INSERT INTO org_counts(org_key, queued, parked, "
                      "quarantined) VALUES(?1,?2,?3,?4) ON CONFLICT(org_key) "
                      "DO UPDATE SET queued=org_counts.queued+?2, "
                      "parked=org_counts.parked+?3, "
                      "quarantined=org_counts.quarantined+?4"));
  q->Bind(1, org_key)
      .Bind(2, delta.queued)
      .Bind(3, delta.parked)
      .Bind(4, delta.quarantined);
  return q->Run();
}

absl::Status SqlStore::RecountOutboxLocked(int64_t org_key) {
  for (const char* sql :
       {"INSERT INTO org_counts(org_key) VALUES(?1) ON CONFLICT DO NOTHING",
        "UPDATE org_counts SET queued=(SELECT count(*) FROM outbox WHERE "
        "org_key=?1), parked=(SELECT count(*) FROM outbox WHERE org_key=?1 "
        "AND parked != 0), quarantined=(SELECT count(*) FROM outbox WHERE "
        "org_key=?1 AND quarantined != 0) WHERE org_key=?1"}) {
    ASSIGN_OR_RETURN(ScopedStatement q, writer_->Cached(sql));
    q->Bind(1, org_key);
    RETURN_IF_ERROR(q->Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<adsync::v1::PushStatus> SqlStore::ReadPushStatus(
    Database* db, int64_t org_key) {
  adsync::v1::PushStatus p;
  {
    // Counters and the oldest entry by index: status of every org reads a
    // few rows per org, however many People are queued.
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        db->Cached("SELECT queued, parked, quarantined, (SELECT "
                   "min(enqueued) FROM outbox WHERE org_key=?1) FROM "
                   "org_counts WHERE org_key=?1"));
    q->Bind(1, org_key);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) {
      p.set_queue_depth(q->ColumnInt(0));
      p.set_parked(q->ColumnInt(1));
      p.set_quarantined_people(q->ColumnInt(2));
      p.set_oldest_undelivered_unix(q->ColumnInt(3));
    }
  }
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached(
          "SELECT last_success, last_error, last_error_at, quarantined, "
          "quarantine_reason, delivered, next_attempt_ms FROM push_state "
          "WHERE org_key=?1"));
  q->Bind(1, org_key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (row) {
    p.set_last_success_unix(q->ColumnInt(0));
    p.set_last_error(q->ColumnText(1));
    p.set_last_error_unix(q->ColumnInt(2));
    p.set_quarantined(q->ColumnInt(3) != 0);
    p.set_quarantine_reason(q->ColumnText(4));
    p.set_delivered(q->ColumnInt(5));
    p.set_next_attempt_unix(q->ColumnInt(6) / 1000);
  }
  return p;
}

}  // namespace adsync
