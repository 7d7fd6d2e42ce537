// adsync-coordinator: adsync-coordinator --config FILE
#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/files.h"
#include "common/log.h"
#include "coordinator/coordinator_server.h"

ABSL_FLAG(std::string, config, "", "coordinator config (text-format proto)");

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void OnSignal(int) { stop_requested = 1; }
}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "adsync-coordinator --config /etc/adsync/coordinator.textproto");
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::fprintf(stderr, "error: --config is required (see configs/coordinator.textproto)\n");
    return 2;
  }
  adsync::v1::CoordinatorConfig config;
  if (absl::Status s = adsync::LoadTextProtoFile(path, &config); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  adsync::SetLogFormat(config.log_format());
  auto server = adsync::CoordinatorServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  adsync::Log(adsync::LogLevel::kInfo, "coordinator stopping");
  (*server)->Shutdown();
  return 0;
}
