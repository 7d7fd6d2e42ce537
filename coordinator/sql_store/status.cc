// SqlStore's status queries, on a pooled read connection: an org's (or every
// org's) sync status, one login resolved with the reason, accounts listed
// by outcome.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "adsync/v1/agent.pb.h"
#include "common/guid.h"
#include "common/sid.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/login_explanation.h"
#include "coordinator/sql_store/rows.h"
#include "coordinator/sql_store/sql_store.h"
#include "coordinator/validation.h"

namespace adsync {

using adsync::v1::AccountView;
using sql_internal::kSelectSyncs;
using sql_internal::LeaseRow;
using sql_internal::ReadLease;
using sql_internal::ReadSyncInfo;

namespace {

// Where one AD Sync's DC stands, as its agent last reported.
struct DcPosition {
  std::string invocation_id;
  int64_t usn = 0;
  std::string position;  // a serialized Heartbeat
};

// Adds `n` accounts of `outcome` to `c`.
void AddToCounts(Outcome outcome, bool disabled, uint64_t n,
                 adsync::v1::Counts* c) {
  if (outcome == Outcome::kRemoved) {
    c->set_deleted(c->deleted() + n);
    return;
  }
  c->set_profiles(c->profiles() + n);
  if (disabled) c->set_disabled(c->disabled() + n);
  switch (outcome) {
    case Outcome::kMatched:
      c->set_matched(c->matched() + n);
      break;
    case Outcome::kUnmatched:
      c->set_unmatched(c->unmatched() + n);
      break;
    case Outcome::kAmbiguous:
      c->set_ambiguous(c->ambiguous() + n);
      break;
    case Outcome::kNoEmail:
      c->set_no_email(c->no_email() + n);
      break;
    case Outcome::kRemoved:
      break;
  }
}

absl::Status ReadPeopleCount(Database* db, int64_t org_key,
                             adsync::v1::OrgStatus* os) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached("SELECT people FROM org_counts WHERE org_key=?1"));
  q->Bind(1, org_key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (row) os->set_people(q->ColumnInt(0));
  return absl::OkStatus();
}

// The org's account counts, in total (into `os`) and per domain; every
// domain with an AD Sync or a lease has an entry, accounts or not.
absl::Status ReadCounts(Database* db, int64_t org_key,
                        adsync::v1::OrgStatus* os,
                        std::map<std::string, adsync::v1::Counts>* by_domain) {
  {
    // The counters the writes keep (SqlStore::ChangeSet): a few rows per
    // domain, however many accounts. A count that fell to zero is as if
    // absent.
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        db->Cached("SELECT domain, outcome, disabled, n FROM account_counts "
                   "WHERE org_key=?1 AND n != 0"));
    q->Bind(1, org_key);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      const auto outcome = static_cast<Outcome>(q->ColumnInt(1));
      const bool disabled = q->ColumnInt(2) != 0;
      const uint64_t n = q->ColumnInt(3);
      AddToCounts(outcome, disabled, n, &(*by_domain)[q->ColumnText(0)]);
      AddToCounts(outcome, disabled, n, os->mutable_counts());
    }
  }
  ASSIGN_OR_RETURN(ScopedStatement q,
                   db->Cached("SELECT domain FROM syncs WHERE org_key=?1 UNION "
                              "SELECT domain FROM leases WHERE org_key=?1"));
  q->Bind(1, org_key);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    (*by_domain)[q->ColumnText(0)];  // domains with syncs but no accounts yet
  }
  return absl::OkStatus();
}

