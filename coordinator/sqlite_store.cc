#include "coordinator/sqlite_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/guid.h"
#include "common/sid.h"
#include "common/status_macros.h"
#include "coordinator/fencing.h"
#include "coordinator/validation.h"

namespace adsync {

// The schema and the queries below write "outcome = 0" for a matched account.
static_assert(static_cast<int>(Outcome::kMatched) == 0,
              "matched is outcome 0 in the schema's index and the SQL here");
namespace {

using adsync::v1::AccountView;

// Each entry migrates version i to i+1. Never edit a released entry; append.
const char* const kMigrations[] = {
    // 0 -> 1: initial schema.
    R"sql(
CREATE TABLE orgs(
  org_key INTEGER PRIMARY KEY,
  org_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  match_proxy INTEGER NOT NULL,
  match_upn INTEGER NOT NULL,
  created INTEGER NOT NULL);
CREATE TABLE syncs(
  sync_id TEXT PRIMARY KEY,
  org_key INTEGER NOT NULL REFERENCES orgs(org_key),
  domain TEXT NOT NULL,
  dns_name TEXT NOT NULL,
  allowed_ips TEXT NOT NULL,
  priority INTEGER NOT NULL,
  key_salt BLOB NOT NULL,
  key_hash BLOB NOT NULL,
  created INTEGER NOT NULL,
  key_rotated INTEGER NOT NULL,
  connected INTEGER NOT NULL DEFAULT 0,
  source_ip TEXT NOT NULL DEFAULT '',
  controller TEXT NOT NULL DEFAULT '',
  last_contact INTEGER NOT NULL DEFAULT 0,
  wm_invocation BLOB,
  wm_usn INTEGER,
  full_sync_in_progress INTEGER NOT NULL DEFAULT 0,
  last_full_sync INTEGER NOT NULL DEFAULT 0,
  batches INTEGER NOT NULL DEFAULT 0,
  deltas INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX syncs_by_org ON syncs(org_key);
CREATE TABLE rejections(
  id INTEGER PRIMARY KEY,
  org_id TEXT NOT NULL,
  sync_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  source_ip TEXT NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX rejections_by_org ON rejections(org_id, id);
CREATE TABLE people(
  org_key INTEGER NOT NULL,
  person_id TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY(org_key, person_id)) WITHOUT ROWID;
CREATE TABLE person_emails(
  org_key INTEGER NOT NULL,
  email TEXT NOT NULL,
  person_id TEXT NOT NULL,
  PRIMARY KEY(org_key, email, person_id)) WITHOUT ROWID;
CREATE TABLE profiles(
  org_key INTEGER NOT NULL,
  object_guid BLOB NOT NULL,
  domain TEXT NOT NULL,
  sid TEXT NOT NULL,
  sam TEXT NOT NULL,
  upn TEXT NOT NULL,
  mail TEXT NOT NULL,
  proxy TEXT NOT NULL,
  display_name TEXT NOT NULL,
  uac INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  absent INTEGER NOT NULL,
  stamps BLOB NOT NULL,
  outcome INTEGER NOT NULL,
  person_id TEXT NOT NULL,
  matched_email TEXT NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY(org_key, object_guid));
CREATE INDEX profiles_by_sam ON profiles(org_key, domain, sam COLLATE NOCASE);
CREATE INDEX profiles_by_upn ON profiles(org_key, upn COLLATE NOCASE);
CREATE INDEX profiles_by_sid ON profiles(org_key, sid);
)sql",
    // 1 -> 2: push to K12Panel. The outbox is written in the same
    // transaction as the account change that causes it.
    R"sql(
CREATE INDEX profiles_by_person ON profiles(org_key, person_id) WHERE outcome = 0;
CREATE TABLE person_versions(
  org_key INTEGER NOT NULL,
  person_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY(org_key, person_id)) WITHOUT ROWID;
CREATE TABLE outbox(
  org_key INTEGER NOT NULL,
  person_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  enqueued INTEGER NOT NULL,
  quarantined INTEGER NOT NULL DEFAULT 0,
  parked INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(org_key, person_id)) WITHOUT ROWID;
CREATE TABLE push_state(
  org_key INTEGER PRIMARY KEY,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_success INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  last_error_at INTEGER NOT NULL DEFAULT 0,
  quarantined INTEGER NOT NULL DEFAULT 0,
  quarantine_reason TEXT NOT NULL DEFAULT '',
  delivered INTEGER NOT NULL DEFAULT 0);
)sql",
    // 2 -> 3: one primary per (org, domain); epochs fence demoted agents.
    R"sql(
CREATE TABLE leases(
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  holder_sync_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  PRIMARY KEY(org_key, domain)) WITHOUT ROWID;
CREATE TABLE failovers(
  id INTEGER PRIMARY KEY,
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  at INTEGER NOT NULL,
  from_sync TEXT NOT NULL,
  to_sync TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX failovers_by_domain ON failovers(org_key, domain, id);
)sql",
    // 3 -> 4: where each DC stands, for replication lag in status.
    R"sql(
ALTER TABLE syncs ADD COLUMN dc_invocation BLOB;
ALTER TABLE syncs ADD COLUMN dc_usn INTEGER NOT NULL DEFAULT 0;
ALTER TABLE syncs ADD COLUMN dc_position BLOB;
)sql",
    // 4 -> 5: the last batch committed under the current lease epoch, so a
    // batch that failed can never be skipped over by the ones behind it.
    R"sql(
ALTER TABLE leases ADD COLUMN last_sequence INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rejections_by_time ON rejections(id);
)sql",
    // 5 -> 6: accounts left out for oversized values, and full-sync sweeps
    // held for an operator instead of removing accounts.
    R"sql(
CREATE TABLE skipped_accounts(
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  object_guid BLOB NOT NULL,
  sam TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY(org_key, domain, object_guid)) WITHOUT ROWID;
CREATE TABLE held_sweeps(
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  sync_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  seen INTEGER NOT NULL,
  domain_accounts INTEGER NOT NULL,
  skipped_entries INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY(org_key, domain)) WITHOUT ROWID;
CREATE TABLE held_sweep_accounts(
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  object_guid BLOB NOT NULL,
  PRIMARY KEY(org_key, domain, object_guid)) WITHOUT ROWID;
)sql",
    // 6 -> 7: each domain's SID as its DCs report it (pinned on first use),
    // and the authoritative re-sync owed after a key rotation.
    R"sql(
