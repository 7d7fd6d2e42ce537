// The SQLite engine's schema: its forward migrations, one per version.

#include <vector>

#include "coordinator/sqlite/sqlite_store.h"

namespace adsync {

// Entry i migrates version i to i+1. Never edit a released entry; append.
const std::vector<const char*>& SqliteMigrations() {
  static const std::vector<const char*> kMigrations = {
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
      // 7 -> 8: case-insensitive lookups by lower(), as on PostgreSQL, so
      // the store's SQL is one text for both engines.
      R"sql(
CREATE INDEX profiles_by_lower_sam ON profiles(org_key, domain, lower(sam));
CREATE INDEX profiles_by_lower_upn ON profiles(org_key, lower(upn));
DROP INDEX profiles_by_sam;
DROP INDEX profiles_by_upn;
)sql",
      // 8 -> 9: preview (an org pushes nothing until it goes live; orgs
      // that existed before were pushing, so they stay live) and the
      // sync report's schedule per AD Sync (issue 17).
      R"sql(
ALTER TABLE orgs ADD COLUMN live INTEGER NOT NULL DEFAULT 1;
ALTER TABLE orgs ADD COLUMN live_changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE syncs ADD COLUMN report_due_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE syncs ADD COLUMN last_report_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE syncs ADD COLUMN report_next_attempt_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE syncs ADD COLUMN report_error TEXT NOT NULL DEFAULT '';
)sql",
      // 9 -> 10: counters, so that status reads a row per org and domain
      // rather than counting every account and queued Person (issue 18).
      // Kept by the store in the transaction of each write (sql_store.h);
      // filled here from the rows that exist. disabled: uac bit 2
      // (ACCOUNTDISABLE); outcome as in profiles.
      // outbox_by_age gives status the oldest queued entry and the push
      // its order (NextPushBatch) without sorting the org's whole queue;
      // it costs an index entry per queued Person (measured: ~5% of the
      // ingest rate of a first sync whose accounts all match).
      R"sql(
CREATE TABLE account_counts(
  org_key INTEGER NOT NULL,
  domain TEXT NOT NULL,
  outcome INTEGER NOT NULL,
  disabled INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(org_key, domain, outcome, disabled)) WITHOUT ROWID;
INSERT INTO account_counts(org_key, domain, outcome, disabled, n)
  SELECT org_key, domain, outcome, (uac & 2) != 0, count(*) FROM profiles
  GROUP BY 1, 2, 3, 4;
CREATE TABLE org_counts(
  org_key INTEGER PRIMARY KEY,
  people INTEGER NOT NULL DEFAULT 0,
  queued INTEGER NOT NULL DEFAULT 0,
  parked INTEGER NOT NULL DEFAULT 0,
  quarantined INTEGER NOT NULL DEFAULT 0);
INSERT INTO org_counts(org_key, people, queued, parked, quarantined)
  SELECT org_key,
    (SELECT count(*) FROM people p WHERE p.org_key = orgs.org_key),
    (SELECT count(*) FROM outbox b WHERE b.org_key = orgs.org_key),
    (SELECT count(*) FROM outbox b WHERE b.org_key = orgs.org_key
       AND b.parked != 0),
    (SELECT count(*) FROM outbox b WHERE b.org_key = orgs.org_key
       AND b.quarantined != 0)
  FROM orgs;
CREATE INDEX outbox_by_age ON outbox(org_key, enqueued);
)sql",
  };
  return kMigrations;
}

}  // namespace adsync
