// Coordinator -> K12Panel delivery through real processes: the coordinator
// binary pushes to the panel-sim binary over real HTTP while panel-sim
// injects faults. Accounts come in over the real gRPC gateway.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/browser.h"
#include "tests/support/e2e_harness.h"
#include "tests/support/wire_agent.h"

namespace adsync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kDelivery = absl::Seconds(30);

class PanelE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    panel_ = std::make_unique<PanelSimProcess>(dir_.path());
    panel_->Start();
    WriteFile(dir_.File("status.token"), "e2e-status-token");
    coordinator_ = std::make_unique<Coordinator>(
        dir_.path(),
        absl::StrCat("panel {\n  base_url: \"", panel_->base_url(),
                     "\"\n  token_file: \"", panel_->token_file(),
                     "\"\n  push_interval_ms: 100\n  backoff_initial_ms: 200\n"
                     "  backoff_max_ms: 1000\n  request_timeout_seconds: 2\n"
                     "  disable_periodic_pull: true\n}\n",
                     "metrics_listen: \"127.0.0.1:", status_port_, "\"\n",
                     "status_token_file: \"", dir_.File("status.token"),
                     "\"\n"));
    coordinator_->Start();
    org_ = coordinator_->CreateOrg("Springfield USD");
    key_ = coordinator_->AddSync(org_, "DISTRICT", "127.0.0.1");
  }

  // People p0..p{n-1} with emails u{i}@d.org, seeded in K12Panel and pulled.
  void SeedPeople(int n) {
    std::vector<std::string> people;
    for (int i = 0; i < n; ++i) {
      people.push_back(absl::StrCat("{\"id\":\"p", i, "\",\"name\":\"Person ",
                                    i, "\",\"emails\":[\"U", i, "@d.org\"]}"));
    }
    panel_->SeedPeople(
        org_, absl::StrCat("{\"people\":[", absl::StrJoin(people, ","), "]}"));
    grpc::Status pulled = coordinator_->PullPeople(org_);
    ASSERT_TRUE(pulled.ok()) << pulled.error_message();
    ASSERT_EQ(coordinator_->Status(org_).people(), static_cast<uint64_t>(n));
  }

  // Sends accounts u{first}..u{first+n-1} (guid = i+1) as one batch.
  void SendAccounts(int first, int n, uint32_t version = 1,
                    bool full_sync = false, bool deleted = false) {
    WireAgent agent(coordinator_->agent_target(), absl::Seconds(30),
                    E2eAgentCredentials());
    ASSERT_TRUE(agent.Hello(org_, key_, TestGuid(900)).has_hello_result());
    std::vector<DeltaSpec> specs;
    for (int i = first; i < first + n; ++i) {
      specs.push_back({.guid = static_cast<uint32_t>(i + 1),
                       .sam = absl::StrCat("u", i),
                       .mail = absl::StrCat("u", i, "@d.org"),
                       .deleted = deleted,
                       .version = version});
    }
    adsync::v1::Batch batch = MakeBatch(1, specs);
    batch.set_full_sync_begin(full_sync);
    batch.set_full_sync_end(full_sync);
    if (full_sync) {
      batch.mutable_watermark()->set_invocation_id(TestGuid(900));
      batch.mutable_watermark()->set_usn(10);
    }
    agent.Send(batch);
    ASSERT_TRUE(agent.Read().has_ack());
    ASSERT_TRUE(agent.Close().ok());
  }

  // True once K12Panel holds exactly `n` people with one identity each.
  bool PanelHolds(int n) {
    int with_identity = 0;
    const adsync::v1::SimOrgState state = panel_->State(org_);
    for (const auto& p : state.people()) {
      if (p.identities_size() == 1) ++with_identity;
    }
    return with_identity == n;
  }

  adsync::v1::PushStatus Push() { return coordinator_->Status(org_).push(); }

  std::string StatusBase() const {
    return absl::StrCat("http://127.0.0.1:", status_port_);
  }

  TempDir dir_;
  const int status_port_ = FreePort();
  std::unique_ptr<PanelSimProcess> panel_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string org_;
  std::string key_;
};

