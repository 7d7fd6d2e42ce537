// The agent's end of the Sync stream. Send() blocks while
// `max_unacked_batches` batches await their Ack, so memory stays bounded; a
// reader thread matches Acks to batches in order. Any stream failure is
// sticky: every later call returns it and the agent reconnects, resuming
// from the watermark the coordinator then reports (unacked batches are
// regenerated from the DC, never lost).
//
// Thread-safety: Send/Flush/Heartbeat from one thread; the reader thread is
// internal.
#ifndef ADSYNC_AGENT_COORDINATOR_LINK_H_
#define ADSYNC_AGENT_COORDINATOR_LINK_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adsync/v1/agent.grpc.pb.h"
#include "agent/change_tracker.h"

namespace adsync {

struct LinkOptions {
  std::string target;  // host:port
  // From LoadClientTls, or grpc::InsecureChannelCredentials().
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  absl::Duration hello_timeout = absl::Seconds(15);
  absl::Duration ack_timeout = absl::Seconds(120);
  // Streams are re-established after this long (a deadline on every call).
  absl::Duration stream_lifetime = absl::Hours(12);
};

// True when `status` is gRPC's report that TLS with the coordinator failed:
// the handshake (a certificate from a CA the agent does not trust, a
// plaintext listener) or the host name check after it (a certificate that
// does not name the host dialed).
//
// The message is the only signal. gRPC 1.51 reports these failures as
// UNAVAILABLE with no error_details, exactly like an unreachable host; the
// TSI result that tells them apart stays inside gRPC's core, and the C++ API
// exposes no connectivity error either. What it does say, e.g.:
//   failed to connect to all addresses; last error: UNKNOWN:
//   ipv4:127.0.0.1:4443: Ssl handshake failed: SSL_ERROR_SSL:
//   error:0A000086:SSL routines::certificate verify failed
// tests/agent/coordinator_link_test.cc produces each such message with real
// connections, so a gRPC that rewords them fails there rather than silently
// losing the TLS hint.
bool LooksLikeTlsHandshakeFailure(const grpc::Status& status);

class CoordinatorLink : public BatchSink {
 public:
  // Connects and completes the Hello exchange. Rejections come back with
  // the coordinator's code and reason (Unauthenticated, PermissionDenied).
  static absl::StatusOr<std::unique_ptr<CoordinatorLink>> Open(
      const LinkOptions& options, const adsync::v1::Hello& hello);
  ~CoordinatorLink() override;

  const adsync::v1::HelloResult& hello_result() const { return hello_result_; }

  // The agent's current role, as the Hello or the latest RoleChange said.
  struct RoleState {
    adsync::v1::Role role = adsync::v1::ROLE_UNSPECIFIED;
    uint64_t epoch = 0;
    bool full_sync_required = false;
    std::string reason;
    adsync::v1::Watermark resume_from;
  };
  RoleState role();
  // Waits up to `timeout` for the role to differ from `current`; returns
  // the (possibly unchanged) role.
  RoleState WaitForRoleChange(adsync::v1::Role current, absl::Duration timeout);

  absl::Status Send(adsync::v1::Batch batch) override;
  // Waits until every sent batch is acknowledged.
  absl::Status Flush();
  // Sends `heartbeat` (stamping its time).
  absl::Status Heartbeat(adsync::v1::Heartbeat heartbeat);
  // The stream's failure, if any.
  absl::Status Health();
  uint64_t acked_batches();

 private:
  explicit CoordinatorLink(const LinkOptions& options);
  void ReadLoop();
  void FailLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LinkOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<adsync::v1::AgentGateway::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<adsync::v1::AgentMessage,
                                           adsync::v1::CoordinatorMessage>>
      stream_;
  std::thread reader_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool have_hello_ ABSL_GUARDED_BY(mu_) = false;
  adsync::v1::HelloResult hello_result_;  // written once before Open returns
  RoleState role_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> unacked_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ = 1;  // writer thread only
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_COORDINATOR_LINK_H_
