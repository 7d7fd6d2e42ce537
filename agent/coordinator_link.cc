#include "agent/coordinator_link.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace adsync {

bool LooksLikeTlsHandshakeFailure(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  const std::string& message = status.error_message();
  // "Ssl handshake failed: ..." from OpenSSL; gRPC's own handshaker says
  // "Handshake failed", "Handshake read failed" and the like.
  return absl::StrContains(message, "handshake") ||
         absl::StrContains(message, "Handshake") ||
         // gRPC checks the name once the handshake has succeeded.
         absl::StrContains(message, "is not in peer certificate");
}

CoordinatorLink::CoordinatorLink(const LinkOptions& options)
    : options_(options) {}

CoordinatorLink::~CoordinatorLink() {
  context_.TryCancel();
  if (reader_.joinable()) reader_.join();
}

absl::StatusOr<std::unique_ptr<CoordinatorLink>> CoordinatorLink::Open(
    const LinkOptions& options, const adsync::v1::Hello& hello) {
  std::shared_ptr<grpc::ChannelCredentials> creds =
      options.credentials ? options.credentials
                          : grpc::InsecureChannelCredentials();
  std::unique_ptr<CoordinatorLink> link(new CoordinatorLink(options));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  link->channel_ = grpc::CreateCustomChannel(options.target, creds, args);
  link->stub_ = adsync::v1::AgentGateway::NewStub(link->channel_);
  link->context_.set_deadline(
      absl::ToChronoTime(absl::Now() + options.stream_lifetime));
  link->stream_ = link->stub_->Sync(&link->context_);
  adsync::v1::AgentMessage m;
  *m.mutable_hello() = hello;
  link->stream_->Write(m);
  link->reader_ = std::thread([l = link.get()] { l->ReadLoop(); });
  absl::MutexLock lock(&link->mu_);
  const absl::Time deadline = absl::Now() + options.hello_timeout;
  while (!link->have_hello_ && link->failure_.ok() &&
         !link->cv_.WaitWithDeadline(&link->mu_, deadline)) {
  }
  const bool answered = link->have_hello_;
  if (!link->failure_.ok()) return link->failure_;
  if (!answered) {
    return absl::UnavailableError(
        absl::StrCat("the coordinator at ", options.target,
                     " did not answer the Hello within ",
                     absl::FormatDuration(options.hello_timeout),
                     "; check that it is running and reachable"));
  }
  return link;
}

void CoordinatorLink::FailLocked(absl::Status status) {
  if (failure_.ok()) failure_ = std::move(status);
  cv_.SignalAll();
}

void CoordinatorLink::ReadLoop() {
  adsync::v1::CoordinatorMessage m;
  while (stream_->Read(&m)) {
    absl::MutexLock lock(&mu_);
    switch (m.msg_case()) {
      case adsync::v1::CoordinatorMessage::kHelloResult:
        hello_result_ = m.hello_result();
        role_.role = hello_result_.role();
        role_.epoch = hello_result_.lease_epoch();
        role_.full_sync_required = hello_result_.full_sync_required();
        role_.reason = hello_result_.full_sync_reason();
        role_.resume_from = hello_result_.resume_from();
        have_hello_ = true;
        break;
      case adsync::v1::CoordinatorMessage::kRoleChange:
        if (m.role_change().lease_epoch() >= role_.epoch) {
          role_.role = m.role_change().role();
          role_.epoch = m.role_change().lease_epoch();
          role_.full_sync_required = m.role_change().full_sync_required();
          role_.reason = m.role_change().reason();
          role_.resume_from = m.role_change().resume_from();
        }
        break;
      case adsync::v1::CoordinatorMessage::kAck:
        if (unacked_.empty() || unacked_.front() != m.ack().sequence()) {
          FailLocked(absl::InternalError(
              absl::StrCat("the coordinator acknowledged batch ",
                           m.ack().sequence(), " out of order")));
          context_.TryCancel();
          return;
        }
        unacked_.pop_front();
        ++acked_;
        break;
      default:
        break;  // heartbeat echoes; role changes are handled by a later
                // protocol version
    }
    cv_.SignalAll();
  }
  grpc::Status s = stream_->Finish();
  absl::MutexLock lock(&mu_);
  if (s.ok()) {
    FailLocked(absl::UnavailableError("the coordinator closed the stream"));
  } else {
    std::string message = s.error_message();
    if (LooksLikeTlsHandshakeFailure(s)) {
      message = absl::StrCat(
          "TLS with the coordinator at ", options_.target, " failed: ", message,
          "; check that coordinator_ca_file is the CA that signed the "
          "coordinator's certificate, that the certificate names the host "
          "in `coordinator`, that the coordinator has agent_tls configured, "
          "and, if it requires client certificates, "
          "coordinator_client_cert_file");
    } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      message = absl::StrCat("cannot reach the coordinator at ",
                             options_.target, ": ", message,
                             "; check that it is running and reachable");
    }
    FailLocked(
        absl::Status(static_cast<absl::StatusCode>(s.error_code()), message));
  }
}

absl::Status CoordinatorLink::Send(adsync::v1::Batch batch) {
  const uint32_t window = std::max(1u, hello_result_.max_unacked_batches());
  {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + options_.ack_timeout;
    while (failure_.ok() && unacked_.size() >= window &&
           !cv_.WaitWithDeadline(&mu_, deadline)) {
    }
    const bool ready = unacked_.size() < window;
    if (!failure_.ok()) return failure_;
    if (!ready) {
      return absl::DeadlineExceededError(
          "the coordinator stopped acknowledging batches; reconnecting");
    }
    batch.set_sequence(next_sequence_++);
    batch.set_lease_epoch(role_.epoch);
    unacked_.push_back(batch.sequence());
  }
  adsync::v1::AgentMessage m;
  *m.mutable_batch() = std::move(batch);
  if (!stream_->Write(m))
    return Health().ok() ? absl::UnavailableError("stream write failed")
                         : Health();
  return absl::OkStatus();
}

absl::Status CoordinatorLink::Flush() {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + options_.ack_timeout;
  while (failure_.ok() && !unacked_.empty() &&
         !cv_.WaitWithDeadline(&mu_, deadline)) {
  }
  const bool done = unacked_.empty();
  if (!failure_.ok()) return failure_;
  if (!done)
    return absl::DeadlineExceededError("batches were not acknowledged in time");
  return absl::OkStatus();
}

absl::Status CoordinatorLink::Heartbeat(adsync::v1::Heartbeat heartbeat) {
  adsync::v1::AgentMessage m;
  *m.mutable_heartbeat() = std::move(heartbeat);
  m.mutable_heartbeat()->set_sent_unix_ms(absl::ToUnixMillis(absl::Now()));
  if (!stream_->Write(m))
    return Health().ok() ? absl::UnavailableError("stream write failed")
                         : Health();
  return Health();
}

absl::Status CoordinatorLink::Health() {
  absl::MutexLock lock(&mu_);
  return failure_;
}

CoordinatorLink::RoleState CoordinatorLink::role() {
  absl::MutexLock lock(&mu_);
  return role_;
}

CoordinatorLink::RoleState CoordinatorLink::WaitForRoleChange(
    adsync::v1::Role current, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (role_.role == current && failure_.ok() &&
         !cv_.WaitWithDeadline(&mu_, deadline)) {
  }
  return role_;
}

uint64_t CoordinatorLink::acked_batches() {
  absl::MutexLock lock(&mu_);
  return acked_;
}

}  // namespace adsync
