#include "panel/panel_sim.h"

#include <optional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace adsync {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS people(org TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,
  PRIMARY KEY(org, id));
CREATE TABLE IF NOT EXISTS identities(org TEXT NOT NULL, person_id TEXT NOT NULL,
  version INTEGER NOT NULL, json TEXT NOT NULL, PRIMARY KEY(org, person_id));
CREATE TABLE IF NOT EXISTS idempotency(org TEXT NOT NULL, key TEXT NOT NULL,
  status INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY(org, key));
)sql";

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

HttpServerResponse Json(int status, const google::protobuf::Message& m) {
  HttpServerResponse r;
  r.status = status;
  r.body = ToJson(m);
  return r;
}

HttpServerResponse Error(int status, const std::string& message) {
  HttpServerResponse r;
  r.status = status;
  r.body = absl::StrCat("{\"error\":{\"code\":", status, ",\"message\":\"",
                        message, "\"}}");
  return r;
}

absl::Status ParseJson(const std::string& body, google::protobuf::Message* m) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(body, m, o);
  if (!s.ok()) return absl::InvalidArgumentError(std::string(s.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PanelSim>> PanelSim::Open(
    const std::string& db_path, std::string token, uint64_t seed) {
  ASSIGN_OR_RETURN(std::unique_ptr<Database> db, SqliteDatabase::Open(db_path));
  RETURN_IF_ERROR(db->Execute(kSchema));
  return std::unique_ptr<PanelSim>(
      new PanelSim(std::move(db), std::move(token), seed));
}

void PanelSim::SetFaults(const adsync::v1::SimFaults& faults) {
  absl::MutexLock lock(&mu_);
  faults_ = faults;
}

std::optional<HttpServerResponse> PanelSim::InjectFault() {
  adsync::v1::SimFaults f;
  double roll;
  {
    absl::MutexLock lock(&mu_);
    f = faults_;
    roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    stats_.set_received(stats_.received() + 1);
  }
  if (f.delay_ms())
    std::this_thread::sleep_for(std::chrono::milliseconds(f.delay_ms()));
  std::optional<HttpServerResponse> fault;
  double edge = 0;
  if (f.down()) {
    fault = Error(503, "panel-sim is down (fault injection)");
  } else if (roll < (edge += f.drop_rate())) {
    fault = HttpServerResponse{};
    fault->drop_connection = true;
  } else if (roll < (edge += f.error_rate())) {
    fault = Error(503, "injected server error");
  } else if (roll < (edge += f.throttle_rate())) {
    fault = Error(429, "slow down");
    fault->headers["Retry-After"] =
        absl::StrCat(std::max(1u, f.retry_after_seconds()));
  } else if (roll < (edge += f.reject_rate())) {
    fault = Error(400, "injected permanent rejection");
  }
  if (fault) {
    absl::MutexLock lock(&mu_);
    stats_.set_faults(stats_.faults() + 1);
  }
  return fault;
}

HttpServerResponse PanelSim::Handle(const HttpServerRequest& r) {
  {
    absl::MutexLock lock(&mu_);
    stats_.set_requests(stats_.requests() + 1);
  }
  // /api/v1/orgs/{org}/people  |  /api/v1/orgs/{org}/ad-identities:batchUpdate
  std::vector<std::string> parts =
      absl::StrSplit(r.path, '/', absl::SkipEmpty());
  if (parts.size() == 5 && parts[0] == "api" && parts[1] == "v1" &&
      parts[2] == "orgs") {
    auto auth = r.headers.find("authorization");
    if (auth == r.headers.end() ||
        !SecretsEqual(auth->second, "Bearer " + token_)) {
      return Error(401,
                   "missing or wrong bearer token; send Authorization: Bearer "
                   "and the content of panel-sim's --token_file (the "
                   "coordinator's panel.token_file)");
    }
    if (auto fault = InjectFault()) return *fault;
    if (parts[4] == "people" && r.method == "GET")
      return ListPeople(parts[3], r);
    if (parts[4] == "ad-identities:batchUpdate" && r.method == "POST") {
      return BatchUpdate(parts[3], r);
    }
    return Error(404, "no such API method");
  }
  if (r.path == "/healthz") return HttpServerResponse{200, {}, "{}", false};
  if (r.path == "/sim/faults" && r.method == "POST") {
    adsync::v1::SimFaults f;
    if (absl::Status s = ParseJson(r.body, &f); !s.ok())
      return Error(400, std::string(s.message()));
    SetFaults(f);
    return Json(200, f);
  }
  if (r.path == "/sim/stats") {
    absl::MutexLock lock(&mu_);
    return Json(200, stats_);
  }
  if (parts.size() == 4 && parts[0] == "sim" && parts[1] == "orgs") {
    if (parts[3] == "people" && r.method == "POST")
      return SeedPeople(parts[2], r);
    if (parts[3] == "state") return OrgState(parts[2]);
  }
  return Error(404, "not found");
}

HttpServerResponse PanelSim::ListPeople(const std::string& org,
                                        const HttpServerRequest& r) {
  int page_size = 100;
  int offset = 0;
  if (auto it = r.query.find("page_size"); it != r.query.end()) {
    if (!absl::SimpleAtoi(it->second, &page_size) || page_size < 1 ||
        page_size > 1000) {
      return Error(400, "page_size must be 1..1000");
    }
  }
  if (auto it = r.query.find("page_token");
      it != r.query.end() && !it->second.empty()) {
    if (!absl::SimpleAtoi(it->second, &offset) || offset < 0)
      return Error(400, "bad page_token");
  }
  absl::MutexLock lock(&mu_);
  auto q = db_->Cached(
      "SELECT json FROM people WHERE org=?1 ORDER BY id LIMIT ?2 OFFSET ?3");
  if (!q.ok()) return Error(500, std::string(q.status().message()));
  (*q)->Bind(1, org).Bind(2, page_size + 1).Bind(3, offset);
  adsync::v1::ListPeopleResponse out;
  int n = 0;
  while (true) {
    auto row = (*q)->Step();
    if (!row.ok()) return Error(500, std::string(row.status().message()));
    if (!*row) break;
    if (++n > page_size) {
      out.set_next_page_token(absl::StrCat(offset + page_size));
      break;
    }
    ParseJson((*q)->ColumnText(0), out.add_people()).IgnoreError();
  }
  return Json(200, out);
}

HttpServerResponse PanelSim::BatchUpdate(const std::string& org,
                                         const HttpServerRequest& r) {
  auto key_it = r.headers.find("idempotency-key");
  if (key_it == r.headers.end() || key_it->second.empty()) {
    return Error(400, "Idempotency-Key header is required");
  }
  const std::string key = key_it->second;
  adsync::v1::BatchUpdateRequest request;
  if (absl::Status s = ParseJson(r.body, &request); !s.ok()) {
    return Error(400, absl::StrCat("malformed body: ", s.message()));
  }
  absl::MutexLock lock(&mu_);
  stats_.set_batch_requests(stats_.batch_requests() + 1);
  {
    auto seen = db_->Cached(
        "SELECT status, body FROM idempotency WHERE org=?1 AND key=?2");
    (*seen)->Bind(1, org).Bind(2, key);
    if (auto row = (*seen)->Step(); row.ok() && *row) {
      stats_.set_idempotent_replays(stats_.idempotent_replays() + 1);
      return HttpServerResponse{static_cast<int>((*seen)->ColumnInt(0)),
                                {},
                                (*seen)->ColumnText(1),
                                false};
    }
  }
  Transaction txn(db_.get());
  if (!txn.Begin().ok()) return Error(503, "storage busy");
  adsync::v1::BatchUpdateResponse response;
  for (const auto& u : request.updates()) {
    auto cur = db_->Cached(
        "SELECT version FROM identities WHERE org=?1 AND person_id=?2");
    (*cur)->Bind(1, org).Bind(2, u.person_id());
    auto row = (*cur)->Step();
    if (row.ok() && *row &&
        static_cast<uint32_t>((*cur)->ColumnInt(0)) >= u.version()) {
      response.set_stale(response.stale() + 1);
      continue;
    }
    adsync::v1::SimPersonState state;
    state.set_person_id(u.person_id());
    state.set_version(u.version());
    *state.mutable_identities() = u.identities();
    auto put = db_->Cached(
        "INSERT INTO identities(org, person_id, version, json) "
        "VALUES(?1,?2,?3,?4) "
        "ON CONFLICT(org, person_id) DO UPDATE SET version=?3, json=?4");
    (*put)
        ->Bind(1, org)
        .Bind(2, u.person_id())
        .Bind(3, u.version())
        .Bind(4, ToJson(state));
    if (!(*put)->Run().ok()) return Error(500, "storage error");
    response.set_applied(response.applied() + 1);
  }
  const std::string body = ToJson(response);
  auto remember = db_->Cached(
      "INSERT INTO idempotency(org, key, status, body) VALUES(?1,?2,200,?3)");
  (*remember)->Bind(1, org).Bind(2, key).Bind(3, body);
  if (!(*remember)->Run().ok() || !txn.Commit().ok())
    return Error(503, "storage error");
  stats_.set_applied(stats_.applied() + response.applied());
  stats_.set_stale(stats_.stale() + response.stale());
  return HttpServerResponse{200, {}, body, false};
}

HttpServerResponse PanelSim::SeedPeople(const std::string& org,
                                        const HttpServerRequest& r) {
  adsync::v1::ListPeopleResponse people;
  if (absl::Status s = ParseJson(r.body, &people); !s.ok())
    return Error(400, std::string(s.message()));
  absl::MutexLock lock(&mu_);
  Transaction txn(db_.get());
  if (!txn.Begin().ok()) return Error(503, "storage busy");
  auto del = db_->Cached("DELETE FROM people WHERE org=?1");
  (*del)->Bind(1, org);
  (void)(*del)->Run();
  for (const auto& p : people.people()) {
    auto put = db_->Cached(
        "INSERT OR REPLACE INTO people(org, id, json) VALUES(?1,?2,?3)");
    (*put)->Bind(1, org).Bind(2, p.id()).Bind(3, ToJson(p));
    if (!(*put)->Run().ok()) return Error(500, "storage error");
  }
  if (!txn.Commit().ok()) return Error(503, "storage error");
  return HttpServerResponse{
      200, {}, absl::StrCat("{\"people\":", people.people_size(), "}"), false};
}

HttpServerResponse PanelSim::OrgState(const std::string& org) {
  absl::MutexLock lock(&mu_);
  auto q = db_->Cached(
      "SELECT json FROM identities WHERE org=?1 ORDER BY person_id");
  (*q)->Bind(1, org);
  adsync::v1::SimOrgState state;
  while (true) {
    auto row = (*q)->Step();
    if (!row.ok() || !*row) break;
    ParseJson((*q)->ColumnText(0), state.add_people()).IgnoreError();
  }
  return Json(200, state);
}

}  // namespace adsync
