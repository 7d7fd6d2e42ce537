// The Windows agent (adsync-agent.exe under Wine, LDAP through Wine's
// wldap32) against real Samba DCs over LDAPS and the real coordinator over
// TLS gRPC; and a mixed fleet, where the Windows agent stands by beside a
// Linux agent on the domain's other DC and takes over when it dies.
#include <signal.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/guid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"
#include "tests/windows/wine.h"

namespace adsync::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kArrival = absl::Seconds(60);
constexpr char kWindowsIp[] = "127.0.0.45";
constexpr char kLinuxIp[] = "127.0.0.46";

class WindowsAgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("SAMBA_NS", ADSYNC_E2E_FOREST_DIR, 1);  // for `replicate`
    for (const char* ip : {kWindowsIp, kLinuxIp}) EnsureLoopbackSource(ip);
    static TempDir* wine_dir = new TempDir();
    wine_ = new WinePrefix(wine_dir->path() + "/prefix");
  }
  static void TearDownTestSuite() {
    delete wine_;
    wine_ = nullptr;
  }

  void SetUp() override {
    a1_ = std::make_unique<Dc>(std::string(ADSYNC_E2E_FOREST_DIR) + "/a1");
    a2_ = std::make_unique<Dc>(std::string(ADSYNC_E2E_FOREST_DIR) + "/a2");
    panel_ = std::make_unique<PanelSimProcess>(dir_.path());
    panel_->Start();
    coordinator_ = std::make_unique<Coordinator>(
        dir_.path(), FastFailoverPanelConfig(*panel_));
    coordinator_->Start();
    org_ = coordinator_->CreateOrg("Shelbyville USD");
    prefix_ = NewRandomGuid().substr(0, 4);
    ou_ = a1_->AddOu(absl::StrCat("Windows-", prefix_));
  }

  AgentSetup SetupFor(const Dc& dc, const std::string& key,
                      const std::string& ip, const std::string& name) {
    return DcAgentSetup(dc, *coordinator_, ip, org_, key, ou_, dir_.File(name));
  }

  // Wine's wldap32 cannot show the agent the DC's certificate: the tests
  // opt in to the separate check (never set in production).
  std::unique_ptr<Process> StartWindowsAgent(
      AgentSetup s, bool separate_check = true,
      const std::string& log_name = "agent.log") {
    s.windows_paths = true;
    if (separate_check) s.ldap_extra = "  separate_certificate_check: true\n";
    const std::string config = WriteAgentConfig(s);
    return wine_->Start({AgentExe(), "--config", "Z:" + config},
                        s.dir + "/" + log_name);
  }

  std::string Sam(const std::string& n) const { return prefix_ + n; }
  std::string Login(const std::string& n) const {
    return "DISTRICT\\" + Sam(n);
  }
  adsync::v1::ResolveLoginResponse Resolve(const std::string& login) {
    return coordinator_->Resolve(org_, login);
  }

  static WinePrefix* wine_;
  TempDir dir_;
  std::unique_ptr<Dc> a1_, a2_;
  std::unique_ptr<PanelSimProcess> panel_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string org_, prefix_, ou_;
};

WinePrefix* WindowsAgentE2eTest::wine_ = nullptr;

// The sync's status as the coordinator reports it (empty when unknown).
adsync::v1::SyncStatus SyncOf(const adsync::v1::OrgStatus& org,
                              const std::string& sync_id) {
  for (const auto& s : org.syncs()) {
    if (s.sync().sync_id() == sync_id) return s;
  }
  return {};
}

// LDAPS with the DC's certificate checked, a simple bind, the DC's identity
// (rootDSE, NTDS settings, the naming context's up-to-date vector), and the
// agent's Hello over TLS gRPC.
TEST_F(WindowsAgentE2eTest, ConnectsOverLdapsAndTlsGrpcAndReportsItsDc) {
  std::string sync;
  const std::string key =
      coordinator_->AddSync(org_, "DISTRICT", kWindowsIp, &sync);
  auto agent = StartWindowsAgent(SetupFor(*a1_, key, kWindowsIp, "windows"));
  // The Hello names the DC; its USN arrives with the first heartbeat; the
  // agent logs "connected" after its Hello is answered.
  ASSERT_TRUE(WaitFor(
      [&] {
        const adsync::v1::SyncStatus s =
            SyncOf(coordinator_->Status(org_), sync);
        return s.controller() == a1_->Env("HOST") && s.controller_usn() > 0 &&
               agent->Log().find("connected controller=" + a1_->Env("HOST")) !=
                   std::string::npos;
      },
      kArrival))
      << agent->Log();
  EXPECT_EQ(SyncOf(coordinator_->Status(org_), sync).source_ip(), kWindowsIp);
  EXPECT_THAT(agent->Log(),
              HasSubstr("checking it against ldap.ca_file with a separate TLS "
                        "handshake"));
}

