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
#include "coordinator/merge_rules.h"

namespace adsync {

// A domain's simple (NetBIOS) name: 1-15 of letters, digits, '-', '_'.
// Returns it upper-cased. Rejects "company.com" with a hint to use "company".
absl::StatusOr<std::string> ValidateDomainName(absl::string_view name);

struct BatchLimits {
  uint32_t max_deltas = 1000;
  uint32_t max_string_bytes = 2048;    // one attribute value
  uint32_t max_proxy_addresses = 256;  // per account
};

// A batch from an agent that passed every check, its deltas converted to
// account states. Built by PrepareBatch on the gRPC thread that read it, so
// that the storage thread only merges and writes.
struct PreparedBatch {
  uint64_t sequence = 0;
  uint64_t lease_epoch = 0;
  bool full_sync_begin = false;
  bool full_sync_end = false;
  bool has_watermark = false;
  adsync::v1::Watermark watermark;
  std::vector<AccountState> accounts;  // in the order the agent sent them
};

// Checks every delta of a batch: 16-byte objectGUID, a well-formed SID,
// UTF-8 text within limits, stamps for known attributes with 16-byte
// invocationIds, and converts it, moving the strings out of `batch`.
// Errors name the delta's index and field ("delta 3: objectGUID ...").
absl::StatusOr<PreparedBatch> PrepareBatch(adsync::v1::Batch* batch,
                                           const BatchLimits& limits);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_VALIDATION_H_
