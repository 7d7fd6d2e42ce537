#include "agent/windows_service.h"

#include <windows.h>

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/windows_event_log.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/windows_api.h"

namespace adsync {
namespace {

constexpr wchar_t kServiceNameW[] = L"adsync-agent";
constexpr wchar_t kDisplayName[] = L"adsync agent";

// How long `service start` and `service stop` wait. Stopping may wait for
// an LDAP or coordinator call in flight (ldap.timeout_seconds, 30 s by
// default) to return.
constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kStopTimeout = absl::Seconds(60);
// What the service tells the SCM to allow for the same, in milliseconds.
constexpr DWORD kPendingWaitHintMs = 30000;

// The SCM's recovery: restart after 60 s, three times; forget failures
// after a day without one.
constexpr DWORD kRestartDelayMs = 60 * 1000;
constexpr DWORD kFailureResetSeconds = 24 * 60 * 60;

struct ServiceHandleCloser {
  void operator()(SC_HANDLE handle) const { CloseServiceHandle(handle); }
};
using ServiceHandle =
    std::unique_ptr<std::remove_pointer_t<SC_HANDLE>, ServiceHandleCloser>;

const char* StateName(DWORD state) {
  switch (state) {
    case SERVICE_STOPPED:
      return "stopped";
    case SERVICE_START_PENDING:
      return "starting";
    case SERVICE_STOP_PENDING:
      return "stopping";
    case SERVICE_RUNNING:
      return "running";
    case SERVICE_CONTINUE_PENDING:
      return "continuing";
    case SERVICE_PAUSE_PENDING:
      return "pausing";
    case SERVICE_PAUSED:
      return "paused";
  }
  return "in an unknown state";
}

// "cannot <action> service adsync-agent: <system words>; <what to do>".
absl::Status ServiceError(DWORD error, absl::string_view action) {
  const char* next;
  switch (error) {
    case ERROR_ACCESS_DENIED:
      next = "run it from an elevated prompt (Run as administrator)";
      break;
    case ERROR_SERVICE_DOES_NOT_EXIST:
      next = "install it first: adsync-agent.exe service install --config FILE";
      break;
    case ERROR_SERVICE_EXISTS:
      next =
          "it is already installed; to change it, run `adsync-agent.exe "
          "service uninstall`, then install it again";
      break;
    case ERROR_SERVICE_MARKED_FOR_DELETE:
      next =
          "it is being deleted; close the Services console (services.msc) "
          "and anything else that has it open, then try again";
      break;
    case ERROR_INVALID_SERVICE_ACCOUNT:
    case ERROR_SERVICE_LOGON_FAILED:
      next =
          "check the account: a gMSA is DOMAIN\\name$, must be installed on "
          "this machine (Install-ADServiceAccount) and needs the \"Log on as "
          "a service\" right";
      break;
    case ERROR_SERVICE_DISABLED:
      next =
          "it is disabled; set its startup type to Automatic in services.msc";
      break;
    default:
      next =
          "the System event log may have the Service Control Manager's "
          "view of it";
  }
  return absl::Status(Win32ErrorCode(error),
                      absl::StrCat("cannot ", action, " service ", kServiceName,
                                   ": ", Win32ErrorText(error), "; ", next));
}

absl::StatusOr<ServiceHandle> OpenScm(DWORD access) {
  ServiceHandle scm(OpenSCManagerW(nullptr, nullptr, access));
  if (scm == nullptr) {
    return ServiceError(GetLastError(),
                        "reach the Service Control Manager for");
  }
  return scm;
}

absl::StatusOr<ServiceHandle> OpenAgentService(SC_HANDLE scm, DWORD access,
                                               absl::string_view action) {
  ServiceHandle service(OpenServiceW(scm, kServiceNameW, access));
  if (service == nullptr) return ServiceError(GetLastError(), action);
  return service;
}

absl::StatusOr<SERVICE_STATUS_PROCESS> QueryStatus(SC_HANDLE service) {
  SERVICE_STATUS_PROCESS status{};
  DWORD needed = 0;
  if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO,
                            reinterpret_cast<BYTE*>(&status), sizeof(status),
                            &needed)) {
    return ServiceError(GetLastError(), "query the state of");
  }
  return status;
}

