#include "coordinator/status_site.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/digest.h"
#include "common/files.h"
#include "coordinator/csv_export.h"
#include "coordinator/status_page.h"

namespace adsync {
namespace {

constexpr char kCookie[] = "adsync_status";

// Headers every answer carries: nothing cached, framed, scripted, loaded
// from elsewhere or told where the operator came from.
HttpServerResponse Answer(int status, std::string content_type,
                          std::string body) {
  HttpServerResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers["Content-Type"] = std::move(content_type);
  r.headers["Cache-Control"] = "no-store";
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["X-Frame-Options"] = "DENY";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["Content-Security-Policy"] =
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
      "frame-ancestors 'none'; base-uri 'none'";
  return r;
}

HttpServerResponse Html(int status, std::string body) {
  return Answer(status, "text/html; charset=utf-8", std::move(body));
}

HttpServerResponse Redirect(const std::string& to) {
  HttpServerResponse r = Html(303, "");
  r.headers["Location"] = to;
  return r;
}

// 404 for an org that does not exist (or is no GUID), 503 when the store
// could not answer.
int HttpStatusFor(const absl::Status& status) {
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ? 404
                                                                     : 503;
}

// The value of cookie `name` in a Cookie header; empty when absent.
std::string CookieValue(const HttpServerRequest& request,
                        absl::string_view name) {
  auto it = request.headers.find("cookie");
  if (it == request.headers.end()) return "";
  for (absl::string_view part : absl::StrSplit(it->second, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

}  // namespace

StatusSite::StatusSite(StatusStore* store, const StoreGauges* gauges,
                       std::string token, StatusSiteOptions options)
    : store_(store),
      gauges_(gauges),
      token_(std::move(token)),
      options_(options) {}

std::string StatusSite::SessionValue(absl::Time issued) const {
  const std::string at = absl::StrCat(absl::ToUnixSeconds(issued));
  return absl::StrCat(
      at, ".", HmacSha256Hex(token_, absl::StrCat("status-session|", at)));
}

bool StatusSite::LoginBlocked() {
  absl::MutexLock lock(&mu_);
  return absl::Now() - failures_since_ < absl::Minutes(1) &&
         failures_ >= options_.failed_logins_per_minute;
}

bool StatusSite::AllowFailedLogin() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (now - failures_since_ >= absl::Minutes(1)) {
    failures_since_ = now;
    failures_ = 0;
  }
  return ++failures_ <= options_.failed_logins_per_minute;
}

bool StatusSite::Serves(const std::string& path) {
  return path == "/status" || absl::StartsWith(path, "/status/");
}

bool StatusSite::Authorized(const HttpServerRequest& request) const {
  if (auto it = request.headers.find("authorization");
      it != request.headers.end()) {
    return SecretsEqual(it->second, "Bearer " + token_);
  }
  const std::string cookie = CookieValue(request, kCookie);
  const size_t dot = cookie.find('.');
  int64_t issued = 0;
  if (dot == std::string::npos ||
      !absl::SimpleAtoi(cookie.substr(0, dot), &issued)) {
    return false;
  }
  const absl::Duration age = absl::Now() - absl::FromUnixSeconds(issued);
  if (age < -absl::Minutes(5) || age > absl::Hours(options_.session_hours)) {
    return false;
  }
  return SecretsEqual(cookie, SessionValue(absl::FromUnixSeconds(issued)));
}

HttpServerResponse StatusSite::Handle(const HttpServerRequest& request) {
  if (token_.empty()) {
    return Answer(404, "text/plain; charset=utf-8",
                  "the status page is off: set status_token_file in the "
                  "coordinator's config (a file, mode 600, holding a token "
                  "for reading status) and restart it\n");
  }
  if (request.path == "/status/login") return Login(request);
  if (request.path == "/status/logout") {
    HttpServerResponse r = Redirect("/status/login");
    r.headers["Set-Cookie"] = absl::StrCat(
        kCookie, "=; Path=/status; Max-Age=0; HttpOnly; SameSite=Lax");
    return r;
  }
  if (request.method != "GET") {
    return Answer(405, "text/plain; charset=utf-8",
                  "the status page is read-only: GET only\n");
  }
  if (!Authorized(request)) {
    return Html(401, RenderLoginPage(
                         request.headers.count("authorization")
                             ? "wrong status token: send the content of the "
                               "coordinator's status_token_file"
                             : "",
                         request.path));
  }
  if (request.path == "/status" || request.path == "/status/") {
    std::shared_ptr<const StoreGaugeSnapshot> snapshot = gauges_->Get();
    return Html(200, RenderOrgListPage(snapshot->status, snapshot->taken,
                                       absl::Now(), options_.refresh_seconds));
  }
  std::vector<std::string> parts =
      absl::StrSplit(request.path, '/', absl::SkipEmpty());
  // "status", "orgs", ORG [, "accounts.csv"]
  if (parts.size() == 3 && parts[1] == "orgs") return OrgPage(parts[2]);
  if (parts.size() == 4 && parts[1] == "orgs" && parts[3] == "accounts.csv") {
    return AccountsCsv(parts[2]);
  }
  return Html(404, RenderMessagePage("no such page: start at /status"));
}

HttpServerResponse StatusSite::Login(const HttpServerRequest& request) {
  if (request.method != "POST") return Html(200, RenderLoginPage("", ""));
  if (LoginBlocked()) {
    return Html(429,
                RenderLoginPage("too many wrong sign-ins: wait a minute", ""));
  }
  const auto fields = ParseUrlEncoded(request.body);
  auto it = fields.find("token");
  if (it == fields.end() || !SecretsEqual(it->second, token_)) {
    AllowFailedLogin();
    auto next = fields.find("next");
    return Html(401,
                RenderLoginPage("wrong status token: paste the content of the "
                                "coordinator's status_token_file",
                                next == fields.end() ? "" : next->second));
  }
  // Where the sign-in was asked from; only a page of this site (no open
  // redirect to another host).
  std::string next = "/status";
  if (auto n = fields.find("next");
      n != fields.end() && Serves(n->second) &&
      n->second.find_first_of("\\\r\n") == std::string::npos) {
    next = n->second;
  }
  HttpServerResponse r = Redirect(next);
  // Lax, not Strict: a bookmark or a link from a ticket opens the page
  // signed in; the page only reads, so a cross-site GET can do no harm.
  r.headers["Set-Cookie"] =
      absl::StrCat(kCookie, "=", SessionValue(absl::Now()),
                   "; Path=/status; Max-Age=", options_.session_hours * 3600,
                   "; HttpOnly; SameSite=Lax");
  return r;
}

absl::StatusOr<adsync::v1::ListAccountsResponse>
StatusSite::UnmatchedAndAmbiguous(const std::string& org_id, int limit) {
  adsync::v1::ListAccountsRequest req;
  req.set_org_id(org_id);
  req.set_limit(limit);
  req.add_outcomes("unmatched");
  req.add_outcomes("ambiguous");
  return store_->ListAccounts(req);
}

HttpServerResponse StatusSite::OrgPage(const std::string& org_id) {
  auto status = store_->GetStatus(org_id);
  if (!status.ok()) {
    return Html(HttpStatusFor(status.status()),
                RenderMessagePage(status.status().message()));
  }
  if (status->orgs().empty())
    return Html(404, RenderMessagePage("no such org"));
  auto accounts = UnmatchedAndAmbiguous(org_id, options_.accounts_on_page);
  if (!accounts.ok()) {
    return Html(HttpStatusFor(accounts.status()),
                RenderMessagePage(accounts.status().message()));
  }
  const adsync::v1::Counts& counts = status->orgs(0).counts();
  const size_t total = counts.unmatched() + counts.ambiguous();
  return Html(200, RenderOrgPage(status->orgs(0), *accounts, total, absl::Now(),
                                 options_.refresh_seconds));
}

HttpServerResponse StatusSite::AccountsCsv(const std::string& org_id) {
  auto accounts = UnmatchedAndAmbiguous(org_id, /*limit=*/0);
  if (!accounts.ok()) {
    return Answer(HttpStatusFor(accounts.status()), "text/plain; charset=utf-8",
                  absl::StrCat(accounts.status().message(), "\n"));
  }
  HttpServerResponse r =
      Answer(200, "text/csv; charset=utf-8", FormatAccountsCsv(*accounts));
  r.headers["Content-Disposition"] =
      "attachment; filename=\"unmatched-and-ambiguous.csv\"";
  return r;
}

}  // namespace adsync
