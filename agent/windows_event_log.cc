#include "agent/windows_event_log.h"

#include <windows.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/windows_api.h"

namespace adsync {
namespace {

constexpr wchar_t kSourceKey[] =
    L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\"
    L"adsync-agent";

// The message of agent/windows_event_log.rc ("%1").
constexpr DWORD kLogLineEventId = 1;

// ReportEventW refuses strings over 31,839 characters; a log line that
// long (a huge LDAP error) is cut rather than lost.
constexpr size_t kMaxEventBytes = 31000;

absl::Status RegistryError(LONG error, absl::string_view action) {
  std::string next = "; check the registry key";
  if (Win32ErrorCode(error) == absl::StatusCode::kPermissionDenied)
    next = "; run it from an elevated prompt (Run as administrator)";
  return absl::Status(
      Win32ErrorCode(error),
      absl::StrCat("cannot ", action, " the event source ", kEventSourceName,
                   " (HKLM\\", WideToUtf8(kSourceKey),
                   "): ", Win32ErrorText(error), next));
}

}  // namespace

absl::Status InstallEventSource(const std::string& message_file) {
  HKEY key = nullptr;
  LONG error = RegCreateKeyExW(HKEY_LOCAL_MACHINE, kSourceKey, 0, nullptr, 0,
                               KEY_SET_VALUE, nullptr, &key, nullptr);
  if (error != ERROR_SUCCESS) return RegistryError(error, "register");
  const std::wstring file = Utf8ToWide(message_file);
  const DWORD types =
      EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
  error =
      RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ,
                     reinterpret_cast<const BYTE*>(file.c_str()),
                     static_cast<DWORD>((file.size() + 1) * sizeof(wchar_t)));
  if (error == ERROR_SUCCESS) {
    error =
        RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD,
                       reinterpret_cast<const BYTE*>(&types), sizeof(types));
  }
  RegCloseKey(key);
  if (error != ERROR_SUCCESS) return RegistryError(error, "register");
  return absl::OkStatus();
}

absl::Status RemoveEventSource() {
  const LONG error = RegDeleteKeyW(HKEY_LOCAL_MACHINE, kSourceKey);
  if (error == ERROR_SUCCESS || error == ERROR_FILE_NOT_FOUND)
    return absl::OkStatus();
  return RegistryError(error, "remove");
}

absl::StatusOr<LogSink> MakeEventLogSink() {
  HANDLE source =
      RegisterEventSourceW(nullptr, Utf8ToWide(kEventSourceName).c_str());
  if (source == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open the Windows event log as ", kEventSourceName, ": ",
        Win32ErrorText(GetLastError()),
        "; check that the Windows Event Log service is running (warnings "
        "and errors still go to the console)"));
  }
  // Shared by the sink's copies; closed when the last one goes.
  std::shared_ptr<void> handle(source,
                               [](HANDLE h) { DeregisterEventSource(h); });
  return LogSink([handle](LogLevel level, const std::string& line) {
    if (level == LogLevel::kInfo) return;
    const std::wstring text =
        Utf8ToWide(absl::string_view(line).substr(0, kMaxEventBytes));
    const wchar_t* strings[] = {text.c_str()};
    // Nowhere to report a failure: the line is on the console already, and
    // the sink must not log (common/log.h).
    ReportEventW(
        handle.get(),
        level == LogLevel::kError ? EVENTLOG_ERROR_TYPE : EVENTLOG_WARNING_TYPE,
        /*wCategory=*/0, kLogLineEventId, /*lpUserSid=*/nullptr,
        /*wNumStrings=*/1, /*dwDataSize=*/0, strings,
        /*lpRawData=*/nullptr);
  });
}

}  // namespace adsync
