// The store (store.h) on a SQL database: every rule of ingest, fencing,
// matching, sweeps, the outbox and status, written once for both engines.
// What differs between SQLite and PostgreSQL (connecting, the schema's
// migrations, who else may write, claiming an org's push) is a
// StoreEngine's (store_engine.h; coordinator/sqlite/, coordinator/postgres/).
//
// One class, its methods in one file per job beside this header:
// sql_store.cc (opening, the connections, LoadOrg), schema.cc (migrating),
// admin.cc, auth.cc, leases.cc, ingest.cc (also Match, LoadAccount and
// WriteAccountLocked, which admin and status use), sweep.cc, outbox.cc
// (also ReadPushStatus, which status uses), preview.cc (going live),
// reports.cc (the sync-report schedule), status.cc; rows.h holds the row
// readers they share.
//
// Counters (issue 18): status shows per-domain account counts, the org's
// People and its push queue without counting rows. account_counts (per
// org, domain, outcome and disabled) is kept by the application, not by
// SQL triggers: every write of profiles goes through WriteAccountLocked,
// which sums the change into the transaction's ChangeSet, and
// FinishChangesLocked, which every writer calls before committing, adds
// the sums once per transaction (a trigger would write a counter row per
// account written, on the hot path of a first full sync). It stays exact
// with several coordinators because `before` is read in the writing
// transaction and write transactions are serialized database-wide (the
// advisory lock of PostgresDatabase::BeginWrite, SQLite's single writer);
// the rows are updated in key order all the same. org_counts holds the
// People (recounted by each import) and the outbox's depth, parked and
// quarantined entries (kept by each outbox write, recounted by the rare
// writes that change many entries at once).
//
// Thread-safety: safe for concurrent use; this process's writes are
// serialized on the write connection's mutex (and against other
// coordinators by the engine's write transactions); reads each take a
// connection of their own from a pool (StoreOptions::read_connections) and
// run in parallel with each other and with the writer.
#ifndef ADSYNC_COORDINATOR_SQL_STORE_SQL_STORE_H_
#define ADSYNC_COORDINATOR_SQL_STORE_SQL_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/sql.h"
#include "common/sql_pool.h"
#include "coordinator/account_filter.h"
#include "coordinator/sql_store/store_engine.h"
#include "coordinator/store.h"

namespace adsync {

// Fault injection for tests; empty in a real coordinator.
struct StoreTestHooks {
  // Called in ApplyBatch's transaction before anything is written; an
  // error fails the batch as a failing disk or a busy database would.
  std::function<absl::Status(const PreparedBatch&)> before_apply;
};

struct StoreOptions {
  uint32_t rejections_kept = 50;  // per org
  uint32_t rejections_kept_total = 10000;
  // Deletion safety: a change that removes identities from more than
  // `quarantine_min_people` People AND more than `quarantine_fraction` of
  // the org's mapped People quarantines the org's push.
  uint32_t quarantine_min_people = 20;
  double quarantine_fraction = 0.05;
  // A full-sync sweep that would remove more than `sweep_hold_min_accounts`
  // AND more than `sweep_hold_fraction` of the domain's active accounts is
  // held for an operator (as is one that saw nothing, or after which the
  // agent reported unreadable entries).
  uint32_t sweep_hold_min_accounts = 20;
  double sweep_hold_fraction = 0.10;
  // Connections for status, login and push reads, each used by one reader
  // at a time: reads run in parallel up to this many, beside the writer.
  int read_connections = 4;
  // Test hook: the process _exit()s after a batch is written but before it
  // commits, to prove a crash loses nothing acknowledged.
  bool crash_before_commit_for_testing = false;
  StoreTestHooks test_hooks;
};

class SqlStore : public Store {
 public:
  // Connects through `engine` and migrates the schema to the current
  // version (coordinator/sqlite/ and coordinator/postgres/ call this).
  static absl::StatusOr<std::unique_ptr<SqlStore>> Open(
      const StoreOptions& options, std::unique_ptr<StoreEngine> engine);
  ~SqlStore() override;

