// `adsync-agent.exe protect-secret`: stores a secret (the AD Sync key, the
// LDAP password) for the agent on this Windows machine, in the form
// ReadSecretFile (common/files.h) reads:
//
//   - encrypted with DPAPI in machine scope, so a copy of the file (a
//     backup, a disk image) is useless on any other machine;
//   - in a file whose protected DACL grants only SYSTEM and Administrators
//     (no inherited entries), because on this machine DPAPI's machine scope
//     lets any local process decrypt it: the DACL is what keeps it private.
//
// A service account other than LocalSystem (a gMSA) must then be granted
// read: icacls FILE /grant DOMAIN\name$:R.
//
// Windows builds only. Thread-safe (no shared state).
#ifndef ADSYNC_AGENT_WINDOWS_SECRET_FILE_H_
#define ADSYNC_AGENT_WINDOWS_SECRET_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// The secret to protect, from `in`: a file, or "-" for standard input (typed
// at a console without echo, one line; or piped). Surrounding whitespace is
// removed, and an earlier protect-secret's output is decrypted, so that
// `protect-secret --in F --out F` re-protects a file in place.
// InvalidArgument when empty; ReadFile's errors for a file.
absl::StatusOr<std::string> ReadSecretToProtect(absl::string_view in);

// Writes `secret` to `path` (replacing it atomically when it exists) as
// kDpapiPrefix + base64 of a machine-scope DPAPI blob, then reads it back as
// the agent does and checks that it yields `secret`. PermissionDenied when
// the folder needs an elevated prompt; NotFound when the folder is missing.
absl::Status WriteProtectedSecretFile(absl::string_view path,
                                      absl::string_view secret);

}  // namespace adsync

#endif  // ADSYNC_AGENT_WINDOWS_SECRET_FILE_H_
