// An in-process AgentGateway whose side of every Sync stream is a function
// the test writes, for testing the agent's end (CoordinatorLink, Agent) over
// real gRPC on loopback without a coordinator or its store. Header-only: it
// needs nothing the agent library does not already link.
#ifndef ADSYNC_TESTS_SCRIPTED_GATEWAY_H_
#define ADSYNC_TESTS_SCRIPTED_GATEWAY_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "adsync/v1/agent.grpc.pb.h"

namespace adsync::testing {

class ScriptedGateway final : public adsync::v1::AgentGateway::Service {
 public:
  using Stream = grpc::ServerReaderWriter<adsync::v1::CoordinatorMessage,
                                          adsync::v1::AgentMessage>;
  // Plays the coordinator's side of one stream; runs once per stream (an
  // agent that reconnects runs it again), on a gRPC thread.
  using Script = std::function<grpc::Status(Stream*)>;

  // Listens on 127.0.0.1, any free port; plaintext unless `credentials`.
  explicit ScriptedGateway(
      Script script,
      std::shared_ptr<grpc::ServerCredentials> credentials = nullptr)
      : script_(std::move(script)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        "127.0.0.1:0",
        credentials ? credentials : grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) std::abort();  // loopback is broken
  }
  // Cancels streams still open after a second, so a script blocked in Read
  // returns (its Read fails) instead of hanging the test.
  ~ScriptedGateway() override {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  grpc::Status Sync(grpc::ServerContext*, Stream* stream) override {
    return script_(stream);
  }

 private:
  const Script script_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Messages a script sends.
inline adsync::v1::CoordinatorMessage HelloResultMessage(
    adsync::v1::HelloResult result) {
  adsync::v1::CoordinatorMessage m;
  *m.mutable_hello_result() = std::move(result);
  return m;
}
inline adsync::v1::CoordinatorMessage AckMessage(uint64_t sequence) {
  adsync::v1::CoordinatorMessage m;
  m.mutable_ack()->set_sequence(sequence);
  return m;
}
inline adsync::v1::CoordinatorMessage RoleChangeMessage(
    adsync::v1::RoleChange change) {
  adsync::v1::CoordinatorMessage m;
  *m.mutable_role_change() = std::move(change);
  return m;
}

// Reads until the agent ends the stream (or it is cancelled); what a script
// does once it has nothing more to say but must keep the stream open.
inline grpc::Status DrainUntilClosed(ScriptedGateway::Stream* stream) {
  adsync::v1::AgentMessage m;
  while (stream->Read(&m)) {
  }
  return grpc::Status::OK;
}

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_SCRIPTED_GATEWAY_H_