// The data path through wldap32: a paged full sync, then every kind of
// change followed by change notification, then a restart that resumes from
// the watermark instead of syncing in full again.
TEST_F(WindowsAgentE2eTest, FullSyncChangesRenamesDeletesAndResumes) {
  std::string people = "id,email\n";
  std::vector<Dc::User> users;
  for (int i = 0; i < 40; ++i) {
    const std::string sam = Sam(absl::StrCat("u", i));
    users.push_back({sam, sam + "@shelbyville.k12.us"});
    absl::StrAppend(&people, "p-", sam, ",", sam, "@shelbyville.k12.us\n");
  }
  absl::StrAppend(&people, "p-new,new@shelbyville.k12.us\n");
  coordinator_->ImportPeople(org_, people);
  const std::vector<std::string> dns = a1_->AddUsers(ou_, users);
  std::string sync;
  const std::string key =
      coordinator_->AddSync(org_, "DISTRICT", kWindowsIp, &sync);
  AgentSetup setup = SetupFor(*a1_, key, kWindowsIp, "windows");
  setup.page_size = 16;  // three pages, each reply far above one TLS record
  // Changes must come by change notification: no poll for ten minutes.
  setup.poll_interval_seconds = 600;
  auto agent = StartWindowsAgent(setup);
  ASSERT_TRUE(WaitFor(
      [&] { return coordinator_->Status(org_).counts().profiles() == 40; },
      kArrival))
      << agent->Log();
  EXPECT_EQ(coordinator_->Status(org_).counts().matched(), 40u);
  EXPECT_EQ(Resolve(Login("u39")).person_id(), "p-" + Sam("u39"));
  EXPECT_THAT(agent->Log(), HasSubstr("full sync done deltas=40"));
  EXPECT_TRUE(WaitFor(
      [&] {
        return agent->Log().find("mode=change notification") !=
               std::string::npos;
      },
      kArrival))
      << agent->Log();

  a1_->Replace(dns[0], "mail", "new@shelbyville.k12.us");  // a new Person
  ASSERT_TRUE(WaitFor(
      [&] { return Resolve(Login("u0")).person_id() == "p-new"; }, kArrival))
      << agent->Log();
  a1_->Replace(dns[1], "sAMAccountName", Sam("renamed"));
  ASSERT_TRUE(
      WaitFor([&] { return Resolve(Login("renamed")).found(); }, kArrival))
      << agent->Log();
  EXPECT_FALSE(Resolve(Login("u1")).found());
  EXPECT_EQ(Resolve(Login("renamed")).person_id(), "p-" + Sam("u1"));
  a1_->Delete(dns[2]);  // a tombstone, read with Show Deleted
  ASSERT_TRUE(WaitFor(
      [&] { return Resolve(Login("u2")).account().outcome() == "removed"; },
      kArrival))
      << agent->Log();
  EXPECT_EQ(coordinator_->Status(org_).counts().profiles(), 39u);

  // Each change came with its notification.
  EXPECT_THAT(agent->Log(), HasSubstr("notified changes sent deltas=1"));

  // Killed, a change while it is down, started again: it resumes from its
  // watermark, not with a second full sync. With no backstop search the
  // watermark is still the full sync's (or the first look's, if a change beat
  // it), so the changes above are sent again with this one: at most four.
  agent->Stop(SIGKILL);
  a1_->Replace(dns[3], "mail", "nobody@shelbyville.k12.us");
  auto again = StartWindowsAgent(setup, true, "restarted.log");
  ASSERT_TRUE(WaitFor([&] { return Resolve(Login("u3")).person_id().empty(); },
                      kArrival))
      << again->Log();
  EXPECT_TRUE(WaitFor(
      [&] { return again->Log().find("caught up") != std::string::npos; },
      kArrival))
      << again->Log();
  const std::string log = again->Log();
  const size_t at = log.find("caught up deltas=");
  ASSERT_NE(at, std::string::npos) << log;
  int resent = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      log.substr(at + 17, log.find(' ', at + 17) - (at + 17)), &resent))
      << log;
  EXPECT_GE(resent, 1);
  EXPECT_LE(resent, 4);
  EXPECT_THAT(again->Log(), ::testing::Not(HasSubstr("full sync done")));
  EXPECT_EQ(coordinator_->Status(org_).counts().profiles(), 39u);
}

// StartTLS on the LDAP port, through wldap32's ldap_start_tls_s, with the
// DC's certificate checked the same way.
TEST_F(WindowsAgentE2eTest, StartTlsCarriesTheSync) {
  a1_->AddUsers(ou_, {{Sam("tls"), Sam("tls") + "@shelbyville.k12.us"}});
  std::string sync;
  const std::string key =
      coordinator_->AddSync(org_, "DISTRICT", kWindowsIp, &sync);
  AgentSetup setup = SetupFor(*a1_, key, kWindowsIp, "windows");
  setup.ldap_uri = "ldap://" + a1_->ip();
  auto agent = StartWindowsAgent(setup);
  ASSERT_TRUE(WaitFor([&] { return Resolve(Login("tls")).found(); }, kArrival))
      << agent->Log();
  EXPECT_THAT(agent->Log(), HasSubstr("dc=ldap://" + a1_->ip()));
}

