// Security identifiers: AD's binary objectSid <-> "S-1-5-21-...".
// Thread-safe (pure).
#ifndef ADSYNC_COMMON_SID_H_
#define ADSYNC_COMMON_SID_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace adsync {

// Binary layout: revision(1)=1, sub-authority count(1)<=15, identifier
// authority (6, big-endian), then count little-endian uint32 sub-authorities.
absl::StatusOr<std::string> SidBinaryToString(absl::string_view binary);
absl::StatusOr<std::string> SidStringToBinary(absl::string_view text);

}  // namespace adsync

#endif  // ADSYNC_COMMON_SID_H_
