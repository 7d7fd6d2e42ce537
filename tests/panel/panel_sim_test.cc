// panel-sim: its bearer-token check called the way its HTTP server calls
// it, then the identity listing (design 6.3) and sync reports (6.4) over
// real HTTP on loopback, with panel-sim's HTTP server as main.cc runs it.
#include "panel/panel_sim.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

TEST(PanelSim, OnlyTheExactBearerTokenIsAccepted) {
  testing::TempDir dir;
  auto sim = PanelSim::Open(dir.File("panel.db"), "s3cret-token", 1);
  ASSERT_TRUE(sim.ok()) << sim.status();
  auto status = [&](const char* authorization) {
    HttpServerRequest r;
    r.method = "GET";
    r.path = "/api/v1/orgs/org-1/people";
    if (authorization != nullptr) r.headers["authorization"] = authorization;
    return (*sim)->Handle(r).status;
  };
  EXPECT_EQ(status("Bearer s3cret-token"), 200);
  EXPECT_EQ(status(nullptr), 401);
  EXPECT_EQ(status(""), 401);
  EXPECT_EQ(status("Bearer s3cret-toke"), 401);    // a prefix
  EXPECT_EQ(status("Bearer s3cret-tokenX"), 401);  // longer
  EXPECT_EQ(status("Bearer s3cret-tokeN"), 401);   // last byte differs
  EXPECT_EQ(status("bearer s3cret-token"), 401);
  EXPECT_EQ(status("s3cret-token"), 401);
}

constexpr char kToken[] = "panel-token";
constexpr char kOrg[] = "0f4c3a52-8f7e-4a8e-9c4b-1d2e3f405060";
constexpr char kSync[] = "95aeb0f1-75d2-4126-ba5c-a877fd138d42";
constexpr char kOtherSync[] = "c1d2e3f4-0000-4000-8000-00000000000b";

// A good report body, with `fields` (name to JSON value) replacing or
// adding report fields.
std::string ReportBody(const std::map<std::string, std::string>& fields = {}) {
  std::map<std::string, std::string> report = {
      {"started_at", "\"2026-11-26T08:00:00Z\""},
      {"finished_at", "\"2026-11-26T08:00:05Z\""},
      {"controller", "\"dc1.district.org\""},
      {"source_ip", "\"203.0.113.7\""},
      {"profiles", "\"120\""},  // 64-bit numbers may come as strings
      {"matched", "100"},
      {"unmatched", "12"},
      {"ambiguous", "3"},
      {"no_email", "5"},
      {"disabled", "4"},
      {"removed", "2"},
      {"errors", "[\"a <b> & c\"]"},
      {"rejections", "[\"key from 198.51.100.9\"]"}};
  for (const auto& [name, value] : fields) report[name] = value;
  std::string body = "{\"report\":{";
  for (const auto& [name, value] : report) {
    absl::StrAppend(&body, body.back() == '{' ? "" : ",", "\"", name,
                    "\":", value);
  }
  return body + "}}";
}
std::map<std::string, std::string> Times(
    const std::string& started,
    const std::string& finished = "2026-11-26T08:00:05Z") {
  return {{"started_at", "\"" + started + "\""},
          {"finished_at", "\"" + finished + "\""}};
}

class PanelSimHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    InitHttpClient();
    auto sim = PanelSim::Open(dir_.File("panel.db"), kToken, 1);
    ASSERT_TRUE(sim.ok()) << sim.status();
    sim_ = *std::move(sim);
    server_ = std::make_unique<HttpServer>(
        [this](const HttpServerRequest& r) { return sim_->Handle(r); });
    auto port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    base_ = absl::StrCat("http://127.0.0.1:", *port);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::map<std::string, std::string> headers = {}) {
    HttpRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    req.headers = std::move(headers);
    req.timeout = absl::Seconds(10);
    auto resp = SendHttp(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : HttpResponse{};
  }
  HttpResponse Get(const std::string& path, const std::string& token = kToken) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return Send("GET", path, "", headers);
  }
  HttpResponse Post(const std::string& path, const std::string& body,
                    const std::string& key, const std::string& token = kToken) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    if (!key.empty()) headers["Idempotency-Key"] = key;
    headers["Content-Type"] = "application/json";
    return Send("POST", path, body, headers);
  }

  // batchUpdate of one Person: `version` and the sAMAccountNames held.
  void Put(const std::string& person, int version,
           const std::vector<std::string>& sams,
           const std::string& org = kOrg) {
    std::string identities;
    for (const std::string& sam : sams) {
      absl::StrAppend(&identities, identities.empty() ? "" : ",",
                      "{\"domain\":\"DISTRICT\",\"sam_account_name\":\"", sam,
                      "\",\"upn\":\"", sam,
                      "@district.org\",\"enabled\":true}");
    }
    const HttpResponse r =
        Post(absl::StrCat("/api/v1/orgs/", org, "/ad-identities:batchUpdate"),
             absl::StrCat("{\"updates\":[{\"person_id\":\"", person,
                          "\",\"version\":", version, ",\"identities\":[",
                          identities, "]}]}"),
             absl::StrCat("put-", person, "-", version));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string IdentitiesPath(const std::string& query) {
    return absl::StrCat("/api/v1/orgs/", kOrg, "/ad-identities", query);
  }
  std::string ReportPath(const std::string& sync = kSync,
                         const std::string& org = kOrg) {
    return absl::StrCat("/api/v1/orgs/", org, "/ad-syncs/", sync, "/reports");
  }

  template <typename T>
  T Parse(const HttpResponse& r) {
    T out;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &out).ok())
        << r.body;
    return out;
  }
  adsync::v1::SimReports Reports(const std::string& query = "") {
    const HttpResponse r =
        Get(absl::StrCat("/sim/orgs/", kOrg, "/reports", query), "");
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse<adsync::v1::SimReports>(r);
  }
  adsync::v1::SimStats Stats() {
    return Parse<adsync::v1::SimStats>(Get("/sim/stats", ""));
  }
  void SetFaults(const std::string& json) {
    const HttpResponse r = Send("POST", "/sim/faults", json);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Every page of the listing at `page_size`, checking each page's size.
  std::vector<adsync::v1::PanelPersonIdentities> ListAll(int page_size) {
    std::vector<adsync::v1::PanelPersonIdentities> all;
    std::string token;
    for (int page = 0; page < 100; ++page) {
      const HttpResponse r = Get(IdentitiesPath(
          absl::StrCat("?page_size=", page_size, "&page_token=", token)));
      EXPECT_EQ(r.status, 200) << r.body;
      auto list = Parse<adsync::v1::ListIdentitiesResponse>(r);
      EXPECT_LE(list.people_size(), page_size);
      for (const auto& p : list.people()) all.push_back(p);
      if (list.next_page_token().empty()) return all;
      EXPECT_EQ(list.people_size(), page_size);
      token = list.next_page_token();
    }
    ADD_FAILURE() << "the listing never ended";
    return all;
  }

  testing::TempDir dir_;
  std::unique_ptr<PanelSim> sim_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
};

std::vector<std::string> Ids(
    const std::vector<adsync::v1::PanelPersonIdentities>& people) {
  std::vector<std::string> ids;
  for (const auto& p : people) ids.push_back(p.person_id());
  return ids;
}

