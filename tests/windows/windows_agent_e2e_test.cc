// The Windows agent (adsync-agent.exe under Wine, LDAP through Wine's
// wldap32) against real Samba DCs over LDAPS and the real coordinator over
// TLS gRPC; and a mixed fleet, where the Windows agent stands by beside a
// Linux agent on the domain's other DC and takes over when it dies.
#include "absl/strings/str_cat.h"
#include "common/guid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e_harness.h"
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
  std::unique_ptr<Process> StartWindowsAgent(AgentSetup s,
                                             bool separate_check = true) {
    s.windows_paths = true;
    if (separate_check) s.ldap_extra = "  separate_certificate_check: true\n";
    const std::string config = WriteAgentConfig(s);
    return wine_->Start({AgentExe(), "--config", "Z:" + config},
                        s.dir + "/agent.log");
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

// What Wine's wldap32 carries: LDAPS with the DC's certificate checked, a
// simple bind, the DC's identity (rootDSE, NTDS settings, the naming
// context's up-to-date vector), and the agent's Hello over TLS gRPC. Wine 8.0
// cannot carry a full sync's search results over TLS (docs/operations.md,
// "What Wine cannot show"), so the data path is proven by the Linux agent's
// tests; the Windows agent shares that code.
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
  // An OU made on a2 itself: a1's may not have replicated yet.
  const std::string ou2 = a2_->AddOu(absl::StrCat("Windows2-", prefix_));
  a2_->AddUsers(ou2, {{Sam("eve"), Sam("eve") + "@d.org"}});
  AgentSetup linux_setup = SetupFor(*a2_, linux_key, kLinuxIp, "l");
  linux_setup.base_dns = {ou2};
  auto linux_agent =
      StartAgent(WriteAgentConfig(linux_setup), linux_setup.dir + "/agent.log");
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
}

}  // namespace
}  // namespace adsync::testing
