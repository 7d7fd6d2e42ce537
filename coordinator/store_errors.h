// The store's refusals and held-change reasons, in the words an operator
// reads (adsyncctl, the agent's log, the status page), each saying what to
// do next. Every storage engine uses these, so engines differ in SQL, never
// in what they tell people.
//
// Thread-safety: plain functions of their arguments.
#ifndef ADSYNC_COORDINATOR_STORE_ERRORS_H_
#define ADSYNC_COORDINATOR_STORE_ERRORS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace adsync {

// NotFound.
absl::Status UnknownOrgError(absl::string_view org_id);
// AlreadyExists.
absl::Status OrgExistsError(absl::string_view org_id);
// NotFound.
absl::Status NoSuchSyncError(absl::string_view org_id,
                             absl::string_view sync_id);

// PermissionDenied, one answer for an unknown org and a wrong key: an
// unauthenticated caller must not learn which Org IDs exist.
absl::Status AgentCredentialsDenied();
// PermissionDenied: the AD Sync an open stream authenticated as is gone.
absl::Status SyncRemovedError(absl::string_view sync_id);
// PermissionDenied: the key an open stream authenticated with was replaced.
absl::Status SyncKeyRotatedError(absl::string_view sync_id);
// FailedPrecondition: an agent reports a domain SID other than the one
// pinned for its domain.
absl::Status DomainSidMismatchError(absl::string_view reported_sid,
                                    absl::string_view domain,
                                    absl::string_view pinned_sid,
                                    absl::string_view pinned_by_sync_id);

// Why an org's push is quarantined: `cause` would remove identities from
// `losing` of `mapped_before` People.
std::string QuarantineReason(absl::string_view cause, uint64_t losing,
                             uint64_t mapped_before, double share,
                             absl::string_view org_id);
// Why a full sync's sweep is held; `why` says what looked wrong.
std::string HeldSweepReason(absl::string_view domain, absl::string_view sync_id,
                            absl::string_view why, absl::string_view org_id);
// FailedPrecondition.
absl::Status NoHeldSweepError(absl::string_view domain,
                              absl::string_view org_id);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_STORE_ERRORS_H_
