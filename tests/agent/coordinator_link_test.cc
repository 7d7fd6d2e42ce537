// CoordinatorLink, the agent's end of the Sync stream, against an
// in-process gateway whose side of the stream each test scripts, over real
// gRPC on loopback; and what gRPC really reports when TLS fails.
#include "agent/coordinator_link.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "adsync/v1/config.pb.h"
#include "common/tls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/scripted_gateway.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using testing::AckMessage;
using ::testing::AllOf;
using testing::DrainUntilClosed;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using testing::HelloResultMessage;
using ::testing::Not;
using testing::RoleChangeMessage;
using testing::ScriptedGateway;
using ::testing::StartsWith;
using Stream = ScriptedGateway::Stream;

// Long enough for a loaded machine; a test waits this long only on failure.
constexpr absl::Duration kPatience = absl::Seconds(10);

// What the coordinator's side read, for the test's thread to look at.
class Received {
 public:
  // Reads one message into the record; false when the stream ended.
  bool Read(Stream* stream) {
    adsync::v1::AgentMessage m;
    if (!stream->Read(&m)) return false;
    absl::MutexLock lock(&mu_);
    messages_.push_back(std::move(m));
    return true;
  }
  // Waits until `n` messages arrived; returns those there are.
  std::vector<adsync::v1::AgentMessage> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return messages_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), kPatience);
    return messages_;
  }

 private:
  absl::Mutex mu_;
  std::vector<adsync::v1::AgentMessage> messages_ ABSL_GUARDED_BY(mu_);
};

adsync::v1::Hello TestHello() {
  adsync::v1::Hello hello;
  hello.set_org_id("org-1");
  hello.set_sync_key("key-1");
  hello.set_invocation_id(testing::TestGuid(77));
  return hello;
}

adsync::v1::HelloResult Primary(uint64_t epoch, uint32_t window) {
  adsync::v1::HelloResult r;
  r.set_sync_id("sync-1");
  r.set_role(adsync::v1::ROLE_PRIMARY);
  r.set_lease_epoch(epoch);
  r.set_max_unacked_batches(window);
  return r;
}

// Reads the Hello and answers it with `result`.
bool AnswerHello(Stream* stream, adsync::v1::HelloResult result,
                 Received* received = nullptr) {
  adsync::v1::AgentMessage hello;
  if (received != nullptr ? !received->Read(stream) : !stream->Read(&hello))
    return false;
  return stream->Write(HelloResultMessage(std::move(result)));
}

LinkOptions OptionsFor(const std::string& target) {
  LinkOptions options;
  options.target = target;
  options.hello_timeout = kPatience;
  options.ack_timeout = kPatience;
  return options;
}

std::unique_ptr<CoordinatorLink> OpenOrDie(const LinkOptions& options) {
  auto link = CoordinatorLink::Open(options, TestHello());
  EXPECT_TRUE(link.ok()) << link.status();
  return link.ok() ? *std::move(link) : nullptr;
}

// A loopback port where nothing listens: bound, never listening, so a
// connection is refused and no other test can take the port meanwhile.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(addr);
    if (fd_ < 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
      std::abort();
    }
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  const int fd_;
  int port_ = 0;
};

// --- TLS --------------------------------------------------------------------
//
// gRPC 1.51 (Debian 12) says, for the first call on a channel:
//   TLS to a plaintext listener:
//     UNAVAILABLE "failed to connect to all addresses; last error: UNKNOWN:
//     ipv4:127.0.0.1:PORT: Ssl handshake failed: SSL_ERROR_SSL:
//     error:0A00010B:SSL routines::wrong version number"
//   a certificate from a CA the client does not trust:
//     UNAVAILABLE "... Ssl handshake failed: SSL_ERROR_SSL:
//     error:0A000086:SSL routines::certificate verify failed"
//   a certificate that does not name the host dialed:
//     UNAVAILABLE "... ipv4:127.0.0.1:PORT: Peer name 127.0.0.1 is not in
//     peer certificate"
//   nothing listening:
//     UNAVAILABLE "... ipv4:127.0.0.1:PORT: Failed to connect to remote host:
//     Connection refused"
//   plaintext to a TLS listener, or no client certificate where the
//   listener requires one:
//     UNAVAILABLE "... last error: UNAVAILABLE: ipv4:127.0.0.1:PORT: Socket
//     closed"
// always with empty error_details.

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::MakeTestCertificates(CertDir());
    // A certificate from the same kind of CA that names another host only.
    ASSERT_EQ(testing::RunCommand({testing::SourcePath("scripts/make_certs.sh"),
                                   MisnamedDir(), "coordinator.invalid"})
                  .exit_code,
              0);
  }
  static std::string CertDir() {
    return ::testing::TempDir() + "/adsync-link-certs";
  }
  static std::string MisnamedDir() {
    return ::testing::TempDir() + "/adsync-link-certs-misnamed";
  }

  static std::shared_ptr<grpc::ServerCredentials> ServerTls(
      const std::string& dir) {
    adsync::v1::AgentTls tls;
    tls.set_cert_file(dir + "/server.pem");
    tls.set_key_file(dir + "/server.key");
    auto credentials = LoadServerTls(tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  }
  static std::shared_ptr<grpc::ChannelCredentials> Trusting(
      const std::string& ca_file) {
    auto credentials = LoadClientTls(ca_file, "", "");
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  }

  // The status of a Sync call on a fresh channel: what gRPC itself reports,
  // before CoordinatorLink adds anything.
  static grpc::Status FirstCall(
      const std::string& target,
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = adsync::v1::AgentGateway::NewStub(
        grpc::CreateChannel(target, credentials));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
    auto stream = stub->Sync(&context);
    stream->WritesDone();
    adsync::v1::CoordinatorMessage m;
    while (stream->Read(&m)) {
    }
    return stream->Finish();
  }

  // gRPC's report carries nothing but the code and the text.
  static void ExpectTextOnly(const grpc::Status& s) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_details(), "");
  }

  ScriptedGateway plaintext_{DrainUntilClosed};
  ScriptedGateway tls_{[](Stream* stream) {
                         AnswerHello(stream, Primary(1, 4));
                         return DrainUntilClosed(stream);
                       },
                       ServerTls(CertDir())};
  ScriptedGateway misnamed_{DrainUntilClosed, ServerTls(MisnamedDir())};
};

