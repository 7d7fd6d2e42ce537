#include "coordinator/panel_sync.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/digest.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/text.h"
#include "coordinator/metrics.h"
#include "google/protobuf/util/json_util.h"

namespace adsync {
namespace {

// `s` percent-encoded as one path segment (RFC 3986's unreserved
// characters are kept).
std::string PathSegment(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += c;
    } else {
      absl::StrAppend(
          &out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

std::string Url(const std::string& base, const std::string& org,
                absl::string_view rest) {
  std::string b = base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return absl::StrCat(b, "/api/v1/orgs/", PathSegment(org), "/", rest);
}

std::string Snippet(const std::string& body) {
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

}  // namespace

absl::Status ParsePanelJson(absl::string_view body,
                            google::protobuf::Message* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // K12Panel may add fields
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), out, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(status.message()));
}

std::vector<Person> PeopleOfPage(const adsync::v1::ListPeopleResponse& page) {
  std::vector<Person> people;
  for (const auto& p : page.people()) {
    if (p.id().empty()) continue;
    Person person{p.id(), p.name(), {}};
    for (const auto& e : p.emails()) {
      std::string email = NormalizeEmail(e);
      if (!email.empty()) person.emails.push_back(std::move(email));
    }
    people.push_back(std::move(person));
  }
  return people;
}

absl::Status PanelClient::GetPages(
    const std::string& org_id, absl::string_view resource,
    absl::string_view what,
    const std::function<absl::StatusOr<std::string>(absl::string_view body)>&
        take_page) {
  std::string token;
  for (int page = 0; page < 100000; ++page) {
    HttpRequest req;
    req.url =
        Url(base_url_, org_id,
            absl::StrCat(resource,
                         "?page_size=500&page_token=", PathSegment(token)));
    req.headers["Authorization"] = "Bearer " + token_;
    req.timeout = timeout_;
    auto resp = SendHttp(req);
    if (!resp.ok()) return resp.status();
    if (resp->status == 401 || resp->status == 403) {
      return absl::PermissionDeniedError(
          absl::StrCat("K12Panel refused the token (HTTP ", resp->status,
                       ") listing ", what, "; check panel.token_file"));
    }
    if (resp->status != 200) {
      return absl::UnavailableError(
          absl::StrCat("K12Panel answered HTTP ", resp->status, " listing ",
                       what, ": ", Snippet(resp->body)));
    }
    absl::StatusOr<std::string> next = take_page(resp->body);
    if (!next.ok()) {
      return absl::DataLossError(absl::StrCat(
          "K12Panel's ", what,
          " page is not the expected JSON: ", Snippet(resp->body)));
    }
    if (next->empty()) return absl::OkStatus();
    token = *std::move(next);
  }
  return absl::DataLossError(
      absl::StrCat("K12Panel's ", what, " listing never ended"));
}

absl::StatusOr<std::vector<Person>> PanelClient::ListPeople(
    const std::string& org_id) {
  std::vector<Person> people;
  absl::Status s =
      GetPages(org_id, "people", "People",
               [&](absl::string_view body) -> absl::StatusOr<std::string> {
                 adsync::v1::ListPeopleResponse list;
                 RETURN_IF_ERROR(ParsePanelJson(body, &list));
                 for (Person& person : PeopleOfPage(list))
                   people.push_back(std::move(person));
                 return list.next_page_token();
               });
  if (!s.ok()) return s;
  return people;
}

absl::StatusOr<std::vector<adsync::v1::PanelPersonIdentities>>
PanelClient::ListIdentities(const std::string& org_id) {
  std::vector<adsync::v1::PanelPersonIdentities> people;
  absl::Status s =
      GetPages(org_id, "ad-identities", "AD identities",
               [&](absl::string_view body) -> absl::StatusOr<std::string> {
                 adsync::v1::ListIdentitiesResponse list;
                 RETURN_IF_ERROR(ParsePanelJson(body, &list));
                 for (auto& person : *list.mutable_people()) {
                   if (!person.person_id().empty())
                     people.push_back(std::move(person));
                 }
                 return list.next_page_token();
               });
  if (!s.ok()) return s;
  return people;
}

std::string PanelClient::IdempotencyKey(const PushBatch& batch) {
  std::string material = batch.org_id;
  for (const auto& u : batch.updates)
    absl::StrAppend(&material, "|", u.person_id(), ":", u.version());
  return Sha256Hex(material);
}

PanelClient::Delivery PanelClient::Post(const std::string& url,
                                        const std::string& idempotency_key,
                                        const google::protobuf::Message& body,
                                        google::protobuf::Message* answer) {
  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers["Authorization"] = "Bearer " + token_;
  req.headers["Idempotency-Key"] = idempotency_key;
  req.headers["Content-Type"] = "application/json";
  req.timeout = timeout_;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(body, &req.body, print);
  Delivery d;
  auto resp = SendHttp(req);
  if (!resp.ok()) {
    d.error = std::string(resp.status().message());
    return d;
  }
  d.http_status = resp->status;
  if (resp->status == 200) {
    if (!ParsePanelJson(resp->body, answer).ok()) {
      d.error = absl::StrCat("K12Panel's answer is not the expected JSON: ",
                             Snippet(resp->body));
    }
    return d;
  }
  if (auto it = resp->headers.find("retry-after"); it != resp->headers.end()) {
    if (!absl::SimpleAtoi(it->second, &d.retry_after_seconds))
      d.retry_after_seconds = 0;
  }
  d.error = absl::StrCat("K12Panel answered HTTP ", resp->status, ": ",
                         Snippet(resp->body));
  return d;
}

PanelClient::Delivery PanelClient::BatchUpdate(const PushBatch& batch) {
  adsync::v1::BatchUpdateRequest body;
  for (const auto& u : batch.updates) *body.add_updates() = u;
  adsync::v1::BatchUpdateResponse answer;
  Delivery d = Post(Url(base_url_, batch.org_id, "ad-identities:batchUpdate"),
                    IdempotencyKey(batch), body, &answer);
  d.response = std::move(answer);
  return d;
}

PanelClient::Delivery PanelClient::PostReport(
    const std::string& org_id, const std::string& sync_id,
    const adsync::v1::SyncReport& report, const std::string& idempotency_key) {
  adsync::v1::PostReportRequest body;
  *body.mutable_report() = report;
  adsync::v1::PostReportResponse answer;
  Delivery d =
      Post(Url(base_url_, org_id,
               absl::StrCat("ad-syncs/", PathSegment(sync_id), "/reports")),
           idempotency_key, body, &answer);
  if (d.http_status == 200 && d.error.empty() && !answer.accepted()) {
    d.error =
        "K12Panel answered 200 without \"accepted\": true; the report was "
        "not taken";
  }
  return d;
}

bool PanelClient::Delivery::permanent() const {
  return http_status >= 400 && http_status < 500 && http_status != 429 &&
         http_status != 408 && http_status != 401 && http_status != 403;
}

int64_t PanelClient::Delivery::RetryAtMs(int64_t now_ms,
                                         int64_t backoff_ms) const {
  constexpr int64_t kMaxRetryAfterSeconds = 3600;
  if (http_status == 429 && retry_after_seconds > 0) {
    return now_ms + std::min(retry_after_seconds, kMaxRetryAfterSeconds) * 1000;
  }
  return now_ms + backoff_ms;
}

std::string PanelClient::Delivery::ErrorForOperator() const {
  if (http_status == 401 || http_status == 403) {
    return absl::StrCat(error, "; check panel.token_file");
  }
  return error;
}

PanelSync::PanelSync(OutboxStore* outbox, PeopleStore* people,
                     const adsync::v1::PanelConfig& config, std::string token)
    : outbox_(outbox),
      people_(people),
      config_(config),
      client_(config.base_url(), std::move(token),
              absl::Seconds(config.request_timeout_seconds())) {}

PanelSync::~PanelSync() { Stop(); }

void PanelSync::Start() {
  push_thread_ = std::thread([this] { PushLoop(); });
  if (!config_.disable_periodic_pull())
    pull_thread_ = std::thread([this] { PullLoop(); });
}

void PanelSync::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  {
    absl::MutexLock lock(&wake_mu_);
    stopping_ = true;
  }
  if (push_thread_.joinable()) push_thread_.join();
  if (pull_thread_.joinable()) pull_thread_.join();
}

int64_t PanelSync::BackoffMs(int attempts) {
  return absl::ToInt64Milliseconds(JitteredBackoff(
      absl::Milliseconds(config_.backoff_initial_ms()),
      absl::Milliseconds(config_.backoff_max_ms()), attempts, rng_));
}

void PanelSync::DeliverOrg(const std::string& org_id) {
  // Drain the org's due updates batch by batch until a failure defers it.
  for (int round = 0; round < 1000; ++round) {
    auto batch =
        outbox_->NextPushBatch(org_id, static_cast<int>(config_.batch_size()));
    if (!batch.ok() || batch->updates.empty()) return;
    PanelClient::Delivery d = client_.BatchUpdate(*batch);
    const int64_t now_ms = absl::ToUnixMillis(absl::Now());
    if (d.ok()) {
      if (absl::Status s = outbox_->CompletePush(*batch); !s.ok()) {
        Log(LogLevel::kError, "recording a delivery failed",
            {{"error", std::string(s.message())}});
        return;
      }
      Metrics::Global().PushDelivered(batch->updates.size());
      Log(LogLevel::kInfo, "pushed to K12Panel",
          {{"org", org_id},
           {"people", absl::StrCat(batch->updates.size())},
           {"applied", absl::StrCat(d.response.applied())},
           {"stale", absl::StrCat(d.response.stale())}});
      continue;
    }
    Metrics::Global().PushFailed();
    if (d.permanent()) {
      Log(LogLevel::kError, "K12Panel refused a batch; parked",
          {{"org", org_id}, {"error", d.error}});
      outbox_->ParkPush(*batch, d.error).IgnoreError();
      continue;
    }
    const int64_t next = d.RetryAtMs(now_ms, BackoffMs(batch->attempts));
    const std::string error = d.ErrorForOperator();
    Log(LogLevel::kWarning, "K12Panel delivery will be retried",
        {{"org", org_id},
         {"error", error},
         {"retry_in_ms", absl::StrCat(next - now_ms)}});
    outbox_->DeferPush(org_id, next, error).IgnoreError();
    return;
  }
}

void PanelSync::DeliverDue() {
  auto orgs = outbox_->OrgsReadyToPush(absl::ToUnixMillis(absl::Now()));
  if (!orgs.ok()) {
    Log(LogLevel::kError, "reading the outbox failed",
        {{"error", std::string(orgs.status().message())}});
    return;
  }
  for (const std::string& org : *orgs) DeliverOrg(org);
}

void PanelSync::Wake() {
  absl::MutexLock lock(&wake_mu_);
  wake_ = true;
}

void PanelSync::PushLoop() {
  while (!stop_.HasBeenNotified()) {
    DeliverDue();
    // Until changes are committed, the scan interval passes (retries and
    // other coordinators' commits are found then), or Stop.
    absl::MutexLock lock(&wake_mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
      return wake_ || stopping_;
    };
    wake_mu_.AwaitWithTimeout(absl::Condition(&woken),
                              absl::Milliseconds(config_.push_interval_ms()));
    wake_ = false;
  }
}

absl::StatusOr<adsync::v1::ImportPeopleResponse> PanelSync::PullPeople(
    const std::string& org_id) {
  auto people = client_.ListPeople(org_id);
  if (!people.ok()) return people.status();
  return people_->ReplacePeople(org_id, *people);
}

void PanelSync::PullLoop() {
  while (!stop_.HasBeenNotified()) {
    auto orgs = people_->ListOrgs();
    if (orgs.ok()) {
      for (const auto& org : *orgs) {
        auto pulled = PullPeople(org.org_id());
        if (!pulled.ok()) {
          Log(LogLevel::kWarning, "pulling People failed",
              {{"org", org.org_id()},
               {"error", std::string(pulled.status().message())}});
        }
      }
    }
    stop_.WaitForNotificationWithTimeout(
        absl::Seconds(config_.people_pull_interval_seconds()));
  }
}

}  // namespace adsync