absl::Status ReadRecentFailovers(Database* db, int64_t org_key,
                                 adsync::v1::DomainStatus* d) {
  ASSIGN_OR_RETURN(
      ScopedStatement f,
      db->Cached("SELECT at, from_sync, to_sync, epoch, reason FROM "
                 "failovers WHERE org_key=?1 AND domain=?2 ORDER BY id "
                 "DESC LIMIT 10"));
  f->Bind(1, org_key).Bind(2, d->domain());
  while (true) {
    ASSIGN_OR_RETURN(bool row, f->Step());
    if (!row) break;
    adsync::v1::Failover* fo = d->add_recent_failovers();
    fo->set_at_unix(f->ColumnInt(0));
    fo->set_from_sync_id(f->ColumnText(1));
    fo->set_to_sync_id(f->ColumnText(2));
    fo->set_epoch(f->ColumnInt(3));
    fo->set_reason(f->ColumnText(4));
  }
  return absl::OkStatus();
}

absl::Status ReadHeldSweep(Database* db, int64_t org_key,
                           adsync::v1::DomainStatus* d) {
  ASSIGN_OR_RETURN(
      ScopedStatement h,
      db->Cached("SELECT at, sync_id, seen, domain_accounts, skipped_entries, "
                 "reason, (SELECT count(*) FROM held_sweep_accounts a WHERE "
                 "a.org_key=?1 AND a.domain=?2) FROM held_sweeps WHERE "
                 "org_key=?1 AND domain=?2"));
  h->Bind(1, org_key).Bind(2, d->domain());
  ASSIGN_OR_RETURN(bool held, h->Step());
  if (!held) return absl::OkStatus();
  adsync::v1::HeldSweep* hs = d->mutable_held_sweep();
  hs->set_at_unix(h->ColumnInt(0));
  hs->set_sync_id(h->ColumnText(1));
  hs->set_seen(h->ColumnInt(2));
  hs->set_domain_accounts(h->ColumnInt(3));
  hs->set_skipped_entries(static_cast<uint32_t>(h->ColumnInt(4)));
  hs->set_reason(h->ColumnText(5));
  hs->set_would_remove(h->ColumnInt(6));
  return absl::OkStatus();
}

// One DomainStatus per domain: counts, lease, failovers, held sweep.
// Returns each domain's live lease holder (domains without one are absent).
absl::StatusOr<std::map<std::string, std::string>> ReadDomains(
    Database* db, int64_t org_key,
    const std::map<std::string, adsync::v1::Counts>& by_domain,
    adsync::v1::OrgStatus* os) {
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::map<std::string, std::string> primary_of;
  for (const auto& [domain, counts] : by_domain) {
    adsync::v1::DomainStatus* d = os->add_domains();
    d->set_domain(domain);
    *d->mutable_counts() = counts;
    ASSIGN_OR_RETURN(LeaseRow lease, ReadLease(db, org_key, domain));
    d->set_lease_epoch(lease.epoch);
    if (lease.expires_ms > now_ms) {
      d->set_primary_sync_id(lease.holder);
      primary_of[domain] = lease.holder;
    }
    RETURN_IF_ERROR(ReadRecentFailovers(db, org_key, d));
    RETURN_IF_ERROR(ReadHeldSweep(db, org_key, d));
  }
  return primary_of;
}

absl::Status ReadSkippedAccounts(Database* db, int64_t org_key,
                                 adsync::v1::OrgStatus* os) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached("SELECT domain, object_guid, sam, reason, at FROM "
                 "skipped_accounts WHERE org_key=?1 ORDER BY at "
                 "DESC LIMIT 100"));
  q->Bind(1, org_key);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    adsync::v1::SkippedAccount* sa = os->add_skipped_accounts();
    sa->set_domain(q->ColumnText(0));
    auto guid = GuidBinaryToString(q->ColumnBlob(1));
    if (guid.ok()) sa->set_object_guid(*guid);
    sa->set_sam_account_name(q->ColumnText(2));
    sa->set_reason(q->ColumnText(3));
    sa->set_at_unix(q->ColumnInt(4));
  }
  return absl::OkStatus();
}

