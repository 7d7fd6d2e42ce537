// Fencing (docs/design.md, rule 6): only the agent holding a domain's lease,
// at the lease's current epoch and in batch order, may write. A write that
// fails this check is refused with a FencedError, which callers tell apart
// from other refusals by IsFenced, never by its wording:
//
//   if (!lease_ok) return FencedError("fenced: batch 7 carries epoch 3 ...");
//   ...
//   metrics.Rejected(IsFenced(status) ? "fenced" : "bad_batch");
//
// The code is FailedPrecondition (the agent reconnects and follows its
// role); the payload marks it as fencing.
#ifndef ADSYNC_COORDINATOR_FENCING_H_
#define ADSYNC_COORDINATOR_FENCING_H_

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace adsync {

inline constexpr absl::string_view kFencedPayloadUrl =
    "type.googleapis.com/adsync.Fenced";

// `message` says what was refused and what the agent does next.
inline absl::Status FencedError(absl::string_view message) {
  absl::Status status = absl::FailedPreconditionError(message);
  status.SetPayload(kFencedPayloadUrl, absl::Cord());
  return status;
}

inline bool IsFenced(const absl::Status& status) {
  return status.GetPayload(kFencedPayloadUrl).has_value();
}

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_FENCING_H_