CREATE TABLE domains(
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  domain_sid TEXT NOT NULL,
  pinned_by TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY(org_key, domain)) WITHOUT ROWID;
ALTER TABLE syncs ADD COLUMN authoritative_resync INTEGER NOT NULL DEFAULT 0;
)sql",
};

int64_t NowUnix() { return absl::ToUnixSeconds(absl::Now()); }

std::string HashKey(const std::string& salt, const std::string& key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  const std::string input = salt + key;
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

std::string RandomBytes(int n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), n) != 1) {
    std::abort();  // no safe keys without a CSPRNG
  }
  return out;
}

std::string UnknownOrgMessage(const std::string& org_id) {
  return absl::StrCat("unknown Org ID ", org_id,
                      "; list orgs with `adsyncctl org list`");
}

constexpr char kSelectAccount[] =
    "SELECT domain, sid, sam, upn, mail, proxy, display_name, uac, deleted, "
    "absent, stamps, outcome, person_id, matched_email, object_guid "
    "FROM profiles WHERE org_key=?1 AND object_guid=?2";

void ReadAccountColumns(const Statement& q, AccountState* s,
                        std::string* domain, MatchResult* match) {
  *domain = q.ColumnText(0);
  s->sid = q.ColumnText(1);
  s->sam_account_name = q.ColumnText(2);
  s->user_principal_name = q.ColumnText(3);
  s->mail = q.ColumnText(4);
  const std::string proxy = q.ColumnText(5);
  s->proxy_addresses.clear();
  if (!proxy.empty()) s->proxy_addresses = absl::StrSplit(proxy, '\n');
  s->display_name = q.ColumnText(6);
  s->user_account_control = static_cast<uint32_t>(q.ColumnInt(7));
  s->deleted = q.ColumnInt(8) != 0;
  s->absent = q.ColumnInt(9) != 0;
  s->stamps = DecodeStamps(q.ColumnBlobView(10));
  match->outcome = static_cast<Outcome>(q.ColumnInt(11));
  match->person_id = q.ColumnText(12);
  match->matched_email = q.ColumnText(13);
  s->object_guid = q.ColumnBlob(14);
}

}  // namespace

int SqliteStore::CurrentSchemaVersion() {
  return static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));
}

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

absl::StatusOr<int> SqliteStore::SchemaVersion() {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT version FROM schema_version"));
  ASSIGN_OR_RETURN(bool row, q->Step());
  return row ? static_cast<int>(q->ColumnInt(0)) : 0;
}

absl::Status SqliteStore::Migrate() {
  absl::MutexLock lock(&write_mu_);
  RETURN_IF_ERROR(writer_->Execute(
      "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"));
  int version = 0;
  {
    ASSIGN_OR_RETURN(ScopedStatement q,
                     writer_->Cached("SELECT version FROM schema_version"));
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) version = static_cast<int>(q->ColumnInt(0));
  }
  if (version > CurrentSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database ", options_.path, " has schema version ", version,
        ", newer than this coordinator understands (", CurrentSchemaVersion(),
        "); run the newer coordinator or restore a backup"));
  }
  for (int v = version; v < CurrentSchemaVersion(); ++v) {
    Transaction txn(writer_.get());
    RETURN_IF_ERROR(txn.Begin());
    RETURN_IF_ERROR(writer_->Execute(kMigrations[v]));
    RETURN_IF_ERROR(writer_->Execute("DELETE FROM schema_version"));
    RETURN_IF_ERROR(writer_->Execute(
        absl::StrCat("INSERT INTO schema_version VALUES(", v + 1, ")")));
    RETURN_IF_ERROR(txn.Commit());
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStore::OrgRow> SqliteStore::LoadOrg(
    Database* db, const std::string& org_id_raw) {
  ASSIGN_OR_RETURN(std::string org_id, CanonicalGuid(org_id_raw, "Org ID"));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   db->Cached("SELECT org_key, name, match_proxy, match_upn, "
                              "created FROM orgs WHERE org_id=?1"));
  q->Bind(1, org_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return absl::NotFoundError(UnknownOrgMessage(org_id));
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

absl::StatusOr<adsync::v1::Org> SqliteStore::CreateOrg(
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
                      "match_upn, created) VALUES(?1,?2,?3,?4,?5)"));
  const int64_t now = NowUnix();
  q->Bind(1, org_id)
      .Bind(2, name)
      .Bind(3, request.match_proxy_addresses() ? 1 : 0)
      .Bind(4, request.match_upn() ? 1 : 0)
      .Bind(5, now);
  absl::Status s = q->Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "org ", org_id, " already exists; see `adsyncctl org list`"));
  }
  RETURN_IF_ERROR(s);
  adsync::v1::Org org;
  org.set_org_id(org_id);
  org.set_name(name);
  org.set_match_proxy_addresses(request.match_proxy_addresses());
  org.set_match_upn(request.match_upn());
  org.set_created_unix(now);
  return org;
}

absl::StatusOr<std::vector<adsync::v1::Org>> SqliteStore::ListOrgs() {
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader_->Cached("SELECT org_id FROM orgs ORDER BY name"));
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    ids.push_back(q->ColumnText(0));
  }
  std::vector<adsync::v1::Org> orgs;
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), id));
    orgs.push_back(org.org);
  }
  return orgs;
}

absl::StatusOr<adsync::v1::AddSyncResponse> SqliteStore::IssueKeyLocked(
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

absl::StatusOr<adsync::v1::AddSyncResponse> SqliteStore::AddSync(
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
                      "key_rotated) VALUES(?1,?2,?3,?4,?5,?6,x'',x'',?7,?7)"));
  q->Bind(1, sync_id)
      .Bind(2, org.key)
      .Bind(3, domain)
      .Bind(4, dns_name)
      .Bind(5, absl::StrJoin(ips, ","))
      .Bind(6, request.priority())
      .Bind(7, now);
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

