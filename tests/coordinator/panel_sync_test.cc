// PanelClient against the real panel-sim binary over HTTP: the identity
// listing (design 6.3) and sync reports (6.4), with the People listing and
// batchUpdate that share their request code.
#include "coordinator/panel_sync.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/http_client.h"
#include "coordinator/coordinator_server.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"
#include "tests/support/test_util.h"
#include "tests/support/wire_agent.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

constexpr char kOrg[] = "0f4c3a52-8f7e-4a8e-9c4b-1d2e3f405060";
constexpr char kSync[] = "95aeb0f1-75d2-4126-ba5c-a877fd138d42";
constexpr char kToken[] = "panel-sim-token";  // PanelSimProcess's

adsync::v1::SyncReport Report() {
  adsync::v1::SyncReport r;
  r.set_started_at("2026-11-26T08:00:00Z");
  r.set_finished_at("2026-11-26T08:00:05.5Z");
  r.set_controller("dc1.district.org");
  r.set_source_ip("203.0.113.7");
  r.set_profiles(120);
  r.set_matched(100);
  r.set_unmatched(12);
  r.set_ambiguous(3);
  r.set_no_email(5);
  r.set_disabled(4);
  r.set_removed(0);  // a default value, sent as 0
  r.add_errors("LDAP: server busy, retried");
  r.add_rejections("wrong AD Sync key from 198.51.100.9");
  return r;
}

class PanelClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitHttpClient();
    panel_ = std::make_unique<testing::PanelSimProcess>(dir_.path());
    panel_->Start();
  }
  void TearDown() override { panel_->Stop(); }

  PanelClient Client(const std::string& token = kToken) {
    return PanelClient(panel_->base_url(), token, absl::Seconds(10));
  }

  adsync::v1::SimReports Reports() {
    HttpRequest req;
    req.url = absl::StrCat(panel_->base_url(), "/sim/orgs/", kOrg, "/reports");
    adsync::v1::SimReports out;
    auto resp = SendHttp(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (!resp.ok()) return out;
    EXPECT_EQ(resp->status, 200) << resp->body;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(resp->body, &out).ok());
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::PanelSimProcess> panel_;
};

adsync::v1::PersonUpdate Update(int i, uint32_t version, int identities) {
  adsync::v1::PersonUpdate u;
  u.set_person_id(absl::StrFormat("person-%04d", i));
  u.set_version(version);
  for (int k = 0; k < identities; ++k) {
    adsync::v1::PanelIdentity* id = u.add_identities();
    id->set_domain(k == 0 ? "DISTRICT" : "STAFF");
    id->set_sam_account_name(absl::StrCat("user", i));
    id->set_upn(absl::StrCat("user", i, "@district.org"));
    id->set_sid(absl::StrCat("S-1-5-21-1-2-3-", 1000 + i));
    id->set_object_guid(absl::StrFormat("00000000-0000-4000-8000-%012d", i));
    id->set_enabled(i % 2 == 0);
  }
  return u;
}

TEST_F(PanelClientTest, ListIdentitiesReadsEveryPageOfWhatBatchUpdateSent) {
  PanelClient client = Client();
  constexpr int kPeople = 1100;  // three pages of 500
  std::vector<adsync::v1::PersonUpdate> sent;
  for (int i = kPeople - 1; i >= 0; --i)  // sent out of order
    sent.push_back(Update(i, i == 7 ? 3 : 1, i == 7 ? 0 : 1 + i % 2));
  for (size_t at = 0; at < sent.size(); at += 100) {
    PushBatch batch{kOrg, {sent.begin() + at, sent.begin() + at + 100}, 0};
    PanelClient::Delivery d = client.BatchUpdate(batch);
    ASSERT_EQ(d.http_status, 200) << d.error;
    EXPECT_EQ(d.error, "");
    EXPECT_EQ(d.response.applied(), 100u);
  }
  const uint64_t received = panel_->Stats().received();

  auto held = client.ListIdentities(kOrg);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(panel_->Stats().received() - received, 3u);  // pages of 500
  ASSERT_EQ(held->size(), static_cast<size_t>(kPeople));
  for (int i = 0; i < kPeople; ++i) {
    const adsync::v1::PersonUpdate& expected = sent[kPeople - 1 - i];
    const adsync::v1::PanelPersonIdentities& got = (*held)[i];
    ASSERT_EQ(got.person_id(), expected.person_id());  // in person_id order
    EXPECT_EQ(got.version(), expected.version());
    ASSERT_EQ(got.identities_size(), expected.identities_size());
    for (int k = 0; k < got.identities_size(); ++k) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          got.identities(k), expected.identities(k)))
          << got.identities(k).DebugString();
    }
  }
  EXPECT_EQ((*held)[7].identities_size(), 0);  // none now, at version 3

  // An org K12Panel holds nothing for.
  auto none = client.ListIdentities("another-org");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_F(PanelClientTest, ListPeopleStillReadsEveryPage) {
  std::string people;
  for (int i = 0; i < 1200; ++i) {
    absl::StrAppend(&people, i ? "," : "", "{\"id\":\"person-", i,
                    "\",\"name\":\"P ", i, "\",\"emails\":[\" User", i,
                    "@District.org \",\"not an email\"]}");
  }
  panel_->SeedPeople(kOrg, absl::StrCat("{\"people\":[", people, "]}"));
  auto listed = Client().ListPeople(kOrg);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1200u);
  EXPECT_EQ((*listed)[0].id, "person-0");
  EXPECT_THAT((*listed)[0].emails,
              ::testing::ElementsAre("user0@district.org"));
}

