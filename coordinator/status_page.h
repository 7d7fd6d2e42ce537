// The status page's HTML (issue 17): what a district's IT admin or
// K12Panel's operator sees in a browser. Pure rendering of status protos;
// serving, authentication and refreshing are status_site.h's.
//
// Pages are self-contained: inline CSS, no scripts, no fonts or images
// from elsewhere (the machines that show them may have no internet), and a
// <meta refresh> keeps them current. Every value that came from AD, an
// agent or K12Panel is HTML-escaped.
//
// Example:
//   std::string html = RenderOrgPage(org_status, accounts, absl::Now(), 10);
#ifndef ADSYNC_COORDINATOR_STATUS_PAGE_H_
#define ADSYNC_COORDINATOR_STATUS_PAGE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adsync/v1/admin.pb.h"

namespace adsync {

// An org's health at a glance, with the reasons behind it.
struct OrgHealth {
  enum Level { kOk = 0, kWarning = 1, kError = 2 };
  Level level = kOk;
  std::vector<std::string> reasons;
};
// Error: the push is quarantined, a held sweep waits, updates are parked,
// or a domain with AD Syncs has no connected primary. Warning: an AD Sync
// is not connected, the push is retrying, a delivery or report failed, or
// an agent was rejected in the last hour.
OrgHealth AssessOrg(const adsync::v1::OrgStatus& org, absl::Time now);

// Every org, one row each. `taken`: when `status` was read.
std::string RenderOrgListPage(const adsync::v1::GetStatusResponse& status,
                              absl::Time taken, absl::Time now,
                              int refresh_seconds);

// One org: health, domains and their DCs' agents, the timeline of
// failovers and rejections, counts, held removals, and `accounts` (the
// unmatched and ambiguous ones, perhaps cut short: `accounts_total` is how
// many there are).
std::string RenderOrgPage(const adsync::v1::OrgStatus& org,
                          const adsync::v1::ListAccountsResponse& accounts,
                          size_t accounts_total, absl::Time now,
                          int refresh_seconds);

// A page that only says `message` (plain text): an error, a missing page.
std::string RenderMessagePage(absl::string_view message);

// The sign-in form; `message` (plain text) says what went wrong, if
// anything; `next` is the page to show after signing in ("" = /status).
std::string RenderLoginPage(absl::string_view message, absl::string_view next);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_STATUS_PAGE_H_
