// SqlStore's sync-report schedule: which AD Syncs owe K12Panel a report,
// and the period each one covers. Reports themselves are built from
// status (coordinator/sync_report.h) and never stored.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/sql.h"
#include "common/status_macros.h"
#include "coordinator/sql_store/sql_store.h"

namespace adsync {
namespace {

// Where an AD Sync's next report period starts (milliseconds); `s` is how
// the query names the syncs table ("" when it is the only one).
std::string PeriodStart(absl::string_view s) {
  return absl::StrCat("(CASE WHEN ", s, "last_report_ms > 0 THEN ", s,
                      "last_report_ms ELSE ", s, "created*1000 END)");
}

}  // namespace

absl::StatusOr<std::vector<DueReport>> SqlStore::DueSyncReports(
    int64_t now_ms, int64_t interval_ms, int64_t min_gap_ms) {
  ASSIGN_OR_RETURN(DatabasePool::Handle reader, readers_->Acquire());
  // Built once: Cached() keys statements by the text's address.
  static const std::string* const kSql = new std::string(absl::StrCat(
      "SELECT o.org_id, s.sync_id, ", PeriodStart("s."),
      " FROM syncs s JOIN orgs o ON o.org_key=s.org_key WHERE o.live=1 "
      "AND s.report_next_attempt_ms<=?1 AND ((s.report_due_ms > ",
      PeriodStart("s."),
      " AND (s.last_report_ms=0 OR s.last_report_ms<=?1-?3)) OR ",
      PeriodStart("s."), "<=?1-?2) ORDER BY s.sync_id"));
  ASSIGN_OR_RETURN(ScopedStatement q, reader->Cached(kSql->c_str()));
  q->Bind(1, now_ms).Bind(2, interval_ms).Bind(3, min_gap_ms);
  std::vector<DueReport> due;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    due.push_back({q->ColumnText(0), q->ColumnText(1), q->ColumnInt(2)});
  }
  return due;
}

absl::StatusOr<bool> SqlStore::RecordReportSent(const std::string& sync_id,
                                                int64_t period_start_ms,
                                                int64_t period_end_ms) {
  absl::MutexLock lock(&write_mu_);
  // Only if no one recorded this period yet: coordinators that raced send
  // the same report under one Idempotency-Key, and one of them moves on.
  static const std::string* const kSql = new std::string(absl::StrCat(
      "UPDATE syncs SET last_report_ms=?3, report_next_attempt_ms=0, "
      "report_error='', report_due_ms=CASE WHEN report_due_ms<=?3 THEN 0 "
      "ELSE report_due_ms END WHERE sync_id=?1 AND ",
      PeriodStart(""), "=?2 RETURNING sync_id"));
  ASSIGN_OR_RETURN(ScopedStatement q, writer_->Cached(kSql->c_str()));
  q->Bind(1, sync_id).Bind(2, period_start_ms).Bind(3, period_end_ms);
  ASSIGN_OR_RETURN(bool row, q->Step());
  return row;
}

absl::Status SqlStore::DeferReport(const std::string& sync_id,
                                   int64_t next_attempt_ms,
                                   const std::string& error) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(
      ScopedStatement q,
      writer_->Cached("UPDATE syncs SET report_next_attempt_ms=?2, "
                      "report_error=?3 WHERE sync_id=?1"));
  q->Bind(1, sync_id).Bind(2, next_attempt_ms).Bind(3, error);
  return q->Run();
}

}  // namespace adsync