TEST_F(PanelE2eTest, HappyPathDeliversCompleteIdentitySets) {
  SeedPeople(5);
  SendAccounts(0, 5);
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(5); }, kDelivery));
  auto ids = panel_->Identities(org_, "p3");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].domain(), "DISTRICT");
  EXPECT_EQ(ids[0].sam_account_name(), "u3");
  EXPECT_EQ(ids[0].sid(), "S-1-5-21-1-2-3-1004");
  EXPECT_TRUE(ids[0].enabled());
  ASSERT_TRUE(WaitFor([&] { return Push().queue_depth() == 0; }, kDelivery));
  EXPECT_EQ(Push().delivered(), 5u);
  EXPECT_GT(Push().last_success_unix(), 0);
  EXPECT_EQ(panel_->Stats().applied(), 5u);
}

TEST_F(PanelE2eTest, PanelDownThenBackLosesNothingAndAppliesNothingTwice) {
  SeedPeople(10);
  panel_->SetFaults(R"({"down": true})");
  SendAccounts(0, 10);
  ASSERT_TRUE(WaitFor([&] { return !Push().last_error().empty(); }, kDelivery));
  EXPECT_THAT(Push().last_error(), HasSubstr("503"));
  EXPECT_EQ(Push().queue_depth(), 10u);
  panel_->SetFaults("{}");
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(10); }, kDelivery));
  ASSERT_TRUE(WaitFor([&] { return Push().queue_depth() == 0; }, kDelivery));
  EXPECT_EQ(panel_->Stats().applied(), 10u);  // each (person, version) once
  EXPECT_EQ(panel_->Stats().stale(), 0u);
}

TEST_F(PanelE2eTest, ThrottlingHonoursRetryAfterUntilEverythingArrives) {
  SeedPeople(20);
  panel_->SetFaults(R"({"throttle_rate": 0.7, "retry_after_seconds": 1})");
  SendAccounts(0, 20);
  ASSERT_TRUE(WaitFor([&] { return !Push().last_error().empty(); }, kDelivery));
  EXPECT_THAT(Push().last_error(), HasSubstr("429"));
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(20); }, kDelivery));
  EXPECT_GT(panel_->Stats().faults(), 0u);
  EXPECT_EQ(panel_->Stats().applied(), 20u);
}

TEST_F(PanelE2eTest, SlowPanelTimeoutsAreRetriedAndDeduplicated) {
  SeedPeople(3);
  // Slower than the 2 s request timeout: K12Panel applies the batch, but
  // the coordinator never hears back and must retry with the same key.
  panel_->SetFaults(R"({"delay_ms": 2500})");
  SendAccounts(0, 3);
  ASSERT_TRUE(
      WaitFor([&] { return panel_->Stats().applied() == 3u; }, kDelivery));
  ASSERT_TRUE(WaitFor([&] { return !Push().last_error().empty(); }, kDelivery));
  panel_->SetFaults(R"({"delay_ms": 100})");
  ASSERT_TRUE(WaitFor([&] { return Push().queue_depth() == 0; }, kDelivery));
  EXPECT_EQ(panel_->Stats().applied(), 3u);  // applied once, however often sent
  EXPECT_GE(panel_->Stats().idempotent_replays(), 1u);
}

TEST_F(PanelE2eTest, StaleVersionsAreIgnoredByThePanel) {
  SeedPeople(1);
  // K12Panel already holds a newer version for p0 (e.g. from an earlier
  // coordinator): our version 1 must not overwrite it.
  adsync::HttpRequest req;
  req.method = "POST";
  req.url = panel_->base_url() + "/api/v1/orgs/" + org_ +
            "/ad-identities:batchUpdate";
  req.headers["Authorization"] = "Bearer panel-sim-token";
  req.headers["Idempotency-Key"] = "seed";
  req.body =
      R"({"updates":[{"person_id":"p0","version":1000,"identities":[]}]})";
  auto seeded = adsync::SendHttp(req);
  ASSERT_TRUE(seeded.ok() && seeded->status == 200);
  SendAccounts(0, 1);
  ASSERT_TRUE(
      WaitFor([&] { return panel_->Stats().stale() == 1u; }, kDelivery));
  EXPECT_TRUE(panel_->Identities(org_, "p0").empty());
  ASSERT_TRUE(WaitFor([&] { return Push().queue_depth() == 0; }, kDelivery));
}

TEST_F(PanelE2eTest, PermanentRejectionParksWithAVisibleError) {
  SeedPeople(2);
  panel_->SetFaults(R"({"reject_rate": 1.0})");
  SendAccounts(0, 2);
  ASSERT_TRUE(WaitFor([&] { return Push().parked() == 2u; }, kDelivery));
  EXPECT_THAT(Push().last_error(), HasSubstr("HTTP 400"));
  // Parked items are not retried forever.
  const uint64_t faults = panel_->Stats().faults();
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(panel_->Stats().faults(), faults);
}

