#include "coordinator/store_errors.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace adsync {

absl::Status UnknownOrgError(absl::string_view org_id) {
  return absl::NotFoundError(absl::StrCat(
      "unknown Org ID ", org_id, "; list orgs with `adsyncctl org list`"));
}

absl::Status OrgExistsError(absl::string_view org_id) {
  return absl::AlreadyExistsError(absl::StrCat(
      "org ", org_id, " already exists; see `adsyncctl org list`"));
}

absl::Status NoSuchSyncError(absl::string_view org_id,
                             absl::string_view sync_id) {
  return absl::NotFoundError(absl::StrCat(
      "org ", org_id, " has no AD Sync ", sync_id,
      "; list them with `adsyncctl sync list --org ", org_id, "`"));
}

absl::Status AgentCredentialsDenied() {
  return absl::PermissionDeniedError(
      "the Org ID and AD Sync key do not match any AD Sync; check both in "
      "the agent's config against `adsyncctl sync list --org ORG` (a key is "
      "shown once, by `adsyncctl sync add` or `sync rotate-key`)");
}

absl::Status SyncRemovedError(absl::string_view sync_id) {
  return absl::PermissionDeniedError(absl::StrCat(
      "AD Sync ", sync_id,
      " was removed; stop this agent, or register it again with `adsyncctl "
      "sync add` and put the new key into its key file"));
}

absl::Status SyncKeyRotatedError(absl::string_view sync_id) {
  return absl::PermissionDeniedError(absl::StrCat(
      "the key of AD Sync ", sync_id,
      " was rotated; put the new key (shown by `adsyncctl sync rotate-key`) "
      "into the agent's key file"));
}

absl::Status DomainSidMismatchError(absl::string_view reported_sid,
                                    absl::string_view domain,
                                    absl::string_view pinned_sid,
                                    absl::string_view pinned_by_sync_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("this agent's DC serves the domain with SID ", reported_sid,
                   ", but domain ", domain, " of this org has SID ", pinned_sid,
                   " (first reported by AD Sync ", pinned_by_sync_id,
                   "); point the agent at a DC of ", domain,
                   ", or register its own domain with `adsyncctl sync add`"));
}

std::string QuarantineReason(absl::string_view cause, uint64_t losing,
                             uint64_t mapped_before, double share,
                             absl::string_view org_id) {
  return absl::StrCat(
      cause, " would remove identities from ", losing, " of ", mapped_before,
      " mapped People (", static_cast<int>(share * 100 + 0.5),
      "%); check the AD Sync's base DN and filter, then run "
      "`adsyncctl push approve --org ",
      org_id, "` or `adsyncctl push reject --org ", org_id, "`");
}

std::string HeldSweepReason(absl::string_view domain, absl::string_view sync_id,
                            absl::string_view why, absl::string_view org_id) {
  return absl::StrCat(
      "full sync of domain ", domain, " by AD Sync ", sync_id,
      " removed nothing: ", why,
      ". Check the agent's base DN, filter and log, then run `adsyncctl "
      "sweep approve --org ",
      org_id, " --domain ", domain,
      "` to remove them or `adsyncctl sweep reject ...` to keep them");
}

absl::Status NoHeldSweepError(absl::string_view domain,
                              absl::string_view org_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("domain ", domain, " of org ", org_id,
                   " has no held sweep; `adsyncctl status --org ", org_id,
                   "` shows held sweeps"));
}

}  // namespace adsync
