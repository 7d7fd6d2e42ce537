// adsync-agent --config FILE [--once]
// adsync-agent print-task --config FILE [--program PATH]
#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "agent/agent.h"
#include "common/files.h"
#include "common/log.h"

ABSL_FLAG(std::string, config, "", "agent config (text-format proto)");
ABSL_FLAG(bool, once, false,
          "run one sync cycle and exit (for scheduled tasks)");
ABSL_FLAG(std::string, program, "C:\\Program Files\\adsync\\adsync-agent.exe",
          "print-task: the agent's path on the Windows host");

namespace {
std::atomic<bool> stop_requested{false};
void OnSignal(int) { stop_requested = true; }

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "adsync-agent --config FILE [--once] | adsync-agent print-task --config "
      "FILE");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::fprintf(stderr,
                 "error: --config is required (see configs/agent.textproto)\n");
    return 2;
  }
  if (positional.size() > 1 && std::string(positional[1]) == "print-task") {
    std::printf(
        "%s",
        adsync::FormatWindowsTask(absl::GetFlag(FLAGS_program), path).c_str());
    return 0;
  }
  if (positional.size() > 1) {
    std::fprintf(
        stderr,
        "error: unknown command \"%s\"; the only command is print-task\n",
        positional[1]);
    return 2;
  }
  adsync::v1::AgentConfig raw;
  if (absl::Status s = adsync::LoadTextProtoFile(path, &raw); !s.ok())
    return Fail(s);
  auto config = adsync::ResolveAgentConfig(raw);
  if (!config.ok()) return Fail(config.status());
  adsync::SetLogFormat(config->log_format());
  auto secrets = adsync::LoadAgentSecrets(*config);
  if (!secrets.ok()) return Fail(secrets.status());
  adsync::Agent agent(*config, *secrets,
                      adsync::MakeLdapDirectoryFactory(*config, *secrets));
  if (absl::GetFlag(FLAGS_once)) {
    absl::Status s = agent.RunOnce();
    if (!s.ok()) return Fail(s);
    adsync::Log(adsync::LogLevel::kInfo, "sync cycle complete");
    return 0;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  agent.RunForever(&stop_requested);
  adsync::Log(adsync::LogLevel::kInfo, "agent stopped");
  return 0;
}
