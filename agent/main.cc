// adsync-agent: the agent and its commands, on Linux and Windows.
//
//   adsync-agent --config FILE [--once]        run until stopped (or one cycle)
//   adsync-agent check-config --config FILE    load the config and secrets
//   adsync-agent print-task --config FILE [--program PATH]
// Windows (adsync-agent.exe) only:
//   service install --config FILE [--account DOMAIN\name$]
//   service uninstall | start | stop
//   service run --config FILE                  what the SCM starts
//   protect-secret --in FILE|- --out FILE
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status_macros.h"

#ifdef _WIN32
#include <windows.h>
// Windows headers after windows.h.
#include <shellapi.h>

#include "agent/windows_event_log.h"
#include "agent/windows_secret_file.h"
#include "agent/windows_service.h"
#include "common/private_file.h"
#include "common/windows_api.h"
#endif

ABSL_FLAG(std::string, config, "", "agent config (text-format proto)");
ABSL_FLAG(bool, once, false,
          "run one sync cycle and exit (for scheduled tasks)");
ABSL_FLAG(std::string, program, "C:\\Program Files\\adsync\\adsync-agent.exe",
          "print-task: the agent's path on the Windows host");
ABSL_FLAG(std::string, account, "",
          "service install: the account to run as, e.g. a gMSA "
          "DOMAIN\\svc-adsync$ (default LocalSystem)");
ABSL_FLAG(std::string, in, "",
          "protect-secret: the file holding the secret, or - to type it");
ABSL_FLAG(std::string, out, "",
          "protect-secret: the secret file to write for the agent");

namespace {

std::atomic<bool> stop_requested{false};
void OnSignal(int) { stop_requested = true; }

// Operator mistakes on the command line: exit code 2.
int UsageError(const std::string& message) {
  std::fprintf(stderr, "error: %s (see adsync-agent --help)\n",
               message.c_str());
  return 2;
}

// A command that could not be done: exit code 1.
int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
  return 1;
}

// The value of a flag the command needs, or empty after reporting it.
std::string Required(const absl::Flag<std::string>& flag, const char* name,
                     const char* example) {
  std::string value = absl::GetFlag(flag);
  if (value.empty()) {
    UsageError(
        absl::StrCat("--", name, " is required, e.g. --", name, " ", example));
  }
  return value;
}

std::string RequiredConfig() {
  return Required(FLAGS_config, "config",
                  "agent.textproto (see configs/agent.textproto)");
}

struct LoadedConfig {
  adsync::v1::AgentConfig config;
  adsync::AgentSecrets secrets;
};

// Everything the agent checks before it starts: the config's syntax and
// values, and the secret files (private, readable, decryptable). On
// Windows also that only administrators (and the agent's account) can
// change the config and the CA files: whoever can could point the agent at
// a coordinator of their own, which it would send the AD Sync key.
absl::StatusOr<LoadedConfig> LoadConfig(const std::string& path) {
#ifdef _WIN32
  RETURN_IF_ERROR(adsync::CheckFileIsAdminWritable(path, "config file"));
#endif
  adsync::v1::AgentConfig raw;
  RETURN_IF_ERROR(adsync::LoadTextProtoFile(path, &raw));
  LoadedConfig loaded;
  ASSIGN_OR_RETURN(loaded.config, adsync::ResolveAgentConfig(raw));
#ifdef _WIN32
  if (!loaded.config.ldap().ca_file().empty()) {
    RETURN_IF_ERROR(adsync::CheckFileIsAdminWritable(
        loaded.config.ldap().ca_file(), "CA file (ldap.ca_file)"));
  }
  if (!loaded.config.coordinator_ca_file().empty()) {
    RETURN_IF_ERROR(adsync::CheckFileIsAdminWritable(
        loaded.config.coordinator_ca_file(), "CA file (coordinator_ca_file)"));
  }
#endif
  ASSIGN_OR_RETURN(loaded.secrets, adsync::LoadAgentSecrets(loaded.config));
  return loaded;
}

// Sends warnings and errors to the Windows event log as well (the console
// of a service or scheduled task is seen by nobody).
void UseEventLog() {
#ifdef _WIN32
  absl::StatusOr<adsync::LogSink> sink = adsync::MakeEventLogSink();
  if (sink.ok()) {
    adsync::SetLogSink(*std::move(sink));
  } else {
    adsync::Log(adsync::LogLevel::kWarning,
                std::string(sink.status().message()));
  }
#endif
}

