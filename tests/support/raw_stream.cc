#include "tests/support/raw_stream.h"

namespace adsync::testing {

grpc::ByteBuffer Serialize(const google::protobuf::MessageLite& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

RawStream::RawStream(const std::string& target,
                     std::shared_ptr<grpc::ChannelCredentials> credentials,
                     absl::Duration deadline) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);  // hostile agents send what they like
  channel_ = grpc::CreateCustomChannel(target, credentials, args);
  stub_ = std::make_unique<grpc::GenericStub>(channel_);
  context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  call_ = stub_->PrepareCall(&context_, "/adsync.v1.AgentGateway/Sync", &cq_);
  call_->StartCall(this);
  started_ = Await(this);
}

RawStream::~RawStream() {
  if (!closed_) {
    context_.TryCancel();
    if (started_) {
      grpc::Status status;
      call_->Finish(&status, this);
      Await(this);
    }
  }
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

bool RawStream::Await(void* tag) {
  void* got = nullptr;
  bool ok = false;
  if (!cq_.Next(&got, &ok) || got != tag) return false;
  return ok;
}

bool RawStream::Write(const grpc::ByteBuffer& bytes) {
  if (!started_) return false;
  call_->Write(bytes, this);
  return Await(this);
}

std::optional<adsync::v1::CoordinatorMessage> RawStream::Read() {
  if (!started_) return std::nullopt;
  grpc::ByteBuffer bytes;
  call_->Read(&bytes, this);
  if (!Await(this)) return std::nullopt;
  adsync::v1::CoordinatorMessage message;
  std::string flat;
  std::vector<grpc::Slice> slices;
  if (!bytes.Dump(&slices).ok()) return std::nullopt;
  for (const grpc::Slice& s : slices)
    flat.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (!message.ParseFromString(flat)) return std::nullopt;
  return message;
}

grpc::Status RawStream::Close() {
  if (!started_)
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the stream never started");
  call_->WritesDone(this);
  Await(this);
  while (Read().has_value()) {
  }
  grpc::Status status;
  call_->Finish(&status, this);
  Await(this);
  closed_ = true;
  return status;
}

}  // namespace adsync::testing