// The org's AD Syncs with their connection, watermark and role; returns
// where each one's DC stands, by sync ID.
absl::StatusOr<std::map<std::string, DcPosition>> ReadSyncs(
    Database* db, int64_t org_key,
    const std::map<std::string, std::string>& primary_of,
    adsync::v1::OrgStatus* os) {
  std::map<std::string, DcPosition> positions;
  ASSIGN_OR_RETURN(ScopedStatement q, db->Cached(kSelectSyncs));
  q->Bind(1, org_key);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    adsync::v1::SyncStatus* s = os->add_syncs();
    ReadSyncInfo(*q, os->org().org_id(), s->mutable_sync());
    s->set_connected(q->ColumnInt(7) != 0);
    s->set_source_ip(q->ColumnText(8));
    s->set_last_contact_unix(q->ColumnInt(9));
    s->set_controller(q->ColumnText(10));
    if (!q->ColumnIsNull(11)) {
      auto inv = GuidBinaryToString(q->ColumnBlob(11));
      if (inv.ok()) s->set_watermark_invocation_id(*inv);
      s->set_watermark_usn(q->ColumnInt(12));
    }
    s->set_full_sync_in_progress(q->ColumnInt(13) != 0);
    s->set_last_full_sync_unix(q->ColumnInt(14));
    s->set_batches(q->ColumnInt(15));
    s->set_deltas(q->ColumnInt(16));
    s->set_last_error(q->ColumnText(17));
    const auto holder = primary_of.find(s->sync().domain());
    const bool is_primary =
        holder != primary_of.end() && holder->second == s->sync().sync_id();
    s->set_role(!s->connected() ? "-" : is_primary ? "primary" : "standby");
    s->set_controller_usn(q->ColumnInt(19));
    s->set_last_report_unix(q->ColumnInt(21) / 1000);
    s->set_report_error(q->ColumnText(22));
    positions[s->sync().sync_id()] = {q->ColumnBlob(18), q->ColumnInt(19),
                                      q->ColumnBlob(20)};
  }
  return positions;
}

// Replication lag: how many of the primary DC's USNs each DC has not
// applied yet, from the cursor for the primary DC's invocationId in its
// replUpToDateVector; -1 when unknown.
void SetReplicationLag(const std::map<std::string, std::string>& primary_of,
                       const std::map<std::string, DcPosition>& positions,
                       adsync::v1::OrgStatus* os) {
  for (auto& sync : *os->mutable_syncs()) {
    sync.set_replication_lag_usn(-1);
    const auto holder = primary_of.find(sync.sync().domain());
    if (holder == primary_of.end()) continue;
    const auto primary = positions.find(holder->second);
    const auto own = positions.find(sync.sync().sync_id());
    if (primary == positions.end() || own == positions.end()) continue;
    if (holder->second == sync.sync().sync_id()) {
      sync.set_replication_lag_usn(0);
      continue;
    }
    adsync::v1::Heartbeat reported;
    if (!reported.ParseFromString(own->second.position)) continue;
    for (const auto& cursor : reported.cursors()) {
      if (cursor.invocation_id() == primary->second.invocation_id) {
        sync.set_replication_lag_usn(
            std::max<int64_t>(0, primary->second.usn - cursor.usn()));
      }
    }
  }
}

void ListStandbys(adsync::v1::OrgStatus* os) {
  for (const auto& sync : os->syncs()) {
    if (sync.role() != "standby") continue;
    for (auto& d : *os->mutable_domains()) {
      if (d.domain() == sync.sync().domain())
        d.add_standby_sync_ids(sync.sync().sync_id());
    }
  }
}

