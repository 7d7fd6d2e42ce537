#include "coordinator/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace adsync {

Metrics& Metrics::Global() {
  static Metrics* metrics = new Metrics();
  return *metrics;
}

void Metrics::BatchCommitted(uint32_t applied, uint32_t unchanged,
                             double seconds) {
  ++batches_;
  applied_ += applied;
  unchanged_ += unchanged;
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  ++commit_buckets_[i];
  commit_seconds_sum_ += seconds;
}

void Metrics::Rejected(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++rejections_[reason];
}

std::string Metrics::Render(Store* store) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                    type, "\n");
  };
  metric("adsync_agent_streams", "gauge", "Agent streams currently open.");
  absl::StrAppend(&out, "adsync_agent_streams ", streams_.load(), "\n");
  metric("adsync_batches_total", "counter", "Batches committed.");
  absl::StrAppend(&out, "adsync_batches_total ", batches_.load(), "\n");
  metric("adsync_deltas_total", "counter",
         "Account deltas received, by result.");
  absl::StrAppend(
      &out, "adsync_deltas_total{result=\"applied\"} ", applied_.load(), "\n",
      "adsync_deltas_total{result=\"unchanged\"} ", unchanged_.load(), "\n");
  metric("adsync_failovers_total", "counter", "Standbys promoted to primary.");
  absl::StrAppend(&out, "adsync_failovers_total ", failovers_.load(), "\n");
  metric("adsync_push_people_total", "counter",
         "Person updates K12Panel accepted.");
  absl::StrAppend(&out, "adsync_push_people_total ", pushed_.load(), "\n");
  metric("adsync_push_failures_total", "counter",
         "Failed K12Panel deliveries.");
  absl::StrAppend(&out, "adsync_push_failures_total ", push_failures_.load(),
                  "\n");
  {
    std::lock_guard<std::mutex> lock(mu_);
    metric("adsync_rejections_total", "counter",
           "Agent hellos and batches rejected, by reason.");
    for (const auto& [reason, n] : rejections_) {
      absl::StrAppend(&out, "adsync_rejections_total{reason=\"", reason, "\"} ",
                      n, "\n");
    }
    metric("adsync_batch_commit_seconds", "histogram",
           "Time to make a batch durable.");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += commit_buckets_[i];
      absl::StrAppend(&out, "adsync_batch_commit_seconds_bucket{le=\"",
                      kBuckets[i], "\"} ", cumulative, "\n");
    }
    cumulative += commit_buckets_[kBuckets.size()];
    absl::StrAppend(&out, "adsync_batch_commit_seconds_bucket{le=\"+Inf\"} ",
                    cumulative, "\n", "adsync_batch_commit_seconds_sum ",
                    absl::StrFormat("%.6f", commit_seconds_sum_), "\n",
                    "adsync_batch_commit_seconds_count ", cumulative, "\n");
  }
  auto status = store->GetStatus("");
  if (status.ok()) {
    metric("adsync_accounts", "gauge", "Accounts by match outcome.");
    for (const auto& org : status->orgs()) {
      const auto& c = org.counts();
      const std::string l = absl::StrCat("org=\"", org.org().org_id(), "\"");
      for (const auto& [outcome, n] :
           std::map<std::string, uint64_t>{{"matched", c.matched()},
                                           {"unmatched", c.unmatched()},
                                           {"ambiguous", c.ambiguous()},
                                           {"no-email", c.no_email()},
                                           {"removed", c.deleted()}}) {
        absl::StrAppend(&out, "adsync_accounts{", l, ",outcome=\"", outcome,
                        "\"} ", n, "\n");
      }
    }
    metric("adsync_push_queue", "gauge",
           "People with undelivered K12Panel updates.");
    for (const auto& org : status->orgs()) {
      absl::StrAppend(&out, "adsync_push_queue{org=\"", org.org().org_id(),
                      "\"} ", org.push().queue_depth(), "\n");
    }
    metric("adsync_push_quarantined", "gauge",
           "1 when the org's push is quarantined.");
    for (const auto& org : status->orgs()) {
      absl::StrAppend(&out, "adsync_push_quarantined{org=\"",
                      org.org().org_id(), "\"} ",
                      org.push().quarantined() ? 1 : 0, "\n");
    }
  }
  return out;
}

}  // namespace adsync
