// The agent gateway over real gRPC on loopback (fixture: gateway_fixture.h).
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "adsync/v1/admin.grpc.pb.h"
#include "adsync/v1/agent.grpc.pb.h"
#include "common/sqlite.h"
#include "coordinator/coordinator_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/gateway_fixture.h"
#include "tests/support/test_util.h"
#include "tests/support/wire_agent.h"

namespace adsync {
namespace {

using testing::DeltaSpec;
using ::testing::HasSubstr;
using testing::MakeBatch;
using testing::MakeDelta;
using ::testing::Not;
using testing::WireAgent;

TEST_F(GatewayTest, AdminApiNeedsTheToken) {
  adsync::v1::ListOrgsResponse resp;
  grpc::Status s = admin_->ListOrgs(Ctx("wrong").get(), {}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(admin_->ListOrgs(Ctx().get(), {}, &resp).ok());
}

TEST_F(GatewayTest, WrongKeyIsRejectedAndRecorded) {
  WireAgent agent(Target(kAgentIp));
  auto reply =
      agent.Hello(org_id_, "5e1c3d4a-0000-4000-8000-000000000001", invocation_);
  EXPECT_FALSE(reply.has_hello_result());
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("do not match any AD Sync"));
  auto status = Status();
  ASSERT_EQ(status.recent_rejections_size(), 1);
  EXPECT_EQ(status.recent_rejections(0).source_ip(), kAgentIp);
}

TEST_F(GatewayTest, UnknownOrgIsRejected) {
  WireAgent agent(Target(kAgentIp));
  agent.Hello("5e1c3d4a-0000-4000-8000-0000000000ff", key_, invocation_);
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The same answer as a wrong key: an unauthenticated caller learns
  // nothing about which orgs exist.
  EXPECT_THAT(s.error_message(), HasSubstr("do not match any AD Sync"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("unknown")));
  WireAgent wrong_key(Target(kAgentIp));
  wrong_key.Hello(org_id_, "5e1c3d4a-0000-4000-8000-000000000001", invocation_);
  EXPECT_EQ(wrong_key.Close().error_message(), s.error_message());
}

TEST_F(GatewayTest, WrongSourceIpIsRejectedNamingBothAddresses) {
  WireAgent agent(Target(kOtherIp));
  agent.Hello(org_id_, key_, invocation_);
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(
      s.error_message(),
      HasSubstr(
          "sync came from 127.0.0.23; registered external IP is 127.0.0.21"));
  auto status = Status();
  ASSERT_EQ(status.recent_rejections_size(), 1);
  EXPECT_EQ(status.recent_rejections(0).source_ip(), kOtherIp);
  EXPECT_THAT(status.recent_rejections(0).reason(), HasSubstr("127.0.0.23"));
  EXPECT_FALSE(status.syncs(0).connected());
}

TEST_F(GatewayTest, ResumesFromWatermarkAndFullSyncsOnNewInvocationId) {
  {
    WireAgent agent(Target(kAgentIp));
    auto hello = agent.Hello(org_id_, key_, invocation_);
    ASSERT_TRUE(hello.has_hello_result());
    EXPECT_TRUE(hello.hello_result().full_sync_required());
    EXPECT_EQ(hello.hello_result().full_sync_reason(), "no watermark yet");
    auto batch = MakeBatch(1, {{.guid = 1, .sam = "jdoe"}});
    batch.set_full_sync_begin(true);
    batch.set_full_sync_end(true);
    batch.mutable_watermark()->set_invocation_id(invocation_);
    batch.mutable_watermark()->set_usn(100);
    agent.Send(batch);
    auto ack = agent.Read();
    ASSERT_TRUE(ack.has_ack());
    EXPECT_EQ(ack.ack().applied(), 1u);
    EXPECT_TRUE(agent.Close().ok());
  }
  {
    WireAgent agent(Target(kAgentIp));
    auto hello = agent.Hello(org_id_, key_, invocation_);
    EXPECT_FALSE(hello.hello_result().full_sync_required());
    EXPECT_EQ(hello.hello_result().resume_from().usn(), 100);
    EXPECT_TRUE(agent.Close().ok());
  }
  {
    WireAgent agent(Target(kAgentIp));
    auto hello = agent.Hello(org_id_, key_, testing::TestGuid(501));
    EXPECT_TRUE(hello.hello_result().full_sync_required());
    EXPECT_THAT(hello.hello_result().full_sync_reason(),
                HasSubstr("invocationId changed"));
    EXPECT_TRUE(agent.Close().ok());
  }
}

TEST_F(GatewayTest, CompletedFullSyncOverTheWireRemovesMissingAccounts) {
  auto full_sync = [&](std::vector<DeltaSpec> specs) {
    WireAgent agent(Target(kAgentIp));
    agent.Hello(org_id_, key_, invocation_);
    auto begin = MakeBatch(1, {specs[0]});
    begin.set_full_sync_begin(true);
    agent.Send(begin);
    specs.erase(specs.begin());
    auto end = MakeBatch(2, specs);
    end.set_full_sync_end(true);
    end.mutable_watermark()->set_invocation_id(invocation_);
    end.mutable_watermark()->set_usn(7);
    agent.Send(end);
    agent.Read();
    auto ack = agent.Read();
    EXPECT_TRUE(agent.Close().ok());
    return ack.ack();
  };
  full_sync({{.guid = 1, .sam = "a"},
             {.guid = 2, .sam = "b"},
             {.guid = 3, .sam = "c"}});
  auto second = full_sync({{.guid = 1, .sam = "a"}, {.guid = 3, .sam = "c"}});
  EXPECT_EQ(second.removed(), 1u);
  EXPECT_EQ(second.unchanged(), 1u);
  EXPECT_EQ(Resolve("DISTRICT\\b").account().outcome(), "removed");
  EXPECT_EQ(Resolve("DISTRICT\\a").account().outcome(), "no-email");
}

TEST_F(GatewayTest, AckArrivesOnlyAfterTheBatchIsDurable) {
  WireAgent agent(Target(kAgentIp));
  agent.Hello(org_id_, key_, invocation_);
  const int kBatches = 40;  // 10x the coordinator's unacked window
  for (int i = 1; i <= kBatches; ++i) {
    agent.Send(MakeBatch(
        i, {{.guid = static_cast<uint32_t>(i), .sam = absl::StrCat("u", i)}}));
  }
  auto db = SqliteDatabase::Open(config_.database_path(), /*read_only=*/true);
  ASSERT_TRUE(db.ok());
  for (int i = 1; i <= kBatches; ++i) {
    auto ack = agent.Read();
    ASSERT_TRUE(ack.has_ack()) << i;
    ASSERT_EQ(ack.ack().sequence(), static_cast<uint64_t>(i));
    // An independent connection sees the batch the moment it is acked.
    auto q = (*db)->Cached("SELECT count(*) FROM profiles WHERE sam=?1");
    ASSERT_TRUE(q.ok());
    (*q)->Bind(1, absl::StrCat("u", i));
    ASSERT_TRUE(*(*q)->Step());
    EXPECT_EQ((*q)->ColumnInt(0), 1)
        << "acked batch " << i << " is not durable";
  }
  EXPECT_TRUE(agent.Close().ok());
  EXPECT_EQ(Status().syncs(0).batches(), static_cast<uint64_t>(kBatches));
}

TEST_F(GatewayTest, BadBatchIsRejectedChangesNothingAndIsRecorded) {
  WireAgent agent(Target(kAgentIp));
  agent.Hello(org_id_, key_, invocation_);
  auto batch =
      MakeBatch(1, {{.guid = 1, .sam = "good"}, {.guid = 2, .sam = "bad"}});
  batch.mutable_deltas(1)->set_object_guid("xyz");
  agent.Send(batch);
  EXPECT_FALSE(agent.Read().has_ack());
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("batch 1 rejected: delta 1: objectGUID"));
  EXPECT_FALSE(Resolve("DISTRICT\\good").found());
  EXPECT_THAT(Status().recent_rejections(0).reason(),
              HasSubstr("batch 1 rejected"));
}

TEST_F(GatewayTest, ProtocolViolationsEndTheStream) {
  {
    WireAgent agent(Target(kAgentIp));
    agent.Send(MakeBatch(1, {{.guid = 1}}));
    EXPECT_EQ(agent.Close().error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    WireAgent agent(Target(kAgentIp));
    agent.Hello(org_id_, key_, invocation_);
    agent.Send(MakeBatch(2, {{.guid = 1}}));
    grpc::Status s = agent.Close();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("expected 1"));
  }
  {
    WireAgent agent(Target(kAgentIp));
    agent.Hello(org_id_, key_, invocation_);
    std::vector<DeltaSpec> many(1001);
    for (uint32_t i = 0; i < many.size(); ++i) many[i].guid = i + 1;
    agent.Send(MakeBatch(1, many));
    EXPECT_THAT(agent.Close().error_message(), HasSubstr("at most 1000"));
  }
  EXPECT_EQ(Status().counts().profiles(), 0u);
}

TEST_F(GatewayTest, StatusShowsConnectionWhileStreaming) {
  WireAgent agent(Target(kAgentIp));
  agent.Hello(org_id_, key_, invocation_);
  auto live = Status();
  EXPECT_TRUE(live.syncs(0).connected());
  EXPECT_EQ(live.syncs(0).source_ip(), kAgentIp);
  EXPECT_EQ(live.syncs(0).controller(), "dc1.district.test");
  EXPECT_TRUE(agent.Close().ok());
  for (int i = 0; i < 50 && Status().syncs(0).connected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(Status().syncs(0).connected());
}

// A primary busy streaming a long full sync sends batches, not heartbeats;
// its lease must not lapse (which would hand the domain to itself or a
// standby mid-sync and fence its own batches).
TEST_F(GatewayTest, BatchesKeepThePrimarysLeaseAlive) {
  server_.reset();
  config_.set_heartbeat_interval_ms(100);
  config_.set_lease_ttl_ms(300);
  config_.set_database_path(dir_.File("lease.db"));
  auto server = CoordinatorServer::Start(config_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  adsync::v1::CreateOrgRequest org;
  org.set_name("Lease USD");
  org_id_ = server_->store()->CreateOrg(org)->org_id();
  adsync::v1::AddSyncRequest sync;
  sync.set_org_id(org_id_);
  sync.set_domain("DISTRICT");
  sync.add_allowed_ips(kAgentIp);
  key_ = server_->store()->AddSync(sync)->sync_key();

  WireAgent agent(Target(kAgentIp));
  const adsync::v1::HelloResult hello =
      agent.Hello(org_id_, key_, invocation_).hello_result();
  ASSERT_EQ(hello.role(), adsync::v1::ROLE_PRIMARY);
  // The agent derives from these how long its DC may stay silent before it
  // gives the lease up.
  EXPECT_EQ(hello.heartbeat_interval_ms(), 100u);
  EXPECT_EQ(hello.lease_ttl_ms(), 300u);
  for (int i = 1; i <= 12; ++i) {  // ~1.2 s: four lease TTLs, no heartbeat
    agent.Send(MakeBatch(
        i, {{.guid = static_cast<uint32_t>(i), .sam = absl::StrCat("u", i)}}));
    auto reply = agent.Read();
    ASSERT_TRUE(reply.has_ack())
        << "batch " << i << ": " << reply.DebugString();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(agent.Close().ok());
}

}  // namespace
}  // namespace adsync
