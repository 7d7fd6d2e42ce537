// The admin/status listener: plaintext only on loopback or a unix socket,
// refused at start on a network address unless admin_tls is configured;
// with admin_tls, adsyncctl (the real binary) connects with --ca-file, and
// with admin_tls.client_ca_file also presents its certificate.
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "adsync/v1/admin.grpc.pb.h"
#include "common/tls.h"
#include "coordinator/coordinator_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using testing::RunCommand;
using testing::RunResult;

constexpr char kToken[] = "admin-listener-test-token";

class AdminListenerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::MakeTestCertificates(CertDir()); }
  static std::string CertDir() {
    return ::testing::TempDir() + "/adsync-admin-listener-certs";
  }
  static std::string Cert(const std::string& name) {
    return CertDir() + "/" + name;
  }

  void SetUp() override {
    testing::WriteFile(dir_.File("token"), kToken);
    config_.set_agent_listen("127.0.0.1:0");
    config_.set_database_path(dir_.File("coordinator.db"));
    config_.set_admin_token_file(dir_.File("token"));
  }

  // `adsyncctl org list` against the running coordinator's admin port.
  RunResult Ctl(int port, const std::vector<std::string>& tls_flags) {
    std::vector<std::string> argv = {ADSYNC_CTL_BINARY, "--admin",
                                     absl::StrCat("127.0.0.1:", port),
                                     "--token-file", dir_.File("token")};
    argv.insert(argv.end(), tls_flags.begin(), tls_flags.end());
    argv.push_back("org");
    argv.push_back("list");
    return RunCommand(argv, "", absl::Seconds(60));
  }

  // adsyncctl ARGS... against a loopback admin port, without TLS.
  RunResult CtlCommand(int port, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {ADSYNC_CTL_BINARY, "--admin",
                                     absl::StrCat("127.0.0.1:", port),
                                     "--token-file", dir_.File("token")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, "", absl::Seconds(60));
  }

  testing::TempDir dir_;
  adsync::v1::CoordinatorConfig config_;
};

