// The sync report of one AD Sync (docs/design.md, 6.4): what K12Panel shows
// a district's admins after each sync cycle, built from the org's status.
// Pure: no I/O.
//
// Example:
//   adsync::v1::OrgStatus status = ...;  // store->GetStatus(org)
//   absl::StatusOr<adsync::v1::SyncReport> report = BuildSyncReport(
//       status, sync_id, absl::FromUnixMillis(due.period_start_ms),
//       absl::Now());
//
// What a report holds: the period, the DC and the address the agent last
// came from, the counts of the AD Sync's domain (the AD Syncs of a domain
// share its accounts; `removed` is the accounts marked gone), the
// rejections of this AD Sync within the period, and as errors: its last
// error, no contact during the period, a held full-sync sweep of its
// domain, a quarantined push. Rejections that name no AD Sync (a key that
// matched none) are in the status page, not in any one AD Sync's report.
#ifndef ADSYNC_COORDINATOR_SYNC_REPORT_H_
#define ADSYNC_COORDINATOR_SYNC_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adsync/v1/admin.pb.h"
#include "adsync/v1/panel.pb.h"

namespace adsync {

// At most this many rejections per report (the newest); the status page
// keeps the rest.
inline constexpr int kReportMaxRejections = 20;

// NotFound when `status` has no AD Sync `sync_id` (it was removed).
absl::StatusOr<adsync::v1::SyncReport> BuildSyncReport(
    const adsync::v1::OrgStatus& status, const std::string& sync_id,
    absl::Time period_start, absl::Time period_end);

// The same (org, AD Sync, period start) always gives the same key, so
// coordinators that send one period's report twice (a race, or a crash
// before it was recorded) are deduplicated by K12Panel.
std::string ReportIdempotencyKey(const std::string& org_id,
                                 const std::string& sync_id,
                                 int64_t period_start_ms);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_SYNC_REPORT_H_
