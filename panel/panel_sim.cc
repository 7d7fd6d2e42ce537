#include "panel/panel_sim.h"

#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/guid.h"
#include "common/status_macros.h"
#include "common/text.h"
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
CREATE TABLE IF NOT EXISTS reports(seq INTEGER PRIMARY KEY, org TEXT NOT NULL,
  idempotency_key TEXT NOT NULL, sync_id TEXT NOT NULL,
  received_unix INTEGER NOT NULL, json TEXT NOT NULL,
  UNIQUE(org, idempotency_key));
CREATE INDEX IF NOT EXISTS reports_by_sync ON reports(org, sync_id, seq);
)sql";

// Bounds on a sync report's strings (bytes).
constexpr size_t kMaxIdempotencyKey = 255;
constexpr size_t kMaxController = 255;  // a DNS name is at most 253
constexpr size_t kMaxSourceIp = 64;     // an IPv6 address with a zone
constexpr size_t kMaxTimestamp = 40;
constexpr int kMaxMessages = 1000;  // errors, and rejections
constexpr size_t kMaxMessage = 2048;

constexpr char kAfter[] = "after:";  // what a page token says, unencoded

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

// `s` as a JSON string's content (messages may quote what a client sent).
std::string JsonEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out;
}

HttpServerResponse Error(int status, absl::string_view message) {
  HttpServerResponse r;
  r.status = status;
  r.body = absl::StrCat("{\"error\":{\"code\":", status, ",\"message\":\"",
                        JsonEscape(message), "\"}}");
  return r;
}

// What a client sent, quoted in an error: bounded and printable.
std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, 64)),
                      s.size() > 64 ? "...\"" : "\"");
}

// page_size: 1..1000, 100 when absent.
absl::StatusOr<int> PageSize(const HttpServerRequest& r) {
  auto it = r.query.find("page_size");
  if (it == r.query.end()) return 100;
  int page_size = 0;
  if (!absl::SimpleAtoi(it->second, &page_size) || page_size < 1 ||
      page_size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be a whole number from 1 to 1000 (100 "
                     "when absent); got ",
                     Quote(it->second)));
  }
  return page_size;
}

// "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" (RFC 3339, section 5.6)
// naming a real instant; nullopt otherwise (absl::ParseTime alone also
// takes surrounding spaces, one-digit fields and "+0200").
std::optional<absl::Time> ParseRfc3339(absl::string_view s) {
  if (s.size() < 20 || s.size() > kMaxTimestamp) return std::nullopt;
  auto digits = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      if (!absl::ascii_isdigit(s[i])) return false;
    }
    return true;
  };
  if (!digits(0, 4) || s[4] != '-' || !digits(5, 2) || s[7] != '-' ||
      !digits(8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2) ||
      s[13] != ':' || !digits(14, 2) || s[16] != ':' || !digits(17, 2)) {
    return std::nullopt;
  }
  size_t i = 19;
  if (s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    if (i == start) return std::nullopt;
  }
  const absl::string_view zone = s.substr(i);
  const bool offset = zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') &&
                      digits(i + 1, 2) && zone[3] == ':' && digits(i + 4, 2);
  if (zone != "Z" && zone != "z" && !offset) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return std::nullopt;
  return t;
}

// Why a text field may not be stored ("" = it may).
std::string TextProblem(absl::string_view name, const std::string& value,
                        size_t max) {
  if (value.size() > max) {
    return absl::StrCat(name, " is ", value.size(), " bytes; at most ", max,
                        " are accepted");
  }
  if (!IsValidUtf8(value)) return absl::StrCat(name, " is not UTF-8");
  return "";
}

std::string ListProblem(
    absl::string_view name,
    const google::protobuf::RepeatedPtrField<std::string>& list) {
  if (list.size() > kMaxMessages) {
    return absl::StrCat(name, " has ", list.size(), " entries; at most ",
                        kMaxMessages, " are accepted");
  }
  for (const std::string& m : list) {
    if (std::string p = TextProblem(name, m, kMaxMessage); !p.empty()) return p;
  }
  return "";
}