  // The schema version this build writes, and the database's.
  int CurrentSchemaVersion() const;
  absl::StatusOr<int> SchemaVersion();

  absl::StatusOr<adsync::v1::Org> CreateOrg(
      const adsync::v1::CreateOrgRequest& request) override;
  absl::StatusOr<std::vector<adsync::v1::Org>> ListOrgs() override;
  absl::StatusOr<adsync::v1::AddSyncResponse> AddSync(
      const adsync::v1::AddSyncRequest& request) override;
  absl::StatusOr<std::vector<adsync::v1::SyncInfo>> ListSyncs(
      const std::string& org_id) override;
  absl::StatusOr<adsync::v1::AddSyncResponse> RotateSyncKey(
      const std::string& org_id, const std::string& sync_id) override;
  absl::Status RemoveSync(const std::string& org_id,
                          const std::string& sync_id) override;
  absl::StatusOr<adsync::v1::ImportPeopleResponse> ReplacePeople(
      const std::string& org_id, const std::vector<Person>& people) override;
  absl::StatusOr<SyncRecord> Authenticate(const std::string& org_id,
                                          const std::string& key) override;
  absl::Status RecordRejection(const std::string& org_id,
                               const std::string& sync_id,
                               const std::string& source_ip,
                               const std::string& reason) override;
  absl::Status RecordConnection(const std::string& sync_id, bool connected,
                                const std::string& source_ip,
                                const std::string& controller) override;
  absl::StatusOr<WatermarkState> GetWatermark(
      const std::string& sync_id) override;
  absl::StatusOr<std::string> PinDomainSid(
      const SyncRecord& sync, const std::string& domain_sid) override;
  absl::Status RecordControllerPosition(
      const std::string& sync_id, const std::string& invocation_id,
      const adsync::v1::Heartbeat& position) override;
  absl::StatusOr<LeaseGrant> AcquireLease(const SyncRecord& sync,
                                          int64_t now_ms, int64_t ttl_ms,
                                          const std::string& reason,
                                          uint64_t last_sequence) override;
  absl::StatusOr<bool> RenewLease(const SyncRecord& sync, uint64_t epoch,
                                  int64_t now_ms, int64_t ttl_ms) override;
  absl::Status ReleaseLease(const SyncRecord& sync, uint64_t epoch) override;
  absl::StatusOr<LeaseGrant> GetLease(const std::string& org_id,
                                      const std::string& domain,
                                      int64_t now_ms) override;
  absl::StatusOr<BatchOutcome> ApplyBatch(const SyncRecord& sync,
                                          PreparedBatch batch,
                                          const SeenAccounts* seen,
                                          int64_t lease_expires_ms) override;
  absl::StatusOr<std::vector<std::string>> OrgsReadyToPush(
      int64_t now_ms) override;
  absl::StatusOr<PushBatch> NextPushBatch(const std::string& org_id,
                                          int max_people) override;
  absl::Status CompletePush(const PushBatch& batch) override;
  absl::Status DeferPush(const std::string& org_id, int64_t next_attempt_ms,
                         const std::string& error) override;
  absl::Status ParkPush(const PushBatch& batch,
                        const std::string& error) override;
  absl::StatusOr<adsync::v1::PushStatus> ResolveQuarantine(
      const std::string& org_id, bool approve) override;
  absl::StatusOr<uint64_t> ResolveSweep(const std::string& org_id,
                                        const std::string& domain,
                                        bool approve) override;
  absl::StatusOr<std::vector<MappedPerson>> MappedIdentities(
      const std::string& org_id) override;
  absl::StatusOr<adsync::v1::Org> GoLive(
      const std::string& org_id,
      const std::vector<adsync::v1::PanelPersonIdentities>& held,
      const std::string& expected_digest) override;
  absl::StatusOr<adsync::v1::Org> EnterPreview(
      const std::string& org_id) override;
  absl::StatusOr<std::vector<DueReport>> DueSyncReports(
      int64_t now_ms, int64_t interval_ms, int64_t min_gap_ms) override;
  absl::StatusOr<bool> RecordReportSent(const std::string& sync_id,
                                        int64_t period_start_ms,
                                        int64_t period_end_ms) override;
  absl::Status DeferReport(const std::string& sync_id, int64_t next_attempt_ms,
                           const std::string& error) override;
  absl::StatusOr<adsync::v1::GetStatusResponse> GetStatus(
      const std::string& org_id) override;
  absl::StatusOr<adsync::v1::ResolveLoginResponse> ResolveLogin(
      const std::string& org_id, const std::string& login) override;
  absl::StatusOr<adsync::v1::ListAccountsResponse> ListAccounts(
      const adsync::v1::ListAccountsRequest& request) override;

