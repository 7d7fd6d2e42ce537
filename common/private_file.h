// Whether a secret file is private to the administrators, by the platform's
// own rules, and how its stored form becomes the secret.
//
//   POSIX:   mode must give group and others nothing (chmod 600).
//   Windows: the DACL may allow reading only to SYSTEM, Administrators and
//            the account the agent runs as; content may be a DPAPI
//            (machine scope) blob written by `adsync-agent protect-secret`.
//
// ReadSecretFile (common/files.h) calls both; they are separate so each
// platform's rule is tested on its own. Thread-safe.
#ifndef ADSYNC_COMMON_PRIVATE_FILE_H_
#define ADSYNC_COMMON_PRIVATE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// OK when only the administrators (and the service account) can read the
// file at `path`. FailedPrecondition names the file, who else can read it
// and the command that fixes it; NotFound when it does not exist.
// `what` names the secret ("AD Sync key file").
absl::Status CheckFileIsPrivate(absl::string_view path, absl::string_view what);

// The secret stored in a private file's `content` (already stripped of
// surrounding whitespace). POSIX: the content itself. Windows: a DPAPI blob
// (kDpapiPrefix + base64) is decrypted; plain content is returned as is.
absl::StatusOr<std::string> UnprotectSecret(const std::string& content,
                                            absl::string_view path,
                                            absl::string_view what);

// Marks DPAPI-protected content ("adsync-dpapi:v1:" + base64).
inline constexpr absl::string_view kDpapiPrefix = "adsync-dpapi:v1:";

}  // namespace adsync

#endif  // ADSYNC_COMMON_PRIVATE_FILE_H_
