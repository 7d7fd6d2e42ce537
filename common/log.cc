#include "common/log.h"

#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace adsync {
namespace {

bool json_format = false;
ABSL_CONST_INIT absl::Mutex log_mutex(absl::kConstInit);
// Leaked at exit on purpose: threads may still log.
LogSink* log_sink ABSL_GUARDED_BY(log_mutex) = nullptr;

std::string JsonEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void SetLogFormat(absl::string_view format) { json_format = format == "json"; }

void SetLogSink(LogSink sink) {
  absl::MutexLock lock(&log_mutex);
  delete log_sink;
  log_sink = sink ? new LogSink(std::move(sink)) : nullptr;
}

void Log(LogLevel level, absl::string_view message,
         const std::vector<std::pair<std::string, std::string>>& fields) {
  const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                           absl::UTCTimeZone());
  std::string line;
  if (json_format) {
    line =
        absl::StrCat("{\"time\":\"", now, "\",\"level\":\"", LevelName(level),
                     "\",\"msg\":\"", JsonEscape(message), "\"");
    for (const auto& [k, v] : fields) {
      absl::StrAppend(&line, ",\"", JsonEscape(k), "\":\"", JsonEscape(v),
                      "\"");
    }
    line += "}\n";
  } else {
    line = absl::StrCat(now, " ", LevelName(level), " ", message);
    for (const auto& [k, v] : fields) absl::StrAppend(&line, " ", k, "=", v);
    line += "\n";
  }
  absl::MutexLock lock(&log_mutex);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  if (log_sink != nullptr) {
    line.pop_back();  // the newline
    (*log_sink)(level, line);
  }
}

}  // namespace adsync