 private:
  struct OrgRow {
    int64_t key = 0;
    adsync::v1::Org org;
    MatchSettings settings;
  };
  struct StoredAccount {
    bool exists = false;
    std::string domain;
    AccountState state;
    MatchResult match;
  };
  // An account count's key: (domain, outcome, disabled), as status shows.
  using CountKey = std::tuple<std::string, int, bool>;
  // What one transaction's account writes changed: whose identity sets
  // (for the outbox) and the org's account counts.
  struct ChangeSet {
    std::set<std::string> dirty;   // any change: push the new set
    std::set<std::string> losing;  // lost an identity (deletion safety)
    // Accounts gained (+) or lost (-) per count, summed over the
    // transaction's writes; written to account_counts once per
    // transaction, in key order (FinishChangesLocked).
    std::map<CountKey, int64_t> counts;
  };

  SqlStore(StoreOptions options, std::unique_ptr<StoreEngine> engine)
      : options_(std::move(options)), engine_(std::move(engine)) {}

  absl::Status Migrate();
  static absl::StatusOr<OrgRow> LoadOrg(Database* db,
                                        const std::string& org_id);
  // The org and the canonical ID of one of its AD Syncs; NotFound (saying
  // how to list them) when the org has no such sync.
  struct SyncOfOrg {
    OrgRow org;
    std::string sync_id;
  };
  static absl::StatusOr<SyncOfOrg> LoadSyncOfOrg(Database* db,
                                                 const std::string& org_id,
                                                 const std::string& sync_id);
  static absl::StatusOr<StoredAccount> LoadAccount(Database* db,
                                                   int64_t org_key,
                                                   const std::string& guid);
  static absl::StatusOr<MatchResult> Match(Database* db, const OrgRow& org,
                                           const AccountState& account);
  // Writes an account and records in `changes` whose identities moved and
  // how the org's account counts change. `before` is the stored version
  // (exists=false for a new account), read in this transaction. `changes`
  // must reach FinishChangesLocked in the same transaction: the counts are
  // written there.
  absl::Status WriteAccountLocked(int64_t org_key, const std::string& domain,
                                  const StoredAccount& before,
                                  const AccountState& state,
                                  const MatchResult& match, ChangeSet* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes the account counts `changes` carries; bumps versions and queues
  // the changed People in the outbox (keeping the org's outbox counts);
  // quarantines the org's push when the removals look like a mistake.
  // `cause` names what happened for the status page.
  // `operator_approved`: an operator already confirmed these removals (an
  // approved sweep): no quarantine.
  absl::Status FinishChangesLocked(const OrgRow& org, const ChangeSet& changes,
                                   const std::string& cause,
                                   bool operator_approved = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // True when `sync` held the lease at `epoch`.
  absl::StatusOr<bool> RenewLeaseLocked(int64_t org_key, const SyncRecord& sync,
                                        uint64_t epoch, int64_t expires_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Marks the domain's accounts that a completed full sync did not report
  // as gone, or holds them for an operator when that looks like a mistake.
  // `authoritative`: the full sync owed after a key rotation or removal (no
  // replication filter then: stored stamps may be forged).
  absl::StatusOr<uint32_t> SweepLocked(const OrgRow& org,
                                       const SyncRecord& sync,
                                       const SeenAccounts& seen,
                                       uint32_t skipped_entries,
                                       bool authoritative, ChangeSet* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The accounts of `gone` whose every stored write the sweeping DC
  // (`sync`'s) has applied, by its replUpToDateVector; all of them when
  // its position is unknown.
  absl::StatusOr<std::vector<std::string>> CaughtUpLocked(
      int64_t org_key, const SyncRecord& sync, std::vector<std::string> gone)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Marks the accounts (objectGUIDs) gone; returns how many were active.
  absl::StatusOr<uint32_t> RemoveAccountsLocked(
      const OrgRow& org, const std::vector<std::string>& gone,
      ChangeSet* changes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status DropHeldSweepLocked(int64_t org_key, const std::string& domain)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status SkipAccountLocked(int64_t org_key, const std::string& domain,
                                 const SkippedAccount& skipped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Records the batch's oversized accounts; the accounts it carries leave
  // the skipped list and the domain's held sweep (they exist in AD).
  absl::Status NoteReportedAccountsLocked(int64_t org_key,
                                          const std::string& domain,
                                          const PreparedBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The People the org's matched accounts map onto, ordered by person_id.
  // `db`: the write connection (write_mu_ held) or a pooled reader.
  static absl::StatusOr<std::vector<MappedPerson>> ReadMappedPeople(
      Database* db, int64_t org_key);
  absl::Status SetLiveLocked(OrgRow* org, bool live, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Changes in the org's outbox counts (org_counts).
  struct OrgCountsDelta {
    int64_t queued = 0;
    int64_t parked = 0;
    int64_t quarantined = 0;
  };
  // Adds `delta` to the org's row of org_counts (created at zero).
  absl::Status AddOrgCountsLocked(int64_t org_key, const OrgCountsDelta& delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Sets the org's outbox counts from its outbox rows: after the rare
  // writes that change many rows at once (going live, resolving a
  // quarantine).
  absl::Status RecountOutboxLocked(int64_t org_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // `db`: the write connection (write_mu_ held) or a pooled reader.
  static absl::StatusOr<adsync::v1::PushStatus> ReadPushStatus(Database* db,
                                                               int64_t org_key);
  // OK when `sync` still exists with the key it authenticated with;
  // PermissionDenied (saying what to do) when it was removed or its key
  // rotated.
  absl::Status CheckCredentialLocked(const SyncRecord& sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Clears the watermarks of every sync of `sync_id`'s domain and makes the
  // domain's next full sync authoritative.
  absl::Status RequireAuthoritativeResyncLocked(int64_t org_key,
                                                const std::string& sync_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Lets the leases `sync_id` holds lapse.
  absl::Status EndLeasesOfLocked(const std::string& sync_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<adsync::v1::AddSyncResponse> IssueKeyLocked(
      const std::string& org_id, const std::string& sync_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  static absl::StatusOr<adsync::v1::AccountView> ViewAccount(
      Database* db, const OrgRow& org, const StoredAccount& account);

  // The org's filter of known objectGUIDs, built from the table on first
  // use and rebuilt 4x larger when full. Only while the engine is the
  // database's sole writer.
  absl::StatusOr<AccountFilter*> KnownAccountsLocked(int64_t org_key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const StoreOptions options_;
  const std::unique_ptr<StoreEngine> engine_;
  absl::Mutex write_mu_;
  std::unique_ptr<Database> writer_ ABSL_GUARDED_BY(write_mu_);
  // By org key.
  absl::flat_hash_map<int64_t, std::unique_ptr<AccountFilter>> known_accounts_
      ABSL_GUARDED_BY(write_mu_);
  // Set once by Open, before the store is shared.
  std::unique_ptr<DatabasePool> readers_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_SQL_STORE_SQL_STORE_H_
