// The agents' endpoint: one bidirectional Sync stream per agent (see
// proto/adsync/v1/agent.proto for the protocol).
//
// Each stream is a callback reactor that never blocks: authentication,
// batch commits and bookkeeping run on the gateway's storage thread, and the
// reactor sends an Ack only when the store says the batch is durable. At most
// one read and one write are in flight per stream; reading pauses while
// `max_unacked_batches` batches wait for the store, so a fast agent cannot
// queue unbounded work.
//
// What a Hello may do (refused, primary or standby, where to resume) is
// decided by SessionPolicy (session_policy.h), which knows no gRPC; this
// file is the stream handling around it.
//
// Thread-safety: the service is used by gRPC's threads; all state is
// internally synchronized.
#ifndef ADSYNC_COORDINATOR_AGENT_GATEWAY_H_
#define ADSYNC_COORDINATOR_AGENT_GATEWAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "adsync/v1/agent.grpc.pb.h"
#include "coordinator/hello_limiter.h"
#include "coordinator/store.h"
#include "coordinator/work_queue.h"

namespace adsync {

struct GatewayOptions {
  uint32_t max_unacked_batches = 8;
  uint32_t max_deltas_per_batch = 1000;
  uint32_t heartbeat_interval_ms = 2000;
  // A primary silent this long loses the lease to a standby.
  uint32_t lease_ttl_ms = 6000;
  // How often the lease monitor looks for domains without a live primary.
  uint32_t lease_check_ms = 250;
  // Failed Hellos per source address per minute before it is refused
  // unchecked for a minute.
  uint32_t failed_hellos_per_minute = 10;
  // A stream is closed when it sends no Hello for this long, or when a
  // message to the agent stays unsent this long (the agent stopped
  // reading).
  uint32_t stalled_stream_ms = 30000;
  // Mutual TLS (agent_tls.client_ca_file): an agent's certificate must
  // name its AD Sync (subject CN or a subjectAltName equal to the sync's
  // ID), so one agent's certificate cannot be used with another's key.
  bool certificate_names_sync = false;
  // Called (on a gRPC thread, must not block) after a batch that added,
  // changed or removed accounts has committed: the push wakes at once
  // instead of at its next scan. Empty = nobody listens.
  std::function<void()> on_changes_committed;
};

// Failover: every (org, domain) has at most one primary, the holder of a
// lease kept in the store; other agents of the domain are standbys. A lease
// monitor promotes the best live standby (one heard from within the lease
// TTL; highest priority, then longest connected; never the agent whose
// lease lapsed) when the primary disconnects or stops heartbeating. Each
// AD Sync has one stream (a new Hello replaces the old one), and each
// grant a new epoch: the store fences writes from anyone but the holder at
// the current epoch, and the gateway refuses a batch carrying an epoch
// other than its stream's.
class AgentGateway final : public adsync::v1::AgentGateway::CallbackService {
 public:
  // REQUIRES: `store` outlives the gateway.
  AgentGateway(AgentStore* store, const GatewayOptions& options);
  ~AgentGateway() override;

  grpc::ServerBidiReactor<adsync::v1::AgentMessage,
                          adsync::v1::CoordinatorMessage>*
  Sync(grpc::CallbackServerContext* context) override;

  // Stops the lease monitor. Call before shutting the server down.
  void StopMonitor();

  // Ends every open stream of AD Sync `sync_id` at once (PermissionDenied,
  // with `reason`) and lets a standby take over: called after the sync was
  // removed or its key rotated.
  void SyncRevoked(const std::string& sync_id, const std::string& reason);

  // Failed-Hello counts per source address (for status).
  HelloLimiter* hello_limiter() { return &hello_limiter_; }

 private:
  class Session;
  using DomainKey = std::pair<std::string, std::string>;  // org, domain

  // True while a stream of `sync_id` is registered.
  bool HasStream(const std::string& sync_id);
  // Ends the streams of `sync_id` other than `except`.
  void EndStreamsOf(const std::string& sync_id, const Session* except,
                    const std::string& reason);
  void Register(Session* session);
  void Unregister(Session* session);
  void MonitorLoop();
  void PromoteWhereNeeded();
  // Cancels streams that sent no Hello, or stopped reading, for
  // stalled_stream_ms.
  void CancelStalledStreams();

  AgentStore* const store_;
  const GatewayOptions options_;
  HelloLimiter hello_limiter_;

  absl::Mutex sessions_mu_;
  // Authenticated sessions by domain.
  std::map<DomainKey, std::vector<Session*>> sessions_
      ABSL_GUARDED_BY(sessions_mu_);
  std::set<Session*> open_streams_ ABSL_GUARDED_BY(sessions_mu_);  // all
  absl::CondVar monitor_cv_;
  bool stopping_ ABSL_GUARDED_BY(sessions_mu_) = false;
  std::thread monitor_;

  WorkQueue storage_;  // declared last: drained before the rest goes away
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_AGENT_GATEWAY_H_
