// Checks of everything that arrives from outside (agents, operators) before
// it can touch the store. Each error names the field and how to fix it.
// Thread-safe (pure).
#ifndef ADSYNC_COORDINATOR_VALIDATION_H_
#define ADSYNC_COORDINATOR_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adsync/v1/agent.pb.h"

namespace adsync {

// A domain's simple (NetBIOS) name: 1-15 of letters, digits, '-', '_'.
// Returns it upper-cased. Rejects "company.com" with a hint to use "company".
absl::StatusOr<std::string> ValidateDomainName(absl::string_view name);

struct BatchLimits {
  uint32_t max_deltas = 1000;
  uint32_t max_string_bytes = 2048;    // one attribute value
  uint32_t max_proxy_addresses = 256;  // per account
};

// Checks every delta of a batch: 16-byte objectGUID, a well-formed SID,
// UTF-8 text within limits, stamps for known attributes with 16-byte
// invocationIds. On success returns each delta's SID in text form.
// Errors name the delta's index and field ("delta 3: objectGUID ...").
absl::StatusOr<std::vector<std::string>> ValidateBatch(
    const adsync::v1::Batch& batch, const BatchLimits& limits);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_VALIDATION_H_