absl::Status ReadRecentRejections(Database* db, adsync::v1::OrgStatus* os) {
  ASSIGN_OR_RETURN(ScopedStatement q,
                   db->Cached("SELECT at, source_ip, sync_id, reason "
                              "FROM rejections WHERE org_id=?1 "
                              "ORDER BY id DESC LIMIT 20"));
  q->Bind(1, os->org().org_id());
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    adsync::v1::Rejection* r = os->add_recent_rejections();
    r->set_at_unix(q->ColumnInt(0));
    r->set_source_ip(q->ColumnText(1));
    r->set_sync_id(q->ColumnText(2));
    r->set_reason(q->ColumnText(3));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<adsync::v1::GetStatusResponse> SqlStore::GetStatus(
    const std::string& org_id) {
  std::vector<std::string> org_ids;
  if (org_id.empty()) {
    ASSIGN_OR_RETURN(std::vector<adsync::v1::Org> orgs, ListOrgs());
    for (const auto& o : orgs) org_ids.push_back(o.org_id());
  } else {
    org_ids.push_back(org_id);
  }
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  Database* const db = reader.get();
  adsync::v1::GetStatusResponse response;
  for (const std::string& id : org_ids) {
    ASSIGN_OR_RETURN(OrgRow org, LoadOrg(db, id));
    adsync::v1::OrgStatus* os = response.add_orgs();
    *os->mutable_org() = org.org;
    ASSIGN_OR_RETURN(*os->mutable_push(), ReadPushStatus(db, org.key));
    RETURN_IF_ERROR(ReadPeopleCount(db, org.key, os));
    std::map<std::string, adsync::v1::Counts> by_domain;
    RETURN_IF_ERROR(ReadCounts(db, org.key, os, &by_domain));
    ASSIGN_OR_RETURN(auto primary_of, ReadDomains(db, org.key, by_domain, os));
    RETURN_IF_ERROR(ReadSkippedAccounts(db, org.key, os));
    ASSIGN_OR_RETURN(auto positions, ReadSyncs(db, org.key, primary_of, os));
    SetReplicationLag(primary_of, positions, os);
    ListStandbys(os);
    RETURN_IF_ERROR(ReadRecentRejections(db, os));
  }
  return response;
}

absl::StatusOr<AccountView> SqlStore::ViewAccount(Database* db,
                                                  const OrgRow& org,
                                                  const StoredAccount& a) {
  AccountView v;
  ASSIGN_OR_RETURN(std::string guid, GuidBinaryToString(a.state.object_guid));
  v.set_object_guid(guid);
  v.set_domain(a.domain);
  v.set_sam_account_name(a.state.sam_account_name);
  v.set_user_principal_name(a.state.user_principal_name);
  v.set_sid(a.state.sid);
  v.set_mail(a.state.mail);
  for (const auto& p : a.state.proxy_addresses) v.add_proxy_addresses(p);
  v.set_display_name(a.state.display_name);
  v.set_enabled(a.state.enabled());
  v.set_deleted(a.state.removed());
  v.set_outcome(OutcomeName(a.match.outcome));
  v.set_person_id(a.match.person_id);
  v.set_matched_email(a.match.matched_email);
  if (a.match.outcome == Outcome::kAmbiguous) {
    ASSIGN_OR_RETURN(MatchResult m, Match(db, org, a.state));
    for (const auto& p : m.candidate_person_ids) v.add_candidate_person_ids(p);
  }
  return v;
}

absl::StatusOr<adsync::v1::ResolveLoginResponse> SqlStore::ResolveLogin(
    const std::string& org_id, const std::string& login) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), org_id));
  ASSIGN_OR_RETURN(LoginQuery query, ParseLogin(login));
  ScopedStatement q;
  switch (query.kind) {
    case LoginQuery::Kind::kSamAccountName: {
      ASSIGN_OR_RETURN(
          q, reader->Cached("SELECT object_guid FROM profiles WHERE org_key=?1 "
                            "AND domain=?2 AND lower(sam)=lower(?3) "
                            "ORDER BY deleted + absent, updated DESC LIMIT 1"));
      q->Bind(1, org.key).Bind(2, query.domain).Bind(3, query.name);
      break;
    }
    case LoginQuery::Kind::kSid: {
      ASSIGN_OR_RETURN(q,
                       reader->Cached("SELECT object_guid FROM profiles WHERE "
                                      "org_key=?1 AND sid=?2 LIMIT 1"));
      q->Bind(1, org.key).Bind(2, query.name);
      break;
    }
    case LoginQuery::Kind::kUpn: {
      ASSIGN_OR_RETURN(
          q, reader->Cached("SELECT object_guid FROM profiles WHERE org_key=?1 "
                            "AND lower(upn)=lower(?2) "
                            "ORDER BY deleted + absent, updated DESC LIMIT 1"));
      q->Bind(1, org.key).Bind(2, query.name);
      break;
    }
  }
  ASSIGN_OR_RETURN(bool row, q->Step());
  adsync::v1::ResolveLoginResponse response;
  if (!row) {
    response.set_explanation(ExplainUnknownLogin(login, org.org.org_id()));
    return response;
  }
  const std::string guid = q->ColumnBlob(0);
  ASSIGN_OR_RETURN(StoredAccount a, LoadAccount(reader.get(), org.key, guid));
  ASSIGN_OR_RETURN(AccountView view, ViewAccount(reader.get(), org, a));
  response.set_found(true);
  if (a.match.outcome == Outcome::kMatched) {
    response.set_person_id(a.match.person_id);
    ASSIGN_OR_RETURN(ScopedStatement p,
                     reader->Cached("SELECT name FROM people WHERE "
                                    "org_key=?1 AND person_id=?2"));
    p->Bind(1, org.key).Bind(2, a.match.person_id);
    ASSIGN_OR_RETURN(bool has, p->Step());
    if (has) response.set_person_name(p->ColumnText(0));
  } else if (a.match.outcome == Outcome::kUnmatched) {
    ASSIGN_OR_RETURN(MatchResult m, Match(reader.get(), org, a.state));
    a.match.emails_tried = std::move(m.emails_tried);
  }
  // Moved, not copied: the account is not needed after this.
  AccountFacts facts;
  facts.domain = std::move(a.domain);
  facts.sam_account_name = a.state.sam_account_name;
  facts.object_guid = view.object_guid();
  facts.state = std::move(a.state);
  facts.match = std::move(a.match);
  facts.candidate_person_ids.assign(view.candidate_person_ids().begin(),
                                    view.candidate_person_ids().end());
  facts.person_name = response.person_name();
  facts.settings = org.settings;
  response.set_explanation(ExplainAccount(facts));
  *response.mutable_account() = std::move(view);
  return response;
}