namespace {

constexpr char kSelectSyncs[] =
    "SELECT sync_id, domain, dns_name, allowed_ips, priority, created, "
    "key_rotated, connected, source_ip, last_contact, controller, "
    "wm_invocation, wm_usn, full_sync_in_progress, last_full_sync, batches, "
    "deltas, last_error, dc_invocation, dc_usn, dc_position FROM syncs WHERE "
    "org_key=?1 ORDER BY domain, priority DESC, created";

void ReadSyncInfo(const Statement& q, const std::string& org_id,
                  adsync::v1::SyncInfo* info) {
  info->set_sync_id(q.ColumnText(0));
  info->set_org_id(org_id);
  info->set_domain(q.ColumnText(1));
  info->set_dns_name(q.ColumnText(2));
  for (absl::string_view ip :
       absl::StrSplit(q.ColumnText(3), ',', absl::SkipEmpty())) {
    info->add_allowed_ips(std::string(ip));
  }
  info->set_priority(static_cast<int32_t>(q.ColumnInt(4)));
  info->set_created_unix(q.ColumnInt(5));
  info->set_key_rotated_unix(q.ColumnInt(6));
}

}  // namespace

absl::StatusOr<std::vector<adsync::v1::SyncInfo>> SqliteStore::ListSyncs(
    const std::string& org_id) {
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), org_id));
  ASSIGN_OR_RETURN(ScopedStatement q, reader_->Cached(kSelectSyncs));
  q->Bind(1, org.key);
  std::vector<adsync::v1::SyncInfo> syncs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    ReadSyncInfo(*q, org.org.org_id(), &syncs.emplace_back());
  }
  return syncs;
}

namespace {

absl::StatusOr<std::string> CheckSyncOfOrg(Database* db, int64_t org_key,
                                           const std::string& org_id,
                                           const std::string& sync_id_raw) {
  ASSIGN_OR_RETURN(std::string sync_id,
                   CanonicalGuid(sync_id_raw, "AD Sync ID"));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached("SELECT 1 FROM syncs WHERE sync_id=?1 AND org_key=?2"));
  q->Bind(1, sync_id).Bind(2, org_key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat(
        "org ", org_id, " has no AD Sync ", sync_id,
        "; list them with `adsyncctl sync list --org ", org_id, "`"));
  }
  return sync_id;
}

}  // namespace

absl::StatusOr<adsync::v1::AddSyncResponse> SqliteStore::RotateSyncKey(
    const std::string& org_id, const std::string& sync_id_raw) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  ASSIGN_OR_RETURN(
      std::string sync_id,
      CheckSyncOfOrg(writer_.get(), org.key, org.org.org_id(), sync_id_raw));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(adsync::v1::AddSyncResponse response,
                   IssueKeyLocked(org.org.org_id(), sync_id));
  RETURN_IF_ERROR(EndLeasesOfLocked(sync_id));
  // Whoever held the old key may have written forged values with forged
  // stamps: the domain's next full sync replaces them with what AD holds.
  RETURN_IF_ERROR(RequireAuthoritativeResyncLocked(org.key, sync_id));
  RETURN_IF_ERROR(txn.Commit());
  return response;
}

absl::Status SqliteStore::EndLeasesOfLocked(const std::string& sync_id) {
  // The holder stays named (status and the failover record say who held
  // it); the lapsed lease goes to a standby at a new epoch.
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("UPDATE leases SET expires_ms=0 "
                                   "WHERE holder_sync_id=?1"));
  q->Bind(1, sync_id);
  return q->Run();
}

absl::Status SqliteStore::CheckCredentialLocked(const SyncRecord& sync) {
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT key_hash FROM syncs "
                                   "WHERE sync_id=?1"));
  q->Bind(1, sync.sync_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) {
    return absl::PermissionDeniedError(absl::StrCat(
        "AD Sync ", sync.sync_id,
        " was removed; stop this agent, or register it again with `adsyncctl "
        "sync add` and put the new key into its key file"));
  }
  const std::string stored = q->ColumnBlob(0);
  if (stored.size() != sync.key_hash.size() ||
      CRYPTO_memcmp(stored.data(), sync.key_hash.data(), stored.size()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the key of AD Sync ", sync.sync_id,
        " was rotated; put the new key (shown by `adsyncctl sync rotate-key`) "
        "into the agent's key file"));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::RemoveSync(const std::string& org_id,
                                     const std::string& sync_id_raw) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  ASSIGN_OR_RETURN(
      std::string sync_id,
      CheckSyncOfOrg(writer_.get(), org.key, org.org.org_id(), sync_id_raw));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
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