TEST_F(PanelSimHttp, ListIdentitiesPagesThroughWhatBatchUpdateStoredById) {
  Put("p3", 1, {"carol"});
  Put("p1", 4, {"alice", "alice2"});
  Put("p5", 1, {"eve"});
  Put("p2", 2, {"bob"});
  Put("p2", 3, {});  // now none, at version 3: listed, empty
  Put("p0", 0, {});  // version 0 and nothing: never listed
  Put("p4", 2, {"dave"});
  Put("p4", 1, {"stale"});  // ignored by batchUpdate
  Put("x1", 1, {"other"}, "another-org");

  for (int page_size : {1, 2, 5, 1000}) {
    SCOPED_TRACE(page_size);
    const auto all = ListAll(page_size);
    EXPECT_THAT(Ids(all), ::testing::ElementsAre("p1", "p2", "p3", "p4", "p5"));
    if (all.size() != 5) continue;
    EXPECT_EQ(all[0].version(), 4u);
    ASSERT_EQ(all[0].identities_size(), 2);
    EXPECT_EQ(all[0].identities(1).sam_account_name(), "alice2");
    EXPECT_EQ(all[0].identities(1).upn(), "alice2@district.org");
    EXPECT_EQ(all[0].identities(1).domain(), "DISTRICT");
    EXPECT_TRUE(all[0].identities(1).enabled());
    EXPECT_EQ(all[1].version(), 3u);
    EXPECT_EQ(all[1].identities_size(), 0);
    EXPECT_EQ(all[3].version(), 2u);
    EXPECT_EQ(all[3].identities(0).sam_account_name(), "dave");
  }

  // The last page says so with an empty token, written out.
  const HttpResponse last = Get(IdentitiesPath("?page_size=1000"));
  EXPECT_THAT(last.body, HasSubstr("\"next_page_token\":\"\""));
  // An org with nothing stored lists nothing.
  const HttpResponse none = Get("/api/v1/orgs/empty-org/ad-identities");
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(Parse<adsync::v1::ListIdentitiesResponse>(none).people_size(), 0);
}

TEST_F(PanelSimHttp, ListIdentitiesTokenNeitherRepeatsNorSkipsAcrossChanges) {
  for (const char* p : {"b", "d", "f", "h"}) Put(p, 1, {p});
  const HttpResponse first = Get(IdentitiesPath("?page_size=2"));
  ASSERT_EQ(first.status, 200) << first.body;
  const auto page1 = Parse<adsync::v1::ListIdentitiesResponse>(first);
  ASSERT_EQ(page1.people_size(), 2);
  EXPECT_EQ(page1.people(1).person_id(), "d");
  // People added before and after the page boundary meanwhile.
  Put("a", 1, {"a"});
  Put("e", 1, {"e"});
  const HttpResponse second = Get(
      IdentitiesPath("?page_size=10&page_token=" + page1.next_page_token()));
  ASSERT_EQ(second.status, 200) << second.body;
  const auto page2 = Parse<adsync::v1::ListIdentitiesResponse>(second);
  EXPECT_THAT(Ids({page2.people().begin(), page2.people().end()}),
              ::testing::ElementsAre("e", "f", "h"));
  EXPECT_EQ(page2.next_page_token(), "");
}

TEST_F(PanelSimHttp, ListIdentitiesDefaultsTo100AndRefusesBadPaging) {
  std::string updates;
  for (int i = 0; i < 150; ++i) {
    absl::StrAppend(&updates, i ? "," : "", "{\"person_id\":\"p", 1000 + i,
                    "\",\"version\":1,\"identities\":[]}");
  }
  ASSERT_EQ(
      Post(absl::StrCat("/api/v1/orgs/", kOrg, "/ad-identities:batchUpdate"),
           absl::StrCat("{\"updates\":[", updates, "]}"), "k150")
          .status,
      200);
  const HttpResponse page = Get(IdentitiesPath(""));
  ASSERT_EQ(page.status, 200);
  const auto list = Parse<adsync::v1::ListIdentitiesResponse>(page);
  EXPECT_EQ(list.people_size(), 100);
  EXPECT_FALSE(list.next_page_token().empty());
  EXPECT_EQ(ListAll(1000).size(), 150u);

  for (const char* size : {"0", "-1", "1001", "abc", "", "1.5"}) {
    SCOPED_TRACE(size);
    const HttpResponse r =
        Get(IdentitiesPath(absl::StrCat("?page_size=", size)));
    EXPECT_EQ(r.status, 400);
    EXPECT_THAT(r.body, HasSubstr("page_size must be a whole number from 1 to "
                                  "1000 (100 when absent)"));
  }
  for (const std::string& token : {std::string("garbage!"), std::string("42"),
                                   absl::WebSafeBase64Escape("before:p1000"),
                                   list.next_page_token() + "%25"}) {
    SCOPED_TRACE(token);
    const HttpResponse r = Get(IdentitiesPath("?page_token=" + token));
    EXPECT_EQ(r.status, 400);
    EXPECT_THAT(r.body, HasSubstr("bad page_token: pass the previous page's "
                                  "next_page_token unchanged"));
  }
}