TEST_F(PanelE2eTest, MassRemovalIsQuarantinedUntilApproved) {
  SeedPeople(30);
  SendAccounts(0, 30, 1, /*full_sync=*/true);
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(30); }, kDelivery));
  // A full sync that sees only 4 accounts (say, a wrong base DN) removes
  // nothing: the store holds the sweep (audit finding 5).
  SendAccounts(0, 4, 1, /*full_sync=*/true);
  EXPECT_EQ(coordinator_->Status(org_).domains(0).held_sweep().would_remove(),
            26u);
  EXPECT_FALSE(Push().quarantined());
  // 26 accounts deleted in AD at once (say, a cleanup script run on the
  // wrong OU): their removal from K12Panel waits for an operator.
  SendAccounts(4, 26, 2, /*full_sync=*/false, /*deleted=*/true);
  ASSERT_TRUE(WaitFor([&] { return Push().quarantined(); }, kDelivery));
  EXPECT_THAT(Push().quarantine_reason(), HasSubstr("26 of 30 mapped People"));
  EXPECT_EQ(Push().quarantined_people(), 26u);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(PanelHolds(30)) << "a quarantined push must not reach K12Panel";
  ASSERT_TRUE(coordinator_->ResolveQuarantine(org_, /*approve=*/true).ok());
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(4); }, kDelivery));
  EXPECT_FALSE(Push().quarantined());
  EXPECT_FALSE(
      coordinator_->ResolveQuarantine(org_, true).ok());  // nothing held now
}

TEST_F(PanelE2eTest, RejectedQuarantineKeepsThePanelAsItWas) {
  SeedPeople(30);
  SendAccounts(0, 30, 1, /*full_sync=*/true);
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(30); }, kDelivery));
  SendAccounts(4, 26, 2, /*full_sync=*/false, /*deleted=*/true);
  ASSERT_TRUE(WaitFor([&] { return Push().quarantined(); }, kDelivery));
  ASSERT_TRUE(coordinator_->ResolveQuarantine(org_, /*approve=*/false).ok());
  EXPECT_FALSE(Push().quarantined());
  EXPECT_EQ(Push().queue_depth(), 0u);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(PanelHolds(30));
}

TEST_F(PanelE2eTest, RestartedCoordinatorDeliversItsOutbox) {
  SeedPeople(8);
  panel_->SetFaults(R"({"down": true})");
  SendAccounts(0, 8);
  ASSERT_TRUE(WaitFor([&] { return !Push().last_error().empty(); }, kDelivery));
  coordinator_->Kill9();
  panel_->SetFaults("{}");
  coordinator_->Start();
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(8); }, kDelivery));
  EXPECT_EQ(panel_->Stats().applied(), 8u);
}

TEST_F(PanelE2eTest, CrashDuringADeliveryDeliversEveryMappingOnceInEffect) {
  SeedPeople(20);
  // K12Panel takes 1.5 s to answer: the coordinator dies with a batchUpdate
  // in flight, which K12Panel still applies.
  panel_->SetFaults(R"({"delay_ms": 1500})");
  SendAccounts(0, 20);
  ASSERT_TRUE(
      WaitFor([&] { return panel_->Stats().received() >= 1; }, kDelivery));
  coordinator_->Kill9();
  ASSERT_EQ(panel_->Stats().applied(), 0u);  // still in flight
  panel_->SetFaults("{}");
  coordinator_->Start();
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(20); }, kDelivery));
  ASSERT_TRUE(WaitFor([&] { return Push().queue_depth() == 0; }, kDelivery));
  // Give the crashed attempt time to finish at K12Panel (its 1.5 s delay)
  // whether it is applied late or dropped with its connection. The re-send
  // carried the same Idempotency-Key and versions: every (person, version)
  // took effect exactly once.
  EXPECT_GE(panel_->Stats().received(), 2u);
  absl::SleepFor(absl::Seconds(2));
  const adsync::v1::SimStats stats = panel_->Stats();
  EXPECT_EQ(stats.applied(), 20u);
  const adsync::v1::SimOrgState state = panel_->State(org_);
  for (const auto& person : state.people())
    EXPECT_EQ(person.version(), 1u) << person.person_id();
}

