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

// --- Hello ------------------------------------------------------------------

TEST(CoordinatorLinkTest, OpenSendsTheHelloAndReturnsTheCoordinatorsAnswer) {
  Received received;
  ScriptedGateway gateway([&](Stream* stream) {
    adsync::v1::HelloResult r = Primary(7, 4);
    r.set_full_sync_required(true);
    r.set_full_sync_reason("no watermark yet");
    AnswerHello(stream, r, &received);
    return DrainUntilClosed(stream);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link->hello_result().sync_id(), "sync-1");
  const CoordinatorLink::RoleState role = link->role();
  EXPECT_EQ(role.role, adsync::v1::ROLE_PRIMARY);
  EXPECT_EQ(role.epoch, 7u);
  EXPECT_TRUE(role.full_sync_required);
  EXPECT_EQ(role.reason, "no watermark yet");
  const auto messages = received.WaitFor(1);
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].has_hello());
  EXPECT_EQ(messages[0].hello().org_id(), "org-1");
  EXPECT_EQ(messages[0].hello().sync_key(), "key-1");
}

TEST(CoordinatorLinkTest, ARejectedHelloKeepsTheCoordinatorsCodeAndReason) {
  const std::string reason =
      "the sync key is not this AD Sync's; copy it from `adsyncctl sync add`";
  ScriptedGateway gateway([&](Stream* stream) {
    adsync::v1::AgentMessage hello;
    stream->Read(&hello);
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, reason);
  });
  auto link = CoordinatorLink::Open(OptionsFor(gateway.target()), TestHello());
  EXPECT_EQ(link.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(link.status().message(), reason);
}