TEST_F(TlsTest, TlsToAPlaintextListenerIsAHandshakeFailure) {
  const grpc::Status s =
      FirstCall(plaintext_.target(), Trusting(CertDir() + "/ca.pem"));
  ExpectTextOnly(s);
  EXPECT_THAT(s.error_message(), HasSubstr("wrong version number"));
  EXPECT_TRUE(LooksLikeTlsHandshakeFailure(s)) << s.error_message();
}

TEST_F(TlsTest, ACertificateFromAnUntrustedCaIsAHandshakeFailure) {
  const grpc::Status s =
      FirstCall(tls_.target(), Trusting(CertDir() + "/other-ca.pem"));
  ExpectTextOnly(s);
  EXPECT_THAT(s.error_message(), HasSubstr("certificate verify failed"));
  EXPECT_TRUE(LooksLikeTlsHandshakeFailure(s)) << s.error_message();
}

TEST_F(TlsTest, ACertificateThatDoesNotNameTheHostIsATlsFailure) {
  const grpc::Status s =
      FirstCall(misnamed_.target(), Trusting(MisnamedDir() + "/ca.pem"));
  ExpectTextOnly(s);
  EXPECT_THAT(s.error_message(), HasSubstr("not in peer certificate"));
  EXPECT_TRUE(LooksLikeTlsHandshakeFailure(s)) << s.error_message();
}

TEST_F(TlsTest, NothingListeningIsNotATlsFailure) {
  RefusingPort port;
  const grpc::Status s =
      FirstCall(port.target(), Trusting(CertDir() + "/ca.pem"));
  ExpectTextOnly(s);
  EXPECT_THAT(s.error_message(), HasSubstr("Connection refused"));
  EXPECT_FALSE(LooksLikeTlsHandshakeFailure(s)) << s.error_message();
}

// gRPC says only "Socket closed", as for any server that hangs up: no sign
// that TLS is involved, so no TLS advice either.
TEST_F(TlsTest, PlaintextToATlsListenerIsIndistinguishableFromAHangUp) {
  const grpc::Status s =
      FirstCall(tls_.target(), grpc::InsecureChannelCredentials());
  ExpectTextOnly(s);
  EXPECT_THAT(s.error_message(), HasSubstr("Socket closed"));
  EXPECT_FALSE(LooksLikeTlsHandshakeFailure(s)) << s.error_message();
}

TEST_F(TlsTest, OnlyUnavailableCanBeATlsFailure) {
  // The coordinator's own refusals keep their meaning whatever they say.
  EXPECT_FALSE(LooksLikeTlsHandshakeFailure(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                   "the TLS handshake presented no client certificate")));
  EXPECT_FALSE(LooksLikeTlsHandshakeFailure(grpc::Status::OK));
}

TEST_F(TlsTest, TheLinkConnectsWhenItTrustsTheCa) {
  LinkOptions options = OptionsFor(tls_.target());
  options.credentials = Trusting(CertDir() + "/ca.pem");
  EXPECT_NE(OpenOrDie(options), nullptr);
}

TEST_F(TlsTest, TheLinkReportsTlsFailuresWithWhatToCheck) {
  struct Case {
    std::string target;
    std::string ca_file;
    std::string grpc_says;
  };
  for (const Case& c : std::vector<Case>{
           {plaintext_.target(), CertDir() + "/ca.pem", "wrong version number"},
           {tls_.target(), CertDir() + "/other-ca.pem",
            "certificate verify failed"},
           {misnamed_.target(), MisnamedDir() + "/ca.pem",
            "Peer name 127.0.0.1 is not in peer certificate"}}) {
    LinkOptions options = OptionsFor(c.target);
    options.credentials = Trusting(c.ca_file);
    auto link = CoordinatorLink::Open(options, TestHello());
    EXPECT_EQ(link.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(
        std::string(link.status().message()),
        AllOf(StartsWith(absl::StrCat("TLS with the coordinator at ", c.target,
                                      " failed: ")),
              HasSubstr(c.grpc_says),
              HasSubstr("check that coordinator_ca_file is the CA that "
                        "signed the coordinator's certificate, that the "
                        "certificate names the host in `coordinator`")));
  }
}

}  // namespace
}  // namespace adsync
