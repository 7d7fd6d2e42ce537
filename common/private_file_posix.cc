#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/private_file.h"

namespace adsync {

absl::Status CheckFileIsPrivate(absl::string_view path,
                                absl::string_view what) {
  struct stat st;
  if (stat(std::string(path).c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(what, " ", path, ": ",
                                            std::strerror(errno),
                                            "; check the path in the config"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s %s has mode %04o: group or others can access it, so the secret "
        "may be known to other users; run `chmod 600 %s` (and make an "
        "administrator its owner), then start again",
        what, path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> UnprotectSecret(const std::string& content,
                                            absl::string_view path,
                                            absl::string_view what) {
  if (absl::StartsWith(content, kDpapiPrefix)) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " ", path,
        " holds a Windows DPAPI blob, which only the Windows machine that "
        "wrote it can read; write the plain secret into it (mode 600)"));
  }
  return content;
}

}  // namespace adsync
