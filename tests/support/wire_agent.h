// A scripted agent that speaks the wire protocol directly over real gRPC,
// for tests that need exact control of what an agent sends.
#ifndef ADSYNC_TESTS_WIRE_AGENT_H_
#define ADSYNC_TESTS_WIRE_AGENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "adsync/v1/agent.grpc.pb.h"
#include "tests/support/test_util.h"

namespace adsync::testing {

class WireAgent {
 public:
  // `deadline`: the whole stream's (a deadline on every call).
  // `credentials`: plaintext when null.
  explicit WireAgent(
      const std::string& target, absl::Duration deadline = absl::Seconds(30),
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);
  adsync::v1::CoordinatorMessage Hello(const std::string& org,
                                       const std::string& key,
                                       const std::string& invocation);
  // Sends `hello` as it is and returns the reply (empty when the stream
  // ended instead).
  adsync::v1::CoordinatorMessage SendHello(const adsync::v1::Hello& hello);
  void Heartbeat();
  // Stamps the lease epoch from the Hello (or the last RoleChange) unless
  // the batch sets one.
  void Send(adsync::v1::Batch batch);
  uint64_t epoch() const { return epoch_; }
  adsync::v1::CoordinatorMessage Read();  // empty message when the stream ended
  grpc::Status Close();

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<adsync::v1::AgentGateway::Stub> stub_;
  grpc::ClientContext context_;
  uint64_t epoch_ = 0;
  std::unique_ptr<grpc::ClientReaderWriter<adsync::v1::AgentMessage,
                                           adsync::v1::CoordinatorMessage>>
      stream_;
};

adsync::v1::Batch MakeBatch(uint64_t seq, std::vector<DeltaSpec> specs);

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_WIRE_AGENT_H_
