// /metrics over the coordinator's real HTTP listener (an in-process
// coordinator, gateway_fixture.h): no org id without the metrics token,
// per-org series with it, 401 for a wrong one, and store gauges served from
// a background snapshot rather than queried per scrape.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/process.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using testing::MakeBatch;
using ::testing::Not;
using testing::WaitFor;
using testing::WireAgent;

constexpr char kMetricsToken[] = "metrics-token-0123456789";

class MetricsTest : public GatewayTest {
 protected:
  void Configure(adsync::v1::CoordinatorConfig* config) override {
    GatewayTest::Configure(config);
    if (with_token_) {
      testing::WriteFile(dir_.File("metrics.token"), kMetricsToken);
      config->set_metrics_token_file(dir_.File("metrics.token"));
    }
    config->set_metrics_refresh_ms(refresh_ms_);
  }

  // Two accounts without email, one rejected Hello from the wrong address.
  void MakeSomeMetrics() {
    {
      WireAgent agent(Target(kAgentIp));
      agent.Hello(org_id_, key_, invocation_);
      agent.Send(
          MakeBatch(1, {{.guid = 1, .sam = "a"}, {.guid = 2, .sam = "b"}}));
      ASSERT_TRUE(agent.Read().has_ack());
      EXPECT_TRUE(agent.Close().ok());
    }
    WireAgent intruder(Target(kOtherIp));
    intruder.Hello(org_id_, key_, invocation_);
    intruder.Close();
  }

  HttpResponse Scrape(const std::string& authorization = "",
                      const std::string& path = "/metrics") {
    InitHttpClient();
    HttpRequest req;
    req.url = absl::StrCat("http://127.0.0.1:", server_->metrics_port(), path);
    if (!authorization.empty()) req.headers["Authorization"] = authorization;
    auto resp = SendHttp(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : HttpResponse{};
  }

  bool with_token_ = true;
  uint32_t refresh_ms_ = 100;
};

// The status page's token opens a sign-in form on the network: a short one
// could be guessed, and one shared with the admin or metrics token would
// make the page's token worth more than reading.
TEST_F(MetricsTest, AStatusTokenThatIsShortOrReusedIsRefusedAtStart) {
  adsync::v1::CoordinatorConfig config = config_;
  config.set_database_path(dir_.File("second.db"));
  testing::WriteFile(dir_.File("short.token"), "0123456789abcde");
  config.set_status_token_file(dir_.File("short.token"));
  auto refused = CoordinatorServer::Start(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("shorter than 16 characters"));
  for (const char* reused : {"token", "metrics.token"}) {
    config.set_status_token_file(dir_.File(reused));
    refused = CoordinatorServer::Start(config);
    ASSERT_FALSE(refused.ok()) << reused;
    EXPECT_THAT(std::string(refused.status().message()),
                HasSubstr("the same token as"))
        << reused;
  }
}

TEST_F(MetricsTest, OrgIdsOnlyWithTheMetricsToken) {
  MakeSomeMetrics();
  const std::string total = "adsync_accounts{outcome=\"no-email\"} 2";
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(Scrape().body, total); },
                      absl::Seconds(10)));

  const HttpResponse open = Scrape();
  EXPECT_EQ(open.status, 200);
  EXPECT_THAT(open.body, Not(HasSubstr(org_id_)));
  EXPECT_THAT(open.body, Not(HasSubstr("org=")));
  EXPECT_THAT(open.body, HasSubstr("# TYPE adsync_deltas_total counter"));
  EXPECT_THAT(open.body,
              HasSubstr("adsync_rejections_total{reason=\"wrong_source_ip\"}"));
  EXPECT_THAT(open.body,
              HasSubstr("adsync_batch_commit_seconds_bucket{le=\"+Inf\"}"));
  EXPECT_THAT(open.body, HasSubstr("adsync_orgs 1\n"));
  EXPECT_THAT(open.body, HasSubstr("adsync_push_queue 0\n"));

  const HttpResponse authorized =
      Scrape(absl::StrCat("Bearer ", kMetricsToken));
  EXPECT_EQ(authorized.status, 200);
  EXPECT_THAT(authorized.body,
              HasSubstr(absl::StrCat("adsync_accounts{org=\"", org_id_,
                                     "\",outcome=\"no-email\"} 2")));
  EXPECT_THAT(
      authorized.body,
      HasSubstr(absl::StrCat("adsync_push_queue{org=\"", org_id_, "\"} 0")));

  for (const std::string& wrong :
       {std::string("Bearer wrong"),
        absl::StrCat("Bearer ", kMetricsToken, "x"),
        absl::StrCat("Bearer ", std::string(kMetricsToken).substr(1)),
        std::string(kMetricsToken)}) {
    const HttpResponse refused = Scrape(wrong);
    EXPECT_EQ(refused.status, 401) << wrong;
    EXPECT_THAT(refused.body, HasSubstr("metrics_token_file")) << wrong;
    EXPECT_THAT(refused.body, Not(HasSubstr(org_id_))) << wrong;
    EXPECT_EQ(refused.headers.at("www-authenticate"),
              "Bearer realm=\"adsync-metrics\"");
  }
  EXPECT_EQ(Scrape("", "/healthz").status, 200);
}

class MetricsWithoutTokenTest : public MetricsTest {
 protected:
  void SetUp() override {
    with_token_ = false;
    MetricsTest::SetUp();
  }
};

// A scraper configured with a token expects per-org series; serving totals
// would hide that the coordinator has no token to check it against.
TEST_F(MetricsWithoutTokenTest, ATokenIsRefusedWhenNoneIsConfigured) {
  const HttpResponse refused = Scrape("Bearer anything");
  EXPECT_EQ(refused.status, 401);
  EXPECT_THAT(refused.body, HasSubstr("has no metrics_token_file"));
  const HttpResponse open = Scrape();
  EXPECT_EQ(open.status, 200);
  EXPECT_THAT(open.body, Not(HasSubstr(org_id_)));
}

class SlowSnapshotMetricsTest : public MetricsTest {
 protected:
  void SetUp() override {
    refresh_ms_ = 3600 * 1000;
    MetricsTest::SetUp();
  }
};

// Scrapes read the snapshot taken at start (before the org existed), not
// the store: however often they come, they add no store query.
TEST_F(SlowSnapshotMetricsTest, ScrapesAreServedFromTheSnapshot) {
  MakeSomeMetrics();
  EXPECT_EQ(Status().counts().no_email(), 2u);
  for (int i = 0; i < 20; ++i) {
    const HttpResponse resp = Scrape(absl::StrCat("Bearer ", kMetricsToken));
    ASSERT_EQ(resp.status, 200);
    EXPECT_THAT(resp.body, HasSubstr("adsync_orgs 0\n"));
    EXPECT_THAT(resp.body, Not(HasSubstr(org_id_)));
    EXPECT_THAT(resp.body, HasSubstr("adsync_store_snapshot_age_seconds "));
  }
  // The counters are live: they are not read from the store.
  EXPECT_THAT(Scrape().body,
              HasSubstr("adsync_deltas_total{result=\"applied\"}"));
}

}  // namespace
}  // namespace adsync