// Every command of adsyncctl's table reaches its handler, and what is not
// in the table is refused by name.
TEST_F(AdminListenerTest, AdsyncctlRunsEachCommandOfItsTable) {
  config_.set_admin_listen("127.0.0.1:0");
  auto server = CoordinatorServer::Start(config_);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->admin_port();
  constexpr char kOrg[] = "95aeb0f1-75d2-4126-ba5c-a877fd138d42";
  auto ctl = [&](const std::vector<std::string>& args) {
    return CtlCommand(port, args);
  };

  RunResult r = ctl({"org", "create", "--name", "Ctl USD", "--id", kOrg});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(std::string("created org ") + kOrg));
  EXPECT_THAT(ctl({"org", "list"}).output, HasSubstr("Ctl USD"));
  r = ctl(
      {"sync", "add", "--org", kOrg, "--domain", "CTL", "--ip", "127.0.0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_THAT(r.output, HasSubstr("AD Sync key: "));
  const std::string added = "added AD Sync ";
  const size_t at = r.output.find(added) + added.size();
  const std::string sync_id = r.output.substr(at, r.output.find(' ', at) - at);
  EXPECT_THAT(ctl({"sync", "list", "--org", kOrg}).output, HasSubstr(sync_id));
  EXPECT_THAT(
      ctl({"sync", "rotate-key", "--org", kOrg, "--sync", sync_id}).output,
      HasSubstr("new AD Sync key: "));
  EXPECT_THAT(ctl({"sync", "remove", "--org", kOrg, "--sync", sync_id}).output,
              HasSubstr("removed AD Sync " + sync_id));
  EXPECT_EQ(ctl({"status", "--org", kOrg}).exit_code, 0);
  EXPECT_EQ(ctl({"resolve", "--org", kOrg, "CTL\\nobody"}).exit_code, 3);
  EXPECT_THAT(ctl({"accounts", "--org", kOrg}).output, HasSubstr("LOGIN"));
  EXPECT_THAT(ctl({"push", "approve"}).output,
              HasSubstr("push approve needs --org"));
  EXPECT_THAT(ctl({"sweep", "reject", "--org", kOrg}).output,
              HasSubstr("sweep reject needs --org and --domain"));
  EXPECT_THAT(ctl({"people", "pull"}).output,
              HasSubstr("people pull needs --org"));
  EXPECT_THAT(ctl({"people", "import", "--org", kOrg}).output,
              HasSubstr("people import needs --org and a FILE"));
  r = ctl({"sync", "frobnicate"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("unknown command \"sync frobnicate\""));
  EXPECT_THAT(ctl({}).output, HasSubstr("no command given"));
}

TEST_F(AdminListenerTest, NetworkAddressWithoutTlsIsRefusedAtStart) {
  for (const char* listen : {"0.0.0.0:0", "[::]:0", "192.0.2.10:7444"}) {
    config_.set_admin_listen(listen);
    auto server = CoordinatorServer::Start(config_);
    ASSERT_FALSE(server.ok()) << listen;
    const absl::Status& s = server.status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat("admin_listen \"", listen, "\"")));
    EXPECT_THAT(std::string(s.message()), HasSubstr("admin_tls"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("unix:"));
  }
  // Loopback and unix sockets need no TLS.
  for (const std::string& listen :
       {std::string("127.0.0.1:0"), std::string("127.0.0.9:0"),
        std::string("[::1]:0"), std::string("localhost:0"),
        "unix:" + dir_.File("admin.sock")}) {
    config_.set_admin_listen(listen);
    EXPECT_TRUE(ResolveCoordinatorConfig(config_).ok()) << listen;
  }
  // Half a TLS configuration is not TLS.
  config_.set_admin_listen("0.0.0.0:0");
  config_.mutable_admin_tls()->set_key_file(Cert("server.key"));
  EXPECT_THAT(std::string(ResolveCoordinatorConfig(config_).status().message()),
              HasSubstr("admin_tls.cert_file"));
}

TEST_F(AdminListenerTest, AdminTlsAllowsANetworkAddress) {
  config_.set_admin_listen("0.0.0.0:0");
  config_.mutable_admin_tls()->set_cert_file(Cert("server.pem"));
  config_.mutable_admin_tls()->set_key_file(Cert("server.key"));
  auto server = CoordinatorServer::Start(config_);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->admin_port();

  auto credentials = LoadClientTls(Cert("ca.pem"), "", "");
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  auto stub = adsync::v1::Admin::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), *credentials));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
  adsync::v1::ListOrgsResponse orgs;
  EXPECT_TRUE(stub->ListOrgs(&ctx, {}, &orgs).ok());

  const RunResult trusted = Ctl(port, {"--ca-file", Cert("ca.pem")});
  EXPECT_EQ(trusted.exit_code, 0) << trusted.output;
  EXPECT_THAT(trusted.output, HasSubstr("ORG ID"));  // the (empty) org table
  // Plaintext, or TLS trusting another CA, does not get through; the error
  // says what to pass.
  const RunResult plaintext = Ctl(port, {});
  EXPECT_EQ(plaintext.exit_code, 1) << plaintext.output;
  EXPECT_THAT(plaintext.output, HasSubstr("--ca-file"));
  EXPECT_NE(Ctl(port, {"--ca-file", Cert("other-ca.pem")}).exit_code, 0);
}

TEST_F(AdminListenerTest, MutualTlsNeedsAdsyncctlsCertificate) {
  config_.set_admin_listen("0.0.0.0:0");
  config_.mutable_admin_tls()->set_cert_file(Cert("server.pem"));
  config_.mutable_admin_tls()->set_key_file(Cert("server.key"));
  config_.mutable_admin_tls()->set_client_ca_file(Cert("ca.pem"));
  auto server = CoordinatorServer::Start(config_);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->admin_port();
  EXPECT_NE(Ctl(port, {"--ca-file", Cert("ca.pem")}).exit_code, 0);
  const RunResult with_cert =
      Ctl(port, {"--ca-file", Cert("ca.pem"), "--cert-file", Cert("client.pem"),
                 "--key-file", Cert("client.key")});
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.output;
  // A half-given client certificate is a usage error, not a silent
  // fallback.
  const RunResult half = Ctl(
      port, {"--ca-file", Cert("ca.pem"), "--cert-file", Cert("client.pem")});
  EXPECT_EQ(half.exit_code, 2) << half.output;
  EXPECT_THAT(half.output, HasSubstr("--key-file"));
}

TEST_F(AdminListenerTest, BadAdminTlsFilesAreNamed) {
  config_.set_admin_listen("127.0.0.1:0");
  config_.mutable_admin_tls()->set_cert_file(Cert("server.pem"));
  config_.mutable_admin_tls()->set_key_file(Cert("client.key"));
  auto server = CoordinatorServer::Start(config_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("admin_tls.key_file"));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("does not belong to the certificate"));
}

}  // namespace
}  // namespace adsync