// The agent itself, from a console or as the service. Logs why it stops
// when it fails (so that the event log has it). `running` is called once
// the config and secrets have loaded.
absl::Status RunAgent(const std::string& path, bool once,
                      const std::atomic<bool>* stop,
                      const std::function<void()>& running) {
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(path);
  if (!loaded.ok()) {
    adsync::Log(adsync::LogLevel::kError,
                std::string(loaded.status().message()));
    return loaded.status();
  }
  adsync::SetLogFormat(loaded->config.log_format());
  adsync::Agent agent(
      loaded->config, loaded->secrets,
      adsync::MakeLdapDirectoryFactory(loaded->config, loaded->secrets));
  running();
  if (once) {
    absl::Status s = agent.RunOnce();
    if (!s.ok()) {
      adsync::Log(adsync::LogLevel::kError, "sync cycle failed",
                  {{"error", std::string(s.message())}});
      return s;
    }
    adsync::Log(adsync::LogLevel::kInfo, "sync cycle complete");
    return absl::OkStatus();
  }
  agent.RunForever(stop);
  adsync::Log(adsync::LogLevel::kInfo, "agent stopped");
  return absl::OkStatus();
}

int RunAgentCommand() {
  const std::string path = RequiredConfig();
  if (path.empty()) return 2;
  UseEventLog();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  return RunAgent(path, absl::GetFlag(FLAGS_once), &stop_requested, [] {}).ok()
             ? 0
             : 1;
}

int CheckConfigCommand() {
  const std::string path = RequiredConfig();
  if (path.empty()) return 2;
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(path);
  if (!loaded.ok()) return Fail(loaded.status());
  const adsync::v1::AgentConfig& c = loaded->config;
  std::printf(
      "config OK: %s (coordinator %s, domain %s, DC %s); the secret files "
      "are private and readable\n",
      path.c_str(), c.coordinator().c_str(), c.domain().c_str(),
      c.ldap().uri().c_str());
  return 0;
}

int PrintTaskCommand() {
  const std::string path = RequiredConfig();
  if (path.empty()) return 2;
  std::printf(
      "%s",
      adsync::FormatWindowsTask(absl::GetFlag(FLAGS_program), path).c_str());
  return 0;
}

#ifdef _WIN32

int ServiceInstallCommand() {
  const std::string path = RequiredConfig();
  if (path.empty()) return 2;
  // A service that cannot start is worse than none: it fails at every boot.
  if (absl::StatusOr<LoadedConfig> loaded = LoadConfig(path); !loaded.ok()) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
        "not installing the service: ", loaded.status().message())));
  }
  const std::string account = absl::GetFlag(FLAGS_account);
  if (absl::Status s = adsync::InstallAgentService({path, account}); !s.ok())
    return Fail(s);
  std::printf(
      "installed service %s (automatic start, as %s, restarted on failure); "
      "start it with `adsync-agent.exe service start`\n",
      adsync::kServiceName, account.empty() ? "LocalSystem" : account.c_str());
  return 0;
}

int ServiceUninstallCommand() {
  if (absl::Status s = adsync::UninstallAgentService(); !s.ok()) return Fail(s);
  std::printf("uninstalled service %s\n", adsync::kServiceName);
  return 0;
}

int ServiceStartCommand() {
  if (absl::Status s = adsync::StartAgentService(); !s.ok()) return Fail(s);
  std::printf("service %s is running\n", adsync::kServiceName);
  return 0;
}

int ServiceStopCommand() {
  if (absl::Status s = adsync::StopAgentService(); !s.ok()) return Fail(s);
  std::printf("service %s is stopped\n", adsync::kServiceName);
  return 0;
}

int ServiceRunCommand() {
  const std::string path = RequiredConfig();
  if (path.empty()) return 2;
  UseEventLog();
  absl::Status s =
      adsync::RunAsService([&path](const std::atomic<bool>* stop,
                                   const std::function<void()>& running) {
        return RunAgent(path, /*once=*/false, stop, running);
      });
  return s.ok() ? 0 : Fail(s);
}

