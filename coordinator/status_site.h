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
// holds a hash of the token, not the token, and stops working when the
// token file changes. Without a status_token_file the page is off.
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

#include "common/http_server.h"
#include "coordinator/metrics.h"
#include "coordinator/store.h"

namespace adsync {

struct StatusSiteOptions {
  int refresh_seconds = 10;
  // Accounts listed on an org's page; the CSV has all of them.
  int accounts_on_page = 100;
};

class StatusSite {
 public:
  // `token` empty: the page is off (every request answers 404 saying how
  // to turn it on). REQUIRES: `store` and `gauges` outlive this object.
  StatusSite(StatusStore* store, const StoreGauges* gauges, std::string token,
             StatusSiteOptions options = {});

  // True for the paths this site serves (/status and below).
  static bool Serves(const std::string& path);
  HttpServerResponse Handle(const HttpServerRequest& request);

 private:
  bool Authorized(const HttpServerRequest& request) const;
  HttpServerResponse Login(const HttpServerRequest& request);
  HttpServerResponse OrgPage(const std::string& org_id);
  HttpServerResponse AccountsCsv(const std::string& org_id);

  StatusStore* const store_;
  const StoreGauges* const gauges_;
  const std::string token_;
  const std::string session_;  // the cookie value a signed-in browser holds
  const StatusSiteOptions options_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_STATUS_SITE_H_
