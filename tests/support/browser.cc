#include "tests/support/browser.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "tests/support/process.h"
#include "tests/support/test_util.h"

namespace adsync::testing {

absl::StatusOr<std::string> OpenStatusPage(const std::string& base,
                                           const std::string& token,
                                           const std::string& page,
                                           const std::string& work_dir,
                                           const std::string& screenshot) {
  // Each run gets its own profile: a second Chromium on a profile whose
  // previous owner is still exiting hands its work to that process and
  // exits 0 with nothing printed.
  static std::atomic<int> runs{0};
  const std::string profile =
      absl::StrCat(work_dir, "/chromium-profile-", runs.fetch_add(1));
  const std::string log = absl::StrCat(profile, ".log");
  std::error_code ignored;
  std::filesystem::create_directories(work_dir, ignored);
  // The form a person fills in, submitted at once.
  const std::string login = absl::StrCat(work_dir, "/sign-in.html");
  WriteFile(login,
            absl::StrCat("<!DOCTYPE html><form method=\"post\" action=\"", base,
                         "/status/login\"><input name=\"token\" value=\"",
                         token, "\"><input name=\"next\" value=\"", page,
                         "\"></form><script>document.forms[0].submit()"
                         "</script>"),
            0600);
  std::string command = absl::StrCat(
      "chromium --headless --no-sandbox --disable-gpu --no-first-run "
      "--disable-dev-shm-usage --user-data-dir=",
      profile, " --window-size=1280,1800 ",
      // Less than the page's 10 s <meta refresh>: when the budget ran out
      // with the refresh's navigation in flight, Chromium printed an empty
      // DOM or waited on the reload.
      "--virtual-time-budget=4000 ");
  if (!screenshot.empty()) {
    std::filesystem::remove(screenshot, ignored);
    absl::StrAppend(&command, "--screenshot=", screenshot, " ");
  } else {
    absl::StrAppend(&command, "--dump-dom ");
  }
  absl::StrAppend(&command, "file://", login, " 2>", log);
  RunResult r = RunCommand({"sh", "-c", command}, "", absl::Seconds(90));
  bool produced = !r.output.empty();
  if (!screenshot.empty()) {
    std::error_code missing;
    produced = std::filesystem::file_size(screenshot, missing) > 0 && !missing;
  }
  if (r.exit_code != 0 || !produced) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return absl::InternalError(
        absl::StrCat("chromium failed (exit ", r.exit_code,
                     produced ? "" : ", produced nothing",
                     "); is the chromium package "
                     "installed (scripts/install_deps.sh)? its log (",
                     log, "):\n", text.str()));
  }
  return r.output;
}

}  // namespace adsync::testing
