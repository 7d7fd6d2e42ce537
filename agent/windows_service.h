// The agent as the Windows service "adsync-agent" (display name "adsync
// agent"): `adsync-agent.exe service install|uninstall|start|stop` manage it
// through the Service Control Manager, and the SCM starts it as
// `adsync-agent.exe service run --config PATH`, which RunAsService serves.
//
// Account: LocalSystem unless install is given one. Least privilege is a
// group Managed Service Account (gMSA, "DISTRICT\svc-adsync$"): it has no
// password to store, and AD itself rotates it. It then needs the "Log on as
// a service" right, read access to the config, the secret files (icacls FILE
// /grant DISTRICT\svc-adsync$:R) and the CA files, and read access in AD to
// the accounts it syncs (Authenticated Users have it by default). Accounts
// with a password are not supported: the command line would show it.
//
// Recovery: the SCM restarts the service 60 s after a failure, three times,
// and counts failures afresh after a day. A failure is a crash or `service
// run` stopping with an error (a config or secret that became unusable);
// the agent retries DC and coordinator outages itself without stopping.
//
// Windows builds only. Install/Uninstall/Start/Stop: any thread; they need
// an elevated prompt (PermissionDenied says so). RunAsService: once per
// process, from main's thread.
#ifndef ADSYNC_AGENT_WINDOWS_SERVICE_H_
#define ADSYNC_AGENT_WINDOWS_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace adsync {

inline constexpr char kServiceName[] = "adsync-agent";

struct ServiceInstallOptions {
  // The agent's config; made absolute, since services start in System32.
  // The caller has checked it (config, secrets) so that a service that
  // cannot start is never installed.
  std::string config_path;
  // "DOMAIN\name$" (a gMSA) or a built-in account such as
  // "NT AUTHORITY\LocalService"; empty for LocalSystem.
  std::string account;
};

// Creates the service (automatic start, restart on failure) running this
// .exe with `service run --config PATH`, and registers the event source
// (agent/windows_event_log.h) with this .exe's messages. All or nothing: a
// failed step removes what the earlier ones made. AlreadyExists when the
// service exists.
absl::Status InstallAgentService(const ServiceInstallOptions& options);

// Stops the service if it runs, deletes it and removes the event source.
// NotFound when it is not installed (the event source is removed anyway).
absl::Status UninstallAgentService();

// Starts the service and waits until it runs. When it stops instead (a bad
// config or secret), FailedPrecondition points at the Application event log,
// where `service run` logged why. OK when it already runs.
absl::Status StartAgentService();

// Stops the service and waits until it has stopped. OK when not running.
absl::Status StopAgentService();

// `service run`: hands this thread to the SCM, which calls `run` on its
// service thread. The service reports SERVICE_START_PENDING until `run`
// calls `report_running` (once the config and secrets have loaded, so that
// `service start` sees a bad config as a failed start), SERVICE_STOP_PENDING
// when the SCM sends SERVICE_CONTROL_STOP or SERVICE_CONTROL_SHUTDOWN (which
// also set `*stop`, for `run` to return), and SERVICE_STOPPED once `run`
// returns: with service-specific exit code 1 when it failed, so that the
// recovery actions apply. `run` logs its own failure (the event log sink
// takes it); this returns it too. FailedPrecondition when this process was
// not started by the SCM (e.g. from a console).
absl::Status RunAsService(
    std::function<absl::Status(const std::atomic<bool>* stop,
                               const std::function<void()>& report_running)>
        run);

}  // namespace adsync

#endif  // ADSYNC_AGENT_WINDOWS_SERVICE_H_
