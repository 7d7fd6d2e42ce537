#include "tests/support/wire_agent.h"

#include "absl/time/clock.h"

namespace adsync::testing {

WireAgent::WireAgent(const std::string& target, absl::Duration deadline,
                     std::shared_ptr<grpc::ChannelCredentials> credentials) {
  channel_ = grpc::CreateChannel(
      target, credentials ? credentials : grpc::InsecureChannelCredentials());
  stub_ = adsync::v1::AgentGateway::NewStub(channel_);
  context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  stream_ = stub_->Sync(&context_);
}

adsync::v1::CoordinatorMessage WireAgent::Hello(const std::string& org,
                                                const std::string& key,
                                                const std::string& invocation) {
  adsync::v1::Hello hello;
  hello.set_org_id(org);
  hello.set_sync_key(key);
  hello.set_controller("dc1.district.test");
  hello.set_invocation_id(invocation);
  return SendHello(hello);
}

adsync::v1::CoordinatorMessage WireAgent::SendHello(
    const adsync::v1::Hello& hello) {
  adsync::v1::AgentMessage m;
  *m.mutable_hello() = hello;
  stream_->Write(m);
  adsync::v1::CoordinatorMessage reply = Read();
  epoch_ = reply.hello_result().lease_epoch();
  return reply;
}

void WireAgent::Heartbeat() {
  adsync::v1::AgentMessage m;
  m.mutable_heartbeat()->set_sent_unix_ms(absl::ToUnixMillis(absl::Now()));
  stream_->Write(m);
}

void WireAgent::Send(adsync::v1::Batch batch) {
  if (batch.lease_epoch() == 0) batch.set_lease_epoch(epoch_);
  adsync::v1::AgentMessage m;
  *m.mutable_batch() = std::move(batch);
  stream_->Write(m);
}

adsync::v1::CoordinatorMessage WireAgent::Read() {
  adsync::v1::CoordinatorMessage m;
  if (!stream_->Read(&m)) m.Clear();
  if (m.has_role_change()) epoch_ = m.role_change().lease_epoch();
  return m;
}

grpc::Status WireAgent::Close() {
  stream_->WritesDone();
  adsync::v1::CoordinatorMessage m;
  while (stream_->Read(&m)) {
  }
  return stream_->Finish();
}

adsync::v1::Batch MakeBatch(uint64_t seq, std::vector<DeltaSpec> specs) {
  adsync::v1::Batch b;
  b.set_sequence(seq);
  for (const auto& s : specs) *b.add_deltas() = MakeDelta(s);
  return b;
}

}  // namespace adsync::testing
