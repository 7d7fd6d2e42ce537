#include "coordinator/sync_report.h"

#include "absl/strings/str_cat.h"
#include "common/digest.h"

namespace adsync {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Rfc3339(int64_t unix_seconds) {
  return Rfc3339(absl::FromUnixSeconds(unix_seconds));
}

}  // namespace

absl::StatusOr<adsync::v1::SyncReport> BuildSyncReport(
    const adsync::v1::OrgStatus& status, const std::string& sync_id,
    absl::Time period_start, absl::Time period_end) {
  const adsync::v1::SyncStatus* sync = nullptr;
  for (const auto& s : status.syncs()) {
    if (s.sync().sync_id() == sync_id) sync = &s;
  }
  if (sync == nullptr) {
    return absl::NotFoundError(absl::StrCat("AD Sync ", sync_id,
                                            " is no longer registered for org ",
                                            status.org().org_id()));
  }
  adsync::v1::SyncReport r;
  r.set_started_at(Rfc3339(period_start));
  r.set_finished_at(Rfc3339(period_end));
  r.set_controller(sync->controller());
  r.set_source_ip(sync->source_ip());
  const int64_t start_unix = absl::ToUnixSeconds(period_start);
  for (const auto& d : status.domains()) {
    if (d.domain() != sync->sync().domain()) continue;
    r.set_profiles(d.counts().profiles());
    r.set_matched(d.counts().matched());
    r.set_unmatched(d.counts().unmatched());
    r.set_ambiguous(d.counts().ambiguous());
    r.set_no_email(d.counts().no_email());
    r.set_disabled(d.counts().disabled());
    r.set_removed(d.counts().deleted());
    if (d.has_held_sweep()) {
      r.add_errors(absl::StrCat(
          "a full sync's removals of ", d.held_sweep().would_remove(),
          " accounts are held for an operator since ",
          Rfc3339(d.held_sweep().at_unix()), ": ", d.held_sweep().reason()));
    }
  }
  if (!sync->last_error().empty()) {
    r.add_errors(absl::StrCat("last error: ", sync->last_error()));
  }
  if (!sync->connected() && sync->last_contact_unix() < start_unix) {
    r.add_errors(
        sync->last_contact_unix() == 0
            ? std::string("the agent has not connected yet; check that "
                          "adsync-agent runs on the DC and its config "
                          "names this AD Sync")
            : absl::StrCat(
                  "no contact from the agent since ",
                  Rfc3339(sync->last_contact_unix()),
                  "; check that adsync-agent runs on ",
                  sync->controller().empty() ? "the DC" : sync->controller()));
  }
  if (status.push().quarantined()) {
    r.add_errors(absl::StrCat("the push to K12Panel is quarantined: ",
                              status.push().quarantine_reason()));
  }
  // recent_rejections is newest first.
  for (const auto& rej : status.recent_rejections()) {
    if (r.rejections_size() >= kReportMaxRejections) break;
    if (rej.sync_id() != sync_id || rej.at_unix() < start_unix) continue;
    r.add_rejections(absl::StrCat(Rfc3339(rej.at_unix()), " from ",
                                  rej.source_ip(), ": ", rej.reason()));
  }
  return r;
}

std::string ReportIdempotencyKey(const std::string& org_id,
                                 const std::string& sync_id,
                                 int64_t period_start_ms) {
  return Sha256Hex(
      absl::StrCat("report|", org_id, "|", sync_id, "|", period_start_ms));
}

}  // namespace adsync
