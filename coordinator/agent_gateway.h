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
// Thread-safety: the service is used by gRPC's threads; all state is
// internally synchronized.
#ifndef ADSYNC_COORDINATOR_AGENT_GATEWAY_H_
#define ADSYNC_COORDINATOR_AGENT_GATEWAY_H_

#include <cstdint>

#include "adsync/v1/agent.grpc.pb.h"
#include "coordinator/store.h"
#include "coordinator/work_queue.h"

namespace adsync {

struct GatewayOptions {
  uint32_t max_unacked_batches = 8;
  uint32_t max_deltas_per_batch = 1000;
  uint32_t heartbeat_interval_ms = 5000;
};

class AgentGateway final : public adsync::v1::AgentGateway::CallbackService {
 public:
  // REQUIRES: `store` outlives the gateway.
  AgentGateway(Store* store, const GatewayOptions& options)
      : store_(store), options_(options) {}

  grpc::ServerBidiReactor<adsync::v1::AgentMessage,
                          adsync::v1::CoordinatorMessage>*
  Sync(grpc::CallbackServerContext* context) override;

 private:
  class Session;

  Store* const store_;
  const GatewayOptions options_;
  WorkQueue storage_;  // declared last: drained before the rest goes away
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_AGENT_GATEWAY_H_
