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
  // When set (text form), every account SID must be this domain's SID plus
  // one RID: an agent writes only its own domain's accounts.
  std::string domain_sid;
};

// A batch from an agent that passed every check, its deltas converted to
// account states. Built by PrepareBatch on the gRPC thread that read it, so
// that the storage thread only merges and writes.
// An account left out of its batch because a value is over the limits:
// one account must not stall its domain. Reported in status with what to
// fix in AD.
struct SkippedAccount {
  std::string object_guid;       // 16-byte binary
  std::string sam_account_name;  // empty when it is itself too long
  std::string reason;
};

struct PreparedBatch {
  uint64_t sequence = 0;
  uint64_t lease_epoch = 0;
  bool full_sync_begin = false;
  bool full_sync_end = false;
  bool has_watermark = false;
  adsync::v1::Watermark watermark;
  std::vector<AccountState> accounts;  // in the order the agent sent them
  std::vector<SkippedAccount> skipped;
  uint32_t skipped_entries = 0;  // entries the agent itself could not read
};

// Checks every delta of a batch: 16-byte objectGUID, a well-formed SID,
// UTF-8 text, stamps for known attributes with 16-byte invocationIds, and
// converts it, moving the strings out of `batch`. Errors name the delta's
// index and field ("delta 3: objectGUID ..."). An account whose values are
// over the size limits is not an error: it goes to `skipped`.
absl::StatusOr<PreparedBatch> PrepareBatch(adsync::v1::Batch* batch,
                                           const BatchLimits& limits);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_VALIDATION_H_
