// GUIDs as Active Directory stores them (objectGUID, invocationId) and as
// people write them ("95aeb0f1-75d2-4126-ba5c-a877fd138d42").
//
// AD's binary form is the Microsoft GUID struct: the first three fields are
// little-endian, the last eight bytes are in order. Thread-safe (pure).
#ifndef ADSYNC_COMMON_GUID_H_
#define ADSYNC_COMMON_GUID_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// Formats a 16-byte binary GUID as lower-case text.
// Returns InvalidArgument if `binary` is not exactly 16 bytes.
absl::StatusOr<std::string> GuidBinaryToString(absl::string_view binary);

// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (braces optional, any case)
// into AD's 16-byte binary form.
absl::StatusOr<std::string> GuidStringToBinary(absl::string_view text);

// Validates and canonicalizes (lower case, no braces) a textual GUID.
// `what` names the value in the error ("Org ID", "AD Sync key").
absl::StatusOr<std::string> CanonicalGuid(absl::string_view text,
                                          absl::string_view what);

// A fresh random (version 4) GUID in text form, from OpenSSL's CSPRNG.
std::string NewRandomGuid();

}  // namespace adsync

#endif  // ADSYNC_COMMON_GUID_H_