TEST_F(PanelClientTest, ListingErrorsSayWhatToDo) {
  auto people = Client("wrong").ListPeople(kOrg);
  EXPECT_EQ(people.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(people.status().message(),
              HasSubstr("refused the token (HTTP 401) listing People; check "
                        "panel.token_file"));
  auto refused = Client("wrong").ListIdentities(kOrg);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("refused the token (HTTP 401) listing AD identities; "
                        "check panel.token_file"));

  panel_->SetFaults("{\"throttle_rate\":1,\"retry_after_seconds\":2}");
  auto throttled = Client().ListIdentities(kOrg);
  EXPECT_EQ(throttled.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(throttled.status().message(),
              HasSubstr("K12Panel answered HTTP 429 listing AD identities: "));
  panel_->SetFaults("{\"down\":true}");
  auto down = Client().ListIdentities(kOrg);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(down.status().message(), HasSubstr("HTTP 503"));
  panel_->SetFaults("{}");
  EXPECT_TRUE(Client().ListIdentities(kOrg).ok());

  panel_->Stop();
  auto gone = Client().ListIdentities(kOrg);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(gone.status().message(), HasSubstr("ad-identities"));
}

TEST_F(PanelClientTest, PostReportIsStoredOnceUnderItsKey) {
  PanelClient client = Client();
  const uint64_t replays = panel_->Stats().idempotent_replays();
  PanelClient::Delivery d = client.PostReport(kOrg, kSync, Report(), "key-1");
  EXPECT_EQ(d.http_status, 200);
  EXPECT_EQ(d.error, "");
  adsync::v1::SimReports stored = Reports();
  ASSERT_EQ(stored.reports_size(), 1);
  EXPECT_EQ(stored.reports(0).sync_id(), kSync);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      stored.reports(0).report(), Report()))
      << stored.reports(0).report().DebugString();

  // Resent after a lost answer: the same key, accepted, not stored again.
  d = client.PostReport(kOrg, kSync, Report(), "key-1");
  EXPECT_EQ(d.http_status, 200);
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(Reports().reports_size(), 1);
  EXPECT_EQ(panel_->Stats().idempotent_replays() - replays, 1u);

  d = client.PostReport(kOrg, kSync, Report(), "key-2");
  EXPECT_EQ(d.http_status, 200);
  EXPECT_EQ(Reports().reports_size(), 2);
}