// Why `report` may not be stored ("" = it may).
std::string ReportProblem(const adsync::v1::SyncReport& report) {
  const std::optional<absl::Time> started = ParseRfc3339(report.started_at());
  const std::optional<absl::Time> finished = ParseRfc3339(report.finished_at());
  constexpr char kExample[] =
      " must be an RFC 3339 time such as 2026-11-26T08:00:00Z; got ";
  if (!started) {
    return absl::StrCat("report.started_at", kExample,
                        Quote(report.started_at()));
  }
  if (!finished) {
    return absl::StrCat("report.finished_at", kExample,
                        Quote(report.finished_at()));
  }
  if (*finished < *started) return "report.finished_at is before started_at";
  for (std::string p :
       {TextProblem("report.controller", report.controller(), kMaxController),
        TextProblem("report.source_ip", report.source_ip(), kMaxSourceIp),
        ListProblem("report.errors", report.errors()),
        ListProblem("report.rejections", report.rejections())}) {
    if (!p.empty()) return p;
  }
  return "";
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
  // /api/v1/orgs/{org}/...: the K12Panel API (panel_sim.h).
  std::vector<std::string> parts =
      absl::StrSplit(r.path, '/', absl::SkipEmpty());
  if (parts.size() >= 5 && parts[0] == "api" && parts[1] == "v1" &&
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
    const std::string& org = parts[3];
    if (parts.size() == 5) {
      if (parts[4] == "people" && r.method == "GET") return ListPeople(org, r);
      if (parts[4] == "ad-identities" && r.method == "GET")
        return ListIdentities(org, r);
      if (parts[4] == "ad-identities:batchUpdate" && r.method == "POST")
        return BatchUpdate(org, r);
    }
    if (parts.size() == 7 && parts[4] == "ad-syncs" && parts[6] == "reports" &&
        r.method == "POST") {
      return PostReport(org, parts[5], r);
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
    if (parts[3] == "reports") return Reports(parts[2], r, /*html=*/false);
    if (parts[3] == "reports.html") return Reports(parts[2], r, /*html=*/true);
  }
  return Error(404, "not found");
}

HttpServerResponse PanelSim::ListPeople(const std::string& org,
                                        const HttpServerRequest& r) {
  absl::StatusOr<int> size = PageSize(r);
  if (!size.ok()) return Error(400, size.status().message());
  const int page_size = *size;
  int offset = 0;
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

HttpServerResponse PanelSim::ListIdentities(const std::string& org,
                                            const HttpServerRequest& r) {
  absl::StatusOr<int> page_size = PageSize(r);
  if (!page_size.ok()) return Error(400, page_size.status().message());
  // The token is the last person_id of the previous page, so a page never
  // repeats or skips a Person however batchUpdate changes the set between
  // pages.
  std::optional<std::string> after;
  if (auto it = r.query.find("page_token");
      it != r.query.end() && !it->second.empty()) {
    std::string decoded;
    if (!absl::WebSafeBase64Unescape(it->second, &decoded) ||
        !absl::StartsWith(decoded, kAfter)) {
      return Error(400,
                   "bad page_token: pass the previous page's next_page_token "
                   "unchanged, or none for the first page");
    }
    after = decoded.substr(sizeof(kAfter) - 1);
  }
  absl::MutexLock lock(&mu_);
  auto q = db_->Cached(
      "SELECT json FROM identities WHERE org=?1 AND (?2 IS NULL OR "
      "person_id>?2) ORDER BY person_id");
  if (!q.ok()) return Error(500, q.status().message());
  (*q)->Bind(1, org);
  if (after) {
    (*q)->Bind(2, *after);
  } else {
    (*q)->BindNull(2);
  }
  adsync::v1::ListIdentitiesResponse out;
  while (true) {
    auto row = (*q)->Step();
    if (!row.ok()) return Error(500, row.status().message());
    if (!*row) break;
    adsync::v1::PanelPersonIdentities person;
    if (!ParseJson((*q)->ColumnText(0), &person).ok())
      return Error(500, "a stored identity set is unreadable");
    // Stored only by an update of version 0 with no identities: K12Panel
    // holds nothing for this Person.
    if (person.version() == 0 && person.identities().empty()) continue;
    if (out.people_size() == *page_size) {
      out.set_next_page_token(absl::WebSafeBase64Escape(
          absl::StrCat(kAfter, out.people(*page_size - 1).person_id())));
      break;
    }
    *out.add_people() = std::move(person);
  }
  return Json(200, out);
}

HttpServerResponse PanelSim::PostReport(const std::string& org,
                                        const std::string& sync_id_text,
                                        const HttpServerRequest& r) {
  auto key_it = r.headers.find("idempotency-key");
  if (key_it == r.headers.end() || key_it->second.empty()) {
    return Error(400, "Idempotency-Key header is required");
  }
  const std::string& key = key_it->second;
  if (key.size() > kMaxIdempotencyKey) {
    return Error(
        400, absl::StrCat("Idempotency-Key is ", key.size(), " bytes; at most ",
                          kMaxIdempotencyKey, " are accepted"));
  }
  absl::StatusOr<std::string> sync_id =
      CanonicalGuid(sync_id_text, "AD Sync ID");
  if (!sync_id.ok()) {
    return Error(400, absl::StrCat("the path's AD Sync ID must be a GUID "
                                   "such as "
                                   "95aeb0f1-75d2-4126-ba5c-a877fd138d42; got ",
                                   Quote(sync_id_text)));
  }
  adsync::v1::PostReportRequest request;
  if (absl::Status s = ParseJson(r.body, &request); !s.ok()) {
    return Error(400, absl::StrCat("malformed body: ", s.message()));
  }
  if (!request.has_report()) {
    return Error(400, "the body must hold a \"report\" object");
  }
  if (std::string problem = ReportProblem(request.report()); !problem.empty())
    return Error(400, problem);
  adsync::v1::PostReportResponse response;
  response.set_accepted(true);
  absl::MutexLock lock(&mu_);
  {
    auto seen = db_->Cached(
        "SELECT 1 FROM reports WHERE org=?1 AND idempotency_key=?2");
    if (!seen.ok()) return Error(500, seen.status().message());
    (*seen)->Bind(1, org).Bind(2, key);
    auto row = (*seen)->Step();
    if (!row.ok()) return Error(503, "storage busy");
    if (*row) {
      // Only accepted reports are stored, so the first answer was this.
      stats_.set_idempotent_replays(stats_.idempotent_replays() + 1);
      return Json(200, response);
    }
  }
  auto put = db_->Cached(
      "INSERT INTO reports(org, idempotency_key, sync_id, received_unix, "
      "json) VALUES(?1,?2,?3,?4,?5)");
  if (!put.ok()) return Error(500, put.status().message());
  (*put)
      ->Bind(1, org)
      .Bind(2, key)
      .Bind(3, *sync_id)
      .Bind(4, absl::ToUnixSeconds(absl::Now()))
      .Bind(5, ToJson(request.report()));
  if (!(*put)->Run().ok()) return Error(503, "storage error");
  return Json(200, response);
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

HttpServerResponse PanelSim::Reports(const std::string& org,
                                     const HttpServerRequest& r, bool html) {
  std::optional<std::string> sync_id;
  if (auto it = r.query.find("sync_id");
      it != r.query.end() && !it->second.empty()) {
    absl::StatusOr<std::string> canonical =
        CanonicalGuid(it->second, "sync_id");
    if (!canonical.ok()) {
      return Error(400, absl::StrCat("sync_id must be an AD Sync ID (a "
                                     "GUID); got ",
                                     Quote(it->second)));
    }
    sync_id = *std::move(canonical);
  }
  adsync::v1::SimReports reports;
  {
    absl::MutexLock lock(&mu_);
    auto q = db_->Cached(
        "SELECT sync_id, received_unix, json FROM reports WHERE org=?1 AND "
        "(?2 IS NULL OR sync_id=?2) ORDER BY seq DESC");
    if (!q.ok()) return Error(500, q.status().message());
    (*q)->Bind(1, org);
    if (sync_id) {
      (*q)->Bind(2, *sync_id);
    } else {
      (*q)->BindNull(2);
    }
    while (true) {
      auto row = (*q)->Step();
      if (!row.ok()) return Error(500, row.status().message());
      if (!*row) break;
      adsync::v1::SimReport* report = reports.add_reports();
      report->set_sync_id((*q)->ColumnText(0));
      report->set_received_unix((*q)->ColumnInt(1));
      ParseJson((*q)->ColumnText(2), report->mutable_report()).IgnoreError();
    }
  }
  if (!html) return Json(200, reports);
  HttpServerResponse page;
  page.headers["Content-Type"] = "text/html; charset=utf-8";
  page.body = absl::StrCat(
      "<!doctype html><meta charset=\"utf-8\"><title>AD Sync reports</title>"
      "<style>td,th{border:1px solid #ccc;padding:2px 6px;"
      "vertical-align:top}</style><h1>AD Sync reports of ",
      HtmlEscape(org), "</h1><p>", reports.reports_size(),
      " reports, newest first.</p><table><tr><th>received (UTC)</th>"
      "<th>AD Sync</th><th>controller</th><th>source IP</th><th>started</th>"
      "<th>finished</th><th>profiles</th><th>matched</th><th>unmatched</th>"
      "<th>ambiguous</th><th>no email</th><th>disabled</th><th>removed</th>"
      "<th>errors</th><th>rejections</th></tr>");
  auto list = [](const google::protobuf::RepeatedPtrField<std::string>& l) {
    std::string out;
    for (const std::string& m : l) absl::StrAppend(&out, HtmlEscape(m), "<br>");
    return out;
  };
  for (const adsync::v1::SimReport& s : reports.reports()) {
    const adsync::v1::SyncReport& x = s.report();
    absl::StrAppend(&page.body, "<tr><td>",
                    absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                     absl::FromUnixSeconds(s.received_unix()),
                                     absl::UTCTimeZone()),
                    "</td><td>", HtmlEscape(s.sync_id()), "</td><td>",
                    HtmlEscape(x.controller()), "</td><td>",
                    HtmlEscape(x.source_ip()), "</td><td>",
                    HtmlEscape(x.started_at()), "</td><td>",
                    HtmlEscape(x.finished_at()), "</td>");
    for (uint64_t n : {x.profiles(), x.matched(), x.unmatched(), x.ambiguous(),
                       x.no_email(), x.disabled(), x.removed()}) {
      absl::StrAppend(&page.body, "<td>", n, "</td>");
    }
    absl::StrAppend(&page.body, "<td>", list(x.errors()), "</td><td>",
                    list(x.rejections()), "</td></tr>");
  }
  absl::StrAppend(&page.body, "</table>");
  return page;
}

}  // namespace adsync
