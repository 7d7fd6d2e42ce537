// Sends K12Panel each AD Sync's sync report after each sync cycle
// (docs/design.md, 6.4): when the AD Sync's full sync completes, and every
// `report_interval_seconds` in between (an agent that streams changes never
// "finishes" a run, so the interval closes its cycles; a silent agent is
// reported too, as an error). Only for live orgs: an org in preview writes
// nothing to K12Panel.
//
// Delivery is at-least-once: the store keeps where each AD Sync's period
// starts, the report is built from status when sent, and its
// Idempotency-Key is derived from (org, AD Sync, period start). A crash
// between sending and recording, a retry, or two coordinators racing send
// that period again, rebuilt (later end, current counts) under the same
// key: K12Panel keeps the first it accepted (design 6.4). 429 waits for
// Retry-After, 5xx and transport errors retry after panel.backoff_max_ms; any
// other 4xx drops the period (logged, and shown in status as the AD Sync's
// report error).
//
// Thread-safety: Start/Stop from one thread; SendDue from any (tests).
#ifndef ADSYNC_COORDINATOR_SYNC_REPORTER_H_
#define ADSYNC_COORDINATOR_SYNC_REPORTER_H_

#include <random>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "adsync/v1/config.pb.h"
#include "coordinator/panel_sync.h"
#include "coordinator/store.h"

namespace adsync {

class SyncReporter {
 public:
  // REQUIRES: config.base_url() is set; the stores outlive this object.
  SyncReporter(ReportStore* reports, StatusStore* status,
               const adsync::v1::PanelConfig& config, std::string token);
  ~SyncReporter();

  void Start();
  void Stop();

  // One pass: builds and sends every due report. Returns how many K12Panel
  // accepted.
  int SendDue();

 private:
  void Loop();

  ReportStore* const reports_;
  StatusStore* const status_;
  const adsync::v1::PanelConfig config_;
  PanelClient client_;
  absl::Mutex rng_mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(rng_mu_){std::random_device{}()};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_SYNC_REPORTER_H_
