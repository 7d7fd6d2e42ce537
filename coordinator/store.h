// The coordinator's durable state, behind one narrow interface per caller so
// that none of them sees SQL or more of the store than it uses:
//
//   AgentStore    the agent gateway: authentication, leases, batches
//   OutboxStore   the push to K12Panel (PanelSync)
//   ReportStore   when each AD Sync's sync report is due (SyncReporter)
//   PeopleStore   the org list and its People (PanelSync's People pull)
//   AdminStore    the admin service: PeopleStore, orgs, AD Syncs, held
//                 removals, preview and going live
//   StatusStore   status, resolve and account listings (StatusService,
//                 the metrics snapshot)
//
// `Store` is all of them; SqlStore (coordinator/sql_store/) implements it
// on SQLite or PostgreSQL. All state lives in the store (nothing that only one
// process's memory holds), so a coordinator can be restarted, or the engine
// replaced, without touching callers. Example:
//
//   SqliteStoreOptions options;
//   options.path = "/var/lib/adsync/coordinator.db";
//   ASSIGN_OR_RETURN(std::unique_ptr<SqlStore> store,
//                    OpenSqliteStore(options));
//   // The gateway sees an AgentStore, the push an OutboxStore.
//   AgentGateway gateway(store.get(), gateway_options);
//   PanelSync panel(store.get(), store.get(), panel_config, token);
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef ADSYNC_COORDINATOR_STORE_H_
#define ADSYNC_COORDINATOR_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adsync/v1/admin.pb.h"
#include "adsync/v1/agent.pb.h"
#include "adsync/v1/panel.pb.h"
#include "common/net.h"
#include "coordinator/merge_rules.h"
#include "coordinator/preview.h"
#include "coordinator/validation.h"

namespace adsync {

// An authenticated AD Sync, as the gateway needs it.
struct SyncRecord {
  std::string sync_id;
  std::string org_id;
  std::string domain;
  std::string dns_name;  // empty when the AD Sync was added without one
  std::vector<IpRange> allowed_ips;
  int priority = 0;
  // The stored hash of the key the agent authenticated with. Every write
  // checks that the AD Sync still exists with this key, so a removed sync
  // or a rotated key stops writing at once, whatever streams are open.
  std::string key_hash;
};

struct WatermarkState {
  bool has_watermark = false;
  std::string invocation_id;  // 16 bytes
  int64_t usn = 0;
  bool full_sync_in_progress = false;
};

struct BatchOutcome {
  uint32_t applied = 0;
  uint32_t unchanged = 0;
  uint32_t removed = 0;
};

// Who may write for an (org, domain): the lease holder, at an epoch that
// grows with every change of holder.
struct LeaseGrant {
  bool primary = false;
  uint64_t epoch = 0;
  std::string holder_sync_id;  // empty when the lease is free or lapsed
  // The last holder, even when its lease lapsed: the lease monitor never
  // hands a lapsed lease back to the (hung) agent that let it lapse.
  std::string last_holder_sync_id;
};

struct Person {
  std::string id;
  std::string name;
  std::vector<std::string> emails;  // normalized
};

// objectGUIDs (16-byte binary) a full sync reported.
using SeenAccounts = absl::flat_hash_set<std::string>;

// People whose complete identity sets are due at K12Panel.
struct PushBatch {
  std::string org_id;
  std::vector<adsync::v1::PersonUpdate> updates;
  int attempts = 0;  // consecutive failed deliveries for the org so far
};

// The agent gateway's view: who an agent is, which AD Sync writes for a
// domain (the lease), and the batches it sends.
class AgentStore {
 public:
  virtual ~AgentStore() = default;

  // PermissionDenied, with one message for an unknown org and for a key
  // that matches no AD Sync of the org (an unauthenticated caller learns
  // nothing about which orgs exist). Keys are compared in constant time.
  virtual absl::StatusOr<SyncRecord> Authenticate(const std::string& org_id,
                                                  const std::string& key) = 0;
  // `org_id` may be unknown (it is what the agent claimed): it is kept only
  // when it is a well-formed Org ID. `reason` must be the coordinator's own
  // text, never raw input. Rows are trimmed per org and in total.
  virtual absl::Status RecordRejection(const std::string& org_id,
                                       const std::string& sync_id,
                                       const std::string& source_ip,
                                       const std::string& reason) = 0;
  virtual absl::Status RecordConnection(const std::string& sync_id,
                                        bool connected,
                                        const std::string& source_ip,
                                        const std::string& controller) = 0;
  virtual absl::StatusOr<WatermarkState> GetWatermark(
      const std::string& sync_id) = 0;
  // Pins the domain SID the sync's agents report (text form): the first
  // one reported for the org's domain is kept, and a different one is
  // refused (FailedPrecondition, naming both) — an agent reading another
  // domain under this domain's name. Returns the pinned SID ("" when none
  // is pinned and `domain_sid` is empty): an agent that reports none is
  // still held to it.
  virtual absl::StatusOr<std::string> PinDomainSid(
      const SyncRecord& sync, const std::string& domain_sid) = 0;
  // Where the AD Sync's DC stands: its invocationId (empty = unchanged),
  // highestCommittedUSN and replUpToDateVector, for replication lag.
  virtual absl::Status RecordControllerPosition(
      const std::string& sync_id, const std::string& invocation_id,
      const adsync::v1::Heartbeat& position) = 0;

