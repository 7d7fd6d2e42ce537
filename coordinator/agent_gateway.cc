#include "coordinator/agent_gateway.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/net.h"
#include "coordinator/fencing.h"
#include "coordinator/metrics.h"
#include "coordinator/session_policy.h"
#include "coordinator/validation.h"
#include "google/protobuf/arena.h"

namespace adsync {

using adsync::v1::AgentMessage;
using adsync::v1::CoordinatorMessage;

namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// A write to an agent outstanding this long when its stream is ended is
// taken as stuck (the agent stopped reading).
constexpr int64_t kStuckWriteMs = 1000;

// What SessionPolicy::Admit compares with the sync: the names (subject CN,
// then subjectAltNames) of the agent's CA-verified client certificate.
std::vector<std::string> CertificateNames(const grpc::AuthContext& auth) {
  std::vector<std::string> names;
  for (const char* property :
       {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const grpc::string_ref& value : auth.FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
  }
  return names;
}

// One message read from an agent, parsed into its own arena: a batch of
// 1000 deltas then costs a few block allocations instead of thousands of
// small ones, and is freed in one go once it has been converted.
struct IncomingMessage {
  static google::protobuf::ArenaOptions Options() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 4 << 10;
    options.max_block_size = 256 << 10;
    return options;
  }
  IncomingMessage()
      : arena(Options()),
        message(google::protobuf::Arena::CreateMessage<AgentMessage>(&arena)) {}
  google::protobuf::Arena arena;
  AgentMessage* const message;
};

}  // namespace

