#include "coordinator/status_site.h"

#include <openssl/sha.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "coordinator/csv_export.h"
#include "coordinator/status_page.h"

namespace adsync {
namespace {

constexpr char kCookie[] = "adsync_status";

std::string SessionFor(const std::string& token) {
  const std::string material = absl::StrCat("adsync-status-session|", token);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(material.data()),
         material.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

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
      session_(token_.empty() ? "" : SessionFor(token_)),
      options_(options) {}

bool StatusSite::Serves(const std::string& path) {
  return path == "/status" || absl::StartsWith(path, "/status/");
}

bool StatusSite::Authorized(const HttpServerRequest& request) const {
  if (auto it = request.headers.find("authorization");
      it != request.headers.end()) {
    return SecretsEqual(it->second, "Bearer " + token_);
  }
  const std::string cookie = CookieValue(request, kCookie);
  return !cookie.empty() && SecretsEqual(cookie, session_);
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
                             : ""));
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
  if (request.method != "POST") return Html(200, RenderLoginPage(""));
  const auto fields = ParseUrlEncoded(request.body);
  auto it = fields.find("token");
  if (it == fields.end() || !SecretsEqual(it->second, token_)) {
    return Html(401,
                RenderLoginPage("wrong status token: paste the content of the "
                                "coordinator's status_token_file"));
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
      absl::StrCat(kCookie, "=", session_,
                   "; Path=/status; Max-Age=43200; HttpOnly; SameSite=Lax");
  return r;
}

HttpServerResponse StatusSite::OrgPage(const std::string& org_id) {
  auto status = store_->GetStatus(org_id);
  if (!status.ok()) {
    return Html(HttpStatusFor(status.status()),
                RenderMessagePage(status.status().message()));
  }
  if (status->orgs().empty())
    return Html(404, RenderMessagePage("no such org"));
  adsync::v1::ListAccountsRequest req;
  req.set_org_id(org_id);
  req.add_outcomes("unmatched");
  req.add_outcomes("ambiguous");
  auto accounts = store_->ListAccounts(req);
  if (!accounts.ok()) {
    return Html(HttpStatusFor(accounts.status()),
                RenderMessagePage(accounts.status().message()));
  }
  const size_t total = accounts->accounts_size();
  if (accounts->accounts_size() > options_.accounts_on_page) {
    accounts->mutable_accounts()->DeleteSubrange(
        options_.accounts_on_page,
        accounts->accounts_size() - options_.accounts_on_page);
  }
  return Html(200, RenderOrgPage(status->orgs(0), *accounts, total, absl::Now(),
                                 options_.refresh_seconds));
}

HttpServerResponse StatusSite::AccountsCsv(const std::string& org_id) {
  adsync::v1::ListAccountsRequest req;
  req.set_org_id(org_id);
  req.add_outcomes("unmatched");
  req.add_outcomes("ambiguous");
  auto accounts = store_->ListAccounts(req);
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
