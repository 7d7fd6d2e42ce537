// SHA-256 as lower-case hex, for values derived from secrets or content
// that must be the same every time (idempotency keys, session values).
// Thread-safe (pure).
#ifndef ADSYNC_COMMON_DIGEST_H_
#define ADSYNC_COMMON_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"

namespace adsync {

// 64 hex digits.
std::string Sha256Hex(absl::string_view data);
// HMAC-SHA-256 of `data` under `key`, 64 hex digits.
std::string HmacSha256Hex(absl::string_view key, absl::string_view data);

}  // namespace adsync

#endif  // ADSYNC_COMMON_DIGEST_H_
