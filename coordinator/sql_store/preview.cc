// SqlStore's preview: the identities the org's accounts map onto People,
// and taking an org live (its outbox replaced by what K12Panel lacks) or
// back into preview.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {

using sql_internal::NowUnix;

absl::StatusOr<std::vector<MappedPerson>> SqlStore::ReadMappedPeople(
    Database* db, int64_t org_key) {
  std::vector<MappedPerson> people;
  {
    static const std::string* const kSql = new std::string(absl::StrCat(
        "SELECT person_id, ", sql_internal::kIdentityColumns,
        " FROM profiles WHERE org_key=?1 AND outcome=0 ORDER BY person_id, "
        "domain, sam"));
    ASSIGN_OR_RETURN(ScopedStatement q, db->Cached(kSql->c_str()));
    q->Bind(1, org_key);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      std::string person_id = q->ColumnText(0);
      if (people.empty() || people.back().holds.person_id() != person_id) {
        people.emplace_back().holds.set_person_id(std::move(person_id));
      }
      RETURN_IF_ERROR(sql_internal::ReadIdentity(
          *q, /*first=*/1, people.back().holds.add_identities()));
    }
  }
  // Versions and names of the whole org at once: one query each rather
  // than two per Person.
  std::map<std::string, std::pair<int64_t, std::string>> extra;
  {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     db->Cached("SELECT person_id, version FROM "
                                "person_versions WHERE org_key=?1"));
    q->Bind(1, org_key);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      extra[q->ColumnText(0)].first = q->ColumnInt(1);
    }
  }
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        db->Cached("SELECT person_id, name FROM people WHERE org_key=?1"));
    q->Bind(1, org_key);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      extra[q->ColumnText(0)].second = q->ColumnText(1);
    }
  }
  for (MappedPerson& p : people) {
    auto it = extra.find(p.holds.person_id());
    if (it == extra.end()) continue;
    p.holds.set_version(static_cast<uint32_t>(it->second.first));
    p.name = it->second.second;
  }
  return people;
}

absl::StatusOr<std::vector<MappedPerson>> SqlStore::MappedIdentities(
    const std::string& org_id) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), org_id));
  return ReadMappedPeople(reader.get(), org.key);
}