TEST_F(PanelSimHttp, ListIdentitiesNeedsTheTokenAndTakesFaults) {
  Put("p1", 1, {"alice"});
  const HttpResponse none = Get(IdentitiesPath(""), "");
  EXPECT_EQ(none.status, 401);
  EXPECT_THAT(none.body, HasSubstr("panel.token_file"));
  EXPECT_EQ(Get(IdentitiesPath(""), "wrong").status, 401);
  EXPECT_EQ(Send("DELETE", IdentitiesPath(""), "",
                 {{"Authorization", absl::StrCat("Bearer ", kToken)}})
                .status,
            404);

  const adsync::v1::SimStats before = Stats();
  SetFaults("{\"down\":true}");
  EXPECT_EQ(Get(IdentitiesPath("")).status, 503);
  SetFaults("{\"throttle_rate\":1,\"retry_after_seconds\":7}");
  const HttpResponse throttled = Get(IdentitiesPath(""));
  EXPECT_EQ(throttled.status, 429);
  EXPECT_EQ(throttled.headers.at("retry-after"), "7");
  SetFaults("{}");
  EXPECT_EQ(Get(IdentitiesPath("")).status, 200);
  const adsync::v1::SimStats after = Stats();
  EXPECT_EQ(after.received() - before.received(), 3u);
  EXPECT_EQ(after.faults() - before.faults(), 2u);
}

TEST_F(PanelSimHttp, ReportsAreStoredAndListedNewestFirst) {
  const HttpResponse first = Post(ReportPath(), ReportBody(), "report-1");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.body, "{\"accepted\":true}");
  // Another AD Sync, its ID in upper case, and an offset instead of Z.
  std::string upper = kOtherSync;
  for (char& c : upper) c = absl::ascii_toupper(c);
  ASSERT_EQ(Post(ReportPath(upper),
                 ReportBody(Times("2026-11-26T10:00:00.25+02:00",
                                  "2026-11-26T08:01:00Z")),
                 "report-2")
                .status,
            200);
  ASSERT_EQ(
      Post(ReportPath(kSync, "another-org"), ReportBody(), "report-3").status,
      200);

  const adsync::v1::SimReports all = Reports();
  ASSERT_EQ(all.reports_size(), 2);
  EXPECT_EQ(all.reports(0).sync_id(), kOtherSync);  // newest first
  EXPECT_EQ(all.reports(1).sync_id(), kSync);
  EXPECT_NEAR(all.reports(1).received_unix(), absl::ToUnixSeconds(absl::Now()),
              60);
  const adsync::v1::SyncReport& r = all.reports(1).report();
  EXPECT_EQ(r.started_at(), "2026-11-26T08:00:00Z");
  EXPECT_EQ(r.finished_at(), "2026-11-26T08:00:05Z");
  EXPECT_EQ(r.controller(), "dc1.district.org");
  EXPECT_EQ(r.source_ip(), "203.0.113.7");
  EXPECT_EQ(r.profiles(), 120u);
  EXPECT_EQ(r.matched(), 100u);
  EXPECT_EQ(r.unmatched(), 12u);
  EXPECT_EQ(r.ambiguous(), 3u);
  EXPECT_EQ(r.no_email(), 5u);
  EXPECT_EQ(r.disabled(), 4u);
  EXPECT_EQ(r.removed(), 2u);
  EXPECT_THAT(r.errors(), ::testing::ElementsAre("a <b> & c"));
  EXPECT_THAT(r.rejections(), ::testing::ElementsAre("key from 198.51.100.9"));
  EXPECT_EQ(all.reports(0).report().started_at(),
            "2026-11-26T10:00:00.25+02:00");

  const adsync::v1::SimReports one = Reports(absl::StrCat("?sync_id=", kSync));
  ASSERT_EQ(one.reports_size(), 1);
  EXPECT_EQ(one.reports(0).sync_id(), kSync);
  EXPECT_EQ(Reports(absl::StrCat("?sync_id=", upper)).reports_size(), 1);
  const HttpResponse bad_filter =
      Get(absl::StrCat("/sim/orgs/", kOrg, "/reports?sync_id=nope"), "");
  EXPECT_EQ(bad_filter.status, 400);
  EXPECT_THAT(bad_filter.body, HasSubstr("sync_id must be an AD Sync ID"));

  const HttpResponse html =
      Get(absl::StrCat("/sim/orgs/", kOrg, "/reports.html"), "");
  EXPECT_EQ(html.status, 200);
  EXPECT_THAT(html.headers.at("content-type"), HasSubstr("text/html"));
  EXPECT_THAT(html.body, HasSubstr("a &lt;b&gt; &amp; c"));
  EXPECT_THAT(html.body, HasSubstr(kOtherSync));
  EXPECT_THAT(html.body, ::testing::Not(HasSubstr("<b>")));
}