  // --- Leases: one primary per (org, domain) ---
  // Grants `sync` the lease when it is free, expired or already its own,
  // always at a new epoch (epoch + 1): each stream that becomes primary
  // has an epoch of its own, so fencing tells an old stream of the same
  // AD Sync from a new one. A change of holder is recorded with `reason`.
  // `last_sequence` is the sequence of the stream's last batch before the
  // grant; the first batch written under the new epoch must follow it.
  // Otherwise reports the current holder. PermissionDenied when the sync
  // was removed or its key rotated since it authenticated.
  virtual absl::StatusOr<LeaseGrant> AcquireLease(const SyncRecord& sync,
                                                  int64_t now_ms,
                                                  int64_t ttl_ms,
                                                  const std::string& reason,
                                                  uint64_t last_sequence) = 0;
  // Extends the lease if `sync` still holds it at `epoch` (and still exists
  // with the key it authenticated with).
  virtual absl::StatusOr<bool> RenewLease(const SyncRecord& sync,
                                          uint64_t epoch, int64_t now_ms,
                                          int64_t ttl_ms) = 0;
  // Gives the lease up (the holder disconnected).
  virtual absl::Status ReleaseLease(const SyncRecord& sync, uint64_t epoch) = 0;
  // The current lease of (org, domain); holder empty when none.
  virtual absl::StatusOr<LeaseGrant> GetLease(const std::string& org_id,
                                              const std::string& domain,
                                              int64_t now_ms) = 0;
  // Applies a prepared batch and its watermark in one transaction; returns
  // only after it is durable. Fenced (FailedPrecondition) unless `sync`
  // holds its domain's lease at batch.lease_epoch and batch.sequence is the
  // next after the last batch committed under that epoch (a batch that
  // failed is never skipped over); PermissionDenied when the sync was
  // removed or its key rotated since it authenticated. `seen` must be non-null
  // when the batch ends a full sync: the sync's domain's accounts not in it
  // are removed. With `lease_expires_ms` > 0 the same transaction renews the
  // lease until then: a primary streaming a long full sync sends batches,
  // not heartbeats, and one commit per batch is all the disk should see.
  virtual absl::StatusOr<BatchOutcome> ApplyBatch(const SyncRecord& sync,
                                                  PreparedBatch batch,
                                                  const SeenAccounts* seen,
                                                  int64_t lease_expires_ms) = 0;
  // PrepareBatch (default limits) then ApplyBatch, on the caller's thread.
  absl::StatusOr<BatchOutcome> PrepareAndApply(const SyncRecord& sync,
                                               const adsync::v1::Batch& batch,
                                               const SeenAccounts* seen) {
    adsync::v1::Batch copy = batch;
    absl::StatusOr<PreparedBatch> prepared = PrepareBatch(&copy, BatchLimits{});
    if (!prepared.ok()) return prepared.status();
    return ApplyBatch(sync, *std::move(prepared), seen,
                      /*lease_expires_ms=*/0);
  }
};

// The push to K12Panel: the outbox, written with the changes that cause it,
// claimed and completed by PanelSync.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Orgs with deliverable updates whose next attempt is due at `now_ms`.
  virtual absl::StatusOr<std::vector<std::string>> OrgsReadyToPush(
      int64_t now_ms) = 0;
  // Up to `max_people` due updates with each person's complete identity set.
  // Empty when another coordinator is pushing the org at this moment; a
  // non-empty batch holds the org's push for this coordinator until
  // CompletePush, DeferPush or ParkPush (several coordinators never push
  // one org at once).
  virtual absl::StatusOr<PushBatch> NextPushBatch(const std::string& org_id,
                                                  int max_people) = 0;
  // K12Panel accepted the batch: drop what it covered (items changed since
  // stay queued with their newer version).
  virtual absl::Status CompletePush(const PushBatch& batch) = 0;
  // Delivery failed transiently: retry no earlier than `next_attempt_ms`.
  virtual absl::Status DeferPush(const std::string& org_id,
                                 int64_t next_attempt_ms,
                                 const std::string& error) = 0;
  // K12Panel refused the batch permanently: park it with the error.
  virtual absl::Status ParkPush(const PushBatch& batch,
                                const std::string& error) = 0;
};

// The org's People, as the People pull from K12Panel (PanelSync) and the
// admin service's CSV import replace them.
class PeopleStore {
 public:
  virtual ~PeopleStore() = default;

  virtual absl::StatusOr<std::vector<adsync::v1::Org>> ListOrgs() = 0;
  // Replaces the org's People atomically and re-matches its accounts.
  virtual absl::StatusOr<adsync::v1::ImportPeopleResponse> ReplacePeople(
      const std::string& org_id, const std::vector<Person>& people) = 0;
};

