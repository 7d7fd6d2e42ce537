// SqlStore's administration: organizations, AD Syncs and their keys,
// and the org's People (replaced as a whole, then every account re-matched).

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/guid.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"
#include "coordinator/store_errors.h"
#include "coordinator/validation.h"

namespace adsync {

using sql_internal::HashKey;
using sql_internal::kSelectSyncs;
using sql_internal::NowUnix;
using sql_internal::RandomBytes;
using sql_internal::ReadSyncInfo;

absl::StatusOr<SqlStore::SyncOfOrg> SqlStore::LoadSyncOfOrg(
    Database* db, const std::string& org_id, const std::string& sync_id_raw) {
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(db, org_id));
  ASSIGN_OR_RETURN(std::string sync_id,
                   CanonicalGuid(sync_id_raw, "AD Sync ID"));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached("SELECT 1 FROM syncs WHERE sync_id=?1 AND org_key=?2"));
  q->Bind(1, sync_id).Bind(2, org.key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return NoSuchSyncError(org.org.org_id(), sync_id);
  return SyncOfOrg{std::move(org), std::move(sync_id)};
}

absl::StatusOr<adsync::v1::Org> SqlStore::CreateOrg(
    const adsync::v1::CreateOrgRequest& request) {
  std::string org_id = NewRandomGuid();
  if (!request.org_id().empty()) {
    ASSIGN_OR_RETURN(org_id, CanonicalGuid(request.org_id(), "Org ID"));
  }
  const std::string name(absl::StripAsciiWhitespace(request.name()));
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "org name is required (the district's name, e.g. \"Springfield USD\")");
  }
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("INSERT INTO orgs(org_id, name, match_proxy, "
                      "match_upn, created, live, live_changed) "
                      "VALUES(?1,?2,?3,?4,?5,?6,?5)"));
  const int64_t now = NowUnix();
  q->Bind(1, org_id)
      .Bind(2, name)
      .Bind(3, request.match_proxy_addresses() ? 1 : 0)
      .Bind(4, request.match_upn() ? 1 : 0)
      .Bind(5, now)
      .Bind(6, request.live() ? 1 : 0);
  absl::Status s = q->Run();
  if (absl::IsAlreadyExists(s)) {
    return OrgExistsError(org_id);
  }
  RETURN_IF_ERROR(s);
  adsync::v1::Org org;
  org.set_org_id(org_id);
  org.set_name(name);
  org.set_match_proxy_addresses(request.match_proxy_addresses());
  org.set_match_upn(request.match_upn());
  org.set_created_unix(now);
  org.set_live(request.live());
  org.set_live_changed_unix(now);
  return org;
}

absl::StatusOr<std::vector<adsync::v1::Org>> SqlStore::ListOrgs() {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader->Cached("SELECT org_id FROM orgs ORDER BY name"));
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    ids.push_back(q->ColumnText(0));
  }
  std::vector<adsync::v1::Org> orgs;
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), id));
    orgs.push_back(org.org);
  }
  return orgs;
}

absl::StatusOr<adsync::v1::AddSyncResponse> SqlStore::IssueKeyLocked(
    const std::string& org_id, const std::string& sync_id) {
  const std::string key = NewRandomGuid();
  const std::string salt = RandomBytes(16);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("UPDATE syncs SET key_salt=?1, key_hash=?2, "
                                   "key_rotated=?3 WHERE sync_id=?4"));
  q->BindBlob(1, salt)
      .BindBlob(2, HashKey(salt, key))
      .Bind(3, NowUnix())
      .Bind(4, sync_id);
  RETURN_IF_ERROR(q->Run());
  adsync::v1::AddSyncResponse response;
  response.set_sync_key(key);
  response.mutable_sync()->set_sync_id(sync_id);
  response.mutable_sync()->set_org_id(org_id);
  return response;
}

