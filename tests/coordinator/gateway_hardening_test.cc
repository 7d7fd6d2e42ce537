// Hostile input on the agent gateway: each gets a clear error, the store is
// unchanged, and a well-behaved agent next to it is unaffected. Real gRPC
// over loopback from real source addresses (fixture: gateway_fixture.h).
#include "absl/strings/str_cat.h"
#include "common/sqlite.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/raw_stream.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using testing::MakeBatch;
using testing::MakeDelta;
using testing::RawStream;
using testing::WireAgent;

class HardenedGatewayTest : public GatewayTest {
 protected:
  void Configure(adsync::v1::CoordinatorConfig* config) override {
    GatewayTest::Configure(config);
    config->set_failed_hellos_per_minute(3);
    config->set_stalled_stream_ms(500);
    config->set_max_message_bytes(64 << 10);
  }

  adsync::v1::AgentMessage HelloMessage(const std::string& key) {
    adsync::v1::AgentMessage m;
    m.mutable_hello()->set_org_id(org_id_);
    m.mutable_hello()->set_sync_key(key);
    m.mutable_hello()->set_controller("dc1.district.test");
    m.mutable_hello()->set_invocation_id(invocation_);
    return m;
  }

  // A well-behaved agent: Hello, one batch, acknowledged, resolvable.
  void GoodAgentStillWorks(uint32_t guid, const std::string& sam) {
    WireAgent agent(Target(kAgentIp));
    ASSERT_TRUE(agent.Hello(org_id_, key_, invocation_).has_hello_result());
    agent.Send(MakeBatch(1, {{.guid = guid, .sam = sam}}));
    EXPECT_TRUE(agent.Read().has_ack());
    agent.Close();
    EXPECT_TRUE(Resolve("DISTRICT\\" + sam).found());
  }
};

