// The real agent against a real Samba AD DC, streaming to the real
// coordinator: every change made on the DC must show up in the store.
#include <signal.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/guid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"

namespace adsync::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kArrival = absl::Seconds(20);

class AgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dc_ = std::make_unique<Dc>(ADSYNC_E2E_DC_DIR);
    coordinator_ = std::make_unique<Coordinator>(dir_.path());
    coordinator_->Start();
    org_ = coordinator_->CreateOrg("Springfield USD");
    key_ = coordinator_->AddSync(org_, "DISTRICT", "127.0.0.1");
    // Each test works in its own OU so tests do not see each other's users.
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    // sAMAccountNames are unique per domain and the DC outlives test runs.
    prefix_ = NewRandomGuid().substr(0, 4);
    ou_ = dc_->AddOu(absl::StrCat(info->name(), "-", prefix_));
  }

  // A test account's sAMAccountName: unique to this test run.
  std::string Sam(const std::string& name) const { return prefix_ + name; }
  std::string Login(const std::string& name) const {
    return "DISTRICT\\" + Sam(name);
  }

  AgentSetup AgentConfigForTest() {
    AgentSetup s;
    s.dir = dir_.path();
    s.coordinator = coordinator_->agent_target();
    s.org = org_;
    s.key = key_;
    s.ldap_uri = "ldaps://" + dc_->ip();
    s.ca_file = dc_->ca_file();
    s.bind_dn = dc_->Env("ADMIN_DN");
    s.password_file = dc_->password_file();
    s.base_dns = {ou_};
    return s;
  }

  adsync::v1::ResolveLoginResponse Resolve(const std::string& login) {
    return coordinator_->Resolve(org_, login);
  }

  bool Arrives(const std::function<bool()>& condition) {
    return WaitFor(condition, kArrival);
  }

  TempDir dir_;
  std::unique_ptr<Dc> dc_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string org_;
  std::string key_;
  std::string ou_;
  std::string prefix_;
};

TEST_F(AgentE2eTest, FullSyncOfHundredsOfUsersAcrossOusArrivesComplete) {
  std::string people = "id,email\n";
  int expected_matched = 0;
  for (int school = 0; school < 3; ++school) {
    const std::string ou = dc_->AddOu(absl::StrCat("School", school), ou_);
    std::vector<Dc::User> users;
    for (int i = 0; i < 100; ++i) {
      const std::string sam = Sam(absl::StrCat("s", school, "u", i));
      // Every 10th account has no email; the others' People exist.
      const std::string mail =
          i % 10 == 0 ? "" : absl::StrCat(sam, "@springfield.k12.us");
      users.push_back({sam, mail});
      if (!mail.empty()) {
        absl::StrAppend(&people, "p-", sam, ",", mail, "\n");
        ++expected_matched;
      }
    }
    dc_->AddUsers(ou, users);
  }
  coordinator_->ImportPeople(org_, people);
  AgentSetup setup = AgentConfigForTest();
  setup.page_size = 64;  // five pages per school: exercises paged results
  RunResult once = RunAgentOnce(WriteAgentConfig(setup));
  ASSERT_EQ(once.exit_code, 0) << once.output;
  EXPECT_THAT(once.output, HasSubstr("full sync done deltas=300"));
  adsync::v1::Counts c = coordinator_->Status(org_).counts();
  EXPECT_EQ(c.profiles(), 300u);
  EXPECT_EQ(c.matched(), static_cast<uint64_t>(expected_matched));
  EXPECT_EQ(c.no_email(), 30u);
  EXPECT_EQ(Resolve(Login("s2u99")).person_id(), "p-" + Sam("s2u99"));
  // A second --once resumes from the watermark: nothing new to send.
  RunResult again = RunAgentOnce(WriteAgentConfig(AgentConfigForTest()));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, ::testing::Not(HasSubstr("full sync done")));
  EXPECT_EQ(coordinator_->Status(org_).counts().profiles(), 300u);
}