absl::Status SqliteStore::RequireAuthoritativeResyncLocked(
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

absl::StatusOr<MatchResult> SqliteStore::Match(Database* db, const OrgRow& org,
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

absl::StatusOr<SqliteStore::StoredAccount> SqliteStore::LoadAccount(
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

absl::StatusOr<AccountFilter*> SqliteStore::KnownAccountsLocked(
    int64_t org_key) {
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

absl::Status SqliteStore::WriteAccountLocked(
    int64_t org_key, const std::string& domain, const StoredAccount& before,
    const AccountState& s, const MatchResult& m, ChangeSet* changes) {
  if (!before.exists) {
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

absl::StatusOr<uint32_t> SqliteStore::SweepLocked(
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
    const std::string reason = absl::StrCat(
        "full sync of domain ", domain, " by AD Sync ", sync.sync_id,
        " removed nothing: ", hold,
        ". Check the agent's base DN, filter and log, then run `adsyncctl "
        "sweep approve --org ",
        org.org.org_id(), " --domain ", domain,
        "` to remove them or `adsyncctl sweep reject ...` to keep them");
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
          writer_->Cached("INSERT OR IGNORE INTO held_sweep_accounts(org_key, "
                          "domain, object_guid) VALUES(?1,?2,?3)"));
      a->Bind(1, org.key).Bind(2, domain).BindBlob(3, guid);
      RETURN_IF_ERROR(a->Run());
    }
    return 0;
  }
  return RemoveAccountsLocked(org, gone, changes);
}

absl::StatusOr<std::vector<std::string>> SqliteStore::CaughtUpLocked(
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

absl::StatusOr<uint32_t> SqliteStore::RemoveAccountsLocked(
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

absl::Status SqliteStore::DropHeldSweepLocked(int64_t org_key,
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

absl::StatusOr<uint64_t> SqliteStore::ResolveSweep(
    const std::string& org_id, const std::string& domain_raw, bool approve) {
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
      return absl::FailedPreconditionError(
          absl::StrCat("domain ", domain, " of org ", org.org.org_id(),
                       " has no held sweep; `adsyncctl status --org ",
                       org.org.org_id(), "` shows held sweeps"));
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

absl::Status SqliteStore::FinishChangesLocked(const OrgRow& org,
                                              const ChangeSet& changes,
                                              const std::string& cause,
                                              bool operator_approved) {
  if (changes.dirty.empty()) return absl::OkStatus();
  // Deletion safety (docs/design.md, rule 7): many People losing identities
  // at once is more likely a wrong base DN than a real event; hold the push
  // for an operator.
  bool quarantine = false;
  std::string reason;
  if (!operator_approved &&
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
      reason =
          absl::StrCat(cause, " would remove identities from ",
                       changes.losing.size(), " of ", mapped_before,
                       " mapped People (", static_cast<int>(share * 100 + 0.5),
                       "%); check the AD Sync's base DN and filter, then run "
                       "`adsyncctl push approve --org ",
                       org.org.org_id(), "` or `adsyncctl push reject --org ",
                       org.org.org_id(), "`");
    }
  }
  const int64_t now = NowUnix();
  for (const std::string& person : changes.dirty) {
    ASSIGN_OR_RETURN(
        ScopedStatement v,
        writer_->Cached(
            "INSERT INTO person_versions(org_key, person_id, version) "
            "VALUES(?1,?2,1) ON CONFLICT(org_key, person_id) DO "
            "UPDATE SET version=version+1 RETURNING version"));
    v->Bind(1, org.key).Bind(2, person);
    ASSIGN_OR_RETURN(bool row, v->Step());
    if (!row) return absl::InternalError("no version returned");
    const int64_t version = v->ColumnInt(0);
    const bool held = quarantine && changes.losing.count(person) > 0;
    ASSIGN_OR_RETURN(
        ScopedStatement o,
        writer_->Cached(
            "INSERT INTO outbox(org_key, person_id, version, enqueued, "
            "quarantined) VALUES(?1,?2,?3,?4,?5) ON CONFLICT(org_key, "
            "person_id) DO UPDATE SET version=?3, parked=0, error='', "
            "quarantined=max(quarantined, ?5)"));
    o->Bind(1, org.key)
        .Bind(2, person)
        .Bind(3, version)
        .Bind(4, now)
        .Bind(5, held ? 1 : 0);
    RETURN_IF_ERROR(o->Run());
  }
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

absl::StatusOr<std::vector<std::string>> SqliteStore::OrgsReadyToPush(
    int64_t now_ms) {
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      reader_->Cached(
          "SELECT o.org_id FROM orgs o LEFT JOIN push_state p USING(org_key) "
          "WHERE coalesce(p.quarantined, 0)=0 AND coalesce(p.next_attempt_ms, "
          "0)<=?1 "
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

absl::StatusOr<PushBatch> SqliteStore::NextPushBatch(const std::string& org_id,
                                                     int max_people) {
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), org_id));
  PushBatch batch;
  batch.org_id = org.org.org_id();
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        reader_->Cached("SELECT attempts FROM push_state WHERE org_key=?1"));
    q->Bind(1, org.key);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) batch.attempts = static_cast<int>(q->ColumnInt(0));
  }
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        reader_->Cached(
            "SELECT person_id, version FROM outbox WHERE org_key=?1 "
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
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        reader_->Cached("SELECT domain, sam, upn, sid, object_guid, uac FROM "
                        "profiles WHERE org_key=?1 AND person_id=?2 AND "
                        "outcome=0 ORDER BY domain, sam"));
    q->Bind(1, org.key).Bind(2, u.person_id());
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      adsync::v1::PanelIdentity* id = u.add_identities();
      id->set_domain(q->ColumnText(0));
      id->set_sam_account_name(q->ColumnText(1));
      id->set_upn(q->ColumnText(2));
      id->set_sid(q->ColumnText(3));
      ASSIGN_OR_RETURN(std::string guid, GuidBinaryToString(q->ColumnBlob(4)));
      id->set_object_guid(guid);
      id->set_enabled(!AccountDisabled(static_cast<uint32_t>(q->ColumnInt(5))));
    }
  }
  return batch;
}

absl::Status SqliteStore::ForEachOutboxItemLocked(int64_t org_key,
                                                  const PushBatch& batch,
                                                  const char* sql,
                                                  const std::string& extra) {
  for (const auto& u : batch.updates) {
    ASSIGN_OR_RETURN(ScopedStatement q, writer_->Cached(sql));
    q->Bind(1, org_key)
        .Bind(2, u.person_id())
        .Bind(3, u.version())
        .Bind(4, extra);
    RETURN_IF_ERROR(q->Run());
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::CompletePush(const PushBatch& batch) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), batch.org_id));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(ForEachOutboxItemLocked(
      org.key, batch,
      "DELETE FROM outbox WHERE org_key=?1 AND person_id=?2 AND version=?3",
      ""));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "INSERT INTO push_state(org_key, last_success, delivered) "
          "VALUES(?1,?2,?3) ON CONFLICT(org_key) DO UPDATE SET "
          "last_success=?2, delivered=delivered+?3, attempts=0, "
          "next_attempt_ms=0"));
  q->Bind(1, org.key)
      .Bind(2, NowUnix())
      .Bind(3, static_cast<int64_t>(batch.updates.size()));
  RETURN_IF_ERROR(q->Run());
  return txn.Commit();
}

absl::Status SqliteStore::DeferPush(const std::string& org_id,
                                    int64_t next_attempt_ms,
                                    const std::string& error) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), org_id));
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "INSERT INTO push_state(org_key, next_attempt_ms, attempts, "
          "last_error, last_error_at) VALUES(?1,?2,1,?3,?4) ON "
          "CONFLICT(org_key) DO UPDATE SET next_attempt_ms=?2, "
          "attempts=attempts+1, last_error=?3, last_error_at=?4"));
  q->Bind(1, org.key)
      .Bind(2, next_attempt_ms)
      .Bind(3, error)
      .Bind(4, NowUnix());
  return q->Run();
}

absl::Status SqliteStore::ParkPush(const PushBatch& batch,
                                   const std::string& error) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), batch.org_id));
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(
      ForEachOutboxItemLocked(org.key, batch,
                              "UPDATE outbox SET parked=1, error=?4 WHERE "
                              "org_key=?1 AND person_id=?2 AND version=?3",
                              error));
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

