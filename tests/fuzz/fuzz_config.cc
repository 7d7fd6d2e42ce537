// Fuzzes the configuration files: text-format protos, then the checks and
// defaults of both the coordinator's and the agent's configuration.
#include <cstddef>
#include <cstdint>

#include "adsync/v1/config.pb.h"
#include "agent/agent_config.h"
#include "common/files.h"
#include "coordinator/coordinator_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  adsync::v1::CoordinatorConfig coordinator;
  if (adsync::ParseTextProto(text, "fuzz", &coordinator).ok())
    (void)adsync::ResolveCoordinatorConfig(coordinator);
  adsync::v1::AgentConfig agent;
  if (adsync::ParseTextProto(text, "fuzz", &agent).ok())
    (void)adsync::ResolveAgentConfig(agent);
  return 0;
}