// Polls until the service is in `target`, or has stopped while it was to
// reach another state (a failed start); the caller tells which.
absl::StatusOr<SERVICE_STATUS_PROCESS> WaitForState(SC_HANDLE service,
                                                    DWORD target,
                                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    ASSIGN_OR_RETURN(const SERVICE_STATUS_PROCESS status, QueryStatus(service));
    if (status.dwCurrentState == target ||
        status.dwCurrentState == SERVICE_STOPPED) {
      return status;
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "service ", kServiceName, " is still ",
          StateName(status.dwCurrentState), " after ",
          absl::FormatDuration(timeout), " instead of ", StateName(target),
          "; see the Application event log (source ", kEventSourceName,
          ") and try again"));
    }
    Sleep(200);
  }
}

absl::Status StopAndWait(SC_HANDLE service) {
  SERVICE_STATUS ignored;
  if (!ControlService(service, SERVICE_CONTROL_STOP, &ignored)) {
    const DWORD error = GetLastError();
    if (error == ERROR_SERVICE_NOT_ACTIVE) return absl::OkStatus();
    if (error != ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
      return ServiceError(error, "stop");
    }
    // Still starting (then asked again once it runs) or already stopping.
    ASSIGN_OR_RETURN(const SERVICE_STATUS_PROCESS settled,
                     WaitForState(service, SERVICE_RUNNING, kStartTimeout));
    if (settled.dwCurrentState == SERVICE_STOPPED) return absl::OkStatus();
    if (!ControlService(service, SERVICE_CONTROL_STOP, &ignored)) {
      return ServiceError(GetLastError(), "stop");
    }
  }
  return WaitForState(service, SERVICE_STOPPED, kStopTimeout).status();
}

absl::StatusOr<std::string> ThisProgram() {
  std::wstring path(32768, L'\0');
  const DWORD n =
      GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
  if (n == 0 || n == path.size()) {
    return absl::UnknownError(
        absl::StrCat("cannot find the path of adsync-agent.exe: ",
                     Win32ErrorText(GetLastError()),
                     "; run it by its full path from where it is installed"));
  }
  path.resize(n);
  return WideToUtf8(path);
}

absl::StatusOr<std::string> AbsolutePath(const std::string& path) {
  const std::wstring wide = Utf8ToWide(path);
  const DWORD n = GetFullPathNameW(wide.c_str(), 0, nullptr, nullptr);
  std::wstring full(n, L'\0');
  const DWORD written =
      n == 0 ? 0 : GetFullPathNameW(wide.c_str(), n, full.data(), nullptr);
  if (written == 0 || written >= n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot make ", path, " an absolute path: ",
        Win32ErrorText(GetLastError()), "; give --config as C:\\...\\FILE"));
  }
  full.resize(written);
  return WideToUtf8(full);
}

// Everything after CreateServiceW; the caller deletes the service when this
// fails.
absl::Status ConfigureService(SC_HANDLE service, const std::string& program,
                              const std::string& config_path) {
  std::wstring description = Utf8ToWide(absl::StrCat(
      "Sends Active Directory account changes to the adsync coordinator. "
      "Config: ",
      config_path, ". Warnings and errors: Application event log, source ",
      kEventSourceName, "."));
  SERVICE_DESCRIPTIONW description_info{description.data()};
  if (!ChangeServiceConfig2W(service, SERVICE_CONFIG_DESCRIPTION,
                             &description_info)) {
    return ServiceError(GetLastError(), "describe");
  }

  SC_ACTION actions[3];
  for (SC_ACTION& action : actions)
    action = {SC_ACTION_RESTART, kRestartDelayMs};
  SERVICE_FAILURE_ACTIONSW failure_actions{};
  failure_actions.dwResetPeriod = kFailureResetSeconds;
  failure_actions.cActions = 3;
  failure_actions.lpsaActions = actions;
  if (!ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS,
                             &failure_actions)) {
    return ServiceError(GetLastError(),
                        "set the restart-on-failure actions of");
  }
  // Without the flag only a crash counts as a failure, not `service run`
  // stopping with an error. Every Windows since Vista has it; Wine does
  // not, and the service is still useful without it, so this one warns.
  SERVICE_FAILURE_ACTIONS_FLAG on_error_exit{TRUE};
  if (!ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG,
                             &on_error_exit)) {
    Log(LogLevel::kWarning,
        "the service will be restarted after a crash, but not after it stops "
        "with an error: Windows refused SERVICE_CONFIG_FAILURE_ACTIONS_FLAG; "
        "set \"Enable actions for stops with errors\" on the Recovery tab in "
        "services.msc",
        {{"error", Win32ErrorText(GetLastError())}});
  }
  return InstallEventSource(program);
}