absl::StatusOr<adsync::v1::PushStatus> SqliteStore::ResolveQuarantine(
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
    ASSIGN_OR_RETURN(
        ScopedStatement clear,
        writer_->Cached(
            "UPDATE push_state SET quarantined=0, quarantine_reason='' "
            "WHERE org_key=?1"));
    clear->Bind(1, org.key);
    RETURN_IF_ERROR(clear->Run());
    RETURN_IF_ERROR(txn.Commit());
  }
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), org_id));
  return ReadPushStatus(reader_.get(), org.key);
}

absl::StatusOr<adsync::v1::PushStatus> SqliteStore::ReadPushStatus(
    Database* db, int64_t org_key) {
  adsync::v1::PushStatus p;
  {
    ASSIGN_OR_RETURN(
        ScopedStatement q,
        db->Cached(
            "SELECT count(*), min(enqueued), sum(parked), sum(quarantined) "
            "FROM outbox WHERE org_key=?1"));
    q->Bind(1, org_key);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) {
      p.set_queue_depth(q->ColumnInt(0));
      p.set_oldest_undelivered_unix(q->ColumnInt(1));
      p.set_parked(q->ColumnInt(2));
      p.set_quarantined_people(q->ColumnInt(3));
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

absl::StatusOr<SyncRecord> SqliteStore::Authenticate(
    const std::string& org_id, const std::string& key_raw) {
  // One answer for an unknown org and a wrong key: an unauthenticated
  // caller must not learn which Org IDs exist.
  const absl::Status denied = absl::PermissionDeniedError(
      "the Org ID and AD Sync key do not match any AD Sync; check both in "
      "the agent's config against `adsyncctl sync list --org ORG` (a key is "
      "shown once, by `adsyncctl sync add` or `sync rotate-key`)");
  // Hash whatever was sent (even a malformed key) so timing does not say
  // how far the check got.
  const std::string key(
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(key_raw)));
  absl::MutexLock lock(&read_mu_);
  absl::StatusOr<OrgRow> org = LoadOrg(reader_.get(), org_id);
  // A malformed Org ID is answered alike too: its error would echo it.
  if (absl::IsNotFound(org.status()) || absl::IsInvalidArgument(org.status())) {
    HashKey(std::string(16, '\0'), key);
    return denied;
  }
  if (!org.ok()) return org.status();
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader_->Cached("SELECT sync_id, domain, allowed_ips, "
                                   "priority, key_salt, key_hash, dns_name "
                                   "FROM syncs WHERE org_key=?1"));
  q->Bind(1, org->key);
  std::optional<SyncRecord> found;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    const std::string hash = HashKey(q->ColumnBlob(4), key);
    const std::string stored = q->ColumnBlob(5);
    const bool equal =
        stored.size() == hash.size() &&
        CRYPTO_memcmp(stored.data(), hash.data(), hash.size()) == 0;
    if (equal && !found) {
      SyncRecord r;
      r.sync_id = q->ColumnText(0);
      r.org_id = org->org.org_id();
      r.domain = q->ColumnText(1);
      for (absl::string_view ip :
           absl::StrSplit(q->ColumnText(2), ',', absl::SkipEmpty())) {
        auto range = ParseIpRange(ip);
        if (range.ok()) r.allowed_ips.push_back(*range);
      }
      r.priority = static_cast<int>(q->ColumnInt(3));
      r.key_hash = stored;
      r.dns_name = q->ColumnText(6);
      found = std::move(r);
    }
  }
  if (!found) return denied;
  return *found;
}

absl::Status SqliteStore::RecordRejection(const std::string& org_id,
                                          const std::string& sync_id,
                                          const std::string& source_ip,
                                          const std::string& reason) {
  // Only a well-formed Org ID is kept: whatever else an unauthenticated
  // agent claimed is never stored.
  auto canonical = CanonicalGuid(org_id.substr(0, 64), "Org ID");
  const std::string org = canonical.ok() ? *canonical : "";
  absl::MutexLock lock(&write_mu_);
  Transaction txn(writer_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(
      ScopedStatement ins,
      writer_->Cached("INSERT INTO rejections(org_id, sync_id, at, "
                      "source_ip, reason) VALUES(?1,?2,?3,?4,?5)"));
  ins->Bind(1, org)
      .Bind(2, sync_id)
      .Bind(3, NowUnix())
      .Bind(4, source_ip)
      .Bind(5, reason);
  RETURN_IF_ERROR(ins->Run());
  ASSIGN_OR_RETURN(
      ScopedStatement trim,
      writer_->Cached("DELETE FROM rejections WHERE org_id=?1 AND "
                      "id <= (SELECT id FROM rejections WHERE "
                      "org_id=?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"));
  trim->Bind(1, org).Bind(2, options_.rejections_kept);
  RETURN_IF_ERROR(trim->Run());
  // Random Org IDs each start a list of their own: bound the table too.
  ASSIGN_OR_RETURN(
      ScopedStatement trim_all,
      writer_->Cached("DELETE FROM rejections WHERE id <= (SELECT id FROM "
                      "rejections ORDER BY id DESC LIMIT 1 OFFSET ?1)"));
  trim_all->Bind(1, options_.rejections_kept_total);
  RETURN_IF_ERROR(trim_all->Run());
  return txn.Commit();
}

absl::Status SqliteStore::RecordConnection(const std::string& sync_id,
                                           bool connected,
                                           const std::string& source_ip,
                                           const std::string& controller) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("UPDATE syncs SET connected=?2, "
                                   "source_ip=?3, controller=?4, "
                                   "last_contact=?5 WHERE sync_id=?1"));
  q->Bind(1, sync_id)
      .Bind(2, connected ? 1 : 0)
      .Bind(3, source_ip)
      .Bind(4, controller)
      .Bind(5, NowUnix());
  return q->Run();
}

absl::StatusOr<WatermarkState> SqliteStore::GetWatermark(
    const std::string& sync_id) {
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader_->Cached("SELECT wm_invocation, wm_usn, "
                                   "full_sync_in_progress FROM syncs "
                                   "WHERE sync_id=?1"));
  q->Bind(1, sync_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("AD Sync ", sync_id, " was removed"));
  }
  WatermarkState w;
  w.has_watermark = !q->ColumnIsNull(0);
  w.invocation_id = q->ColumnBlob(0);
  w.usn = q->ColumnInt(1);
  w.full_sync_in_progress = q->ColumnInt(2) != 0;
  return w;
}