absl::StatusOr<adsync::v1::AddSyncResponse> SqlStore::AddSync(
    const adsync::v1::AddSyncRequest& request) {
  ASSIGN_OR_RETURN(std::string domain, ValidateDomainName(request.domain()));
  if (request.allowed_ips().empty()) {
    return absl::InvalidArgumentError(
        "at least one allowed IP is required: the external address the agent "
        "connects from (e.g. --ip 203.0.113.7 or --ip 203.0.113.0/24)");
  }
  std::vector<std::string> ips;
  for (const std::string& ip : request.allowed_ips()) {
    ASSIGN_OR_RETURN(IpRange range, ParseIpRange(ip));
    ips.push_back(range.text);
  }
  std::string dns_name =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(request.dns_name()));
  for (char c : dns_name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "DNS name \"", request.dns_name(),
          "\" is not a domain name; use e.g. district.org, or leave it empty"));
    }
  }
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), request.org_id()));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  const std::string sync_id = NewRandomGuid();
  const int64_t now = NowUnix();
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("INSERT INTO syncs(sync_id, org_key, domain, dns_name, "
                      "allowed_ips, priority, key_salt, key_hash, created, "
                      "key_rotated) VALUES(?1,?2,?3,?4,?5,?6,?8,?8,?7,?7)"));
  // The key is issued below, in the same transaction.
  q->Bind(1, sync_id)
      .Bind(2, org.key)
      .Bind(3, domain)
      .Bind(4, dns_name)
      .Bind(5, absl::StrJoin(ips, ","))
      .Bind(6, request.priority())
      .Bind(7, now)
      .BindBlob(8, "");
  RETURN_IF_ERROR(q->Run());
  ASSIGN_OR_RETURN(adsync::v1::AddSyncResponse response,
                   IssueKeyLocked(org.org.org_id(), sync_id));
  RETURN_IF_ERROR(txn.Commit());
  adsync::v1::SyncInfo* info = response.mutable_sync();
  info->set_domain(domain);
  info->set_dns_name(dns_name);
  for (const std::string& ip : ips) info->add_allowed_ips(ip);
  info->set_priority(request.priority());
  info->set_created_unix(now);
  info->set_key_rotated_unix(now);
  return response;
}

absl::StatusOr<std::vector<adsync::v1::SyncInfo>> SqlStore::ListSyncs(
    const std::string& org_id) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), org_id));
  ASSIGN_OR_RETURN(ScopedStatement q, reader->Cached(kSelectSyncs));
  q->Bind(1, org.key);
  std::vector<adsync::v1::SyncInfo> syncs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    ReadSyncInfo(*q, org.org.org_id(), &syncs.emplace_back());
  }
  return syncs;
}

absl::StatusOr<adsync::v1::AddSyncResponse> SqlStore::RotateSyncKey(
    const std::string& org_id, const std::string& sync_id_raw) {
  absl::MutexLock lock(&write_mu_);
  // Looked up inside the transaction: another coordinator may have just
  // removed the sync.
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(SyncOfOrg found,
                   LoadSyncOfOrg(writer_.get(), org_id, sync_id_raw));
  const OrgRow& org = found.org;
  const std::string& sync_id = found.sync_id;
  ASSIGN_OR_RETURN(adsync::v1::AddSyncResponse response,
                   IssueKeyLocked(org.org.org_id(), sync_id));
  RETURN_IF_ERROR(EndLeasesOfLocked(sync_id));
  // Whoever held the old key may have written forged values with forged
  // stamps: the domain's next full sync replaces them with what AD holds.
  RETURN_IF_ERROR(RequireAuthoritativeResyncLocked(org.key, sync_id));
  RETURN_IF_ERROR(txn.Commit());
  return response;
}

absl::Status SqlStore::RemoveSync(const std::string& org_id,
                                  const std::string& sync_id_raw) {
  absl::MutexLock lock(&write_mu_);
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(SyncOfOrg found,
                   LoadSyncOfOrg(writer_.get(), org_id, sync_id_raw));
  const OrgRow& org = found.org;
  const std::string& sync_id = found.sync_id;
  // Removal is also how a leaked key is retired: what its holder wrote is
  // replaced by the domain's next full sync, as after a rotation.
  RETURN_IF_ERROR(RequireAuthoritativeResyncLocked(org.key, sync_id));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("DELETE FROM syncs WHERE sync_id=?1"));
  q->Bind(1, sync_id);
  RETURN_IF_ERROR(q->Run());
  RETURN_IF_ERROR(EndLeasesOfLocked(sync_id));
  return txn.Commit();
}