// The one service this process serves (`service run`): ServiceMain and the
// control handler are plain callbacks without a context argument.
struct ServiceState {
  std::function<absl::Status(const std::atomic<bool>*,
                             const std::function<void()>&)>
      run;
  std::atomic<bool> stop{false};
  absl::Mutex mutex;  // also orders the status reports
  SERVICE_STATUS_HANDLE status_handle ABSL_GUARDED_BY(mutex) = nullptr;
  DWORD state ABSL_GUARDED_BY(mutex) = SERVICE_STOPPED;
  DWORD check_point ABSL_GUARDED_BY(mutex) = 0;
  absl::Status result ABSL_GUARDED_BY(mutex);
};
ServiceState* service_state = nullptr;

// Reports `state` to the SCM. A stop in progress is never undone by a late
// "running", and nothing follows "stopped".
void Report(DWORD state, bool failed = false) {
  ServiceState& s = *service_state;
  absl::MutexLock lock(&s.mutex);
  if (s.state == SERVICE_STOPPED && state != SERVICE_START_PENDING) return;
  if (s.state == SERVICE_STOP_PENDING && state == SERVICE_RUNNING) return;
  s.state = state;
  SERVICE_STATUS status{};
  status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  status.dwCurrentState = state;
  status.dwControlsAccepted =
      state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN
                               : 0;
  status.dwWin32ExitCode = failed ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
  status.dwServiceSpecificExitCode = failed ? 1 : 0;
  const bool pending =
      state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
  status.dwCheckPoint = pending ? ++s.check_point : 0;
  status.dwWaitHint = pending ? kPendingWaitHintMs : 0;
  SetServiceStatus(s.status_handle, &status);
}

DWORD WINAPI ControlHandler(DWORD control, DWORD, void*, void*) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      service_state->stop = true;
      Report(SERVICE_STOP_PENDING);
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI ServiceMain(DWORD, wchar_t**) {
  ServiceState& s = *service_state;
  SERVICE_STATUS_HANDLE handle =
      RegisterServiceCtrlHandlerExW(kServiceNameW, ControlHandler, nullptr);
  if (handle == nullptr) {
    absl::MutexLock lock(&s.mutex);
    s.result = ServiceError(GetLastError(), "take control requests for");
    return;
  }
  {
    absl::MutexLock lock(&s.mutex);
    s.status_handle = handle;
  }
  Report(SERVICE_START_PENDING);
  absl::Status result = s.run(&s.stop, [] { Report(SERVICE_RUNNING); });
  {
    absl::MutexLock lock(&s.mutex);
    s.result = result;
  }
  Report(SERVICE_STOPPED, /*failed=*/!result.ok());
}

}  // namespace

absl::Status InstallAgentService(const ServiceInstallOptions& options) {
  ASSIGN_OR_RETURN(const std::string program, ThisProgram());
  ASSIGN_OR_RETURN(const std::string config, AbsolutePath(options.config_path));
  const std::wstring command = Utf8ToWide(
      absl::StrCat(QuoteWindowsArgument(program), " service run --config ",
                   QuoteWindowsArgument(config)));
  const std::wstring account = Utf8ToWide(options.account);

  ASSIGN_OR_RETURN(ServiceHandle scm, OpenScm(SC_MANAGER_CREATE_SERVICE));
  ServiceHandle service(CreateServiceW(
      scm.get(), kServiceNameW, kDisplayName, SERVICE_ALL_ACCESS,
      SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
      command.c_str(), /*lpLoadOrderGroup=*/nullptr, /*lpdwTagId=*/nullptr,
      /*lpDependencies=*/nullptr, account.empty() ? nullptr : account.c_str(),
      /*lpPassword=*/nullptr));
  if (service == nullptr) return ServiceError(GetLastError(), "create");
  absl::Status configured = ConfigureService(service.get(), program, config);
  if (!configured.ok()) {
    DeleteService(service.get());
    RemoveEventSource().IgnoreError();  // `configured` says what went wrong
  }
  return configured;
}

