// No single point of failure, end to end: two real coordinators on one
// PostgreSQL database (a primary with a streaming standby, both started by
// scripts/postgres.sh), real agents on two Samba DCs of one domain and a DC
// of a second domain, each agent given both coordinators, and panel-sim.
// One coordinator is killed -9 while agents stream a bulk change, the other
// while it pushes to K12Panel, and then the PostgreSQL primary dies and the
// standby is promoted. Every acknowledged change must be stored, every
// mapping must reach panel-sim exactly once in effect (never back to older
// data), and both coordinators must answer alike.
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/guid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"
#include "tests/support/postgres_server.h"

namespace adsync::testing {
namespace {

constexpr absl::Duration kArrival = absl::Seconds(60);

// When `log` first says the agent connected to `target` at or after
// `after` (InfiniteFuture when it has not).
absl::Time ConnectedTo(const std::string& log, const std::string& target,
                       absl::Time after) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (line.find(" info connected ") == absl::string_view::npos ||
        line.find(absl::StrCat("coordinator=", target)) ==
            absl::string_view::npos) {
      continue;
    }
    absl::Time at;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E3SZ",
                         std::string(line.substr(0, line.find(' '))), &at,
                         &error)) {
      continue;
    }
    if (at >= after) return at;
  }
  return absl::InfiniteFuture();
}

class HaE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { UseForest(ADSYNC_E2E_FOREST_DIR); }

  void SetUp() override {
    a1_ = std::make_unique<Dc>(std::string(ADSYNC_E2E_FOREST_DIR) + "/a1");
    a2_ = std::make_unique<Dc>(std::string(ADSYNC_E2E_FOREST_DIR) + "/a2");
    b1_ = std::make_unique<Dc>(std::string(ADSYNC_E2E_FOREST_DIR) + "/b1");
    auto primary = PostgresServer::Start(pg_primary_dir_.path(), 5432);
    ASSERT_TRUE(primary.ok()) << primary.status();
    primary_ = *std::move(primary);
    auto standby =
        PostgresServer::StartStandby(pg_standby_dir_.path(), 5433, *primary_);
    ASSERT_TRUE(standby.ok()) << standby.status();
    standby_ = *std::move(standby);
    // Both servers, the writable one chosen: the coordinators follow a
    // promotion without a config change.
    const std::string conninfo =
        absl::StrCat("host=", primary_->dir(), "/socket,", standby_->dir(),
                     "/socket port=5432,5433 dbname=adsync user=adsync "
                     "target_session_attrs=read-write connect_timeout=2");
    panel_ = std::make_unique<PanelSimProcess>(dir_.path());
    panel_->Start();
    for (const char* name : {"c1", "c2"}) {
      ASSERT_EQ(mkdir(dir_.File(name).c_str(), 0700), 0);
      // Fast pushes and heartbeats, but the default 6 s lease: this test
      // kills coordinators, not agents, and a 2 s lease can lapse under a
      // loaded CI machine and fail the primary agent over on its own.
      coordinators_.push_back(std::make_unique<Coordinator>(
          dir_.File(name),
          absl::StrReplaceAll(FastFailoverPanelConfig(*panel_),
                              {{"lease_ttl_ms: 2000", "lease_ttl_ms: 6000"}}),
          conninfo));
      coordinators_.back()->Start();
    }
    org_ = c1().CreateOrg("Springfield USD");
    key_a1_ = c1().AddSync(org_, "DISTRICT", "127.0.0.41", &sync_a1_,
                           /*priority=*/10);
    key_a2_ = c2().AddSync(org_, "DISTRICT", "127.0.0.42", &sync_a2_,
                           /*priority=*/5);
    key_b1_ = c1().AddSync(org_, "STAFF", "127.0.0.43", &sync_b1_);
    prefix_ = NewRandomGuid().substr(0, 4);
  }

  Coordinator& c1() { return *coordinators_[0]; }
  Coordinator& c2() { return *coordinators_[1]; }

  // Both coordinators, `first` first in the agent's list.
  std::string CoordinatorList(const std::string& ip, Coordinator& first,
                              Coordinator& second) {
    return absl::StrCat(first.agent_target(ip), ",", second.agent_target(ip));
  }

  std::unique_ptr<Process> StartAgentFor(const Dc& dc, const std::string& key,
                                         const std::string& ip,
                                         const std::string& domain,
                                         const std::string& ou,
                                         const std::string& name,
                                         const std::string& coordinators) {
    AgentSetup s = DcAgentSetup(dc, c1(), ip, org_, key, ou, dir_.File(name));
    s.domain = domain;
    s.coordinator = coordinators;
    return StartAgent(WriteAgentConfig(s), s.dir + "/agent.log");
  }

  std::string Sam(const std::string& n) const { return prefix_ + n; }
  std::string PanelPersonOf(const std::string& sam) {
    return panel_->PersonOf(org_, "DISTRICT", sam);
  }

  // Seconds from `since` until the agent's log shows it connected to
  // `coordinator` (-1 when it did not within kArrival).
  double SecondsUntilConnected(Process& agent, Coordinator& coordinator,
                               const std::string& ip, absl::Time since) {
    absl::Time at = absl::InfiniteFuture();
    WaitFor(
        [&] {
          at = ConnectedTo(agent.Log(), coordinator.agent_target(ip), since);
          return at != absl::InfiniteFuture();
        },
        kArrival);
    return at == absl::InfiniteFuture() ? -1
                                        : absl::ToDoubleSeconds(at - since);
  }

  TempDir dir_;
  TempDir pg_primary_dir_;
  TempDir pg_standby_dir_;
  std::unique_ptr<Dc> a1_, a2_, b1_;
  std::unique_ptr<PostgresServer> primary_, standby_;
  std::unique_ptr<PanelSimProcess> panel_;
  std::vector<std::unique_ptr<Coordinator>> coordinators_;
  std::string org_, prefix_;
  std::string key_a1_, key_a2_, key_b1_, sync_a1_, sync_a2_, sync_b1_;
};