TEST_F(AgentE2eTest, EveryKindOfChangeOnTheDcIsReflected) {
  coordinator_->ImportPeople(
      org_,
      "id,email\np-jane,jane@springfield.k12.us\n"
      "p-jd,jd@springfield.k12.us\np-kim,kim@springfield.k12.us\n");
  AgentSetup setup = AgentConfigForTest();
  setup.poll_interval_seconds = 600;  // every change by notification
  auto agent = StartAgent(WriteAgentConfig(setup), dir_.File("agent.log"));
  const std::string dn =
      dc_->AddUsers(ou_, {{Sam("jdoe"), "Jane@Springfield.k12.us"}})[0];
  ASSERT_TRUE(Arrives([&] {
    return Resolve(Login("jdoe")).person_id() == "p-jane";
  })) << agent->Log();

  dc_->Replace(dn, "mail", "jd@springfield.k12.us");  // new email, new Person
  ASSERT_TRUE(
      Arrives([&] { return Resolve(Login("jdoe")).person_id() == "p-jd"; }));

  dc_->Replace(dn, "sAMAccountName", Sam("jane.doe"));  // rename: same profile
  ASSERT_TRUE(Arrives([&] { return Resolve(Login("jane.doe")).found(); }));
  EXPECT_FALSE(Resolve(Login("jdoe")).found());
  EXPECT_EQ(Resolve(Login("jane.doe")).person_id(), "p-jd");

  dc_->Replace(dn, "userPrincipalName", Sam("jane.doe@springfield.k12.us"));
  ASSERT_TRUE(Arrives(
      [&] { return Resolve(Sam("jane.doe@springfield.k12.us")).found(); }));

  dc_->Replace(dn, "userAccountControl",
               "514");  // disabled: still mapped, flagged
  ASSERT_TRUE(
      Arrives([&] { return !Resolve(Login("jane.doe")).account().enabled(); }));
  EXPECT_EQ(Resolve(Login("jane.doe")).person_id(), "p-jd");

  const std::string kim =
      dc_->AddUsers(ou_, {{Sam("kim"), "kim@springfield.k12.us"}})[0];
  ASSERT_TRUE(
      Arrives([&] { return Resolve(Login("kim")).person_id() == "p-kim"; }));
  dc_->Delete(kim);  // a tombstone: the identity goes away
  ASSERT_TRUE(Arrives(
      [&] { return Resolve(Login("kim")).account().outcome() == "removed"; }));
  EXPECT_EQ(Resolve(Login("kim")).person_id(), "");
  adsync::v1::Counts c = coordinator_->Status(org_).counts();
  EXPECT_EQ(c.profiles(), 1u);
  EXPECT_EQ(c.deleted(), 1u);
  EXPECT_EQ(c.disabled(), 1u);
  EXPECT_THAT(agent->Log(), HasSubstr("mode=change notification"));
  // With no backstop search, each change after the first came with its
  // notification: the new mail, the rename, the UPN, the disabling, kim's
  // creation and kim's tombstone.
  const std::string log = agent->Log();
  int notified = 0;
  for (size_t at = log.find("notified changes sent deltas=");
       at != std::string::npos;
       at = log.find("notified changes sent deltas=", at + 1)) {
    ++notified;
  }
  EXPECT_GE(notified, 6) << log;
  EXPECT_THAT(log, ::testing::Not(HasSubstr("skipping account")));
}

TEST_F(AgentE2eTest, StartTlsAndPollingWithoutChangeNotification) {
  AgentSetup s = AgentConfigForTest();
  s.ldap_uri = "ldap://" + dc_->ip();  // StartTLS, certificate verified
  s.extra = "change_notification: false\n";
  auto agent = StartAgent(WriteAgentConfig(s), dir_.File("agent.log"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent->Log().find("following changes") != std::string::npos;
      },
      kArrival))
      << agent->Log();
  EXPECT_THAT(agent->Log(), HasSubstr("mode=polling every 1s"));
  dc_->AddUsers(ou_, {{Sam("polled"), ""}});
  ASSERT_TRUE(Arrives([&] { return Resolve(Login("polled")).found(); }))
      << agent->Log();
}

TEST_F(AgentE2eTest, ControllerUnreachable) {
  AgentSetup s = AgentConfigForTest();
  s.ldap_uri = "ldaps://127.0.0.19";  // nothing listens there
  RunResult r = RunAgentOnce(WriteAgentConfig(s));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("check that the DC is up"));
}

TEST_F(AgentE2eTest, BadCredentials) {
  AgentSetup s = AgentConfigForTest();
  WriteFile(dir_.File("wrong.pw"), "not-the-password");
  s.password_file = dir_.File("wrong.pw");
  RunResult r = RunAgentOnce(WriteAgentConfig(s));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("Invalid credentials"));
  EXPECT_THAT(r.output, HasSubstr("check ldap.bind_dn and the password file"));
}

TEST_F(AgentE2eTest, BadBaseDn) {
  AgentSetup s = AgentConfigForTest();
  s.base_dns = {absl::StrCat("OU=DoesNotExist,", dc_->base_dn())};
  RunResult r = RunAgentOnce(WriteAgentConfig(s));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("base DN does not exist"));
  EXPECT_EQ(coordinator_->Status(org_).counts().profiles(), 0u);
}

TEST_F(AgentE2eTest, TlsFailureWithAnUntrustedCertificate) {
  AgentSetup s = AgentConfigForTest();
  // A CA that did not sign the DC's certificate.
  RunResult ca =
      RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                  "-days", "1", "-subj", "/CN=other CA", "-keyout",
                  dir_.File("other.key"), "-out", dir_.File("other.pem")});
  ASSERT_EQ(ca.exit_code, 0) << ca.output;
  s.ca_file = dir_.File("other.pem");
  RunResult r = RunAgentOnce(WriteAgentConfig(s));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("TLS handshake failed"));
}