TEST_F(HardenedGatewayTest, FloodOfFailedHellosIsRateLimitedAndVisible) {
  const std::string wrong_key = "5e1c3d4a-0000-4000-8000-000000000001";
  for (int i = 0; i < 3; ++i) {
    WireAgent flood(Target(kOtherIp));
    flood.Hello(org_id_, wrong_key, invocation_);
    EXPECT_EQ(flood.Close().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // Blocked now: refused unchecked, even with the right key.
  for (int i = 0; i < 5; ++i) {
    WireAgent flood(Target(kOtherIp));
    EXPECT_FALSE(flood.Hello(org_id_, key_, invocation_).has_hello_result());
    grpc::Status s = flood.Close();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(s.error_message(),
                HasSubstr("too many failed Hellos from 127.0.0.23"));
  }
  adsync::v1::OrgStatus status = Status();
  // Refused Hellos cost no store write: three rejections, not eight.
  EXPECT_EQ(status.recent_rejections_size(), 3);
  ASSERT_EQ(status.failing_sources_size(), 1);
  EXPECT_EQ(status.failing_sources(0).ip(), kOtherIp);
  EXPECT_EQ(status.failing_sources(0).failed_hellos_last_minute(), 3u);
  EXPECT_EQ(status.failing_sources(0).refused_while_blocked(), 5u);
  EXPECT_GT(status.failing_sources(0).blocked_until_unix_ms(), 0);
  // Another address is unaffected.
  GoodAgentStillWorks(1, "jdoe");
}

// Audit finding 4: an oversized Hello field is refused before any other
// work, by size, without echoing it into the reply, the log or the store.
TEST_F(HardenedGatewayTest, OversizedHelloFieldsAreRefusedBeforeAnyWork) {
  for (const char* field : {"org_id", "sync_key", "controller"}) {
    adsync::v1::AgentMessage m = HelloMessage(key_);
    const std::string huge(60000, 'A');
    if (std::string(field) == "org_id") m.mutable_hello()->set_org_id(huge);
    if (std::string(field) == "sync_key") m.mutable_hello()->set_sync_key(huge);
    if (std::string(field) == "controller") {
      m.mutable_hello()->set_controller(huge);
    }
    WireAgent agent(Target(kOtherIp));
    EXPECT_FALSE(agent.SendHello(m.hello()).has_hello_result());
    grpc::Status s = agent.Close();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(s.error_message(),
                HasSubstr(absl::StrCat("Hello.", field, " is 60000 bytes")));
    EXPECT_LT(s.error_message().size(), 200u);
  }
  auto db =
      SqliteDatabase::Open(dir_.File("coordinator.db"), /*read_only=*/true);
  ASSERT_TRUE(db.ok());
  auto q = (*db)->Cached(
      "SELECT count(*), coalesce(max(length(org_id) + length(reason)), 0) "
      "FROM rejections");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(*(*q)->Step());
  EXPECT_LT((*q)->ColumnInt(1), 500);  // nothing of the 60 kB was kept
  // They count as failed Hellos: the address is now blocked.
  WireAgent blocked(Target(kOtherIp));
  EXPECT_FALSE(blocked.Hello(org_id_, key_, invocation_).has_hello_result());
  EXPECT_EQ(blocked.Close().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  GoodAgentStillWorks(1, "jdoe");
}

TEST_F(HardenedGatewayTest, MalformedBytesEndOnlyThatStream) {
  RawStream garbage(Target(kAgentIp), grpc::InsecureChannelCredentials(),
                    absl::Seconds(10));
  const std::string bytes(100, '\xff');
  grpc::Slice slice(bytes);
  garbage.Write(grpc::ByteBuffer(&slice, 1));
  EXPECT_FALSE(garbage.Read().has_value());
  grpc::Status s = garbage.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not an AgentMessage"));
  EXPECT_EQ(Status().counts().profiles(), 0u);
  GoodAgentStillWorks(1, "jdoe");
}

TEST_F(HardenedGatewayTest, OversizedMessageIsRefusedBeforeParsing) {
  RawStream big(Target(kAgentIp), grpc::InsecureChannelCredentials(),
                absl::Seconds(10));
  ASSERT_TRUE(big.Write(HelloMessage(key_)));
  ASSERT_TRUE(big.Read().has_value());
  std::vector<testing::DeltaSpec> specs;
  for (uint32_t i = 1; i <= 100; ++i)
    specs.push_back({.guid = i,
                     .sam = absl::StrCat("u", i),
                     .display_name = std::string(1000, 'x')});
  adsync::v1::AgentMessage m;
  *m.mutable_batch() = MakeBatch(1, specs);
  m.mutable_batch()->set_lease_epoch(1);
  ASSERT_GT(m.ByteSizeLong(), 64u << 10);
  big.Write(m);
  grpc::Status s = big.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Status().counts().profiles(), 0u);
  GoodAgentStillWorks(200, "jdoe");
}

TEST_F(HardenedGatewayTest, InvalidTextOrSidRejectsTheWholeBatch) {
  for (int field = 0; field < 2; ++field) {
    WireAgent agent(Target(kAgentIp));
    ASSERT_TRUE(agent.Hello(org_id_, key_, invocation_).has_hello_result());
    auto batch =
        MakeBatch(1, {{.guid = 1, .sam = "good"}, {.guid = 2, .sam = "bad"}});
    if (field == 0) {
      batch.mutable_deltas(1)->set_mail("jdoe\xc3(@d.org");
    } else {
      batch.mutable_deltas(1)->set_object_sid(std::string("\x01\x09", 2));
    }
    agent.Send(batch);
    EXPECT_FALSE(agent.Read().has_ack());
    grpc::Status s = agent.Close();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // Invalid UTF-8 in a string field already fails protobuf's parse; the
    // coordinator's own check (validation.cc) is the second line.
    EXPECT_THAT(
        s.error_message(),
        HasSubstr(field == 0 ? "could not be parsed" : "delta 1 (objectGUID"));
    EXPECT_FALSE(Resolve("DISTRICT\\good").found());
  }
  EXPECT_EQ(Status().counts().profiles(), 0u);
}

TEST_F(HardenedGatewayTest, StreamWithoutAHelloIsClosed) {
  RawStream silent(Target(kAgentIp), grpc::InsecureChannelCredentials(),
                   absl::Seconds(20));
  const absl::Time start = absl::Now();
  EXPECT_FALSE(silent.Read().has_value());  // ends well before its deadline
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_EQ(silent.Close().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(HardenedGatewayTest, AgentThatNeverReadsIsCutOff) {
  RawStream deaf(Target(kAgentIp), grpc::InsecureChannelCredentials(),
                 absl::Seconds(60));
  ASSERT_TRUE(deaf.Write(HelloMessage(key_)));
  ASSERT_TRUE(deaf.Read().has_value());
  // Heartbeats whose echoes are never read: the coordinator's queue of
  // unsent echoes is bounded, then the stream is cancelled.
  adsync::v1::AgentMessage beat;
  beat.mutable_heartbeat()->set_sent_unix_ms(1);
  const grpc::ByteBuffer bytes = testing::Serialize(beat);
  int sent = 0;
  while (sent < 200000 && deaf.Write(bytes)) ++sent;
  EXPECT_LT(sent, 200000) << "the coordinator never cut the stream off";
  EXPECT_FALSE(deaf.Close().ok());
  GoodAgentStillWorks(1, "jdoe");
}

// Audit finding 8, over the wire: an account over the limits is skipped and
// shown in status; the batch and the stream carry on.
TEST_F(HardenedGatewayTest, AnOversizedAccountDoesNotStallItsDomain) {
  WireAgent agent(Target(kAgentIp));
  ASSERT_TRUE(agent.Hello(org_id_, key_, invocation_).has_hello_result());
  adsync::v1::Batch batch = MakeBatch(1, {{.guid = 1, .sam = "fine"}});
  *batch.add_deltas() = MakeDelta(
      {.guid = 2, .sam = "essay", .display_name = std::string(3000, 'x')});
  agent.Send(batch);
  adsync::v1::CoordinatorMessage ack = agent.Read();
  ASSERT_TRUE(ack.has_ack());
  EXPECT_EQ(ack.ack().applied(), 1u);
  agent.Send(MakeBatch(2, {{.guid = 3, .sam = "next"}}));
  EXPECT_TRUE(agent.Read().has_ack());
  EXPECT_TRUE(agent.Close().ok());
  EXPECT_TRUE(Resolve("DISTRICT\\fine").found());
  EXPECT_TRUE(Resolve("DISTRICT\\next").found());
  adsync::v1::OrgStatus status = Status();
  ASSERT_EQ(status.skipped_accounts_size(), 1);
  EXPECT_EQ(status.skipped_accounts(0).sam_account_name(), "essay");
  EXPECT_THAT(status.skipped_accounts(0).reason(),
              HasSubstr("displayName is 3000 bytes"));
}

// Audit finding 5, over the wire: a full sync that reports nothing (an
// empty OU, a wrong base DN) removes nothing; the operator approves.
TEST_F(HardenedGatewayTest, AnEmptyFullSyncIsHeldUntilAnOperatorApproves) {
  auto full_sync = [&](std::vector<testing::DeltaSpec> specs) {
    WireAgent agent(Target(kAgentIp));
    agent.Hello(org_id_, key_, invocation_);
    adsync::v1::Batch batch = MakeBatch(1, specs);
    batch.set_full_sync_begin(true);
    batch.set_full_sync_end(true);
    batch.mutable_watermark()->set_invocation_id(invocation_);
    batch.mutable_watermark()->set_usn(10);
    agent.Send(batch);
    adsync::v1::CoordinatorMessage ack = agent.Read();
    EXPECT_TRUE(agent.Close().ok());
    return ack.ack();
  };
  full_sync({{.guid = 1, .sam = "a"}, {.guid = 2, .sam = "b"}});
  EXPECT_EQ(full_sync({}).removed(), 0u);
  EXPECT_EQ(Resolve("DISTRICT\\a").account().outcome(), "no-email");
  adsync::v1::OrgStatus status = Status();
  ASSERT_EQ(status.domains_size(), 1);
  EXPECT_EQ(status.domains(0).held_sweep().would_remove(), 2u);

  adsync::v1::ResolveSweepRequest req;
  req.set_org_id(org_id_);
  req.set_domain("DISTRICT");
  req.set_approve(true);
  adsync::v1::ResolveSweepResponse resp;
  ASSERT_TRUE(
      admin_->ResolveSweep(Ctx("wrong-token").get(), req, &resp).error_code() ==
      grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(admin_->ResolveSweep(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.removed(), 2u);
  EXPECT_EQ(Resolve("DISTRICT\\a").account().outcome(), "removed");
  EXPECT_FALSE(Status().domains(0).has_held_sweep());
}

}  // namespace
}  // namespace adsync