TEST_F(PanelSimHttp, RepeatedReportKeyAnswersTheFirstAnswerAndStoresNothing) {
  const adsync::v1::SimStats before = Stats();
  const HttpResponse first = Post(ReportPath(), ReportBody(), "same-key");
  ASSERT_EQ(first.status, 200) << first.body;
  const HttpResponse again = Post(ReportPath(), ReportBody(), "same-key");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  // The key decides, whatever the body or AD Sync.
  const HttpResponse other =
      Post(ReportPath(kOtherSync),
           ReportBody({{"controller", "\"dc2.district.org\""}}), "same-key");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, first.body);
  const adsync::v1::SimReports reports = Reports();
  ASSERT_EQ(reports.reports_size(), 1);
  EXPECT_EQ(reports.reports(0).report().controller(), "dc1.district.org");
  EXPECT_EQ(Stats().idempotent_replays() - before.idempotent_replays(), 2u);

  // Keys are per org, and a batchUpdate's key is not a report's.
  EXPECT_EQ(
      Post(ReportPath(kSync, "another-org"), ReportBody(), "same-key").status,
      200);
  ASSERT_EQ(
      Post(absl::StrCat("/api/v1/orgs/", kOrg, "/ad-identities:batchUpdate"),
           "{\"updates\":[]}", "batch-key")
          .status,
      200);
  const HttpResponse after_batch =
      Post(ReportPath(), ReportBody(), "batch-key");
  EXPECT_EQ(after_batch.body, "{\"accepted\":true}");
  EXPECT_EQ(Reports().reports_size(), 2);
}

