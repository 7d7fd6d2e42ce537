// Operator-readable logging: one line per event, as text or JSON lines.
// Thread-safe. Never pass secrets (keys, passwords, tokens) to it.
#ifndef ADSYNC_COMMON_LOG_H_
#define ADSYNC_COMMON_LOG_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace adsync {

enum class LogLevel { kInfo, kWarning, kError };

// "text" (default) or "json". Call once at start-up.
void SetLogFormat(absl::string_view format);

// Writes `message` with key=value fields to stderr.
void Log(LogLevel level, absl::string_view message,
         const std::vector<std::pair<std::string, std::string>>& fields = {});

// Also hands every line (without its newline) to `sink`, e.g. the Windows
// Event Log for warnings and errors; nullptr removes it. The sink runs under
// the log's lock, so it must not log. Call at start-up.
using LogSink = std::function<void(LogLevel level, const std::string& line)>;
void SetLogSink(LogSink sink);

}  // namespace adsync

#endif  // ADSYNC_COMMON_LOG_H_
