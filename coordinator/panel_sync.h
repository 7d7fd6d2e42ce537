// Everything between the store and K12Panel: the HTTP client for the
// K12Panel API, delivery of the outbox (at-least-once, idempotent, with
// backoff), and pulling People.
//
// Delivery rules: a batch carries each person's complete identity set and
// version, and an Idempotency-Key derived from (org, person, version), so a
// retry after a crash is recognized by K12Panel. 429 waits for Retry-After;
// 5xx, 401/403 and transport errors back off exponentially with jitter;
// any other 4xx parks the batch with its error for an operator. All
// delivery state lives in the store.
//
// Thread-safety: PanelSync runs its own threads; PullPeople may be called
// from any thread.
#ifndef ADSYNC_COORDINATOR_PANEL_SYNC_H_
#define ADSYNC_COORDINATOR_PANEL_SYNC_H_

#include <atomic>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "adsync/v1/config.pb.h"
#include "adsync/v1/panel.pb.h"
#include "coordinator/store.h"

namespace adsync {

// K12Panel's JSON answers, parsed leniently: unknown fields are ignored
// (K12Panel may add some). Pure; fuzzed (tests/fuzz/).
absl::Status ParsePanelJson(absl::string_view body,
                            google::protobuf::Message* out);
// The People of one listing page: entries without an id are skipped,
// emails normalized, empty ones dropped.
std::vector<Person> PeopleOfPage(const adsync::v1::ListPeopleResponse& page);

class PanelClient {
 public:
  PanelClient(std::string base_url, std::string token, absl::Duration timeout)
      : base_url_(std::move(base_url)),
        token_(std::move(token)),
        timeout_(timeout) {}

  // All People of the org, page by page. Invalid emails are dropped.
  absl::StatusOr<std::vector<Person>> ListPeople(const std::string& org_id);
  // The identities K12Panel holds for the org's People now (design 6.3),
  // page by page, as K12Panel sent them; entries without a person_id are
  // skipped. Errors as ListPeople's: PermissionDenied when the token is
  // refused, Unavailable for a transport error or another HTTP status,
  // DataLoss for an answer that is not the expected JSON.
  absl::StatusOr<std::vector<adsync::v1::PanelPersonIdentities>> ListIdentities(
      const std::string& org_id);

  struct Delivery {
    long http_status = 0;  // 0 = no HTTP answer (transport error)
    int64_t retry_after_seconds = 0;
    std::string error;  // what went wrong, for the status page
    adsync::v1::BatchUpdateResponse response;

    bool ok() const { return http_status == 200 && error.empty(); }
    // K12Panel refused the content (a 4xx other than 401, 403, 408, 429):
    // sending it again would be refused again.
    bool permanent() const;
    // When to try again after a failure that is not permanent: K12Panel's
    // Retry-After for a 429 (at most an hour), else `backoff_ms` from now.
    int64_t RetryAtMs(int64_t now_ms, int64_t backoff_ms) const;
    // `error`, with what to check when the token was refused.
    std::string ErrorForOperator() const;
  };
  Delivery BatchUpdate(const PushBatch& batch);
  // Sends one AD Sync's report (design 6.4) under `idempotency_key`
  // (REQUIRES: not empty; the same report resent must carry the same key).
  // Success is http_status 200 with an empty `error`; a 200 whose answer
  // is not {"accepted": true} carries an error. `response` stays empty.
  Delivery PostReport(const std::string& org_id, const std::string& sync_id,
                      const adsync::v1::SyncReport& report,
                      const std::string& idempotency_key);

  // Deterministic key: the same (org, person, version) set always maps to
  // the same key, so a redelivery after a crash is deduplicated.
  static std::string IdempotencyKey(const PushBatch& batch);

 private:
  // GETs the org's `resource` page by page: page_size=500, then each
  // next_page_token. `take_page` parses one 200 answer's body into the
  // caller's result and returns its next_page_token ("" ends the listing),
  // or an error when the body is not the expected JSON. `what` names the
  // listing in errors ("People").
  absl::Status GetPages(
      const std::string& org_id, absl::string_view resource,
      absl::string_view what,
      const std::function<absl::StatusOr<std::string>(absl::string_view body)>&
          take_page);
  // POSTs `body` as JSON to `url` with `idempotency_key`; a 200 answer is
  // parsed into `answer`.
  Delivery Post(const std::string& url, const std::string& idempotency_key,
                const google::protobuf::Message& body,
                google::protobuf::Message* answer);

  const std::string base_url_;
  const std::string token_;
  const absl::Duration timeout_;
};

class PanelSync {
 public:
  // `outbox`: what to push; `people`: where the People pulled from
  // K12Panel go. REQUIRES: config.base_url() is set; both outlive this
  // object.
  PanelSync(OutboxStore* outbox, PeopleStore* people,
            const adsync::v1::PanelConfig& config, std::string token);
  ~PanelSync();

  void Start();
  void Stop();

  // Fetches and installs the org's People now.
  absl::StatusOr<adsync::v1::ImportPeopleResponse> PullPeople(
      const std::string& org_id);
  // The identities K12Panel holds for the org now (for a preview).
  absl::StatusOr<std::vector<adsync::v1::PanelPersonIdentities>>
  ReadHeldIdentities(const std::string& org_id) {
    return client_.ListIdentities(org_id);
  }
  // One delivery pass over every due org (the push thread's body).
  void DeliverDue();
  // Asks for a delivery pass now rather than at the next scan
  // (push_interval_ms): called once new changes are committed. Never
  // blocks; wakes that arrive during a pass fold into one more pass.
  void Wake();

 private:
  void DeliverOrg(const std::string& org_id);
  int64_t BackoffMs(int attempts);
  void PushLoop();
  void PullLoop();

  OutboxStore* const outbox_;
  PeopleStore* const people_;
  const adsync::v1::PanelConfig config_;
  PanelClient client_;
  std::mt19937_64 rng_{std::random_device{}()};
  absl::Notification stop_;
  absl::Mutex wake_mu_;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread push_thread_;
  std::thread pull_thread_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_PANEL_SYNC_H_