TEST_F(PanelSimHttp, BadReportsAreRefusedAndStoreNothing) {
  struct Case {
    std::string name;
    std::string path;
    std::string body;
    std::string key;
    std::string token;
    int status;
    std::string message;
  };
  const std::string long_text(300, 'x');
  std::string many_errors;
  for (int i = 0; i < 1001; ++i)
    absl::StrAppend(&many_errors, i ? "," : "", "\"e\"");
  const std::vector<Case> cases = {
      {"no key", ReportPath(), ReportBody(), "", kToken, 400,
       "Idempotency-Key header is required"},
      {"long key", ReportPath(), ReportBody(), std::string(256, 'k'), kToken,
       400, "Idempotency-Key is 256 bytes; at most 255"},
      {"no token", ReportPath(), ReportBody(), "k", "", 401, "bearer token"},
      {"wrong token", ReportPath(), ReportBody(), "k", "nope", 401,
       "panel.token_file"},
      {"sync id not a GUID", ReportPath("dc1"), ReportBody(), "k", kToken, 400,
       "the path's AD Sync ID must be a GUID"},
      {"not JSON", ReportPath(), "{\"report\":", "k", kToken, 400,
       "malformed body"},
      {"unknown field", ReportPath(), ReportBody({{"extra", "1"}}), "k", kToken,
       400, "malformed body"},
      {"unknown top-level field", ReportPath(),
       "{\"report\":{},\"sync\":\"x\"}", "k", kToken, 400, "malformed body"},
      {"no report", ReportPath(), "{}", "k", kToken, 400,
       "the body must hold a \\\"report\\\" object"},
      {"no times", ReportPath(), "{\"report\":{}}", "k", kToken, 400,
       "report.started_at must be an RFC 3339 time"},
      {"date only", ReportPath(), ReportBody(Times("2026-11-26")), "k", kToken,
       400, "report.started_at must be an RFC 3339 time"},
      {"no zone", ReportPath(), ReportBody(Times("2026-11-26T08:00:00")), "k",
       kToken, 400, "report.started_at"},
      {"space for T", ReportPath(), ReportBody(Times("2026-11-26 08:00:00Z")),
       "k", kToken, 400, "report.started_at"},
      {"leading space", ReportPath(),
       ReportBody(Times(" 2026-11-26T08:00:00Z")), "k", kToken, 400,
       "report.started_at"},
      {"offset without colon", ReportPath(),
       ReportBody(Times("2026-11-26T08:00:00+0200")), "k", kToken, 400,
       "report.started_at"},
      {"February 30", ReportPath(), ReportBody(Times("2026-02-30T08:00:00Z")),
       "k", kToken, 400, "report.started_at"},
      {"hour 24", ReportPath(),
       ReportBody(Times("2026-11-26T08:00:00Z", "2026-11-26T24:00:00Z")), "k",
       kToken, 400, "report.finished_at must be an RFC 3339 time"},
      {"finished before started", ReportPath(),
       ReportBody(Times("2026-11-26T08:00:00Z", "2026-11-26T09:59:59+02:00")),
       "k", kToken, 400, "report.finished_at is before started_at"},
      {"long controller", ReportPath(),
       ReportBody({{"controller", "\"" + long_text + "\""}}), "k", kToken, 400,
       "report.controller is 300 bytes; at most 255"},
      {"long source_ip", ReportPath(),
       ReportBody({{"source_ip", "\"" + long_text + "\""}}), "k", kToken, 400,
       "report.source_ip is 300 bytes; at most 64"},
      {"long error", ReportPath(),
       ReportBody({{"errors", "[\"" + std::string(2049, 'e') + "\"]"}}), "k",
       kToken, 400, "report.errors is 2049 bytes; at most 2048"},
      {"many rejections", ReportPath(),
       ReportBody({{"rejections", "[" + many_errors + "]"}}), "k", kToken, 400,
       "report.rejections has 1001 entries; at most 1000"},
      {"negative count", ReportPath(), ReportBody({{"matched", "-1"}}), "k",
       kToken, 400, "malformed body"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const HttpResponse r = Post(c.path, c.body, c.key, c.token);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_THAT(r.body, HasSubstr(c.message));
  }
  EXPECT_EQ(Reports().reports_size(), 0);
  // None of them used up its key: the good report under "k" is stored.
  ASSERT_EQ(Post(ReportPath(), ReportBody(), "k").status, 200);
  EXPECT_EQ(Reports().reports_size(), 1);
  // GET is not a way to post.
  EXPECT_EQ(Get(ReportPath()).status, 404);
}

}  // namespace
}  // namespace adsync