absl::Status SqlStore::RequireAuthoritativeResyncLocked(
    int64_t org_key, const std::string& sync_id) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("UPDATE syncs SET authoritative_resync=1, "
                      "full_sync_in_progress=0, wm_invocation=NULL, "
                      "wm_usn=NULL WHERE org_key=?1 AND domain=(SELECT "
                      "domain FROM syncs WHERE sync_id=?2)"));
  q->Bind(1, org_key).Bind(2, sync_id);
  RETURN_IF_ERROR(q->Run());
  // A domain SID pinned by this sync is its claim: let the next agent of
  // the domain pin it again (a misdirected or leaked first agent must not
  // lock the domain out).
  ASSIGN_OR_RETURN(ScopedStatement unpin,
                   writer_->Cached("DELETE FROM domains WHERE org_key=?1 AND "
                                   "pinned_by=?2"));
  unpin->Bind(1, org_key).Bind(2, sync_id);
  return unpin->Run();
}

absl::StatusOr<adsync::v1::ImportPeopleResponse> SqlStore::ReplacePeople(
    const std::string& org_id, const std::vector<Person>& people) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  for (const char* sql : {"DELETE FROM people WHERE org_key=?1",
                          "DELETE FROM person_emails WHERE org_key=?1"}) {
    ASSIGN_OR_RETURN(ScopedStatement q, writer_->Cached(sql));
    q->Bind(1, org.key);
    RETURN_IF_ERROR(q->Run());
  }
  adsync::v1::ImportPeopleResponse response;
  ASSIGN_OR_RETURN(ScopedStatement add_person,
                   writer_->Cached("INSERT INTO people(org_key, person_id, "
                                   "name) VALUES(?1,?2,?3) ON CONFLICT("
                                   "org_key, person_id) DO UPDATE SET "
                                   "name=excluded.name"));
  ASSIGN_OR_RETURN(
      ScopedStatement add_email,
      writer_->Cached("INSERT INTO person_emails(org_key, email, "
                      "person_id) VALUES(?1,?2,?3) ON CONFLICT DO NOTHING"));
  for (const Person& p : people) {
    add_person->Reset();
    add_person->Bind(1, org.key).Bind(2, p.id).Bind(3, p.name);
    RETURN_IF_ERROR(add_person->Run());
    for (const std::string& email : p.emails) {
      add_email->Reset();
      add_email->Bind(1, org.key).Bind(2, email).Bind(3, p.id);
      RETURN_IF_ERROR(add_email->Run());
      response.set_emails(response.emails() + 1);
    }
  }
  response.set_people(people.size());
  // Counted here, once per import, so that status need not count them.
  for (const char* sql :
       {"INSERT INTO org_counts(org_key) VALUES(?1) ON CONFLICT DO NOTHING",
        "UPDATE org_counts SET people=(SELECT count(*) FROM people WHERE "
        "org_key=?1) WHERE org_key=?1"}) {
    ASSIGN_OR_RETURN(ScopedStatement q, writer_->Cached(sql));
    q->Bind(1, org.key);
    RETURN_IF_ERROR(q->Run());
  }
  ChangeSet changes;
  // Re-match every account of the org against the new People.
  std::vector<std::string> guids;
  {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("SELECT object_guid FROM profiles WHERE "
                                     "org_key=?1 AND deleted=0 AND absent=0"));
    q->Bind(1, org.key);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      guids.push_back(q->ColumnBlob(0));
    }
  }
  for (const std::string& guid : guids) {
    ASSIGN_OR_RETURN(StoredAccount a,
                     LoadAccount(writer_.get(), org.key, guid));
    ASSIGN_OR_RETURN(MatchResult m, Match(writer_.get(), org, a.state));
    if (m.outcome == a.match.outcome && m.person_id == a.match.person_id &&
        m.matched_email == a.match.matched_email) {
      continue;
    }
    RETURN_IF_ERROR(
        WriteAccountLocked(org.key, a.domain, a, a.state, m, &changes));
    response.set_rematched_accounts(response.rematched_accounts() + 1);
  }
  RETURN_IF_ERROR(FinishChangesLocked(org, changes, "the new set of People"));
  RETURN_IF_ERROR(txn.Commit());
  return response;
}

}  // namespace adsync
