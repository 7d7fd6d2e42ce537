// The status page served by the coordinator (issue 17), read-only, on the
// metrics listener:
//
//   GET  /status                        every org with its health
//   GET  /status/orgs/{org}             one org (status_page.h)
//   GET  /status/orgs/{org}/accounts.csv  its unmatched and ambiguous accounts
//   GET  /status/login, POST /status/login (form fields "token" and,
//        optionally, "next": the /status page to show), /status/logout
//
// Access needs the status token (status_token_file), separate from the
// admin token and good for nothing but reading: in "Authorization: Bearer"
// (scripts), or a session cookie a browser gets by signing in. The cookie
// is "<issued unix time>.<HMAC of it under the token>": not the token, and
// checked here to be at most `session_hours` old; a coordinator restarted
// with another token refuses every earlier cookie. Failed sign-ins are
// limited (`failed_logins_per_minute` for the whole site, then 429 for the
// rest of the minute), so the form cannot be used to guess the token.
// Without a status_token_file the page is off.
// Every answer forbids caching, framing, scripts and referrers (CSP), so an
// account name crafted in AD cannot run in an operator's browser.
//
// The org list comes from StoreGauges' snapshot (refreshed in the
// background: all orgs at once can take seconds); an org's page reads the
// store when asked.
//
// Thread-safety: Handle() is called concurrently from the HTTP workers.
#ifndef ADSYNC_COORDINATOR_STATUS_SITE_H_
#define ADSYNC_COORDINATOR_STATUS_SITE_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "coordinator/metrics.h"
#include "coordinator/store.h"

namespace adsync {

struct StatusSiteOptions {
  int refresh_seconds = 10;
  // Accounts listed on an org's page; the CSV has all of them.
  int accounts_on_page = 100;
  int session_hours = 12;
  int failed_logins_per_minute = 10;
};

// The shortest status token accepted: the sign-in form is on a network.
inline constexpr size_t kMinStatusTokenLength = 16;

class StatusSite {
 public:
  // `token` empty: the page is off (every request answers 404 saying how
  // to turn it on). REQUIRES: `store` and `gauges` outlive this object.
  StatusSite(StatusStore* store, const StoreGauges* gauges, std::string token,
             StatusSiteOptions options = {});

  // The session cookie value for a sign-in at `issued` (tests).
  std::string SessionValue(absl::Time issued) const;

  // True for the paths this site serves (/status and below).
  static bool Serves(const std::string& path);
  HttpServerResponse Handle(const HttpServerRequest& request);

 private:
  bool Authorized(const HttpServerRequest& request) const;
  // Counts a failed sign-in; false when the minute's allowance is used up.
  bool AllowFailedLogin() ABSL_LOCKS_EXCLUDED(mu_);
  bool LoginBlocked() ABSL_LOCKS_EXCLUDED(mu_);
  HttpServerResponse Login(const HttpServerRequest& request);
  HttpServerResponse OrgPage(const std::string& org_id);
  HttpServerResponse AccountsCsv(const std::string& org_id);
  // The accounts an admin has to fix in AD or K12Panel.
  // `limit` 0 = all.
  absl::StatusOr<adsync::v1::ListAccountsResponse> UnmatchedAndAmbiguous(
      const std::string& org_id, int limit);

  StatusStore* const store_;
  const StoreGauges* const gauges_;
  const std::string token_;
  const StatusSiteOptions options_;
  absl::Mutex mu_;
  absl::Time failures_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_STATUS_SITE_H_