// The admin service's view: organizations, AD Syncs and their keys, the
// org's People, and the removals held for an operator.
class AdminStore : public PeopleStore {
 public:
  virtual absl::StatusOr<adsync::v1::Org> CreateOrg(
      const adsync::v1::CreateOrgRequest& request) = 0;
  // Returns the new sync with its key; only the key's salted hash is kept.
  virtual absl::StatusOr<adsync::v1::AddSyncResponse> AddSync(
      const adsync::v1::AddSyncRequest& request) = 0;
  virtual absl::StatusOr<std::vector<adsync::v1::SyncInfo>> ListSyncs(
      const std::string& org_id) = 0;
  virtual absl::StatusOr<adsync::v1::AddSyncResponse> RotateSyncKey(
      const std::string& org_id, const std::string& sync_id) = 0;
  virtual absl::Status RemoveSync(const std::string& org_id,
                                  const std::string& sync_id) = 0;
  // approve: marks the accounts of the domain's held full-sync sweep gone
  // (those written since the hold stay); reject: keeps them. Returns how
  // many were removed. FailedPrecondition when nothing is held.
  virtual absl::StatusOr<uint64_t> ResolveSweep(const std::string& org_id,
                                                const std::string& domain,
                                                bool approve) = 0;
  // approve: release the quarantined updates; reject: drop them.
  virtual absl::StatusOr<adsync::v1::PushStatus> ResolveQuarantine(
      const std::string& org_id, bool approve) = 0;

  // --- Preview (docs/design.md, "Preview") ---
  // Every Person the org's matched accounts map onto, with the identity
  // set a push would send, its last version and its name.
  virtual absl::StatusOr<std::vector<MappedPerson>> MappedIdentities(
      const std::string& org_id) = 0;
  // Takes the org live. `held` is what K12Panel holds now, read just
  // before. In one transaction the org's queued pushes are replaced by
  // exactly the People whose identities in K12Panel differ (ComputePreview),
  // each at a version above both adsync's and K12Panel's so that K12Panel
  // takes it as news, and every Person K12Panel holds gets at least its
  // version (a later change must not look stale); from then on the org is
  // pushed. FailedPrecondition, changing nothing: while its push is
  // quarantined; while a domain with AD Syncs has no completed full sync or
  // one is running (its accounts would look removed); or when
  // `expected_digest` is set and the preview now differs from it. An org
  // already live is left as it is.
  virtual absl::StatusOr<adsync::v1::Org> GoLive(
      const std::string& org_id,
      const std::vector<adsync::v1::PanelPersonIdentities>& held,
      const std::string& expected_digest) = 0;
  // Back into preview: nothing more is pushed; changes keep being computed.
  virtual absl::StatusOr<adsync::v1::Org> EnterPreview(
      const std::string& org_id) = 0;
};

// An AD Sync whose sync report is due.
struct DueReport {
  std::string org_id;
  std::string sync_id;
  // Where the report's period starts: where the last report's ended, or
  // when the AD Sync was added.
  int64_t period_start_ms = 0;
};

// When each AD Sync's sync report goes to K12Panel (docs/design.md, 6.4),
// for SyncReporter.
// The report itself is built from the org's status (sync_report.h).
class ReportStore {
 public:
  virtual ~ReportStore() = default;

  // The AD Syncs of live orgs whose report is due at `now_ms`: a full sync
  // ended since their last report (and that report is at least
  // `min_gap_ms` old), or `interval_ms` passed since it. A sync whose last
  // delivery failed waits for its retry time.
  virtual absl::StatusOr<std::vector<DueReport>> DueSyncReports(
      int64_t now_ms, int64_t interval_ms, int64_t min_gap_ms) = 0;
  // K12Panel accepted the report of [period_start_ms, period_end_ms]: the
  // next period starts at `period_end_ms`. False (nothing changed) when
  // another coordinator recorded this period first.
  virtual absl::StatusOr<bool> RecordReportSent(const std::string& sync_id,
                                                int64_t period_start_ms,
                                                int64_t period_end_ms) = 0;
  // Delivery failed: retry no earlier than `next_attempt_ms`.
  virtual absl::Status DeferReport(const std::string& sync_id,
                                   int64_t next_attempt_ms,
                                   const std::string& error) = 0;
};

// What the status readers see: sync status, one login resolved, accounts
// listed by outcome.
class StatusStore {
 public:
  virtual ~StatusStore() = default;

  // `org_id` empty = every org.
  virtual absl::StatusOr<adsync::v1::GetStatusResponse> GetStatus(
      const std::string& org_id) = 0;
  virtual absl::StatusOr<adsync::v1::ResolveLoginResponse> ResolveLogin(
      const std::string& org_id, const std::string& login) = 0;
  virtual absl::StatusOr<adsync::v1::ListAccountsResponse> ListAccounts(
      const adsync::v1::ListAccountsRequest& request) = 0;
};

// Everything a storage engine implements.
class Store : public AgentStore,
              public OutboxStore,
              public ReportStore,
              public AdminStore,
              public StatusStore {};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_STORE_H_
