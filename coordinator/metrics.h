// Prometheus metrics for the coordinator. Counters and histograms are
// updated by the gateway and the push loop; per-org gauges (accounts by
// outcome, push queue) are read from the store at scrape time so they are
// right after a restart. Served as text at /metrics.
//
// Thread-safety: all methods are safe from any thread.
#ifndef ADSYNC_COORDINATOR_METRICS_H_
#define ADSYNC_COORDINATOR_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "coordinator/store.h"

namespace adsync {

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

  // Prometheus text exposition format (version 0.0.4).
  std::string Render(Store* store);

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
  std::mutex mu_;
  std::map<std::string, uint64_t> rejections_;  // guarded by mu_
  std::array<uint64_t, kBuckets.size() + 1>
      commit_buckets_{};           // guarded by mu_
  double commit_seconds_sum_ = 0;  // guarded by mu_
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_METRICS_H_