absl::StatusOr<std::string> SqliteStore::PinDomainSid(
    const SyncRecord& sync, const std::string& domain_sid) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   writer_->Cached("SELECT domain_sid, pinned_by FROM domains "
                                   "WHERE org_key=?1 AND domain=?2"));
  q->Bind(1, org.key).Bind(2, sync.domain);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (row) {
    std::string pinned = q->ColumnText(0);
    if (domain_sid.empty() || pinned == domain_sid) return pinned;
    return absl::FailedPreconditionError(absl::StrCat(
        "this agent's DC serves the domain with SID ", domain_sid,
        ", but domain ", sync.domain, " of this org has SID ", q->ColumnText(0),
        " (first reported by AD Sync ", q->ColumnText(1),
        "); point the agent at a DC of ", sync.domain,
        ", or register its own domain with `adsyncctl sync add`"));
  }
  if (domain_sid.empty()) return std::string();
  ASSIGN_OR_RETURN(
      ScopedStatement put,
      writer_->Cached("INSERT INTO domains(org_key, domain, domain_sid, "
                      "pinned_by, at) VALUES(?1,?2,?3,?4,?5)"));
  put->Bind(1, org.key)
      .Bind(2, sync.domain)
      .Bind(3, domain_sid)
      .Bind(4, sync.sync_id)
      .Bind(5, NowUnix());
  RETURN_IF_ERROR(put->Run());
  return domain_sid;
}

namespace {

// One row of the leases table; exists=false when the domain never had one.
struct LeaseRow {
  bool exists = false;
  std::string holder;
  uint64_t epoch = 0;
  int64_t expires_ms = 0;
  uint64_t last_sequence = 0;  // of the last batch committed at `epoch`
};

absl::StatusOr<LeaseRow> ReadLease(Database* db, int64_t org_key,
                                   const std::string& domain) {
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      db->Cached("SELECT holder_sync_id, epoch, expires_ms, last_sequence "
                 "FROM leases WHERE org_key=?1 AND domain=?2"));
  q->Bind(1, org_key).Bind(2, domain);
  ASSIGN_OR_RETURN(bool row, q->Step());
  LeaseRow lease;
  if (row) {
    lease.exists = true;
    lease.holder = q->ColumnText(0);
    lease.epoch = q->ColumnInt(1);
    lease.expires_ms = q->ColumnInt(2);
    lease.last_sequence = static_cast<uint64_t>(q->ColumnInt(3));
  }
  return lease;
}

}  // namespace

absl::Status SqliteStore::RecordControllerPosition(
    const std::string& sync_id, const std::string& invocation_id,
    const adsync::v1::Heartbeat& position) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached(
          "UPDATE syncs SET dc_invocation=coalesce(?2, dc_invocation), "
          "dc_usn=?3, dc_position=?4, last_contact=?5 WHERE sync_id=?1"));
  q->Bind(1, sync_id);
  if (invocation_id.empty()) {
    q->BindNull(2);
  } else {
    q->BindBlob(2, invocation_id);
  }
  q->Bind(3, position.highest_committed_usn())
      .BindBlob(4, position.SerializeAsString())
      .Bind(5, NowUnix());
  return q->Run();
}

absl::StatusOr<LeaseGrant> SqliteStore::AcquireLease(const SyncRecord& sync,
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

absl::StatusOr<bool> SqliteStore::RenewLeaseLocked(int64_t org_key,
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

absl::StatusOr<bool> SqliteStore::RenewLease(const SyncRecord& sync,
                                             uint64_t epoch, int64_t now_ms,
                                             int64_t ttl_ms) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(writer_.get(), sync.org_id));
  RETURN_IF_ERROR(CheckCredentialLocked(sync));
  return RenewLeaseLocked(org.key, sync, epoch, now_ms + ttl_ms);
}

absl::Status SqliteStore::ReleaseLease(const SyncRecord& sync, uint64_t epoch) {
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

absl::StatusOr<LeaseGrant> SqliteStore::GetLease(const std::string& org_id,
                                                 const std::string& domain,
                                                 int64_t now_ms) {
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), org_id));
  ASSIGN_OR_RETURN(LeaseRow lease, ReadLease(reader_.get(), org.key, domain));
  LeaseGrant g;
  g.epoch = lease.epoch;
  g.last_holder_sync_id = lease.holder;
  if (lease.expires_ms > now_ms) g.holder_sync_id = lease.holder;
  return g;
}

absl::StatusOr<BatchOutcome> SqliteStore::ApplyBatch(const SyncRecord& sync,
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
        writer_->Cached("UPDATE leases SET last_sequence=?3, expires_ms="
                        "max(expires_ms, ?4) WHERE org_key=?1 AND domain=?2"));
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
    // An account the filter has never seen is new: no lookup needed.
    ASSIGN_OR_RETURN(AccountFilter * known, KnownAccountsLocked(org.key));
    if (known->MayContain(incoming.object_guid)) {
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
                        "last_full_sync=?2 WHERE sync_id=?1"));
    q->Bind(1, sync.sync_id).Bind(2, NowUnix());
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

