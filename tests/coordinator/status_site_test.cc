// The status page's access and answers: the status token (never the admin
// token), the session cookie, read-only, safe headers, no open redirect.
#include "coordinator/status_site.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kOrg[] = "5e1c3d4a-6f1b-4d7e-9a0c-1f2e3d4c5b6a";

// Status with one org and one unmatched account whose name is a formula.
class FakeStatusStore : public StatusStore {
 public:
  absl::StatusOr<adsync::v1::GetStatusResponse> GetStatus(
      const std::string& org_id) override {
    if (!org_id.empty() && org_id != kOrg) {
      return absl::NotFoundError("no org " + org_id);
    }
    adsync::v1::GetStatusResponse r;
    auto* org = r.add_orgs();
    org->mutable_org()->set_org_id(kOrg);
    org->mutable_org()->set_name("Springfield");
    return r;
  }
  absl::StatusOr<adsync::v1::ResolveLoginResponse> ResolveLogin(
      const std::string&, const std::string&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<adsync::v1::ListAccountsResponse> ListAccounts(
      const adsync::v1::ListAccountsRequest& request) override {
    if (request.org_id() != kOrg) return absl::NotFoundError("no org");
    adsync::v1::ListAccountsResponse r;
    auto* a = r.add_accounts();
    a->set_domain("DISTRICT");
    a->set_sam_account_name("=HYPERLINK(\"x\")");
    a->set_outcome("unmatched");
    return r;
  }
};

class StatusSiteTest : public ::testing::Test {
 protected:
  HttpServerResponse Get(const std::string& path,
                         const std::string& authorization = "",
                         const std::string& cookie = "") {
    HttpServerRequest r;
    r.method = "GET";
    r.path = path;
    if (!authorization.empty()) r.headers["authorization"] = authorization;
    if (!cookie.empty()) r.headers["cookie"] = cookie;
    return site_.Handle(r);
  }
  HttpServerResponse PostLogin(const std::string& body) {
    HttpServerRequest r;
    r.method = "POST";
    r.path = "/status/login";
    r.body = body;
    return site_.Handle(r);
  }

  FakeStatusStore store_;
  StoreGauges gauges_{&store_, absl::Hours(1)};
  StatusSite site_{&store_, &gauges_, "status-secret"};
  // The real sign-in page with its field names, as a browser posts it.
  std::string FormFields(const HttpServerResponse& login_page) {
    EXPECT_THAT(login_page.body, HasSubstr("name=\"token\""));
    const std::string marker = "name=\"next\" value=\"";
    const size_t at = login_page.body.find(marker);
    EXPECT_NE(at, std::string::npos);
    const size_t start = at + marker.size();
    return login_page.body.substr(start,
                                  login_page.body.find('"', start) - start);
  }
};

TEST_F(StatusSiteTest, OffWithoutAToken) {
  StatusSite off(&store_, &gauges_, "");
  HttpServerRequest r;
  r.method = "GET";
  r.path = "/status";
  HttpServerResponse resp = off.Handle(r);
  EXPECT_EQ(resp.status, 404);
  EXPECT_THAT(resp.body, HasSubstr("set status_token_file"));
}

TEST_F(StatusSiteTest, NothingWithoutTheStatusToken) {
  for (const std::string& auth :
       {std::string(""), std::string("Bearer wrong"),
        std::string("Bearer status-secretX"), std::string("status-secret")}) {
    HttpServerResponse resp = Get("/status", auth);
    EXPECT_EQ(resp.status, 401) << auth;
    EXPECT_THAT(resp.body, Not(HasSubstr("Springfield"))) << auth;
    EXPECT_THAT(resp.body, HasSubstr("Sign in"));
  }
  EXPECT_EQ(Get(std::string("/status/orgs/") + kOrg).status, 401);
  EXPECT_EQ(Get(std::string("/status/orgs/") + kOrg + "/accounts.csv").status,
            401);
  EXPECT_EQ(Get("/status", "", "adsync_status=status-secret").status, 401)
      << "the cookie holds a signed session, not the token";
}

TEST_F(StatusSiteTest, BearerOpensEveryPageWithSafeHeaders) {
  HttpServerResponse list = Get("/status", "Bearer status-secret");
  EXPECT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr("Springfield"));
  EXPECT_THAT(list.headers["Content-Security-Policy"],
              HasSubstr("default-src 'none'"));
  EXPECT_EQ(list.headers["Cache-Control"], "no-store");
  EXPECT_EQ(list.headers["X-Frame-Options"], "DENY");
  EXPECT_EQ(list.headers["Referrer-Policy"], "no-referrer");
  HttpServerResponse org =
      Get(std::string("/status/orgs/") + kOrg, "Bearer status-secret");
  EXPECT_EQ(org.status, 200);
  EXPECT_THAT(org.body, HasSubstr("=HYPERLINK(&quot;x&quot;)"));
  HttpServerResponse csv =
      Get(std::string("/status/orgs/") + kOrg + "/accounts.csv",
          "Bearer status-secret");
  EXPECT_EQ(csv.status, 200);
  EXPECT_THAT(csv.headers["Content-Type"], StartsWith("text/csv"));
  EXPECT_THAT(csv.headers["Content-Disposition"], HasSubstr("attachment"));
  EXPECT_THAT(csv.body, HasSubstr("\"'=HYPERLINK(\"\"x\"\")\""));
  EXPECT_EQ(Get("/status/orgs/not-an-org", "Bearer status-secret").status, 404);
  EXPECT_EQ(Get("/status/nothing/here", "Bearer status-secret").status, 404);
}