TEST_F(WindowsAgentE2eTest, RefusesADcCertificateItsCaDidNotSign) {
  std::string sync;
  const std::string key =
      coordinator_->AddSync(org_, "DISTRICT", kWindowsIp, &sync);
  AgentSetup setup = SetupFor(*a1_, key, kWindowsIp, "windows");
  setup.ca_file = E2eCertDir() + "/ca.pem";  // signed the coordinator, not a1
  auto agent = StartWindowsAgent(setup);
  ASSERT_TRUE(WaitFor(
      [&] { return agent->Log().find("is not trusted") != std::string::npos; },
      kArrival))
      << agent->Log();
  EXPECT_THAT(agent->Log(), HasSubstr("check that ldap.ca_file is the CA"));
  EXPECT_THAT(agent->Log(), ::testing::Not(HasSubstr("connected controller")));
  EXPECT_FALSE(SyncOf(coordinator_->Status(org_), sync).connected());
}

TEST_F(WindowsAgentE2eTest, RefusesACaFileItsLdapClientCannotEnforce) {
  std::string sync;
  const std::string key =
      coordinator_->AddSync(org_, "DISTRICT", kWindowsIp, &sync);
  auto agent = StartWindowsAgent(SetupFor(*a1_, key, kWindowsIp, "windows"),
                                 /*separate_check=*/false);
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent->Log().find("cannot show the DC's certificate") !=
               std::string::npos;
      },
      kArrival))
      << agent->Log();
  EXPECT_THAT(agent->Log(), HasSubstr("remove ldap.ca_file"));
  EXPECT_THAT(agent->Log(), ::testing::Not(HasSubstr("connected controller")));
}

TEST_F(WindowsAgentE2eTest, SaysWhenTheBindPasswordIsWrong) {
  std::string sync;
  const std::string key =
      coordinator_->AddSync(org_, "DISTRICT", kWindowsIp, &sync);
  AgentSetup setup = SetupFor(*a1_, key, kWindowsIp, "windows");
  setup.password_file = dir_.File("wrong.password");
  WriteFile(setup.password_file, "not-the-password");
  auto agent = StartWindowsAgent(setup);
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent->Log().find("check ldap.bind_dn and the password file") !=
               std::string::npos;
      },
      kArrival))
      << agent->Log();
  EXPECT_THAT(agent->Log(), HasSubstr("Invalid Credentials"));
}

// A mixed fleet: a Linux agent reads the domain from one DC and is primary;
// the Windows agent on the other DC of the same domain stands by, and is
// promoted when the Linux agent dies.
TEST_F(WindowsAgentE2eTest, WindowsStandbyBesideALinuxPrimaryTakesTheLease) {
  std::string windows_sync, linux_sync;
  const std::string linux_key = coordinator_->AddSync(
      org_, "DISTRICT", kLinuxIp, &linux_sync, /*priority=*/10);
  const std::string windows_key = coordinator_->AddSync(
      org_, "DISTRICT", kWindowsIp, &windows_sync, /*priority=*/5);
  // Both agents read the same OU: made on a1 and replicated to a2.
  a1_->AddUsers(ou_, {{Sam("eve"), Sam("eve") + "@d.org"}});
  const RunResult replicated = RunCommand(
      {SourcePath("scripts/samba_dc.sh"), "replicate", a2_->dir(), a1_->dir()});
  ASSERT_EQ(replicated.exit_code, 0) << replicated.output;
  auto linux_agent =
      StartAgent(WriteAgentConfig(SetupFor(*a2_, linux_key, kLinuxIp, "l")),
                 dir_.File("l") + "/agent.log");
  ASSERT_TRUE(WaitFor([&] { return Resolve(Login("eve")).found(); }, kArrival))
      << linux_agent->Log();

  auto windows =
      StartWindowsAgent(SetupFor(*a1_, windows_key, kWindowsIp, "w"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return SyncOf(coordinator_->Status(org_), windows_sync).role() ==
               "standby";
      },
      kArrival))
      << windows->Log();
  // The coordinator says standby before the agent has logged it.
  EXPECT_TRUE(WaitFor(
      [&] { return windows->Log().find("standby") != std::string::npos; },
      kArrival))
      << windows->Log();

  linux_agent->Stop(9);  // the primary dies
  ASSERT_TRUE(WaitFor(
      [&] {
        return windows->Log().find("promoted to primary") != std::string::npos;
      },
      kArrival))
      << windows->Log();
  bool failover_recorded = false;
  const adsync::v1::OrgStatus after = coordinator_->Status(org_);
  for (const auto& d : after.domains()) {
    for (const auto& f : d.recent_failovers()) {
      if (f.from_sync_id() == linux_sync && f.to_sync_id() == windows_sync)
        failover_recorded = true;
    }
  }
  EXPECT_TRUE(failover_recorded);
  // The Windows agent now carries the domain: a new account on its DC
  // arrives, and what the Linux agent sent stays.
  a1_->AddUsers(ou_, {{Sam("frank"), Sam("frank") + "@d.org"}});
  EXPECT_TRUE(
      WaitFor([&] { return Resolve(Login("frank")).found(); }, kArrival))
      << windows->Log();
  EXPECT_TRUE(Resolve(Login("eve")).found());
}

}  // namespace
}  // namespace adsync::testing
