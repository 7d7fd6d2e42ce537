// A client stream to the agent gateway that sends bytes, not messages: the
// exact wire bytes of a hostile agent (malformed protos), or messages
// serialized ahead of time so that a benchmark's synthetic agent costs
// almost nothing while it is measured. Operations run one at a time.
// Not thread-safe.
#ifndef ADSYNC_TESTS_RAW_STREAM_H_
#define ADSYNC_TESTS_RAW_STREAM_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "adsync/v1/agent.pb.h"

namespace adsync::testing {

// `message` as the bytes gRPC would put on the wire for it.
grpc::ByteBuffer Serialize(const google::protobuf::MessageLite& message);

class RawStream {
 public:
  RawStream(const std::string& target,
            std::shared_ptr<grpc::ChannelCredentials> credentials,
            absl::Duration deadline);
  ~RawStream();

  // False when the stream has ended.
  bool Write(const grpc::ByteBuffer& bytes);
  bool Write(const adsync::v1::AgentMessage& message) {
    return Write(Serialize(message));
  }
  // The next message from the coordinator; nullopt when the stream ended.
  std::optional<adsync::v1::CoordinatorMessage> Read();
  // Half-closes, drains and returns the coordinator's final status.
  grpc::Status Close();

 private:
  bool Await(void* tag);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
  bool closed_ = false;
};

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_RAW_STREAM_H_