TEST(CoordinatorLinkTest, ASilentCoordinatorTimesTheHelloOutSayingWhatToCheck) {
  ScriptedGateway gateway(DrainUntilClosed);  // reads, never answers
  LinkOptions options = OptionsFor(gateway.target());
  options.hello_timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  auto link = CoordinatorLink::Open(options, TestHello());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(link.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(link.status().message(),
            absl::StrCat("the coordinator at ", gateway.target(),
                         " did not answer the Hello within 300ms; check that "
                         "it is running and reachable"));
}

TEST(CoordinatorLinkTest, NothingListeningIsReportedAsUnreachable) {
  RefusingPort port;
  auto link = CoordinatorLink::Open(OptionsFor(port.target()), TestHello());
  EXPECT_EQ(link.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(link.status().message()),
              AllOf(StartsWith(absl::StrCat("cannot reach the coordinator at ",
                                            port.target(), ": ")),
                    HasSubstr("Connection refused"),
                    EndsWith("; check that it is running and reachable"),
                    Not(HasSubstr("TLS"))));
}

// --- Batches and their acknowledgements -------------------------------------

TEST(CoordinatorLinkTest, SendNumbersBatchesAndWaitsWhileTheWindowIsFull) {
  Received received;
  absl::Notification ack_first;
  ScriptedGateway gateway([&](Stream* stream) {
    AnswerHello(stream, Primary(7, 2), &received);
    received.Read(stream);
    received.Read(stream);
    ack_first.WaitForNotificationWithTimeout(kPatience);
    stream->Write(AckMessage(1));
    received.Read(stream);
    stream->Write(AckMessage(2));
    stream->Write(AckMessage(3));
    return DrainUntilClosed(stream);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(link->Send({}).ok());
  ASSERT_TRUE(link->Send({}).ok());
  // Two batches await their acks: the third waits for room.
  std::atomic<bool> third_sent{false};
  absl::Status third;
  std::thread sender([&] {
    third = link->Send({});
    third_sent = true;
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(third_sent);
  ack_first.Notify();
  sender.join();
  EXPECT_TRUE(third.ok()) << third;
  EXPECT_TRUE(link->Flush().ok());
  EXPECT_EQ(link->acked_batches(), 3u);
  const auto messages = received.WaitFor(4);
  ASSERT_EQ(messages.size(), 4u);  // the Hello, then the batches
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(messages[seq].has_batch());
    EXPECT_EQ(messages[seq].batch().sequence(), seq);
    EXPECT_EQ(messages[seq].batch().lease_epoch(), 7u);
  }
}

TEST(CoordinatorLinkTest, SendAndFlushGiveUpWhenTheCoordinatorStopsAcking) {
  ScriptedGateway gateway([](Stream* stream) {
    // A window of 0 is read as 1: the agent can always send something.
    AnswerHello(stream, Primary(1, 0));
    return DrainUntilClosed(stream);  // never acknowledges
  });
  LinkOptions options = OptionsFor(gateway.target());
  options.ack_timeout = absl::Milliseconds(300);
  auto link = OpenOrDie(options);
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(link->Send({}).ok());
  const absl::Time start = absl::Now();
  absl::Status s = link->Send({});
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(),
            "the coordinator stopped acknowledging batches; reconnecting");
  s = link->Flush();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "batches were not acknowledged in time");
  EXPECT_EQ(link->acked_batches(), 0u);
}

TEST(CoordinatorLinkTest, AnAckOutOfOrderBreaksTheLinkForGood) {
  ScriptedGateway gateway([](Stream* stream) {
    AnswerHello(stream, Primary(1, 4));
    adsync::v1::AgentMessage batch;
    stream->Read(&batch);
    stream->Read(&batch);
    stream->Write(AckMessage(2));  // batch 1 is still unacknowledged
    return DrainUntilClosed(stream);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  ASSERT_TRUE(link->Send({}).ok());
  ASSERT_TRUE(link->Send({}).ok());
  const absl::Status s = link->Flush();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "the coordinator acknowledged batch 2 out of order");
  EXPECT_EQ(link->Health(), s);
  EXPECT_EQ(link->Send({}), s);
  EXPECT_EQ(link->acked_batches(), 0u);
}

// --- Roles ------------------------------------------------------------------

TEST(CoordinatorLinkTest, RoleChangesAreFollowedAndStaleOnesIgnored) {
  Received received;
  ScriptedGateway gateway([&](Stream* stream) {
    adsync::v1::HelloResult standby = Primary(5, 4);
    standby.set_role(adsync::v1::ROLE_STANDBY);
    AnswerHello(stream, standby, &received);
    adsync::v1::RoleChange promoted;
    promoted.set_role(adsync::v1::ROLE_PRIMARY);
    promoted.set_lease_epoch(6);
    promoted.set_full_sync_required(true);
    promoted.set_reason("the primary's lease expired");
    stream->Write(RoleChangeMessage(promoted));
    // From an older lease, delivered late.
    adsync::v1::RoleChange stale;
    stale.set_role(adsync::v1::ROLE_STANDBY);
    stale.set_lease_epoch(4);
    stale.set_reason("stale");
    stream->Write(RoleChangeMessage(stale));
    // The ack comes after the stale change: once it is in, so is that.
    received.Read(stream);
    stream->Write(AckMessage(1));
    return DrainUntilClosed(stream);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  CoordinatorLink::RoleState role =
      link->WaitForRoleChange(adsync::v1::ROLE_STANDBY, kPatience);
  EXPECT_EQ(role.role, adsync::v1::ROLE_PRIMARY);
  EXPECT_EQ(role.epoch, 6u);
  EXPECT_TRUE(role.full_sync_required);
  EXPECT_EQ(role.reason, "the primary's lease expired");
  ASSERT_TRUE(link->Send({}).ok());
  ASSERT_TRUE(link->Flush().ok());
  role = link->role();
  EXPECT_EQ(role.role, adsync::v1::ROLE_PRIMARY);
  EXPECT_EQ(role.epoch, 6u);
  const auto messages = received.WaitFor(2);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[1].batch().lease_epoch(), 6u);  // the new lease's
}

TEST(CoordinatorLinkTest, WaitForRoleChangeReturnsTheSameRoleAfterTheTimeout) {
  ScriptedGateway gateway([](Stream* stream) {
    AnswerHello(stream, Primary(3, 4));
    return DrainUntilClosed(stream);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  const absl::Time start = absl::Now();
  const CoordinatorLink::RoleState role = link->WaitForRoleChange(
      adsync::v1::ROLE_PRIMARY, absl::Milliseconds(300));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(role.role, adsync::v1::ROLE_PRIMARY);
  EXPECT_EQ(role.epoch, 3u);
  EXPECT_TRUE(link->Health().ok());
}

// --- Heartbeats and the end of the stream -----------------------------------

TEST(CoordinatorLinkTest, HeartbeatsCarryThePositionAndTheTimeSent) {
  Received received;
  ScriptedGateway gateway([&](Stream* stream) {
    AnswerHello(stream, Primary(1, 4), &received);
    received.Read(stream);
    return DrainUntilClosed(stream);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  adsync::v1::Heartbeat heartbeat;
  heartbeat.set_highest_committed_usn(4242);
  heartbeat.set_sent_unix_ms(1);  // overwritten
  const int64_t before = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(link->Heartbeat(heartbeat).ok());
  const int64_t after = absl::ToUnixMillis(absl::Now());
  const auto messages = received.WaitFor(2);
  ASSERT_EQ(messages.size(), 2u);
  ASSERT_TRUE(messages[1].has_heartbeat());
  EXPECT_EQ(messages[1].heartbeat().highest_committed_usn(), 4242);
  EXPECT_GE(messages[1].heartbeat().sent_unix_ms(), before);
  EXPECT_LE(messages[1].heartbeat().sent_unix_ms(), after);
}

TEST(CoordinatorLinkTest, TheCoordinatorEndingTheStreamFailsTheLink) {
  absl::Notification opened;
  ScriptedGateway gateway([&](Stream* stream) {
    AnswerHello(stream, Primary(1, 4));
    opened.WaitForNotificationWithTimeout(kPatience);
    return grpc::Status::OK;
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  opened.Notify();
  // A failure ends the wait: a standby agent must not sleep through it.
  const absl::Time start = absl::Now();
  link->WaitForRoleChange(adsync::v1::ROLE_PRIMARY, kPatience);
  EXPECT_LT(absl::Now() - start, kPatience);
  const absl::Status s = link->Health();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "the coordinator closed the stream");
  EXPECT_EQ(link->Send({}), s);
  EXPECT_EQ(link->Flush(), s);
}

TEST(CoordinatorLinkTest, TheCoordinatorsErrorsPassThroughUnchanged) {
  const std::string reason =
      "lease epoch 3 is no longer current; the agent reconnects";
  absl::Notification opened;
  ScriptedGateway gateway([&](Stream* stream) {
    AnswerHello(stream, Primary(3, 4));
    opened.WaitForNotificationWithTimeout(kPatience);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, reason);
  });
  auto link = OpenOrDie(OptionsFor(gateway.target()));
  ASSERT_NE(link, nullptr);
  opened.Notify();
  link->WaitForRoleChange(adsync::v1::ROLE_PRIMARY, kPatience);
  EXPECT_EQ(link->Health(), absl::FailedPreconditionError(reason));
}

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
