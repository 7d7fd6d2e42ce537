// What an LDAP failure means to the operator, shared by the Directory
// implementations: each maps its library's result codes to a failure kind,
// and this file words the status (code chosen by meaning, and what to check).
// Thread-safe (pure).
#ifndef ADSYNC_AGENT_LDAP_ERRORS_H_
#define ADSYNC_AGENT_LDAP_ERRORS_H_

#include <string>

#include "absl/status/status.h"

namespace adsync {

enum class LdapFailure {
  kUnreachable,         // server down, timeout, busy
  kTlsFailed,           // the port answers but TLS failed
  kBadCredentials,      // invalidCredentials
  kNeedsEncryption,     // strongerAuthRequired, confidentialityRequired
  kNoSuchObject,        // the base DN does not exist
  kAccessDenied,        // insufficientAccessRights
  kBadFilter,           // filter syntax
  kUnsupportedControl,  // unavailableCriticalExtension
  kOther,
};

// The failure an LDAP result code the server sent means (RFC 4511 numbers,
// the same in every LDAP library); kOther for any other code. Each library's
// own client-side codes (server down, timeout, TLS, filter syntax) differ in
// value and are classified by the implementation before calling this.
LdapFailure ClassifyLdapResultCode(int rfc4511_code);

// `message` is "<during> on <uri>: <library's text>"; the result adds what
// to check.
absl::Status LdapFailureStatus(LdapFailure failure, const std::string& message);

// The DC ended a change-notification registration: it answered on the
// connection (a SearchResultDone on the registration's search), so the
// connection still holds its bind and TLS, and WatchForChanges may register
// again on it. Any other error while waiting (the connection lost, say) is
// not this one: nothing is sent on that connection again.
absl::Status RegistrationEndedError(const absl::Status& ended);
bool IsRegistrationEnded(const absl::Status& status);

}  // namespace adsync

#endif  // ADSYNC_AGENT_LDAP_ERRORS_H_
