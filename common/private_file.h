// Whether a secret file is private to the administrators, by the platform's
// own rules, and how its stored form becomes the secret.
//
//   POSIX:   mode must give group and others nothing (chmod 600).
//   Windows: the DACL may allow reading only to SYSTEM, Administrators and
//            the account the agent runs as, and one of them must own the
//            file (or an OWNER RIGHTS entry limit the owner); content may
//            be a DPAPI (machine scope) blob written by `adsync-agent
//            protect-secret`.
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

#ifdef _WIN32
// The accounts that may read a secret file and change a config file, by
// SID: SYSTEM and BUILTIN\Administrators, which also owns the files
// protect-secret writes. The account the agent runs as is allowed too, but
// is known only at run time. protect-secret's DACL, the fixes the errors
// give and the checks all come from these.
inline constexpr char kSystemSid[] = "S-1-5-18";
inline constexpr char kAdministratorsSid[] = "S-1-5-32-544";
inline constexpr const char* kPrivateFileSids[] = {kSystemSid,
                                                   kAdministratorsSid};

// The security descriptor (SDDL) of a new private file: owned by
// kAdministratorsSid, full control for kPrivateFileSids and nothing else; "P"
// (protected) blocks the folder's inheritable entries, such as the
// Users:(RX) that C:\ProgramData gives every file below it.
std::string PrivateFileSddl();

// Which access only kPrivateFileSids and the agent's account may have.
enum class GuardedAccess {
  kRead,   // a secret: reading it (or the DACL or owner, to read it)
  kWrite,  // a config or CA file: changing, replacing or deleting it
};

// OK when no account but SYSTEM, Administrators and the account the agent
// runs as can write the file at `path` (change its data, DACL or owner, or
// delete it) or owns it. FailedPrecondition names the file, who else may
// change it and the icacls command that fixes it. `what`: "config file".
absl::Status CheckFileIsAdminWritable(absl::string_view path,
                                      absl::string_view what);

// The rule of CheckFileIsPrivate (kRead) and CheckFileIsAdminWritable
// (kWrite) applied to `descriptor` (a PSECURITY_DESCRIPTOR holding the
// owner and the DACL), as read from the file at `path`.
absl::Status CheckDescriptorIsPrivate(void* descriptor, GuardedAccess guarded,
                                      absl::string_view path,
                                      absl::string_view what);
#endif  // _WIN32

}  // namespace adsync

#endif  // ADSYNC_COMMON_PRIVATE_FILE_H_