// One agent's stream: moves messages between the agent and the store, and
// leaves every decision about the agent (refused, primary or standby, where
// it starts) to SessionPolicy. Three threads touch it: gRPC's reactor
// thread (reads, write completions, OnDone), the gateway's storage thread
// (the store work Post queues, one task at a time; End) and the lease
// monitor (TryPromote, CancelIfStalled). It deletes itself in OnDone, which
// gRPC calls once Finish was called and nothing else is in flight; a
// storage task counts in `pending_` so that the stream cannot finish under
// it.
class AgentGateway::Session final
    : public grpc::ServerBidiReactor<AgentMessage, CoordinatorMessage> {
 public:
  Session(AgentGateway* gateway, grpc::CallbackServerContext* context)
      : gateway_(gateway),
        context_(context),
        policy_(gateway->store_, gateway->options_.lease_ttl_ms) {
    Metrics::Global().StreamOpened();
    {
      absl::MutexLock lock(&gateway_->sessions_mu_);
      gateway_->open_streams_.insert(this);
    }
    auto ip = PeerAddress(context->peer());
    peer_ip_ = ip.ok() ? *ip : context->peer();
    ContinueReading();
  }

  // Any thread (the lease monitor): asks the store to make this standby
  // the primary; on success tells the agent where to start.
  void TryPromote(const std::string& reason) {
    Post([this, reason] {
      {
        // The monitor may ask twice before the first promotion lands; a
        // second grant would start a new epoch and fence the first.
        absl::MutexLock lock(&mu_);
        if (primary_ || finish_wanted_) {  // promoted already, or ending
          DoneLocked();
          return;
        }
      }
      absl::StatusOr<SessionPolicy::Role> role = policy_.Promote(
          sync_, invocation_id_, reason,
          next_sequence_.load(std::memory_order_relaxed) - 1, NowMs());
      if (!role.ok()) return Done(role.status());
      absl::MutexLock lock(&mu_);
      if (role->primary) {
        primary_ = true;
        epoch_ = role->epoch;
        CoordinatorMessage out;
        adsync::v1::RoleChange* change = out.mutable_role_change();
        change->set_role(adsync::v1::ROLE_PRIMARY);
        change->set_lease_epoch(role->epoch);
        change->set_full_sync_required(role->resume.full_sync);
        if (!role->resume.full_sync)
          *change->mutable_resume_from() = role->resume.watermark;
        change->set_reason(reason);
        WriteLocked(std::move(out));
        Metrics::Global().Failover();
        Log(LogLevel::kWarning, "failover: standby promoted",
            {{"sync", sync_.sync_id},
             {"domain", sync_.domain},
             {"epoch", absl::StrCat(role->epoch)},
             {"reason", reason}});
      }
      DoneLocked();
    });
  }

  // Any thread. Cancels the stream when its agent sent no accepted Hello,
  // or left a message unread, for `limit_ms`; returns why, or "".
  std::string CancelIfStalled(int64_t now_ms, int64_t limit_ms) {
    std::string why;
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_) return "";
      // A Hello waiting for the storage thread is not the agent's fault.
      if (!hello_received_ && now_ms - connected_at_ms_ > limit_ms) {
        why = "no Hello";
      } else if (writing_ && now_ms - write_started_ms_ > limit_ms) {
        // (An agent that floods heartbeats meanwhile is cut off as soon as
        // kMaxQueuedWrites echoes wait; see OnHeartbeat.)
        why = "the agent stopped reading the coordinator's messages";
      }
    }
    if (!why.empty()) context_->TryCancel();
    return why;
  }

  // Any thread: ends the stream with `status` (its sync was removed, its
  // key rotated, or a newer stream of the same sync replaced it).
  void End(const absl::Status& status) {
    bool stuck;
    {
      absl::MutexLock lock(&mu_);
      FailLocked(status);
      // Only a write outstanding for a while is stuck; one merely in
      // flight (a Hello result, an echo) completes and the stream then
      // finishes with `status`, which the agent must read to act on.
      stuck = !finish_called_ && writing_ &&
              NowMs() - write_started_ms_ > kStuckWriteMs;
    }
    // A write stuck on an agent that stopped reading would hold the finish
    // back: cancel (the stalled-stream monitor cancels a write that gets
    // stuck later). Otherwise the agent reads `status` and its reason.
    if (stuck) context_->TryCancel();
  }

  // Set before the session is registered with the gateway, fixed after.
  const SyncRecord& sync() const { return sync_; }
  const std::string& peer_ip() const { return peer_ip_; }
  int64_t connected_at_ms() const { return connected_at_ms_; }
  // When the agent last sent anything (a heartbeat, a batch).
  int64_t last_read_ms() const {
    return last_read_ms_.load(std::memory_order_relaxed);
  }

 private:
  AgentGateway* const gateway_;
  grpc::CallbackServerContext* const context_;
  const SessionPolicy policy_;
  std::string peer_ip_;  // set by the constructor
  const int64_t connected_at_ms_ = NowMs();
  absl::Mutex mu_;

  // --- Reading: the reactor thread, one read in flight at a time ---

  // gRPC's callbacks are private: only the reactor calls them.
  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent closed its side, the call was cancelled, or a message
      // failed to parse (gRPC reports all three alike; a parse failure
      // leaves part of a message behind, or comes before any Hello).
      const bool partial = in_->message->ByteSizeLong() > 0;
      absl::MutexLock lock(&mu_);
      if (partial || !hello_received_) {
        Metrics::Global().Rejected("malformed");
        FailLocked(absl::InvalidArgumentError(
            partial ? "a message from the agent could not be parsed (not a "
                      "valid AgentMessage, or text that is not UTF-8); "
                      "upgrade or reinstall the agent"
                    : "the stream ended before a Hello: the agent sent "
                      "nothing, or bytes that are not an AgentMessage"));
        return;
      }
      finish_wanted_ = true;
      TryFinishLocked();
      return;
    }
    last_read_ms_.store(NowMs(), std::memory_order_relaxed);
    switch (in_->message->msg_case()) {
      case AgentMessage::kHello:
        return OnHello();
      case AgentMessage::kBatch:
        return OnBatch();
      case AgentMessage::kHeartbeat:
        return OnHeartbeat();
      default:
        return Fail(absl::InvalidArgumentError(
            "empty or unknown message from agent; upgrade the agent"));
    }
  }

  void OnHello() {
    {
      absl::MutexLock lock(&mu_);
      if (hello_received_) {
        FailLocked(
            absl::FailedPreconditionError("Hello sent twice on one stream"));
        return;
      }
      hello_received_ = true;
    }
    // A blocked address costs neither a key check nor a store write.
    absl::Status admitted = gateway_->hello_limiter_.Admit(peer_ip_, NowMs());
    if (!admitted.ok()) {
      Metrics::Global().Rejected("rate_limited");
      return Fail(admitted);
    }
    absl::Status sizes = CheckHelloSizes(in_->message->hello());
    if (!sizes.ok()) {
      Metrics::Global().Rejected("bad_hello");
      gateway_->hello_limiter_.RecordFailure(peer_ip_, "", NowMs());
      Log(LogLevel::kWarning, "agent rejected",
          {{"ip", peer_ip_}, {"reason", std::string(sizes.message())}});
      return Fail(sizes);
    }
    Post([this, hello = in_->message->hello()] { Authenticate(hello); });
  }

  void OnHeartbeat() {
    if (QueuedWrites() > kMaxQueuedWrites) {
      // Heartbeats keep coming but their echoes are not read: stop
      // before the queue grows without bound.
      Metrics::Global().Rejected("stalled_stream");
      Log(LogLevel::kWarning, "agent stream cancelled",
          {{"ip", peer_ip_},
           {"reason", "the agent is not reading the coordinator's messages"}});
      context_->TryCancel();
      return;
    }
    CoordinatorMessage echo;
    *echo.mutable_heartbeat() = in_->message->heartbeat();
    Write(std::move(echo));
    // Store work (lease renewal, the DC's position) at most twice per
    // heartbeat interval: an agent sending faster must not become a
    // stream of writes that delays everyone else's.
    const int64_t now = NowMs();
    if (IsAuthenticated() && now - last_heartbeat_stored_ms_ >=
                                 gateway_->options_.heartbeat_interval_ms / 2) {
      last_heartbeat_stored_ms_ = now;
      if (IsPrimary()) Post([this] { RenewLease(); });
      Post([this, position = in_->message->heartbeat()] {
        gateway_->store_->RecordControllerPosition(sync_.sync_id, "", position)
            .IgnoreError();
        Done();
      });
    }
    ContinueReading();
  }

  void OnBatch() {
    if (!IsAuthenticated()) {
      return Fail(absl::FailedPreconditionError(
          "a batch arrived before the Hello was accepted; send Hello first"));
    }
    const uint64_t seq = in_->message->batch().sequence();
    const uint64_t expected = next_sequence_.load(std::memory_order_relaxed);
    if (seq != expected) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "batch sequence ", seq, " out of order; expected ", expected)));
    }
    next_sequence_.store(seq + 1, std::memory_order_relaxed);
    {
      absl::MutexLock lock(&mu_);
      if (in_->message->batch().lease_epoch() != epoch_) {
        // Only the epoch this stream was granted: another stream's epoch
        // (of the same sync, guessed) must not pass the store's fencing.
        const std::string why = absl::StrCat(
            "fenced: batch ", seq, " carries lease epoch ",
            in_->message->batch().lease_epoch(), " but this stream holds ",
            epoch_, primary_ ? "" : " as a standby",
            "; the agent reconnects and follows its role");
        FailLocked(FencedError(why));
        return;
      }
    }
    // Checked and converted here, on the gRPC thread, so that the storage
    // thread only merges and writes; the wire message is freed right away.
    BatchLimits limits;
    limits.max_deltas = gateway_->options_.max_deltas_per_batch;
    limits.domain_sid = domain_sid_;
    absl::StatusOr<PreparedBatch> prepared =
        PrepareBatch(in_->message->mutable_batch(), limits);
    if (!prepared.ok()) {
      Post([this, seq, status = prepared.status()] {
        RejectBatch(seq, status);
      });
      return;  // no more reads: the stream ends with the rejection
    }
    bool keep_reading;
    {
      absl::MutexLock lock(&mu_);
      ++batches_waiting_;
      keep_reading = batches_waiting_ < gateway_->options_.max_unacked_batches;
      if (!keep_reading) read_paused_ = true;
    }
    auto batch = std::make_shared<PreparedBatch>(*std::move(prepared));
    Post([this, batch] { Commit(std::move(*batch)); });
    if (keep_reading) ContinueReading();
  }

  // REQUIRES: no read in flight; nothing refers to the previous message
  // (hellos, heartbeats and batches are copied or converted out of it).
  void ContinueReading() {
    in_ = std::make_unique<IncomingMessage>();
    StartRead(in_->message);
  }

  std::unique_ptr<IncomingMessage> in_;  // the read in flight
  bool hello_received_ ABSL_GUARDED_BY(mu_) = false;
  // Written by the reactor; read by the storage thread when a promotion
  // tells the store where this stream's batches stand.
  std::atomic<uint64_t> next_sequence_{1};
  std::atomic<int64_t> last_read_ms_{NowMs()};
  int64_t last_heartbeat_stored_ms_ = 0;

  // --- The agent's Hello and role: the storage thread ---

  void Authenticate(const adsync::v1::Hello& hello) {
    std::optional<std::vector<std::string>> certificate_names;
    if (gateway_->options_.certificate_names_sync) {
      certificate_names = CertificateNames(*context_->auth_context());
    }
    SessionPolicy::HelloOutcome outcome =
        policy_.Admit(hello, peer_ip_, certificate_names);
    if (outcome.rejection.has_value()) {
      const SessionPolicy::Rejection& r = *outcome.rejection;
      Metrics::Global().Rejected(r.metric);
      // Named by its sync once the key authenticated, else by its org.
      const bool named = !r.sync_id.empty();
      Log(LogLevel::kWarning, "agent rejected",
          {{named ? "sync" : "org", named ? r.sync_id : r.org_id},
           {"ip", peer_ip_},
           {"reason", std::string(r.status.message())}});
      if (r.failed_hello) {
        gateway_->hello_limiter_.RecordFailure(peer_ip_, r.org_id, NowMs());
      }
    }
    if (!outcome.admission.ok()) return Done(outcome.admission.status());
    SessionPolicy::Admission& admitted = *outcome.admission;

    // One stream per AD Sync: this Hello replaces any earlier stream of
    // the same sync (a reconnect after a network cut, or a second copy of
    // the agent), and the new lease epoch fences whatever it still sends.
    gateway_->EndStreamsOf(
        admitted.sync.sync_id, this,
        "a new connection of the same AD Sync replaced this stream");
    absl::StatusOr<SessionPolicy::Role> role =
        policy_.TakeRole(admitted, hello.invocation_id(), NowMs());
    if (!role.ok()) return Done(role.status());

    CoordinatorMessage out;
    adsync::v1::HelloResult* result = out.mutable_hello_result();
    result->set_sync_id(admitted.sync.sync_id);
    result->set_role(role->primary ? adsync::v1::ROLE_PRIMARY
                                   : adsync::v1::ROLE_STANDBY);
    result->set_lease_epoch(role->epoch);
    result->set_max_unacked_batches(gateway_->options_.max_unacked_batches);
    result->set_max_deltas_per_batch(gateway_->options_.max_deltas_per_batch);
    result->set_heartbeat_interval_ms(gateway_->options_.heartbeat_interval_ms);
    result->set_lease_ttl_ms(gateway_->options_.lease_ttl_ms);
    if (role->primary) {
      result->set_full_sync_required(role->resume.full_sync);
      result->set_full_sync_reason(role->resume.reason);
      if (!role->resume.full_sync)
        *result->mutable_resume_from() = role->resume.watermark;
    }
    sync_ = std::move(admitted.sync);
    domain_sid_ = std::move(admitted.domain_sid);
    invocation_id_ = hello.invocation_id();
    controller_ = hello.controller();
    Log(LogLevel::kInfo, "agent connected",
        {{"sync", sync_.sync_id},
         {"domain", sync_.domain},
         {"ip", peer_ip_},
         {"controller", controller_},
         {"role", role->primary ? "primary" : "standby"},
         {"full_sync",
          result->full_sync_required() ? result->full_sync_reason() : "no"}});
    // Registered and reading before this task lets go of `pending_`: until
    // then the stream cannot finish (and delete this) under our feet.
    gateway_->Register(this);
    {
      absl::MutexLock lock(&mu_);
      authenticated_ = true;
      primary_ = role->primary;
      epoch_ = role->epoch;
      WriteLocked(std::move(out));
    }
    ContinueReading();
    Done();
  }

  // Keeps the lease alive; tells the agent when it was lost.
  void RenewLease() {
    uint64_t epoch;
    {
      absl::MutexLock lock(&mu_);
      epoch = epoch_;
    }
    auto renewed = gateway_->store_->RenewLease(
        sync_, epoch, NowMs(), gateway_->options_.lease_ttl_ms);
    if (absl::IsPermissionDenied(renewed.status())) {
      return Done(renewed.status());  // removed, or its key rotated
    }
    absl::MutexLock lock(&mu_);
    if (renewed.ok() && !*renewed && primary_) {
      primary_ = false;
      CoordinatorMessage out;
      out.mutable_role_change()->set_role(adsync::v1::ROLE_STANDBY);
      out.mutable_role_change()->set_lease_epoch(epoch);
      out.mutable_role_change()->set_reason(
          "the lease expired (heartbeats arrived too late) and another agent "
          "took over");
      WriteLocked(std::move(out));
      Log(LogLevel::kWarning, "primary demoted", {{"sync", sync_.sync_id}});
    }
    DoneLocked();
  }

  bool IsPrimary() {
    absl::MutexLock lock(&mu_);
    return primary_;
  }
  bool IsAuthenticated() {
    absl::MutexLock lock(&mu_);
    return authenticated_;
  }

  // Set by Authenticate before authenticated_ is published, fixed after.
  SyncRecord sync_;
  std::string domain_sid_;     // text form; "" when none is pinned
  std::string invocation_id_;  // the DC's, from the Hello
  std::string controller_;     // the DC's host name, from the Hello
  bool authenticated_ ABSL_GUARDED_BY(mu_) = false;
  bool primary_ ABSL_GUARDED_BY(mu_) = false;  // holds the domain's lease
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;

  // --- Batches: the storage thread ---

  void Commit(PreparedBatch batch) {
    if (batch_failed_) {
      // An earlier batch of this stream failed: committing this one would
      // let its watermark move past changes that were never stored. The
      // stream is ending; the agent resends both after it reconnects.
      absl::MutexLock lock(&mu_);
      --batches_waiting_;
      DoneLocked();
      return;
    }
    const uint64_t sequence = batch.sequence;
    const bool full_sync_end = batch.full_sync_end;
    if (batch.full_sync_begin) {
      seen_.clear();
      in_full_sync_ = true;
    }
    if (full_sync_end && !in_full_sync_) {
      return RejectBatch(sequence,
                         absl::FailedPreconditionError(
                             "full_sync_end without full_sync_begin "
                             "on this stream; restart the full sync"));
    }
    if (in_full_sync_) {
      // Tombstones are not "seen" (they are gone): only live accounts,
      // which bounds the set by the domain's size.
      for (const AccountState& a : batch.accounts) {
        if (!a.deleted) seen_.insert(a.object_guid);
      }
      // Left out for oversized values, but present in AD: not gone.
      for (const SkippedAccount& a : batch.skipped) seen_.insert(a.object_guid);
    }
    const absl::Time commit_start = absl::Now();
    // A primary streaming a long full sync sends batches, not heartbeats:
    // each committed batch keeps its lease alive too.
    auto outcome = gateway_->store_->ApplyBatch(
        sync_, std::move(batch), full_sync_end ? &seen_ : nullptr,
        NowMs() + gateway_->options_.lease_ttl_ms);
    if (!outcome.ok()) return RejectBatch(sequence, outcome.status());
    Metrics::Global().BatchCommitted(
        outcome->applied, outcome->unchanged,
        absl::ToDoubleSeconds(absl::Now() - commit_start));
    if ((outcome->applied > 0 || outcome->removed > 0) &&
        gateway_->options_.on_changes_committed) {
      gateway_->options_.on_changes_committed();
    }
    if (full_sync_end) {
      in_full_sync_ = false;
      seen_ = SeenAccounts();
    }
    CoordinatorMessage out;
    adsync::v1::Ack* ack = out.mutable_ack();
    ack->set_sequence(sequence);
    ack->set_applied(outcome->applied);
    ack->set_unchanged(outcome->unchanged);
    ack->set_removed(outcome->removed);
    bool resume_reading = false;
    {
      absl::MutexLock lock(&mu_);
      --batches_waiting_;
      if (read_paused_ && !finish_wanted_) {
        read_paused_ = false;
        resume_reading = true;
      }
      WriteLocked(std::move(out));
    }
    // Reading again before this task lets go of `pending_`: until then the
    // stream cannot finish (and delete this) under our feet.
    if (resume_reading) ContinueReading();
    Done();
  }

  void RejectBatch(uint64_t sequence, const absl::Status& status) {
    batch_failed_ = true;
    const std::string reason =
        absl::StrCat("batch ", sequence, " rejected: ", status.message());
    Metrics::Global().Rejected(IsFenced(status) ? "fenced" : "bad_batch");
    gateway_->store_
        ->RecordRejection(sync_.org_id, sync_.sync_id, peer_ip_, reason)
        .IgnoreError();
    Log(LogLevel::kWarning, "batch rejected",
        {{"sync", sync_.sync_id}, {"reason", reason}});
    const bool final = absl::IsInvalidArgument(status) ||
                       absl::IsFailedPrecondition(status) ||
                       absl::IsPermissionDenied(status);
    absl::Status out = final ? absl::Status(status.code(), reason)
                             : absl::UnavailableError(absl::StrCat(
                                   reason, "; the agent will retry"));
    Done(out);
  }

  bool batch_failed_ = false;  // nothing after a failed batch commits
  bool in_full_sync_ = false;
  SeenAccounts seen_;
  // Posted and not yet committed; reading pauses at max_unacked_batches.
  uint32_t batches_waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;

  // --- Writing: any thread; one write in flight, the rest queued ---

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      finish_wanted_ = true;  // the stream is gone
      writes_.clear();
    } else if (!writes_.empty()) {
      StartNextWriteLocked();
    }
    TryFinishLocked();
  }

  void Write(CoordinatorMessage message) {
    absl::MutexLock lock(&mu_);
    WriteLocked(std::move(message));
  }

  void WriteLocked(CoordinatorMessage message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_) return;
    writes_.push_back(std::move(message));
    if (!writing_) StartNextWriteLocked();
  }

  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    write_started_ms_ = NowMs();
    current_write_ = std::move(writes_.front());
    writes_.pop_front();
    StartWrite(&current_write_);
  }

  size_t QueuedWrites() {
    absl::MutexLock lock(&mu_);
    return writes_.size();
  }

  // Acks and heartbeat echoes waiting behind an unread one; beyond this the
  // agent is not reading and the stream is cancelled.
  static constexpr size_t kMaxQueuedWrites = 256;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  int64_t write_started_ms_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<CoordinatorMessage> writes_ ABSL_GUARDED_BY(mu_);
  CoordinatorMessage current_write_ ABSL_GUARDED_BY(mu_);

  // --- Storage tasks and the end of the stream: any thread ---

  void Post(std::function<void()> task) {
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_) return;  // OnDone may be near: take no new work
      ++pending_;
    }
    gateway_->storage_.Post(std::move(task));
  }

  // Ends a storage task; with an error, the stream too.
  void Done() {
    absl::MutexLock lock(&mu_);
    DoneLocked();
  }
  void DoneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    --pending_;
    TryFinishLocked();
  }
  void Done(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    --pending_;
    FailLocked(status);
  }

  void Fail(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    FailLocked(status);
  }

  void FailLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finish_wanted_ || final_status_.ok())
      final_status_ = ToGrpcStatus(status);
    finish_wanted_ = true;
    TryFinishLocked();
  }

  // Finishes once nothing is pending: no storage task (which may still want
  // to write an ack for a durable batch) and no write in flight.
  void TryFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!finish_wanted_ || finish_called_ || pending_ > 0 || writing_) return;
    finish_called_ = true;
    Finish(final_status_);
  }

  void OnDone() override {
    // Finish() may have been called by a thread still holding mu_: taking
    // it waits for that thread to let go before this object goes away.
    const bool authenticated = IsAuthenticated();
    Metrics::Global().StreamClosed();
    {
      absl::MutexLock lock(&gateway_->sessions_mu_);
      gateway_->open_streams_.erase(this);
    }
    if (authenticated) {
      gateway_->Unregister(this);
      AgentStore* store = gateway_->store_;
      const SyncRecord sync = sync_;
      const std::string ip = peer_ip_;
      const std::string controller = controller_;
      // Read after Unregister: no promotion can change them any more.
      bool primary;
      uint64_t epoch;
      {
        absl::MutexLock lock(&mu_);
        primary = primary_;
        epoch = epoch_;
      }
      AgentGateway* gateway = gateway_;
      gateway_->storage_.Post(
          [store, sync, ip, controller, primary, epoch, gateway] {
            // A newer stream of the same sync (one that replaced this one)
            // is what status should show.
            if (!gateway->HasStream(sync.sync_id)) {
              store->RecordConnection(sync.sync_id, false, ip, controller)
                  .IgnoreError();
            }
            if (primary) {
              store->ReleaseLease(sync, epoch).IgnoreError();
              gateway->monitor_cv_.SignalAll();  // promote a standby now
            }
          });
      const std::string sync_id = sync.sync_id;
      Log(LogLevel::kInfo, "agent disconnected",
          {{"sync", sync_id}, {"ip", ip}});
    }
    delete this;
  }

  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // storage tasks not yet finished
  bool finish_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
};