absl::Status SqliteStore::SkipAccountLocked(int64_t org_key,
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

absl::Status SqliteStore::NoteReportedAccountsLocked(
    int64_t org_key, const std::string& domain, const PreparedBatch& batch) {
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

absl::StatusOr<adsync::v1::ImportPeopleResponse> SqliteStore::ReplacePeople(
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
                   writer_->Cached("INSERT OR REPLACE INTO people(org_key, "
                                   "person_id, name) VALUES(?1,?2,?3)"));
  ASSIGN_OR_RETURN(
      ScopedStatement add_email,
      writer_->Cached("INSERT OR IGNORE INTO person_emails(org_key, "
                      "email, person_id) VALUES(?1,?2,?3)"));
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

absl::StatusOr<adsync::v1::GetStatusResponse> SqliteStore::GetStatus(
    const std::string& org_id) {
  std::vector<std::string> org_ids;
  if (org_id.empty()) {
    ASSIGN_OR_RETURN(std::vector<adsync::v1::Org> orgs, ListOrgs());
    for (const auto& o : orgs) org_ids.push_back(o.org_id());
  } else {
    org_ids.push_back(org_id);
  }
  absl::MutexLock lock(&read_mu_);
  adsync::v1::GetStatusResponse response;
  for (const std::string& id : org_ids) {
    ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), id));
    adsync::v1::OrgStatus* os = response.add_orgs();
    *os->mutable_org() = org.org;
    ASSIGN_OR_RETURN(*os->mutable_push(),
                     ReadPushStatus(reader_.get(), org.key));
    {
      ASSIGN_OR_RETURN(
          ScopedStatement q,
          reader_->Cached("SELECT count(*) FROM people WHERE org_key=?1"));
      q->Bind(1, org.key);
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (row) os->set_people(q->ColumnInt(0));
    }
    std::map<std::string, adsync::v1::Counts> by_domain;
    {
      // Built once: Cached() keys statements by the text's address.
      static const std::string* const kCountsSql = new std::string(
          absl::StrCat("SELECT domain, outcome, (uac & ", kUacAccountDisabled,
                       ") != 0, count(*) FROM profiles WHERE org_key=?1 "
                       "GROUP BY 1, 2, 3"));
      ASSIGN_OR_RETURN(ScopedStatement q, reader_->Cached(kCountsSql->c_str()));
      q->Bind(1, org.key);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) break;
        const auto outcome = static_cast<Outcome>(q->ColumnInt(1));
        const bool disabled = q->ColumnInt(2) != 0;
        const uint64_t n = q->ColumnInt(3);
        for (adsync::v1::Counts* c :
             {&by_domain[q->ColumnText(0)], os->mutable_counts()}) {
          if (outcome == Outcome::kRemoved) {
            c->set_deleted(c->deleted() + n);
            continue;
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
      }
    }
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    std::map<std::string, std::string> primary_of;  // domain -> live holder
    struct DcPosition {
      std::string invocation_id;
      int64_t usn = 0;
      std::string position;  // a serialized Heartbeat
    };
    std::map<std::string, DcPosition> positions;  // sync id -> its DC's
    {
      ASSIGN_OR_RETURN(
          ScopedStatement q,
          reader_->Cached("SELECT domain FROM syncs WHERE org_key=?1 UNION "
                          "SELECT domain FROM leases WHERE org_key=?1"));
      q->Bind(1, org.key);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) break;
        by_domain[q->ColumnText(0)];  // domains with syncs but no accounts yet
      }
    }
    for (auto& [domain, counts] : by_domain) {
      adsync::v1::DomainStatus* d = os->add_domains();
      d->set_domain(domain);
      *d->mutable_counts() = counts;
      ASSIGN_OR_RETURN(LeaseRow lease,
                       ReadLease(reader_.get(), org.key, domain));
      d->set_lease_epoch(lease.epoch);
      if (lease.expires_ms > now_ms) {
        d->set_primary_sync_id(lease.holder);
        primary_of[domain] = lease.holder;
      }
      ASSIGN_OR_RETURN(
          ScopedStatement f,
          reader_->Cached(
              "SELECT at, from_sync, to_sync, epoch, reason FROM "
              "failovers WHERE org_key=?1 AND domain=?2 ORDER BY id "
              "DESC LIMIT 10"));
      f->Bind(1, org.key).Bind(2, domain);
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
      ASSIGN_OR_RETURN(
          ScopedStatement h,
          reader_->Cached(
              "SELECT at, sync_id, seen, domain_accounts, skipped_entries, "
              "reason, (SELECT count(*) FROM held_sweep_accounts a WHERE "
              "a.org_key=?1 AND a.domain=?2) FROM held_sweeps WHERE "
              "org_key=?1 AND domain=?2"));
      h->Bind(1, org.key).Bind(2, domain);
      ASSIGN_OR_RETURN(bool held, h->Step());
      if (held) {
        adsync::v1::HeldSweep* hs = d->mutable_held_sweep();
        hs->set_at_unix(h->ColumnInt(0));
        hs->set_sync_id(h->ColumnText(1));
        hs->set_seen(h->ColumnInt(2));
        hs->set_domain_accounts(h->ColumnInt(3));
        hs->set_skipped_entries(static_cast<uint32_t>(h->ColumnInt(4)));
        hs->set_reason(h->ColumnText(5));
        hs->set_would_remove(h->ColumnInt(6));
      }
    }
    {
      ASSIGN_OR_RETURN(
          ScopedStatement q,
          reader_->Cached("SELECT domain, object_guid, sam, reason, at FROM "
                          "skipped_accounts WHERE org_key=?1 ORDER BY at "
                          "DESC LIMIT 100"));
      q->Bind(1, org.key);
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
    }
    {
      ASSIGN_OR_RETURN(ScopedStatement q, reader_->Cached(kSelectSyncs));
      q->Bind(1, org.key);
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) break;
        adsync::v1::SyncStatus* s = os->add_syncs();
        ReadSyncInfo(*q, org.org.org_id(), s->mutable_sync());
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
        const std::string& holder = primary_of[s->sync().domain()];
        s->set_role(!s->connected()                 ? "-"
                    : holder == s->sync().sync_id() ? "primary"
                                                    : "standby");
        s->set_controller_usn(q->ColumnInt(19));
        positions[s->sync().sync_id()] = {q->ColumnBlob(18), q->ColumnInt(19),
                                          q->ColumnBlob(20)};
      }
    }
    // Replication lag: how many of the primary DC's USNs each DC has not
    // applied yet, from the cursor for the primary DC's invocationId in its
    // replUpToDateVector.
    for (auto& sync : *os->mutable_syncs()) {
      sync.set_replication_lag_usn(-1);
      const std::string& holder = primary_of[sync.sync().domain()];
      if (holder.empty() || !positions.count(holder)) continue;
      if (holder == sync.sync().sync_id()) {
        sync.set_replication_lag_usn(0);
        continue;
      }
      const DcPosition& primary = positions[holder];
      adsync::v1::Heartbeat reported;
      if (!reported.ParseFromString(positions[sync.sync().sync_id()].position))
        continue;
      for (const auto& cursor : reported.cursors()) {
        if (cursor.invocation_id() == primary.invocation_id) {
          sync.set_replication_lag_usn(
              std::max<int64_t>(0, primary.usn - cursor.usn()));
        }
      }
    }
    for (const auto& sync : os->syncs()) {
      if (sync.role() != "standby") continue;
      for (auto& d : *os->mutable_domains()) {
        if (d.domain() == sync.sync().domain())
          d.add_standby_sync_ids(sync.sync().sync_id());
      }
    }
    {
      ASSIGN_OR_RETURN(ScopedStatement q,
                       reader_->Cached("SELECT at, source_ip, sync_id, reason "
                                       "FROM rejections WHERE org_id=?1 "
                                       "ORDER BY id DESC LIMIT 20"));
      q->Bind(1, org.org.org_id());
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) break;
        adsync::v1::Rejection* r = os->add_recent_rejections();
        r->set_at_unix(q->ColumnInt(0));
        r->set_source_ip(q->ColumnText(1));
        r->set_sync_id(q->ColumnText(2));
        r->set_reason(q->ColumnText(3));
      }
    }
  }
  return response;
}