absl::StatusOr<adsync::v1::ListAccountsResponse> SqlStore::ListAccounts(
    const adsync::v1::ListAccountsRequest& request) {
  std::set<std::string> wanted(request.outcomes().begin(),
                               request.outcomes().end());
  for (const std::string& o : wanted) {
    bool known = false;
    for (int i = 0; i <= static_cast<int>(Outcome::kRemoved); ++i) {
      known |= o == OutcomeName(static_cast<Outcome>(i));
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown outcome \"", o,
                       "\"; use matched, unmatched, ambiguous, "
                       "no-email or removed"));
    }
  }
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader.get(), request.org_id()));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader->Cached("SELECT object_guid, outcome FROM profiles "
                                  "WHERE org_key=?1 ORDER BY domain, sam"));
  q->Bind(1, org.key);
  std::vector<std::string> guids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    if (!wanted.empty() &&
        !wanted.count(OutcomeName(static_cast<Outcome>(q->ColumnInt(1))))) {
      continue;
    }
    guids.push_back(q->ColumnBlob(0));
    if (request.limit() && guids.size() >= request.limit()) break;
  }
  adsync::v1::ListAccountsResponse response;
  for (const std::string& guid : guids) {
    ASSIGN_OR_RETURN(StoredAccount a, LoadAccount(reader.get(), org.key, guid));
    ASSIGN_OR_RETURN(*response.add_accounts(),
                     ViewAccount(reader.get(), org, a));
  }
  return response;
}

}  // namespace adsync
