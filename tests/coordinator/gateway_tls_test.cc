// TLS on the agent gateway: agents verify the coordinator against its CA;
// with client_ca_file the coordinator verifies agents too. Real gRPC over
// loopback with certificates from scripts/make_certs.sh.
#include <sys/stat.h>

#include "common/files.h"
#include "common/tls.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/process.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using testing::WireAgent;

// The agent's own credentials loader (common/tls.h).
std::shared_ptr<grpc::ChannelCredentials> TrustingCa(
    const std::string& ca_file, const std::string& cert_file = "",
    const std::string& key_file = "") {
  auto credentials = LoadClientTls(ca_file, cert_file, key_file);
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  return credentials.ok() ? *credentials : grpc::InsecureChannelCredentials();
}

class TlsGatewayTest : public GatewayTest {
 protected:
  static void SetUpTestSuite() {
    GatewayTest::SetUpTestSuite();
    testing::MakeTestCertificates(CertDir());
  }
  static std::string CertDir() {
    return ::testing::TempDir() + "/adsync-gateway-tls-certs";
  }
  static std::string Cert(const std::string& name) {
    return CertDir() + "/" + name;
  }
  void Configure(adsync::v1::CoordinatorConfig* config) override {
    config->mutable_agent_tls()->set_cert_file(Cert("server.pem"));
    config->mutable_agent_tls()->set_key_file(Cert("server.key"));
    if (require_client_certificates_)
      config->mutable_agent_tls()->set_client_ca_file(Cert("ca.pem"));
  }
  // True when an agent with `credentials` completes its Hello.
  bool HelloAccepted(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    WireAgent agent(Target(kAgentIp), absl::Seconds(10), credentials);
    const bool accepted =
        agent.Hello(org_id_, key_, invocation_).has_hello_result();
    agent.Close();
    return accepted;
  }

  bool require_client_certificates_ = false;
};

TEST_F(TlsGatewayTest, AgentsThatTrustTheCaConnectOthersDoNot) {
  EXPECT_TRUE(HelloAccepted(TrustingCa(Cert("ca.pem"))));
  // Plaintext to a TLS gateway, and TLS trusting another CA: no Hello, and
  // nothing reaches the store (no connection, no rejection to record).
  EXPECT_FALSE(HelloAccepted(grpc::InsecureChannelCredentials()));
  EXPECT_FALSE(HelloAccepted(TrustingCa(Cert("other-ca.pem"))));
  EXPECT_EQ(Status().recent_rejections_size(), 0);
}

class MutualTlsGatewayTest : public TlsGatewayTest {
 protected:
  void SetUp() override {
    require_client_certificates_ = true;
    TlsGatewayTest::SetUp();
  }
};

TEST_F(MutualTlsGatewayTest, AgentsMustPresentACertificateFromTheClientCa) {
  EXPECT_FALSE(HelloAccepted(TrustingCa(Cert("ca.pem"))));
  // A certificate from the client CA that names this AD Sync.
  const std::string sync_id =
      server_->store()->Authenticate(org_id_, key_)->sync_id;
  ASSERT_EQ(testing::RunCommand({testing::SourcePath("scripts/make_certs.sh"),
                                 CertDir(), "agent", "agent-a", sync_id})
                .exit_code,
            0);
  EXPECT_TRUE(HelloAccepted(
      TrustingCa(Cert("ca.pem"), Cert("agent-a.pem"), Cert("agent-a.key"))));
}

// Audit finding 11: with mutual TLS, a certificate from the client CA is
// not enough: it must name the AD Sync the key belongs to. (Before the
// fix, any client certificate the CA signed was accepted with any key.)
TEST_F(MutualTlsGatewayTest, TheCertificateMustNameTheSyncOfTheKey) {
  WireAgent agent(Target(kAgentIp), absl::Seconds(10),
                  TrustingCa(Cert("ca.pem"), Cert("client.pem"),
                             Cert("client.key")));  // CN=adsync agent
  EXPECT_FALSE(agent.Hello(org_id_, key_, invocation_).has_hello_result());
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(),
              HasSubstr("certificate names \"adsync agent\", not AD Sync"));
  EXPECT_THAT(s.error_message(), HasSubstr("make_certs.sh"));
  ASSERT_EQ(Status().recent_rejections_size(), 1);
  EXPECT_FALSE(Status().syncs(0).connected());
}

TEST_F(TlsGatewayTest, BadTlsConfigurationIsRefusedWithTheFileNamed) {
  adsync::v1::CoordinatorConfig config = config_;
  config.set_agent_listen("127.0.0.1:0");
  config.set_database_path(dir_.File("other.db"));
  config.set_metrics_listen("");
  config.set_admin_listen("127.0.0.1:0");
  auto start = [&] { return CoordinatorServer::Start(config).status(); };

  // A key that is not the certificate's.
  config.mutable_agent_tls()->set_key_file(Cert("client.key"));
  absl::Status s = start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("does not belong to the certificate"));
  // A key others can read.
  const std::string readable_key = dir_.File("readable.key");
  testing::WriteFile(readable_key, *ReadFile(Cert("server.key")), 0644);
  config.mutable_agent_tls()->set_key_file(readable_key);
  EXPECT_THAT(std::string(start().message()), HasSubstr("chmod 600"));
  // Not a certificate at all.
  config.mutable_agent_tls()->set_key_file(Cert("server.key"));
  config.mutable_agent_tls()->set_cert_file(Cert("server.key"));
  EXPECT_THAT(std::string(start().message()),
              HasSubstr("holds no PEM certificate"));
  // A network address without TLS.
  config.clear_agent_tls();
  config.set_agent_listen("0.0.0.0:0");
  s = start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("agent_tls is not configured"));
}

}  // namespace
}  // namespace adsync
