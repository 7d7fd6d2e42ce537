#include "coordinator/sync_reporter.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/log.h"
#include "coordinator/sync_report.h"

namespace adsync {
namespace {

// How often the schedule is read; a due report waits at most this long.
constexpr absl::Duration kScanInterval = absl::Seconds(1);

}  // namespace

SyncReporter::SyncReporter(ReportStore* reports, StatusStore* status,
                           const adsync::v1::PanelConfig& config,
                           std::string token)
    : reports_(reports),
      status_(status),
      config_(config),
      client_(config.base_url(), std::move(token),
              absl::Seconds(config.request_timeout_seconds())) {}

SyncReporter::~SyncReporter() { Stop(); }

void SyncReporter::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void SyncReporter::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void SyncReporter::Loop() {
  while (!stop_.HasBeenNotified()) {
    SendDue();
    stop_.WaitForNotificationWithTimeout(kScanInterval);
  }
}

int SyncReporter::SendDue() {
  const absl::Time now = absl::Now();
  const int64_t now_ms = absl::ToUnixMillis(now);
  auto due = reports_->DueSyncReports(
      now_ms, int64_t{config_.report_interval_seconds()} * 1000,
      int64_t{config_.report_min_gap_seconds()} * 1000);
  if (!due.ok()) {
    Log(LogLevel::kError, "reading the sync-report schedule failed",
        {{"error", std::string(due.status().message())}});
    return 0;
  }
  std::map<std::string, adsync::v1::OrgStatus> status_of;  // by org
  int accepted = 0;
  for (const DueReport& d : *due) {
    if (stop_.HasBeenNotified()) break;
    auto it = status_of.find(d.org_id);
    if (it == status_of.end()) {
      auto status = status_->GetStatus(d.org_id);
      if (!status.ok() || status->orgs().empty()) continue;
      it = status_of.emplace(d.org_id, status->orgs(0)).first;
    }
    auto report = BuildSyncReport(it->second, d.sync_id,
                                  absl::FromUnixMillis(d.period_start_ms), now);
    if (!report.ok()) continue;  // removed since the schedule was read
    PanelClient::Delivery delivery = client_.PostReport(
        d.org_id, d.sync_id, *report,
        ReportIdempotencyKey(d.org_id, d.sync_id, d.period_start_ms));
    if (delivery.ok()) {
      auto recorded =
          reports_->RecordReportSent(d.sync_id, d.period_start_ms, now_ms);
      if (!recorded.ok()) {
        Log(LogLevel::kError, "recording a sent sync report failed",
            {{"sync", d.sync_id},
             {"error", std::string(recorded.status().message())}});
        continue;
      }
      if (!*recorded) continue;  // another coordinator recorded it first
      ++accepted;
      Log(LogLevel::kInfo, "sync report sent to K12Panel",
          {{"org", d.org_id},
           {"sync", d.sync_id},
           {"profiles", absl::StrCat(report->profiles())},
           {"rejections", absl::StrCat(report->rejections_size())}});
      continue;
    }
    const std::string error = delivery.ErrorForOperator();
    if (delivery.permanent()) {
      // Retrying this period would send the same refused report again.
      Log(LogLevel::kError, "K12Panel refused a sync report; skipped",
          {{"org", d.org_id}, {"sync", d.sync_id}, {"error", error}});
      if (reports_->RecordReportSent(d.sync_id, d.period_start_ms, now_ms)
              .ok()) {
        reports_->DeferReport(d.sync_id, 0, error).IgnoreError();
      }
      continue;
    }
    int64_t backoff_ms;
    {
      absl::MutexLock lock(&rng_mu_);
      const absl::Duration max = absl::Milliseconds(config_.backoff_max_ms());
      backoff_ms = absl::ToInt64Milliseconds(
          JitteredBackoff(max, max, /*failures=*/0, rng_));
    }
    const int64_t next_ms = delivery.RetryAtMs(now_ms, backoff_ms);
    Log(LogLevel::kWarning, "sync report will be retried",
        {{"org", d.org_id},
         {"sync", d.sync_id},
         {"error", error},
         {"retry_in_ms", absl::StrCat(next_ms - now_ms)}});
    reports_->DeferReport(d.sync_id, next_ms, error).IgnoreError();
  }
  return accepted;
}

}  // namespace adsync