AgentGateway::AgentGateway(AgentStore* store, const GatewayOptions& options)
    : store_(store),
      options_(options),
      hello_limiter_(options.failed_hellos_per_minute) {
  monitor_ = std::thread([this] { MonitorLoop(); });
}

AgentGateway::~AgentGateway() { StopMonitor(); }

void AgentGateway::StopMonitor() {
  {
    absl::MutexLock lock(&sessions_mu_);
    stopping_ = true;
  }
  monitor_cv_.SignalAll();
  if (monitor_.joinable()) monitor_.join();
}

void AgentGateway::Register(Session* session) {
  absl::MutexLock lock(&sessions_mu_);
  sessions_[{session->sync().org_id, session->sync().domain}].push_back(
      session);
}

void AgentGateway::Unregister(Session* session) {
  absl::MutexLock lock(&sessions_mu_);
  auto it = sessions_.find({session->sync().org_id, session->sync().domain});
  if (it == sessions_.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), session), list.end());
  if (list.empty()) sessions_.erase(it);
}

void AgentGateway::EndStreamsOf(const std::string& sync_id,
                                const Session* except,
                                const std::string& reason) {
  std::vector<Session*> ended;
  absl::MutexLock lock(&sessions_mu_);
  for (auto& [key, list] : sessions_) {
    for (Session* s : list) {
      if (s != except && s->sync().sync_id == sync_id) ended.push_back(s);
    }
  }
  // Under sessions_mu_: OnDone unregisters under it, so none is deleted.
  for (Session* s : ended) {
    Log(LogLevel::kWarning, "agent stream ended",
        {{"sync", sync_id}, {"ip", s->peer_ip()}, {"reason", reason}});
    s->End(absl::PermissionDeniedError(reason));
  }
  if (!ended.empty()) monitor_cv_.SignalAll();  // promote a standby now
}