absl::StatusOr<adsync::v1::Org> SqlStore::GoLive(
    const std::string& org_id,
    const std::vector<adsync::v1::PanelPersonIdentities>& held,
    const std::string& expected_digest) {
  absl::MutexLock lock(&write_mu_);
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  if (org.org.live()) return org.org;
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("SELECT quarantine_reason FROM push_state WHERE "
                        "org_key=?1 AND quarantined=1"));
    q->Bind(1, org.key);
    ASSIGN_OR_RETURN(bool quarantined, q->Step());
    if (quarantined) {
      return absl::FailedPreconditionError(absl::StrCat(
          "org ", org.org.org_id(), "'s push is quarantined (",
          q->ColumnText(0), "); decide first with `adsyncctl push ",
          "approve|reject --org ", org.org.org_id(),
          "`, check `adsyncctl preview` again, then go live"));
    }
  }
  {
    // Until every domain's accounts are all in, the ones still to come
    // would look removed to K12Panel.
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("SELECT domain FROM syncs WHERE org_key=?1 GROUP BY "
                        "domain HAVING max(last_full_sync)=0 OR "
                        "max(full_sync_in_progress)>0 ORDER BY domain"));
    q->Bind(1, org.key);
    ASSIGN_OR_RETURN(bool incomplete, q->Step());
    if (incomplete) {
      return absl::FailedPreconditionError(absl::StrCat(
          "domain ", q->ColumnText(0), " of org ", org.org.org_id(),
          " has no completed full sync yet (or one is running): going live "
          "now would remove the identities of accounts not read yet; wait "
          "until `adsyncctl status --org ",
          org.org.org_id(),
          "` shows a last full sync for it, then preview and go live"));
    }
  }
  ASSIGN_OR_RETURN(std::vector<MappedPerson> mapped,
                   ReadMappedPeople(writer_.get(), org.key));
  const adsync::v1::PreviewOrgResponse preview = ComputePreview(mapped, held);
  if (!expected_digest.empty() && preview.digest() != expected_digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "what going live would change in K12Panel is no longer the preview ",
        expected_digest, " (now ", preview.digest(), ": ",
        preview.people_added(), " People added, ", preview.people_changed(),
        " changed, ", preview.people_removed(),
        " removed); nothing was changed: run `adsyncctl preview --org ",
        org.org.org_id(), "` again"));
  }
  // The version each changed Person is sent at must beat both what adsync
  // sent before and what K12Panel holds (perhaps written by the script
  // adsync replaces), or K12Panel would ignore it as stale.
  std::map<std::string, int64_t> version;
  for (const MappedPerson& m : mapped)
    version[m.holds.person_id()] = m.holds.version();
  for (const auto& h : held) {
    int64_t& v = version[h.person_id()];
    v = std::max<int64_t>(v, h.version());
  }
  {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("DELETE FROM outbox WHERE org_key=?1"));
    q->Bind(1, org.key);
    RETURN_IF_ERROR(q->Run());
  }
  const int64_t now = NowUnix();
  // People K12Panel holds unchanged keep no outbox entry but take its
  // version, so their next change goes out above it.
  for (const auto& h : held) {
    ASSIGN_OR_RETURN(
        ScopedStatement v,
        writer_->Cached(
            "INSERT INTO person_versions(org_key, person_id, version) "
            "VALUES(?1,?2,?3) ON CONFLICT(org_key, person_id) DO UPDATE SET "
            "version=CASE WHEN person_versions.version < ?3 THEN ?3 ELSE "
            "person_versions.version END"));
    v->Bind(1, org.key).Bind(2, h.person_id()).Bind(3, int64_t{h.version()});
    RETURN_IF_ERROR(v->Run());
  }
  for (const adsync::v1::PreviewChange& change : preview.changes()) {
    const int64_t next = version[change.person_id()] + 1;
    if (next > std::numeric_limits<uint32_t>::max()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "K12Panel holds version ", next - 1, " for Person ",
          change.person_id(),
          ", the largest there is: no newer version can be sent; ask "
          "K12Panel's operators to reset that Person's AD identities"));
    }
    ASSIGN_OR_RETURN(
        ScopedStatement v,
        writer_->Cached(
            "INSERT INTO person_versions(org_key, person_id, version) "
            "VALUES(?1,?2,?3) ON CONFLICT(org_key, person_id) DO "
            "UPDATE SET version=?3"));
    v->Bind(1, org.key).Bind(2, change.person_id()).Bind(3, next);
    RETURN_IF_ERROR(v->Run());
    ASSIGN_OR_RETURN(
        ScopedStatement o,
        writer_->Cached("INSERT INTO outbox(org_key, person_id, version, "
                        "enqueued) VALUES(?1,?2,?3,?4)"));
    o->Bind(1, org.key).Bind(2, change.person_id()).Bind(3, next).Bind(4, now);
    RETURN_IF_ERROR(o->Run());
  }
  {
    // A backoff left from before the org went back into preview would
    // delay its first push.
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        writer_->Cached("UPDATE push_state SET attempts=0, next_attempt_ms=0 "
                        "WHERE org_key=?1"));
    q->Bind(1, org.key);
    RETURN_IF_ERROR(q->Run());
  }
  RETURN_IF_ERROR(RecountOutboxLocked(org.key));
  RETURN_IF_ERROR(SetLiveLocked(&org, true, now));
  RETURN_IF_ERROR(txn.Commit());
  return org.org;
}

absl::StatusOr<adsync::v1::Org> SqlStore::EnterPreview(
    const std::string& org_id) {
  absl::MutexLock lock(&write_mu_);
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  if (!org.org.live()) return org.org;
  RETURN_IF_ERROR(SetLiveLocked(&org, false, NowUnix()));
  RETURN_IF_ERROR(txn.Commit());
  return org.org;
}

absl::Status SqlStore::SetLiveLocked(OrgRow* org, bool live, int64_t now) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "UPDATE orgs SET live=?2, live_changed=?3 WHERE org_key=?1"));
  q->Bind(1, org->key).Bind(2, live ? 1 : 0).Bind(3, now);
  RETURN_IF_ERROR(q->Run());
  org->org.set_live(live);
  org->org.set_live_changed_unix(now);
  return absl::OkStatus();
}

}  // namespace adsync