TEST_F(AgentE2eTest, CoordinatorTlsFailureSaysWhatToCheck) {
  AgentSetup s = AgentConfigForTest();
  s.coordinator_ca_file = E2eCertDir() + "/other-ca.pem";
  RunResult r = RunAgentOnce(WriteAgentConfig(s));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("TLS with the coordinator"));
  EXPECT_THAT(r.output, HasSubstr("coordinator_ca_file"));
  EXPECT_EQ(coordinator_->Status(org_).counts().profiles(), 0u);
}

TEST_F(AgentE2eTest, RefusesAKeyFileOthersCanRead) {
  const std::string config = WriteAgentConfig(AgentConfigForTest());
  chmod(dir_.File("sync.key").c_str(), 0644);
  RunResult r = RunAgentOnce(config);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("chmod 600 " + dir_.File("sync.key")));
}

TEST_F(AgentE2eTest, RecoversWhenTheCoordinatorIsDownAtStartAndMidStream) {
  coordinator_->Stop();
  auto agent = StartAgent(WriteAgentConfig(AgentConfigForTest()),
                          dir_.File("agent.log"));
  dc_->AddUsers(ou_, {{Sam("early"), "early@springfield.k12.us"}});
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent->Log().find("cannot reach the coordinator") !=
               std::string::npos;
      },
      kArrival))
      << agent->Log();
  coordinator_->Start();
  ASSERT_TRUE(Arrives([&] { return Resolve(Login("early")).found(); }))
      << agent->Log();

  coordinator_->Kill9();  // crash mid-stream; changes keep happening on the DC
  std::vector<Dc::User> during;
  for (int i = 0; i < 20; ++i)
    during.push_back({Sam(absl::StrCat("during", i)), ""});
  dc_->AddUsers(ou_, during);
  coordinator_->Start();  // same database
  ASSERT_TRUE(Arrives([&] {
    return coordinator_->Status(org_).counts().profiles() == 21u;
  })) << agent->Log();
  for (int i = 0; i < 20; ++i)
    EXPECT_TRUE(Resolve(Login(absl::StrCat("during", i))).found()) << i;
  EXPECT_EQ(agent->Stop(SIGTERM), 0);
}

TEST_F(AgentE2eTest, NewInvocationIdForcesAFullSync) {
  dc_->AddUsers(ou_, {{Sam("keep"), ""}, {Sam("gone"), ""}});
  ASSERT_EQ(RunAgentOnce(WriteAgentConfig(AgentConfigForTest())).exit_code, 0);
  const std::string before =
      coordinator_->Status(org_).syncs(0).watermark_invocation_id();
  // As after a restore from backup: the DC's USNs are no longer comparable.
  RunResult restored = RunCommand(
      {SourcePath("scripts/samba_dc.sh"), "restore-invocation-id", dc_->dir()});
  ASSERT_EQ(restored.exit_code, 0) << restored.output;
  const std::string new_invocation(absl::StripAsciiWhitespace(restored.output));
  RunResult r = RunAgentOnce(WriteAgentConfig(AgentConfigForTest()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("invocationId changed"));
  EXPECT_THAT(r.output, HasSubstr("full sync done deltas=2"));
  auto status = coordinator_->Status(org_);
  EXPECT_NE(status.syncs(0).watermark_invocation_id(), before);
  EXPECT_EQ(status.syncs(0).watermark_invocation_id(), new_invocation);
  EXPECT_EQ(status.counts().profiles(), 2u);
}

// Secrets (AD Sync key, LDAP password, admin token) never reach logs or
// status output, on success or on any failure.
TEST_F(AgentE2eTest, SecretsNeverAppearInLogsOrStatus) {
  dc_->AddUsers(ou_, {{Sam("secret1"), ""}});
  const std::string password = *ReadFile(dc_->password_file());
  std::string output;
  RunResult ok = RunAgentOnce(WriteAgentConfig(AgentConfigForTest()));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  output += ok.output;
  AgentSetup wrong_key = AgentConfigForTest();
  wrong_key.key = "5e1c3d4a-0000-4000-8000-00000000beef";
  output += RunAgentOnce(WriteAgentConfig(wrong_key)).output;
  AgentSetup wrong_password = AgentConfigForTest();
  WriteFile(dir_.File("wrong.pw"), "Wrong-Secret-Password-1");
  wrong_password.password_file = dir_.File("wrong.pw");
  output += RunAgentOnce(WriteAgentConfig(wrong_password)).output;
  output += ReadFile(dir_.File("coordinator.log")).value_or("");
  output += coordinator_->Status(org_).DebugString();
  ASSERT_THAT(output,
              HasSubstr("do not match any AD Sync"));  // the failures happened
  ASSERT_THAT(output, HasSubstr("Invalid credentials"));
  for (const std::string& secret :
       {key_, wrong_key.key, password, std::string("Wrong-Secret-Password-1"),
        std::string("e2e-admin-token")}) {
    EXPECT_THAT(output, ::testing::Not(HasSubstr(secret)))
        << "leaked: " << secret;
  }
}

}  // namespace
}  // namespace adsync::testing
