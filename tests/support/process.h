// Runs the project's binaries and scripts as real child processes for
// end-to-end tests: output goes to a log file, and the child is killed
// (SIGTERM, then SIGKILL) when the handle goes away.
#ifndef ADSYNC_TESTS_PROCESS_H_
#define ADSYNC_TESTS_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace adsync::testing {

class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool Running();
  // Sends `signal` and waits for exit; returns the exit code (or 128+signal).
  int Stop(int signal = 15, absl::Duration timeout = absl::Seconds(10));
  // Waits for the process to exit by itself.
  int Wait(absl::Duration timeout = absl::Seconds(60));
  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a command to completion (with `stdin_text` as its input).
RunResult RunCommand(const std::vector<std::string>& argv,
                     const std::string& stdin_text = "",
                     absl::Duration timeout = absl::Seconds(120));

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// True when something accepts TCP connections on 127.0.0.1:`port`.
bool PortOpen(int port);

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_PROCESS_H_
