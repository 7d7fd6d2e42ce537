// The agent's warnings and errors in the Windows Event Log (Application log,
// source "adsync-agent"), where Windows administrators and their monitoring
// (Event Viewer, Windows Event Forwarding, SCOM) look, rather than in a
// console nobody sees when the agent runs as a service or scheduled task.
//
// Event 1 of the source is the whole log line: the agent's own message
// table (agent/windows_event_log.rc, linked into adsync-agent.exe) says
// "%1", so Event Viewer shows the text as it is. Warnings are Warning
// events, errors Error events; information lines stay in the console.
//
// Windows builds only. Thread-safe.
#ifndef ADSYNC_AGENT_WINDOWS_EVENT_LOG_H_
#define ADSYNC_AGENT_WINDOWS_EVENT_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/log.h"

namespace adsync {

// The event source's name, in Event Viewer and in the registry.
inline constexpr char kEventSourceName[] = "adsync-agent";

// Registers the source, i.e. the registry key
//   HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\adsync-agent
// with EventMessageFile = `message_file` (the agent's .exe, which carries
// the message table). Replaces an earlier registration. PermissionDenied
// without an elevated prompt.
absl::Status InstallEventSource(const std::string& message_file);

// Removes the registration; OK when there is none. Events already logged
// stay, shown without their text.
absl::Status RemoveEventSource();

// A sink for SetLogSink (common/log.h) that reports warnings and errors as
// event 1 of the source. Works before the source is registered (Event
// Viewer then adds that it does not know the source, and still shows the
// text). Unavailable when the event log cannot be opened.
absl::StatusOr<LogSink> MakeEventLogSink();

}  // namespace adsync

#endif  // ADSYNC_AGENT_WINDOWS_EVENT_LOG_H_
