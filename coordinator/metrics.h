// Prometheus metrics for the coordinator, served as text at /metrics.
// Counters and histograms are updated by the gateway and the push loop.
// The store-derived gauges (accounts by outcome, push queue, quarantine)
// come from StoreGauges, a snapshot re-read in the background: a scrape
// never queries the store, so scraping cannot compete with agents'
// authentication for the store's lock however often it happens.
//
// Org ids are tenant identifiers: a scrape without the metrics token gets
// those gauges summed over every org; only one presenting
// `Authorization: Bearer <metrics_token_file>` gets them per org
// (ServeMetrics).
//
// Thread-safety: all methods are safe from any thread.
#ifndef ADSYNC_COORDINATOR_METRICS_H_
#define ADSYNC_COORDINATOR_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "coordinator/store.h"

namespace adsync {

// The store's per-org gauges as of one reading.
struct StoreGaugeSnapshot {
  struct Org {
    std::string org_id;
    std::map<std::string, uint64_t> accounts;  // by outcome label
    uint64_t push_queue = 0;
    bool quarantined = false;
  };
  std::vector<Org> orgs;
  // The whole reading, for the status page's org list.
  adsync::v1::GetStatusResponse status;
  absl::Time taken = absl::InfinitePast();  // never read successfully
};

// Re-reads the store's status every `refresh` on its own thread. The
// first reading happens in the constructor, so /metrics has values from
// the start. A failed reading keeps the previous snapshot (its age shows
// in adsync_store_snapshot_age_seconds) and is logged.
class StoreGauges {
 public:
  StoreGauges(StatusStore* store, absl::Duration refresh);
  ~StoreGauges();  // stops and joins the thread; `store` must outlive it
  StoreGauges(const StoreGauges&) = delete;
  StoreGauges& operator=(const StoreGauges&) = delete;

  std::shared_ptr<const StoreGaugeSnapshot> Get() const;

 private:
  void Refresh();
  void Loop();

  StatusStore* const store_;
  const absl::Duration refresh_;
  mutable absl::Mutex mu_;
  absl::Notification stop_;
  std::shared_ptr<const StoreGaugeSnapshot> current_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class Metrics {
 public:
  static Metrics& Global();

  void StreamOpened() { ++streams_; }
  void StreamClosed() { --streams_; }
  void BatchCommitted(uint32_t applied, uint32_t unchanged, double seconds);
  void Rejected(const std::string& reason);  // a short reason label
  void Failover() { ++failovers_; }
  void PushDelivered(uint64_t people) { pushed_ += people; }
  void PushFailed() { ++push_failures_; }

  // Prometheus text exposition format (version 0.0.4). The store gauges
  // carry an org label only with `per_org`; otherwise they are sums.
  std::string Render(const StoreGaugeSnapshot& gauges, bool per_org,
                     absl::Time now = absl::Now());

 private:
  static constexpr std::array<double, 10> kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
  std::atomic<int64_t> streams_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> unchanged_{0};
  std::atomic<uint64_t> failovers_{0};
  std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> push_failures_{0};
  absl::Mutex mu_;
  std::map<std::string, uint64_t> rejections_ ABSL_GUARDED_BY(mu_);
  std::array<uint64_t, kBuckets.size() + 1> commit_buckets_
      ABSL_GUARDED_BY(mu_){};
  double commit_seconds_sum_ ABSL_GUARDED_BY(mu_) = 0;
};

// The metrics listener's handler: /metrics (aggregate without a token, per
// org with `token`; a wrong or unexpected token gets 401) and /healthz.
// `token` empty = per-org series are off.
HttpServerResponse ServeMetrics(const HttpServerRequest& request,
                                const StoreGauges& gauges,
                                const std::string& token);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_METRICS_H_