int ProtectSecretCommand() {
  const std::string in =
      Required(FLAGS_in, "in", "sync.key.txt (or - to type the secret)");
  if (in.empty()) return 2;
  const std::string out =
      Required(FLAGS_out, "out", "C:\\ProgramData\\adsync\\sync.key");
  if (out.empty()) return 2;
  absl::StatusOr<std::string> secret = adsync::ReadSecretToProtect(in);
  if (!secret.ok()) return Fail(secret.status());
  absl::Status s = adsync::WriteProtectedSecretFile(out, *secret);
  SecureZeroMemory(secret->data(), secret->size());
  if (!s.ok()) return Fail(s);
  std::printf(
      "wrote %s: encrypted with DPAPI for this machine, readable by SYSTEM "
      "and Administrators only, read back and checked. If the service runs "
      "as a gMSA, also run: icacls \"%s\" /grant DOMAIN\\name$:R\n",
      out.c_str(), out.c_str());
  if (in != "-" && in != out) {
    std::printf("delete %s now: it holds the secret in plain text\n",
                in.c_str());
  }
  return 0;
}

// The command line as UTF-8, the encoding of the config and of every path
// the agent hands to Windows; MinGW's argv is in the ANSI code page.
std::vector<std::string> Utf8Arguments(int argc, char** argv) {
  int count = 0;
  wchar_t** wide = CommandLineToArgvW(GetCommandLineW(), &count);
  if (wide == nullptr) return std::vector<std::string>(argv, argv + argc);
  std::vector<std::string> args;
  for (int i = 0; i < count; ++i) args.push_back(adsync::WideToUtf8(wide[i]));
  LocalFree(wide);
  return args;
}

#define ADSYNC_WINDOWS_ONLY(command) command
#else
#define ADSYNC_WINDOWS_ONLY(command) nullptr
#endif  // _WIN32

struct Command {
  const char* words;  // after the program name; "" for the agent itself
  const char* flags;  // for the usage message
  int (*run)();       // nullptr: exists only in adsync-agent.exe
};

constexpr Command kCommands[] = {
    {"", "--config FILE [--once]", RunAgentCommand},
    {"check-config", "--config FILE", CheckConfigCommand},
    {"print-task", "--config FILE [--program PATH]", PrintTaskCommand},
    {"service install", "--config FILE [--account DOMAIN\\name$]",
     ADSYNC_WINDOWS_ONLY(ServiceInstallCommand)},
    {"service uninstall", "", ADSYNC_WINDOWS_ONLY(ServiceUninstallCommand)},
    {"service start", "", ADSYNC_WINDOWS_ONLY(ServiceStartCommand)},
    {"service stop", "", ADSYNC_WINDOWS_ONLY(ServiceStopCommand)},
    {"service run", "--config FILE", ADSYNC_WINDOWS_ONLY(ServiceRunCommand)},
    {"protect-secret", "--in FILE|- --out FILE",
     ADSYNC_WINDOWS_ONLY(ProtectSecretCommand)},
};

std::string Usage() {
  std::string usage = "the adsync agent. Commands:";
  for (const Command& c : kCommands) {
    absl::StrAppend(&usage, "\n  adsync-agent", c.run ? "" : ".exe",
                    *c.words ? " " : "", c.words, *c.flags ? " " : "", c.flags);
  }
  return usage;
}

// --help lists this file's flags (absl's default expects a file named
// after the program).
bool IsThisFile(absl::string_view file) {
  return absl::EndsWith(file, "agent/main.cc");
}

}  // namespace

int main(int argc, char** argv) {
#ifdef _WIN32
  std::vector<std::string> args = Utf8Arguments(argc, argv);
  std::vector<char*> arg_pointers;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  argc = static_cast<int>(arg_pointers.size());
  argv = arg_pointers.data();
#endif
  absl::SetProgramUsageMessage(Usage());
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsThisFile;
  usage_config.contains_helpshort_flags = IsThisFile;
  absl::SetFlagsUsageConfig(usage_config);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  const std::string words =
      absl::StrJoin(positional.begin() + 1, positional.end(), " ");
  for (const Command& command : kCommands) {
    if (words != command.words) continue;
    if (command.run == nullptr) {
      return UsageError(absl::StrCat(
          "`adsync-agent ", words,
          "` exists only in the Windows agent, adsync-agent.exe; on Linux "
          "run `adsync-agent --config FILE` under systemd and keep secrets in "
          "files of mode 600"));
    }
    return command.run();
  }
  return UsageError(absl::StrCat("unknown command \"", words, "\""));
}