absl::StatusOr<AccountView> SqliteStore::ViewAccount(Database* db,
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

absl::StatusOr<adsync::v1::ResolveLoginResponse> SqliteStore::ResolveLogin(
    const std::string& org_id, const std::string& login_raw) {
  const std::string login(absl::StripAsciiWhitespace(login_raw));
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), org_id));
  ScopedStatement q;
  const size_t backslash = login.find('\\');
  if (backslash != std::string::npos) {
    ASSIGN_OR_RETURN(std::string domain,
                     ValidateDomainName(login.substr(0, backslash)));
    ASSIGN_OR_RETURN(
        q, reader_->Cached("SELECT object_guid FROM profiles WHERE org_key=?1 "
                           "AND domain=?2 AND sam=?3 COLLATE NOCASE "
                           "ORDER BY deleted + absent, updated DESC LIMIT 1"));
    q->Bind(1, org.key).Bind(2, domain).Bind(3, login.substr(backslash + 1));
  } else if (absl::StartsWithIgnoreCase(login, "S-1-")) {
    ASSIGN_OR_RETURN(std::string binary, SidStringToBinary(login));
    ASSIGN_OR_RETURN(std::string sid, SidBinaryToString(binary));
    ASSIGN_OR_RETURN(
        q, reader_->Cached("SELECT object_guid FROM profiles WHERE org_key=?1 "
                           "AND sid=?2 LIMIT 1"));
    q->Bind(1, org.key).Bind(2, sid);
  } else if (login.find('@') != std::string::npos) {
    ASSIGN_OR_RETURN(
        q, reader_->Cached("SELECT object_guid FROM profiles WHERE org_key=?1 "
                           "AND upn=?2 COLLATE NOCASE "
                           "ORDER BY deleted + absent, updated DESC LIMIT 1"));
    q->Bind(1, org.key).Bind(2, login);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", login,
                     "\" is not a login; use DOMAIN\\user, user@upn.suffix or "
                     "a SID (S-1-5-21-...)"));
  }
  ASSIGN_OR_RETURN(bool row, q->Step());
  adsync::v1::ResolveLoginResponse response;
  if (!row) {
    response.set_explanation(
        absl::StrCat("no account with login ", login,
                     " has been reported for org ", org.org.org_id(),
                     ". Check that an AD Sync covers that domain "
                     "(`adsyncctl sync list`) and that its agent is connected "
                     "(`adsyncctl status`)."));
    return response;
  }
  const std::string guid = q->ColumnBlob(0);
  ASSIGN_OR_RETURN(StoredAccount a, LoadAccount(reader_.get(), org.key, guid));
  ASSIGN_OR_RETURN(AccountView view, ViewAccount(reader_.get(), org, a));
  response.set_found(true);
  const std::string who =
      absl::StrCat(a.domain, "\\", a.state.sam_account_name, " (objectGUID ",
                   view.object_guid(), ")");
  std::string why;
  switch (a.match.outcome) {
    case Outcome::kMatched: {
      response.set_person_id(a.match.person_id);
      ASSIGN_OR_RETURN(ScopedStatement p,
                       reader_->Cached("SELECT name FROM people WHERE "
                                       "org_key=?1 AND person_id=?2"));
      p->Bind(1, org.key).Bind(2, a.match.person_id);
      ASSIGN_OR_RETURN(bool has, p->Step());
      if (has) response.set_person_name(p->ColumnText(0));
      why = absl::StrCat(who, " is Person ", a.match.person_id, " (",
                         response.person_name(), "): the account's email ",
                         a.match.matched_email, " is an email of that Person.");
      break;
    }
    case Outcome::kUnmatched: {
      ASSIGN_OR_RETURN(MatchResult m, Match(reader_.get(), org, a.state));
      why = absl::StrCat(
          who, " maps to no one: no Person has any of its emails (",
          absl::StrJoin(m.emails_tried, ", "),
          "). Add the email to the Person in K12Panel or fix the "
          "account's mail in AD, then re-import People.");
      break;
    }
    case Outcome::kAmbiguous:
      why = absl::StrCat(
          who, " is ambiguous: its email ", a.match.matched_email,
          " belongs to several People (",
          absl::StrJoin(view.candidate_person_ids(), ", "),
          "); adsync never guesses. Keep the email on one Person only.");
      break;
    case Outcome::kNoEmail:
      why = absl::StrCat(
          who, " maps to no one: it has no mail",
          org.settings.match_proxy_addresses ? ", no smtp: proxyAddresses" : "",
          org.settings.match_upn ? " and no usable UPN" : "",
          ". Set mail in AD",
          org.settings.match_upn ? "."
                                 : ", or enable UPN matching for the org.");
      break;
    case Outcome::kRemoved:
      why =
          absl::StrCat(who,
                       a.state.deleted ? " was deleted in AD"
                                       : " is missing from the last full sync",
                       ", so it maps to no one.");
      break;
  }
  if (!a.state.removed() && !a.state.enabled()) {
    absl::StrAppend(&why,
                    " The account is disabled in AD; it stays mapped and "
                    "is flagged as disabled.");
  }
  response.set_explanation(why);
  *response.mutable_account() = std::move(view);
  return response;
}

absl::StatusOr<adsync::v1::ListAccountsResponse> SqliteStore::ListAccounts(
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
  absl::MutexLock lock(&read_mu_);
  ASSIGN_OR_RETURN(OrgRow org, LoadOrg(reader_.get(), request.org_id()));
  ASSIGN_OR_RETURN(ScopedStatement q,
                   reader_->Cached("SELECT object_guid, outcome FROM profiles "
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
    ASSIGN_OR_RETURN(StoredAccount a,
                     LoadAccount(reader_.get(), org.key, guid));
    ASSIGN_OR_RETURN(*response.add_accounts(),
                     ViewAccount(reader_.get(), org, a));
  }
  return response;
}

}  // namespace adsync