TEST_F(StatusSiteTest, SignInSetsASessionCookieAndRedirectsOnlyWithinTheSite) {
  HttpServerResponse wrong = PostLogin("token=nope");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.headers.count("Set-Cookie"), 0u);
  EXPECT_THAT(wrong.body, HasSubstr("wrong status token"));

  HttpServerResponse ok = PostLogin(
      std::string("token=status-secret&next=%2Fstatus%2Forgs%2F") + kOrg);
  EXPECT_EQ(ok.status, 303);
  EXPECT_EQ(ok.headers["Location"], std::string("/status/orgs/") + kOrg);
  const std::string cookie = ok.headers["Set-Cookie"];
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Lax"));
  EXPECT_THAT(cookie, HasSubstr("Path=/status"));
  EXPECT_THAT(cookie, Not(HasSubstr("status-secret")));
  const std::string session = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(Get("/status", "", "other=1; " + session).status, 200);
  // The server checks the session's age and signature itself.
  const std::string old = site_.SessionValue(absl::Now() - absl::Hours(13));
  EXPECT_EQ(Get("/status", "", "adsync_status=" + old).status, 401);
  const std::string fresh = site_.SessionValue(absl::Now());
  std::string forged = fresh;
  forged[forged.size() - 1] = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(Get("/status", "", "adsync_status=" + forged).status, 401);
  const std::string later =
      site_.SessionValue(absl::Now() + absl::Hours(1)).substr(0, 10) +
      fresh.substr(10);
  EXPECT_EQ(Get("/status", "", "adsync_status=" + later).status, 401)
      << "the issue time is signed";

  // No way out of the site, and no header injection.
  for (const char* next :
       {"https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example", "%2Fmetrics",
        "%2Fstatus%0D%0ASet-Cookie%3A%20x%3D1"}) {
    HttpServerResponse r =
        PostLogin(std::string("token=status-secret&next=") + next);
    EXPECT_EQ(r.headers["Location"], "/status") << next;
  }
  // Another coordinator's token does not open this one's page.
  StatusSite other(&store_, &gauges_, "other-secret");
  HttpServerRequest req;
  req.method = "GET";
  req.path = "/status";
  req.headers["cookie"] = session;
  EXPECT_EQ(other.Handle(req).status, 401);
}

TEST_F(StatusSiteTest, TheRealFormReturnsToThePageAskedFor) {
  // An org page asked without a session answers the sign-in form, which
  // carries that page; posting it lands there.
  const std::string page = std::string("/status/orgs/") + kOrg;
  const std::string next = FormFields(Get(page));
  EXPECT_EQ(next, page);
  HttpServerResponse r = PostLogin("token=status-secret&next=" + next);
  EXPECT_EQ(r.headers["Location"], page);
}

TEST_F(StatusSiteTest, GuessingTheTokenIsCutOffAfterTenTriesAMinute) {
  for (int i = 0; i < 10; ++i) EXPECT_EQ(PostLogin("token=guess").status, 401);
  HttpServerResponse blocked = PostLogin("token=status-secret");
  EXPECT_EQ(blocked.status, 429);
  EXPECT_EQ(blocked.headers.count("Set-Cookie"), 0u);
  // Scripts with the Bearer token are not affected.
  EXPECT_EQ(Get("/status", "Bearer status-secret").status, 200);
}

TEST_F(StatusSiteTest, ReadOnlyAndSignOutClearsTheCookie) {
  HttpServerRequest r;
  r.method = "POST";
  r.path = "/status";
  r.headers["authorization"] = "Bearer status-secret";
  EXPECT_EQ(site_.Handle(r).status, 405);
  HttpServerResponse out = Get("/status/logout");
  EXPECT_EQ(out.status, 303);
  EXPECT_THAT(out.headers["Set-Cookie"], HasSubstr("Max-Age=0"));
}

TEST(StatusSiteServes, OnlyItsOwnPaths) {
  EXPECT_TRUE(StatusSite::Serves("/status"));
  EXPECT_TRUE(StatusSite::Serves("/status/orgs/x"));
  EXPECT_FALSE(StatusSite::Serves("/statusx"));
  EXPECT_FALSE(StatusSite::Serves("/metrics"));
}

}  // namespace
}  // namespace adsync
