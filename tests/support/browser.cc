#include "tests/support/browser.h"

#include <filesystem>
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
      work_dir, "/chromium-profile --window-size=1280,1800 ",
      "--virtual-time-budget=10000 ");
  if (!screenshot.empty()) {
    absl::StrAppend(&command, "--screenshot=", screenshot, " ");
  } else {
    absl::StrAppend(&command, "--dump-dom ");
  }
  absl::StrAppend(&command, "file://", login, " 2>", work_dir, "/chromium.log");
  RunResult r = RunCommand({"sh", "-c", command}, "", absl::Seconds(90));
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("chromium failed (exit ", r.exit_code, "); see ", work_dir,
                     "/chromium.log; is the chromium package installed "
                     "(scripts/install_deps.sh)?"));
  }
  return r.output;
}

}  // namespace adsync::testing