absl::Status UninstallAgentService() {
  ASSIGN_OR_RETURN(ServiceHandle scm, OpenScm(SC_MANAGER_CONNECT));
  ServiceHandle service(OpenServiceW(
      scm.get(), kServiceNameW, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE));
  if (service == nullptr) {
    const DWORD error = GetLastError();
    if (error != ERROR_SERVICE_DOES_NOT_EXIST) {
      return ServiceError(error, "open");
    }
    RETURN_IF_ERROR(RemoveEventSource());
    return absl::NotFoundError(absl::StrCat(
        "service ", kServiceName, " is not installed; nothing to uninstall"));
  }
  RETURN_IF_ERROR(StopAndWait(service.get()));
  if (!DeleteService(service.get())) {
    return ServiceError(GetLastError(), "delete");
  }
  return RemoveEventSource();
}

absl::Status StartAgentService() {
  ASSIGN_OR_RETURN(ServiceHandle scm, OpenScm(SC_MANAGER_CONNECT));
  ASSIGN_OR_RETURN(
      ServiceHandle service,
      OpenAgentService(scm.get(), SERVICE_START | SERVICE_QUERY_STATUS,
                       "start"));
  if (!StartServiceW(service.get(), 0, nullptr)) {
    const DWORD error = GetLastError();
    if (error == ERROR_SERVICE_ALREADY_RUNNING) return absl::OkStatus();
    return ServiceError(error, "start");
  }
  ASSIGN_OR_RETURN(const SERVICE_STATUS_PROCESS status,
                   WaitForState(service.get(), SERVICE_RUNNING, kStartTimeout));
  if (status.dwCurrentState == SERVICE_STOPPED) {
    const std::string why =
        status.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR
            ? std::string("it stopped with an error")
            : Win32ErrorText(status.dwWin32ExitCode);
    return absl::FailedPreconditionError(
        absl::StrCat("service ", kServiceName, " stopped while starting (", why,
                     "); Event Viewer > Windows Logs > Application, source ",
                     kEventSourceName,
                     ", says why (`adsync-agent.exe check-config "
                     "--config FILE` shows config and secret problems here)"));
  }
  return absl::OkStatus();
}

absl::Status StopAgentService() {
  ASSIGN_OR_RETURN(ServiceHandle scm, OpenScm(SC_MANAGER_CONNECT));
  ASSIGN_OR_RETURN(
      ServiceHandle service,
      OpenAgentService(scm.get(), SERVICE_STOP | SERVICE_QUERY_STATUS, "stop"));
  return StopAndWait(service.get());
}

absl::Status RunAsService(
    std::function<absl::Status(const std::atomic<bool>* stop,
                               const std::function<void()>& report_running)>
        run) {
  ServiceState state;
  state.run = std::move(run);
  service_state = &state;
  SERVICE_TABLE_ENTRYW table[] = {
      {const_cast<wchar_t*>(kServiceNameW), ServiceMain}, {nullptr, nullptr}};
  const bool dispatched = StartServiceCtrlDispatcherW(table);
  const DWORD error = GetLastError();
  // The dispatcher returns once the service has reported SERVICE_STOPPED;
  // ServiceMain's thread touches `state` no more after that.
  absl::MutexLock lock(&state.mutex);
  service_state = nullptr;
  if (!dispatched) {
    if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
      return absl::FailedPreconditionError(
          "`service run` is what the Service Control Manager starts for the "
          "installed service; to run the agent in this console use "
          "`adsync-agent.exe --config FILE`, to start the service `"
          "adsync-agent.exe service start`");
    }
    return ServiceError(error, "run as");
  }
  return state.result;
}

}  // namespace adsync
