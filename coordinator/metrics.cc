#include "coordinator/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/log.h"

namespace adsync {

StoreGauges::StoreGauges(StatusStore* store, absl::Duration refresh)
    : store_(store),
      refresh_(refresh),
      current_(std::make_shared<StoreGaugeSnapshot>()) {
  Refresh();
  thread_ = std::thread([this] { Loop(); });
}

StoreGauges::~StoreGauges() {
  stop_.Notify();
  thread_.join();
}

std::shared_ptr<const StoreGaugeSnapshot> StoreGauges::Get() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

void StoreGauges::Refresh() {
  auto status = store_->GetStatus("");
  if (!status.ok()) {
    Log(LogLevel::kWarning,
        "cannot read the store for /metrics; it keeps serving the previous "
        "values (see adsync_store_snapshot_age_seconds) and retries",
        {{"error", std::string(status.status().message())}});
    return;
  }
  auto snapshot = std::make_shared<StoreGaugeSnapshot>();
  for (const auto& org : status->orgs()) {
    const auto& c = org.counts();
    snapshot->orgs.push_back({org.org().org_id(),
                              {{"matched", c.matched()},
                               {"unmatched", c.unmatched()},
                               {"ambiguous", c.ambiguous()},
                               {"no-email", c.no_email()},
                               {"removed", c.deleted()}},
                              org.push().queue_depth(),
                              org.push().quarantined()});
  }
  snapshot->status = *std::move(status);
  snapshot->taken = absl::Now();
  absl::MutexLock lock(&mu_);
  current_ = std::move(snapshot);
}

void StoreGauges::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(refresh_)) Refresh();
}

Metrics& Metrics::Global() {
  static Metrics* metrics = new Metrics();
  return *metrics;
}

void Metrics::BatchCommitted(uint32_t applied, uint32_t unchanged,
                             double seconds) {
  ++batches_;
  applied_ += applied;
  unchanged_ += unchanged;
  absl::MutexLock lock(&mu_);
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  ++commit_buckets_[i];
  commit_seconds_sum_ += seconds;
}

void Metrics::Rejected(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  ++rejections_[reason];
}

std::string Metrics::Render(const StoreGaugeSnapshot& gauges, bool per_org,
                            absl::Time now) {
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
    absl::MutexLock lock(&mu_);
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
  if (gauges.taken == absl::InfinitePast()) return out;

  metric("adsync_store_snapshot_age_seconds", "gauge",
         "Seconds since the store gauges below were read (every "
         "metrics_refresh_ms).");
  absl::StrAppend(
      &out, "adsync_store_snapshot_age_seconds ",
      absl::StrFormat("%.3f", absl::ToDoubleSeconds(now - gauges.taken)), "\n");
  metric("adsync_orgs", "gauge", "Orgs served by this coordinator.");
  absl::StrAppend(&out, "adsync_orgs ", gauges.orgs.size(), "\n");
  if (per_org) {
    metric("adsync_accounts", "gauge", "Accounts by org and match outcome.");
    for (const auto& org : gauges.orgs) {
      for (const auto& [outcome, n] : org.accounts) {
        absl::StrAppend(&out, "adsync_accounts{org=\"", org.org_id,
                        "\",outcome=\"", outcome, "\"} ", n, "\n");
      }
    }
    metric("adsync_push_queue", "gauge",
           "People with undelivered K12Panel updates, by org.");
    for (const auto& org : gauges.orgs) {
      absl::StrAppend(&out, "adsync_push_queue{org=\"", org.org_id, "\"} ",
                      org.push_queue, "\n");
    }
    metric("adsync_push_quarantined", "gauge",
           "1 when the org's push is quarantined.");
    for (const auto& org : gauges.orgs) {
      absl::StrAppend(&out, "adsync_push_quarantined{org=\"", org.org_id,
                      "\"} ", org.quarantined ? 1 : 0, "\n");
    }
    return out;
  }
  // Without the metrics token: the same series summed over orgs, so no
  // tenant identifier leaves the coordinator.
  std::map<std::string, uint64_t> accounts = {{"ambiguous", 0},
                                              {"matched", 0},
                                              {"no-email", 0},
                                              {"removed", 0},
                                              {"unmatched", 0}};
  uint64_t queue = 0, quarantined = 0;
  for (const auto& org : gauges.orgs) {
    for (const auto& [outcome, n] : org.accounts) accounts[outcome] += n;
    queue += org.push_queue;
    quarantined += org.quarantined ? 1 : 0;
  }
  metric("adsync_accounts", "gauge",
         "Accounts by match outcome, summed over orgs (per org with the "
         "metrics token).");
  for (const auto& [outcome, n] : accounts) {
    absl::StrAppend(&out, "adsync_accounts{outcome=\"", outcome, "\"} ", n,
                    "\n");
  }
  metric("adsync_push_queue", "gauge",
         "People with undelivered K12Panel updates, summed over orgs.");
  absl::StrAppend(&out, "adsync_push_queue ", queue, "\n");
  metric("adsync_push_quarantined", "gauge", "Orgs whose push is quarantined.");
  absl::StrAppend(&out, "adsync_push_quarantined ", quarantined, "\n");
  return out;
}

HttpServerResponse ServeMetrics(const HttpServerRequest& request,
                                const StoreGauges& gauges,
                                const std::string& token) {
  HttpServerResponse resp;
  if (request.path == "/healthz") {
    resp.body = "{\"status\":\"SERVING\"}";
    return resp;
  }
  if (request.path != "/metrics") {
    resp.status = 404;
    resp.body = "{\"error\":\"try /metrics or /healthz\"}";
    return resp;
  }
  bool per_org = false;
  if (auto it = request.headers.find("authorization");
      it != request.headers.end()) {
    // A scraper sending a token expects per-org series; answering with
    // totals instead would hide its misconfiguration.
    if (token.empty() || !SecretsEqual(it->second, "Bearer " + token)) {
      resp.status = 401;
      resp.headers["WWW-Authenticate"] = "Bearer realm=\"adsync-metrics\"";
      resp.body =
          token.empty()
              ? "{\"error\":\"this coordinator has no metrics_token_file, so "
                "/metrics has no per-org series; scrape without an "
                "Authorization header, or set metrics_token_file\"}"
              : "{\"error\":\"wrong metrics token: send Authorization: Bearer "
                "and the content of the coordinator's metrics_token_file, or "
                "no Authorization header for totals over all orgs\"}";
      return resp;
    }
    per_org = true;
  }
  resp.headers["Content-Type"] = "text/plain; version=0.0.4";
  resp.body = Metrics::Global().Render(*gauges.Get(), per_org);
  return resp;
}

}  // namespace adsync
