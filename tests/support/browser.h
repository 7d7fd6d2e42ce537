// A real browser for the tests: Debian's headless Chromium signs in to the
// coordinator's status page the way a person would (the sign-in form,
// posted by a tiny page of our own) and returns the page it ends up on, as
// Chromium rendered it (its DOM), optionally with a screenshot.
#ifndef ADSYNC_TESTS_SUPPORT_BROWSER_H_
#define ADSYNC_TESTS_SUPPORT_BROWSER_H_

#include <string>

#include "absl/status/statusor.h"

namespace adsync::testing {

// `base`: "http://127.0.0.1:PORT"; `page`: the /status page to open after
// signing in with `token`. `work_dir` holds the browser's profile.
// `screenshot`: a PNG path, or empty for none.
absl::StatusOr<std::string> OpenStatusPage(const std::string& base,
                                           const std::string& token,
                                           const std::string& page,
                                           const std::string& work_dir,
                                           const std::string& screenshot = "");

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_SUPPORT_BROWSER_H_