void AgentGateway::SyncRevoked(const std::string& sync_id,
                               const std::string& reason) {
  // On the storage thread, after any Hello of this sync whose key check
  // ran before the revocation: that stream registers first, then ends.
  storage_.Post(
      [this, sync_id, reason] { EndStreamsOf(sync_id, nullptr, reason); });
}

bool AgentGateway::HasStream(const std::string& sync_id) {
  absl::MutexLock lock(&sessions_mu_);
  for (const auto& [key, list] : sessions_) {
    for (Session* s : list) {
      if (s->sync().sync_id == sync_id) return true;
    }
  }
  return false;
}

void AgentGateway::MonitorLoop() {
  while (true) {
    {
      absl::MutexLock lock(&sessions_mu_);
      if (stopping_) return;
      // Woken early when a lease should change hands now.
      monitor_cv_.WaitWithTimeout(&sessions_mu_,
                                  absl::Milliseconds(options_.lease_check_ms));
      if (stopping_) return;
    }
    PromoteWhereNeeded();
    CancelStalledStreams();
  }
}

// Reads the leases of every domain with connected agents; where no live
// primary exists, asks the best standby to take over.
void AgentGateway::PromoteWhereNeeded() {
  std::vector<DomainKey> keys;
  {
    absl::MutexLock lock(&sessions_mu_);
    for (const auto& [key, list] : sessions_) keys.push_back(key);
  }
  for (const DomainKey& key : keys) {
    auto lease = store_->GetLease(key.first, key.second, NowMs());
    if (!lease.ok() || !lease->holder_sync_id.empty())
      continue;  // a live primary
    absl::MutexLock lock(&sessions_mu_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) continue;
    // Only a standby that is alive takes over, and never the agent whose
    // lease lapsed: it is hung or cut off, and its stream is fenced.
    const int64_t alive_since = NowMs() - options_.lease_ttl_ms;
    Session* best = nullptr;
    for (Session* s : it->second) {
      if (s->sync().sync_id == lease->last_holder_sync_id ||
          s->last_read_ms() < alive_since) {
        continue;
      }
      if (best == nullptr || s->sync().priority > best->sync().priority ||
          (s->sync().priority == best->sync().priority &&
           s->connected_at_ms() < best->connected_at_ms())) {
        best = s;
      }
    }
    if (best != nullptr) {
      best->TryPromote(
          absl::StrCat("the primary of domain ", key.second,
                       " disconnected or stopped heartbeating (lease epoch ",
                       lease->epoch, " ended)"));
    }
  }
}

void AgentGateway::CancelStalledStreams() {
  const int64_t now = NowMs();
  absl::MutexLock lock(&sessions_mu_);
  for (Session* s : open_streams_) {
    const std::string why = s->CancelIfStalled(now, options_.stalled_stream_ms);
    if (why.empty()) continue;
    Metrics::Global().Rejected("stalled_stream");
    Log(LogLevel::kWarning, "agent stream cancelled",
        {{"ip", s->peer_ip()},
         {"reason",
          absl::StrCat(why, " for ", options_.stalled_stream_ms, " ms")}});
  }
}

grpc::ServerBidiReactor<AgentMessage, CoordinatorMessage>* AgentGateway::Sync(
    grpc::CallbackServerContext* context) {
  return new Session(this, context);
}

}  // namespace adsync
