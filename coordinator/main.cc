// adsync-coordinator: adsync-coordinator --config FILE
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/files.h"
#include "common/log.h"
#include "coordinator/coordinator_server.h"

ABSL_FLAG(std::string, config, "", "coordinator config (text-format proto)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "adsync-coordinator --config /etc/adsync/coordinator.textproto");
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::fprintf(
        stderr,
        "error: --config is required (see configs/coordinator.textproto)\n");
    return 2;
  }
  adsync::v1::CoordinatorConfig config;
  if (absl::Status s = adsync::LoadTextProtoFile(path, &config); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  adsync::SetLogFormat(config.log_format());
  // Block SIGINT/SIGTERM in every thread (gRPC's threads inherit the mask)
  // and take them synchronously below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto server = adsync::CoordinatorServer::Start(config);
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  adsync::Log(adsync::LogLevel::kInfo, "coordinator stopping");
  (*server)->Shutdown();
  server->reset();
  adsync::Log(adsync::LogLevel::kInfo, "coordinator stopped");
  // The servers and the store are closed; skip gRPC's library teardown,
  // which waits seconds for its internal threads at exit.
  std::fflush(nullptr);
  std::_Exit(0);
}