TEST_F(PanelE2eTest, PullingPeopleRematchesAndPushesTheNewMapping) {
  SeedPeople(2);
  SendAccounts(0, 3);  // u2 has no Person yet
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(2); }, kDelivery));
  EXPECT_EQ(coordinator_->Status(org_).counts().unmatched(), 1u);
  SeedPeople(3);
  ASSERT_TRUE(WaitFor([&] { return PanelHolds(3); }, kDelivery));
  EXPECT_EQ(coordinator_->Status(org_).counts().matched(), 3u);
}

// --- Onboarding (issue 17): preview, go-live, sync reports, status page ---

TEST_F(PanelE2eTest,
       PreviewWritesNothingAndGoingLiveSendsExactlyTheDifference) {
  SeedPeople(4);
  ASSERT_TRUE(coordinator_->SetLive(org_, false).ok());
  // What the script adsync replaces left in K12Panel: p1 exactly as adsync
  // will map it (at version 6), and p3 with a login that no longer exists.
  SendAccounts(0, 3, /*version=*/1, /*full_sync=*/true);  // u0..u2 -> p0..p2
  adsync::v1::PreviewOrgResponse preview;
  grpc::Status s = coordinator_->Preview(org_, &preview);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(preview.people_added(), 3u);
  EXPECT_FALSE(preview.org().live());
  adsync::v1::PanelIdentity p1 = preview.changes(1).proposed(0);
  {
    HttpRequest req;
    req.method = "POST";
    req.url = absl::StrCat(panel_->base_url(), "/api/v1/orgs/", org_,
                           "/ad-identities:batchUpdate");
    auto token = ReadFile(panel_->token_file());
    ASSERT_TRUE(token.ok());
    req.headers["Authorization"] = "Bearer " + *token;
    req.headers["Idempotency-Key"] = "old-script-run";
    req.body = absl::StrCat(
        R"({"updates":[{"person_id":"p1","version":6,"identities":[{"domain":")",
        p1.domain(), R"(","sam_account_name":")", p1.sam_account_name(),
        R"(","upn":")", p1.upn(), R"(","sid":")", p1.sid(),
        R"(","object_guid":")", p1.object_guid(),
        R"(","enabled":true}]},{"person_id":"p3","version":2,"identities":[{"domain":"DISTRICT","sam_account_name":"old3","object_guid":"0f0e0d0c-0b0a-0908-0706-050403020100","enabled":true}]}]})");
    auto resp = SendHttp(req);
    ASSERT_TRUE(resp.ok() && resp->status == 200) << resp.status();
  }
  const uint64_t applied_before = panel_->Stats().applied();
  s = coordinator_->Preview(org_, &preview);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(preview.people_added(), 2u);      // p0, p2
  EXPECT_EQ(preview.people_unchanged(), 1u);  // p1
  EXPECT_EQ(preview.people_removed(), 1u);    // p3's stale login
  // Nothing was pushed while in preview.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(panel_->Stats().applied(), applied_before);
  EXPECT_EQ(Push().delivered(), 0u);

  // A stale preview is refused; the one just read goes live.
  EXPECT_EQ(coordinator_->SetLive(org_, true, "0123456789abcdef").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  s = coordinator_->SetLive(org_, true, preview.digest());
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitFor(
      [&] { return Push().queue_depth() == 0 && Push().delivered() == 3; },
      kDelivery))
      << "p0, p2 added and p3 emptied; p1 left alone";
  EXPECT_EQ(panel_->Identities(org_, "p3").size(), 0u);
  EXPECT_EQ(panel_->Identities(org_, "p0").size(), 1u);
  EXPECT_EQ(panel_->Stats().stale(), 0u) << "versions above K12Panel's";
  s = coordinator_->Preview(org_, &preview);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(preview.changes_size(), 0) << "nothing left to change";
  EXPECT_TRUE(preview.org().live());
  // p1, held unchanged at version 6, changes next (its account is
  // deleted): K12Panel must take it, not ignore it as stale.
  SendAccounts(1, 1, /*version=*/2, /*full_sync=*/false, /*deleted=*/true);
  ASSERT_TRUE(WaitFor([&] { return Push().delivered() == 4; }, kDelivery));
  EXPECT_EQ(panel_->Identities(org_, "p1").size(), 0u);
  EXPECT_EQ(panel_->Stats().stale(), 0u);
}

