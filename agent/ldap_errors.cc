#include "agent/ldap_errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace adsync {

LdapFailure ClassifyLdapResultCode(int code) {
  switch (code) {
    case 51:  // busy
    case 52:  // unavailable
      return LdapFailure::kUnreachable;
    case 49:  // invalidCredentials
      return LdapFailure::kBadCredentials;
    case 8:   // strongerAuthRequired
    case 13:  // confidentialityRequired
      return LdapFailure::kNeedsEncryption;
    case 32:  // noSuchObject
      return LdapFailure::kNoSuchObject;
    case 50:  // insufficientAccessRights
      return LdapFailure::kAccessDenied;
    case 12:  // unavailableCriticalExtension
      return LdapFailure::kUnsupportedControl;
    default:
      return LdapFailure::kOther;
  }
}

absl::Status LdapFailureStatus(LdapFailure failure, const std::string& msg) {
  switch (failure) {
    case LdapFailure::kUnreachable:
      return absl::UnavailableError(absl::StrCat(
          msg,
          "; check that the DC is up, the host and port in ldap.uri, and "
          "that no firewall blocks it"));
    case LdapFailure::kTlsFailed:
      return absl::UnavailableError(absl::StrCat(
          msg,
          "; the TLS handshake failed: check ldap.ca_file and that the "
          "DC's certificate names the host in ldap.uri"));
    case LdapFailure::kBadCredentials:
      return absl::UnauthenticatedError(absl::StrCat(
          msg,
          "; check ldap.bind_dn and the password file (or, with negotiate, "
          "the account the agent runs as)"));
    case LdapFailure::kNeedsEncryption:
      return absl::FailedPreconditionError(absl::StrCat(
          msg,
          "; the DC requires an encrypted connection: use ldaps:// or "
          "ldap:// with StartTLS"));
    case LdapFailure::kNoSuchObject:
      return absl::NotFoundError(absl::StrCat(
          msg, "; the base DN does not exist on this DC: check ldap.base_dn"));
    case LdapFailure::kAccessDenied:
      return absl::PermissionDeniedError(absl::StrCat(
          msg, "; the bind account may not read this: grant it read access"));
    case LdapFailure::kBadFilter:
      return absl::InvalidArgumentError(
          absl::StrCat(msg, "; check ldap.filter's syntax"));
    case LdapFailure::kUnsupportedControl:
      return absl::UnimplementedError(
          absl::StrCat(msg, "; the DC does not support a required control"));
    case LdapFailure::kOther:
      break;
  }
  return absl::UnknownError(msg);
}

namespace {
constexpr absl::string_view kRegistrationEndedUrl =
    "type.googleapis.com/adsync.RegistrationEnded";
}  // namespace

absl::Status RegistrationEndedError(const absl::Status& ended) {
  absl::Status status =
      ended.ok() ? absl::UnavailableError(
                       "the DC ended the change notification registration")
                 : ended;
  status.SetPayload(kRegistrationEndedUrl, absl::Cord());
  return status;
}

bool IsRegistrationEnded(const absl::Status& status) {
  return status.GetPayload(kRegistrationEndedUrl).has_value();
}

}  // namespace adsync