TEST_F(PanelClientTest, PostReportFailuresComeBackAsDeliveries) {
  PanelClient client = Client();
  adsync::v1::SyncReport bad = Report();
  bad.set_started_at("yesterday");
  PanelClient::Delivery d = client.PostReport(kOrg, kSync, bad, "key-bad");
  EXPECT_EQ(d.http_status, 400);
  EXPECT_THAT(d.error,
              HasSubstr("K12Panel answered HTTP 400: {\"error\":{\"code\":400,"
                        "\"message\":\"report.started_at must be an RFC 3339 "
                        "time"));
  d = client.PostReport(kOrg, "dc1", Report(), "key-bad-sync");
  EXPECT_EQ(d.http_status, 400);
  EXPECT_THAT(d.error, HasSubstr("AD Sync ID must be a GUID"));
  d = client.PostReport(kOrg, kSync, Report(), "");
  EXPECT_EQ(d.http_status, 400);
  EXPECT_THAT(d.error, HasSubstr("Idempotency-Key header is required"));
  d = Client("wrong").PostReport(kOrg, kSync, Report(), "key-token");
  EXPECT_EQ(d.http_status, 401);
  EXPECT_THAT(d.error, HasSubstr("bearer token"));

  panel_->SetFaults("{\"throttle_rate\":1,\"retry_after_seconds\":3}");
  d = client.PostReport(kOrg, kSync, Report(), "key-throttled");
  EXPECT_EQ(d.http_status, 429);
  EXPECT_EQ(d.retry_after_seconds, 3);
  panel_->SetFaults("{\"error_rate\":1}");
  d = client.PostReport(kOrg, kSync, Report(), "key-503");
  EXPECT_EQ(d.http_status, 503);
  panel_->SetFaults("{}");
  EXPECT_EQ(Reports().reports_size(), 0);

  panel_->Stop();
  d = client.PostReport(kOrg, kSync, Report(), "key-down");
  EXPECT_EQ(d.http_status, 0);
  EXPECT_THAT(d.error, HasSubstr("/reports failed"));
}

// A committed change wakes the push: with a scan interval of ten minutes,
// only the wake can bring the new mapping to K12Panel within the test's
// deadline.
TEST_F(PanelClientTest, ACommittedChangeIsPushedWithoutWaitingForTheScan) {
  testing::EnsureLoopbackSource("127.0.0.21");
  testing::WriteFile(dir_.File("admin.token"), "test-admin-token");
  adsync::v1::CoordinatorConfig config;
  config.set_agent_listen("0.0.0.0:0");
  config.set_allow_plaintext_agents(true);
  config.set_admin_listen("127.0.0.1:0");
  config.set_database_path(dir_.File("coordinator.db"));
  config.set_admin_token_file(dir_.File("admin.token"));
  adsync::v1::PanelConfig* panel = config.mutable_panel();
  panel->set_base_url(panel_->base_url());
  panel->set_token_file(panel_->token_file());
  panel->set_push_interval_ms(600000);
  panel->set_disable_periodic_pull(true);
  auto server = CoordinatorServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  Store* store = (*server)->store();
  adsync::v1::CreateOrgRequest create;
  create.set_name("Springfield USD");
  create.set_live(true);
  auto org = store->CreateOrg(create);
  ASSERT_TRUE(org.ok()) << org.status();
  adsync::v1::AddSyncRequest add;
  add.set_org_id(org->org_id());
  add.set_domain("DISTRICT");
  add.add_allowed_ips("127.0.0.21");
  auto sync = store->AddSync(add);
  ASSERT_TRUE(sync.ok()) << sync.status();
  ASSERT_TRUE(
      store
          ->ReplacePeople(org->org_id(), {{"person-1", "", {"ann@d.org"}},
                                          {"person-2", "", {"bob@d.org"}}})
          .ok());

  testing::WireAgent agent(
      absl::StrCat("127.0.0.21:", (*server)->agent_port()));
  agent.Hello(org->org_id(), sync->sync_key(), testing::TestGuid(7));
  agent.Send(
      testing::MakeBatch(1, {{.guid = 1, .sam = "ann", .mail = "ann@d.org"}}));
  ASSERT_TRUE(agent.Read().has_ack());
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (panel_->PersonOf(org->org_id(), "DISTRICT", "ann").empty() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(panel_->PersonOf(org->org_id(), "DISTRICT", "ann"), "person-1")
      << "the committed change was not pushed until the next scan";
  // The push's first pass (at start) is over by now, whichever pass
  // delivered ann: only a wake can deliver bob before ten minutes.
  agent.Send(
      testing::MakeBatch(2, {{.guid = 2, .sam = "bob", .mail = "bob@d.org"}}));
  ASSERT_TRUE(agent.Read().has_ack());
  while (panel_->PersonOf(org->org_id(), "DISTRICT", "bob").empty() &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(panel_->PersonOf(org->org_id(), "DISTRICT", "bob"), "person-2")
      << "the committed change was not pushed until the next scan";
  agent.Close().IgnoreError();
  (*server)->Shutdown();
}

}  // namespace
}  // namespace adsync