TEST_F(PanelE2eTest, AFullSyncSendsTheSyncReportToK12Panel) {
  SeedPeople(3);
  SendAccounts(0, 3, /*version=*/1, /*full_sync=*/true);
  adsync::v1::SimReports reports;
  ASSERT_TRUE(WaitFor(
      [&] {
        reports = panel_->Reports(org_);
        return reports.reports_size() > 0;
      },
      kDelivery));
  const adsync::v1::SyncReport& r = reports.reports(0).report();
  EXPECT_EQ(r.profiles(), 3u);
  EXPECT_EQ(r.matched(), 3u);
  EXPECT_EQ(r.source_ip(), "127.0.0.1");
  EXPECT_FALSE(r.started_at().empty());
  // Sent once for that cycle.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(panel_->Reports(org_).reports_size(), 1);
  EXPECT_GT(coordinator_->Status(org_).syncs(0).last_report_unix(), 0);
}

TEST_F(PanelE2eTest, ASyncReportWaitsOutAnOutageAndArrivesOnce) {
  SeedPeople(2);
  panel_->SetFaults(R"({"down": true})");
  SendAccounts(0, 2, /*version=*/1, /*full_sync=*/true);
  // The failure shows where an operator looks, and nothing is dropped.
  ASSERT_TRUE(WaitFor(
      [&] {
        return !coordinator_->Status(org_).syncs(0).report_error().empty();
      },
      kDelivery));
  EXPECT_THAT(coordinator_->Status(org_).syncs(0).report_error(),
              HasSubstr("503"));
  EXPECT_EQ(coordinator_->Status(org_).syncs(0).last_report_unix(), 0);
  panel_->SetFaults("{}");
  // Retried after panel.backoff_max_ms (1 s here).
  ASSERT_TRUE(WaitFor([&] { return panel_->Reports(org_).reports_size() == 1; },
                      kDelivery));
  EXPECT_EQ(panel_->Reports(org_).reports(0).report().profiles(), 2u);
  ASSERT_TRUE(WaitFor(
      [&] {
        return coordinator_->Status(org_).syncs(0).report_error().empty();
      },
      kDelivery));
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(panel_->Reports(org_).reports_size(), 1);
}

TEST_F(PanelE2eTest, AnOrgInPreviewSendsNoReports) {
  SeedPeople(2);
  ASSERT_TRUE(coordinator_->SetLive(org_, false).ok());
  SendAccounts(0, 2, /*version=*/1, /*full_sync=*/true);
  absl::SleepFor(absl::Seconds(3));  // the reporter scans every second
  EXPECT_EQ(panel_->Reports(org_).reports_size(), 0);
  ASSERT_TRUE(coordinator_->SetLive(org_, true).ok());
  ASSERT_TRUE(WaitFor([&] { return panel_->Reports(org_).reports_size() == 1; },
                      kDelivery));
}

TEST_F(PanelE2eTest, StatusPageInABrowserShowsHealthAndEscapesWhatAdSays) {
  SeedPeople(2);
  // An account whose AD display name is markup: it is unmatched (no such
  // email), so the page lists it.
  {
    WireAgent agent(coordinator_->agent_target(), absl::Seconds(30),
                    E2eAgentCredentials());
    ASSERT_TRUE(agent.Hello(org_, key_, TestGuid(900)).has_hello_result());
    adsync::v1::Batch batch =
        MakeBatch(1, {{.guid = 7,
                       .sam = "evil",
                       .mail = "nobody@d.org",
                       .display_name = "<img src=x onerror=alert(1)>Mallory"}});
    agent.Send(batch);
    ASSERT_TRUE(agent.Read().has_ack());
    ASSERT_TRUE(agent.Close().ok());
  }
  auto dom = OpenStatusPage(StatusBase(), "e2e-status-token",
                            absl::StrCat("/status/orgs/", org_), dir_.path());
  ASSERT_TRUE(dom.ok()) << dom.status();
  EXPECT_THAT(*dom, HasSubstr("Springfield USD"));
  EXPECT_THAT(*dom, HasSubstr("DISTRICT\\evil"));
  EXPECT_THAT(*dom, HasSubstr("&lt;img src=x onerror=alert(1)&gt;Mallory"));
  EXPECT_THAT(*dom, Not(HasSubstr("<img")));
  EXPECT_THAT(*dom, HasSubstr("download CSV"));
  // A wrong token gets the sign-in form, none of the org's data.
  auto refused = OpenStatusPage(StatusBase(), "wrong-token", "/status",
                                dir_.File("other"));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_THAT(*refused, HasSubstr("wrong status token"));
  EXPECT_THAT(*refused, Not(HasSubstr("Springfield USD")));
}

}  // namespace
}  // namespace adsync::testing
