// Small text rules shared by the agent and the coordinator: email
// normalization (docs/design.md, rule 2), UTF-8 validation, HTML escaping.
// Thread-safe (pure).
#ifndef ADSYNC_COMMON_TEXT_H_
#define ADSYNC_COMMON_TEXT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace adsync {

// Trims surrounding whitespace and lower-cases ASCII letters. Returns "" when
// the result does not look like an address (needs one '@' with text on both
// sides and no inner whitespace), so callers never match on junk.
std::string NormalizeEmail(absl::string_view raw);

// The addresses of "smtp:"/"SMTP:" entries of proxyAddresses (other address
// types such as X500: or SIP: are not email), normalized.
std::vector<std::string> SmtpProxyAddresses(
    const std::vector<std::string>& proxy_addresses);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF).
bool IsValidUtf8(absl::string_view s);

// `s` safe inside HTML text and quoted attribute values: & < > " ' escaped.
std::string HtmlEscape(absl::string_view s);

}  // namespace adsync

#endif  // ADSYNC_COMMON_TEXT_H_