TEST_F(HaE2eTest, KillingACoordinatorOrThePostgresPrimaryLosesNothing) {
  constexpr int kBulk = 60;
  constexpr int kRenamed = 10;
  // People: p-u{i} and p-u{i}-new for the accounts whose mail changes,
  // p-jane (accounts in both domains).
  std::string people = "{\"people\":[";
  for (int i = 0; i < kBulk; ++i) {
    absl::StrAppend(&people, "{\"id\":\"p-u", i, "\",\"emails\":[\"", Sam("u"),
                    i, "@d.org\"]},{\"id\":\"p-u", i, "-new\",\"emails\":[\"",
                    Sam("u"), i, "-new@d.org\"]},");
  }
  absl::StrAppend(&people, "{\"id\":\"p-jane\",\"emails\":[\"", Sam("jane"),
                  "@d.org\"]}]}");
  panel_->SeedPeople(org_, people);
  ASSERT_TRUE(c2().PullPeople(org_).ok());

  const std::string ou_a = a1_->AddOu(absl::StrCat("Ha-", prefix_));
  const std::string ou_b = b1_->AddOu(absl::StrCat("Ha-", prefix_));
  a1_->AddUsers(ou_a, {{Sam("jane"), Sam("jane") + "@d.org"}});
  b1_->AddUsers(ou_b, {{Sam("jane.s"), Sam("jane") + "@d.org"}});
  RunCommand(
      {SourcePath("scripts/samba_dc.sh"), "replicate", a2_->dir(), a1_->dir()});

  // a1 and b1 start on c1, a2 on c2.
  auto agent_a1 =
      StartAgentFor(*a1_, key_a1_, "127.0.0.41", "DISTRICT", ou_a, "a1",
                    CoordinatorList("127.0.0.41", c1(), c2()));
  ASSERT_GE(SecondsUntilConnected(*agent_a1, c1(), "127.0.0.41",
                                  absl::InfinitePast()),
            0)
      << agent_a1->Log();
  auto agent_a2 =
      StartAgentFor(*a2_, key_a2_, "127.0.0.42", "DISTRICT", ou_a, "a2",
                    CoordinatorList("127.0.0.42", c2(), c1()));
  auto agent_b1 =
      StartAgentFor(*b1_, key_b1_, "127.0.0.43", "STAFF", ou_b, "b1",
                    CoordinatorList("127.0.0.43", c1(), c2()));
  ASSERT_TRUE(WaitFor(
      [&] { return panel_->Identities(org_, "p-jane").size() == 2; }, kArrival))
      << agent_a1->Log() << agent_b1->Log() << c1().Log();
  ASSERT_GE(SecondsUntilConnected(*agent_a2, c2(), "127.0.0.42",
                                  absl::InfinitePast()),
            0)
      << agent_a2->Log();

  // 1. c1 dies while a1 streams a bulk change: a1 and b1 move to c2.
  std::vector<Dc::User> bulk;
  for (int i = 0; i < kBulk; ++i) {
    bulk.push_back(
        {Sam(absl::StrCat("u", i)), absl::StrCat(Sam("u"), i, "@d.org")});
  }
  const std::vector<std::string> dns = a1_->AddUsers(ou_a, bulk);
  ASSERT_TRUE(WaitFor([&] { return !PanelPersonOf(Sam("u0")).empty(); },
                      kArrival));  // the stream is under way
  const absl::Time c1_killed = absl::Now();
  c1().Kill9();
  const double a1_moved =
      SecondsUntilConnected(*agent_a1, c2(), "127.0.0.41", c1_killed);
  const double b1_moved =
      SecondsUntilConnected(*agent_b1, c2(), "127.0.0.43", c1_killed);
  EXPECT_GE(a1_moved, 0) << agent_a1->Log();
  EXPECT_GE(b1_moved, 0) << agent_b1->Log();
  std::printf(
      "[ measure  ] coordinator killed -> agents streaming to the other: "
      "a1 %.2f s, b1 %.2f s\n",
      a1_moved, b1_moved);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < kBulk; ++i) {
          if (PanelPersonOf(Sam(absl::StrCat("u", i))) !=
              absl::StrCat("p-u", i)) {
            return false;
          }
        }
        return true;
      },
      kArrival))
      << agent_a1->Log() << c2().Log();
  c1().Start();

  // 2. c2 dies while it pushes to K12Panel (panel-sim holds each request
  // 1.5 s; c1 is frozen meanwhile, so the push is c2's), then c1 resumes:
  // the agents move to it and it pushes what c2 never recorded as done.
  ASSERT_EQ(kill(c1().pid(), SIGSTOP), 0);
  panel_->SetFaults("{\"delay_ms\":1500}");
  const uint64_t received_before = panel_->Stats().received();
  for (int i = 0; i < kRenamed; ++i) {
    a1_->Replace(dns[i], "mail", absl::StrCat(Sam("u"), i, "-new@d.org"));
  }
  ASSERT_TRUE(WaitFor(
      [&] { return panel_->Stats().received() > received_before; }, kArrival))
      << c2().Log();
  const absl::Time c2_killed = absl::Now();
  c2().Kill9();
  ASSERT_EQ(kill(c1().pid(), SIGCONT), 0);
  panel_->SetFaults("{}");
  const double a1_back =
      SecondsUntilConnected(*agent_a1, c1(), "127.0.0.41", c2_killed);
  const double a2_back =
      SecondsUntilConnected(*agent_a2, c1(), "127.0.0.42", c2_killed);
  EXPECT_GE(a1_back, 0) << agent_a1->Log();
  EXPECT_GE(a2_back, 0) << agent_a2->Log();
  std::printf(
      "[ measure  ] coordinator killed during a push -> agents streaming to "
      "the other: a1 %.2f s, a2 %.2f s\n",
      a1_back, a2_back);
  bool regressed = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        bool all = true;
        for (int i = 0; i < kRenamed; ++i) {
          const std::string now = PanelPersonOf(Sam(absl::StrCat("u", i)));
          if (now == absl::StrCat("p-u", i) + "-new") continue;
          all = false;
          if (now != absl::StrCat("p-u", i)) regressed = true;
        }
        return all;
      },
      kArrival))
      << c1().Log();
  EXPECT_FALSE(regressed);
  c2().Start();

  // 3. The PostgreSQL primary dies; a change is made in AD during the
  // outage; the standby is promoted and the change arrives.
  ASSERT_TRUE(primary_->Kill().ok());
  const absl::Time outage = absl::Now();
  a1_->Replace(dns[kRenamed], "mail",
               absl::StrCat(Sam("u"), kRenamed, "-new@d.org"));
  absl::SleepFor(absl::Seconds(2));  // agents meet the outage
  const absl::Time promoted = absl::Now();
  ASSERT_TRUE(standby_->Promote().ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return PanelPersonOf(Sam(absl::StrCat("u", kRenamed))) ==
               absl::StrCat("p-u", kRenamed, "-new");
      },
      kArrival))
      << agent_a1->Log() << c1().Log();
  std::printf(
      "[ measure  ] PostgreSQL primary killed at 0 s, standby promoted at "
      "%.2f s -> the change made during the outage in panel-sim at %.2f s\n",
      absl::ToDoubleSeconds(promoted - outage),
      absl::ToDoubleSeconds(absl::Now() - outage));

  // Both coordinators answer alike, and agree with AD and K12Panel.
  for (int i = 0; i <= kRenamed; ++i) {
    const std::string sam = Sam(absl::StrCat("u", i));
    const std::string person = absl::StrCat("p-u", i, "-new");
    EXPECT_EQ(PanelPersonOf(sam), person) << sam;
    EXPECT_EQ(c1().Resolve(org_, "DISTRICT\\" + sam).person_id(), person);
    EXPECT_EQ(c2().Resolve(org_, "DISTRICT\\" + sam).person_id(), person);
  }
  const adsync::v1::OrgStatus s1 = c1().Status(org_);
  const adsync::v1::OrgStatus s2 = c2().Status(org_);
  EXPECT_EQ(s1.counts().SerializeAsString(), s2.counts().SerializeAsString());
  EXPECT_EQ(s1.counts().profiles(), static_cast<uint64_t>(kBulk + 2));
  EXPECT_EQ(panel_->Identities(org_, "p-jane").size(), 2u);
}

}  // namespace
}  // namespace adsync::testing
