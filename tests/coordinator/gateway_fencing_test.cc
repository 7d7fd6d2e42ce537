// Who may write, and when nothing may: a batch that failed is never skipped
// by the batches behind it, a removed or re-keyed AD Sync stops writing at
// once, a hung primary is replaced within the lease TTL, and one AD Sync
// has one stream. Real gRPC over loopback (fixture: gateway_fixture.h).
#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sid.h"
#include "coordinator/metrics.h"
#include "tests/support/gateway_fixture.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using testing::MakeBatch;
using testing::WireAgent;

constexpr int kWindow = 8;

class FencingTest : public GatewayTest {
 protected:
  void Configure(adsync::v1::CoordinatorConfig* config) override {
    GatewayTest::Configure(config);
    config->set_max_unacked_batches(kWindow);
    config->set_heartbeat_interval_ms(500);
    config->set_lease_ttl_ms(1500);
  }

  StoreTestHooks Hooks() override {
    StoreTestHooks hooks;
    hooks.before_apply = [this](const PreparedBatch& batch) {
      if (batch.sequence == fail_sequence_.load() &&
          fail_armed_.exchange(false)) {
        return absl::UnavailableError("disk I/O error (injected by the test)");
      }
      return absl::OkStatus();
    };
    return hooks;
  }

  // A second AD Sync of DISTRICT, allowed from kOtherIp; returns its key.
  std::string AddStandbySync() {
    adsync::v1::AddSyncRequest sync;
    sync.set_org_id(org_id_);
    sync.set_domain("DISTRICT");
    sync.add_allowed_ips(kOtherIp);
    adsync::v1::AddSyncResponse added;
    EXPECT_TRUE(admin_->AddSync(Ctx().get(), sync, &added).ok());
    return added.sync_key();
  }

  std::string SyncIdOfKey(const std::string& key) {
    auto sync = server_->store()->Authenticate(org_id_, key);
    EXPECT_TRUE(sync.ok()) << sync.status();
    return sync.ok() ? sync->sync_id : "";
  }

  // Heartbeats on `agent` until a RoleChange arrives or `limit` passes;
  // returns the RoleChange (empty when none came).
  adsync::v1::RoleChange AwaitRoleChange(WireAgent* agent,
                                         absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline) {
      agent->Heartbeat();
      adsync::v1::CoordinatorMessage m = agent->Read();
      if (m.has_role_change()) return m.role_change();
      if (m.msg_case() == adsync::v1::CoordinatorMessage::MSG_NOT_SET) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return {};
  }

  std::atomic<uint64_t> fail_sequence_{0};
  std::atomic<bool> fail_armed_{false};
};

adsync::v1::Batch UserBatch(uint64_t seq) {
  return MakeBatch(seq, {{.guid = static_cast<uint32_t>(100 + seq),
                          .sam = absl::StrCat("user", seq)}});
}

// Audit finding 1: batch 1 fails while batches 2..8 wait behind it, the
// last of them carrying a watermark. None of them may commit; after the
// agent reconnects it resumes from the old watermark and batch 1's change
// arrives. (On the code before the fix, batches 2..8 committed and the
// agent resumed from 999: user1 was lost until some later full sync.)
TEST_F(FencingTest, AFailedBatchIsNeverSkippedByTheBatchesBehindIt) {
  {
    WireAgent agent(Target(kAgentIp));
    agent.Hello(org_id_, key_, invocation_);
    auto batch = MakeBatch(1, {{.guid = 1, .sam = "first"}});
    batch.set_full_sync_begin(true);
    batch.set_full_sync_end(true);
    batch.mutable_watermark()->set_invocation_id(invocation_);
    batch.mutable_watermark()->set_usn(100);
    agent.Send(batch);
    ASSERT_TRUE(agent.Read().has_ack());
    ASSERT_TRUE(agent.Close().ok());
  }
  auto send_window = [&](WireAgent* agent) {
    for (uint64_t seq = 1; seq <= kWindow; ++seq) {
      adsync::v1::Batch batch = UserBatch(seq);
      if (seq == kWindow) {
        batch.mutable_watermark()->set_invocation_id(invocation_);
        batch.mutable_watermark()->set_usn(999);
      }
      agent->Send(batch);
    }
  };
  fail_sequence_ = 1;
  fail_armed_ = true;
  {
    WireAgent agent(Target(kAgentIp));
    auto hello = agent.Hello(org_id_, key_, invocation_);
    ASSERT_EQ(hello.hello_result().resume_from().usn(), 100);
    send_window(&agent);
    int acks = 0;
    for (auto m = agent.Read(); m.msg_case() != m.MSG_NOT_SET;
         m = agent.Read()) {
      if (m.has_ack()) ++acks;
    }
    EXPECT_EQ(acks, 0);
    grpc::Status s = agent.Close();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), HasSubstr("batch 1 rejected"));
  }
  EXPECT_FALSE(fail_armed_.load());  // the fault did fire
  for (uint64_t seq = 1; seq <= kWindow; ++seq) {
    EXPECT_FALSE(Resolve(absl::StrCat("DISTRICT\\user", seq)).found()) << seq;
  }
  auto watermark = server_->store()->GetWatermark(SyncIdOfKey(key_));
  ASSERT_TRUE(watermark.ok());
  EXPECT_EQ(watermark->usn, 100);
  {
    WireAgent agent(Target(kAgentIp));
    auto hello = agent.Hello(org_id_, key_, invocation_);
    EXPECT_EQ(hello.hello_result().resume_from().usn(), 100);
    send_window(&agent);
    for (int i = 0; i < kWindow; ++i) EXPECT_TRUE(agent.Read().has_ack());
    EXPECT_TRUE(agent.Close().ok());
  }
  for (uint64_t seq = 1; seq <= kWindow; ++seq) {
    EXPECT_TRUE(Resolve(absl::StrCat("DISTRICT\\user", seq)).found()) << seq;
  }
  EXPECT_EQ(server_->store()->GetWatermark(SyncIdOfKey(key_))->usn, 999);
}

// Audit finding 2: removing the primary's AD Sync ends its stream at once,
// frees its lease and the standby takes over and writes.
TEST_F(FencingTest, RemovingTheSyncEndsItsStreamAndTheStandbyTakesOver) {
  const std::string standby_key = AddStandbySync();
  const std::string removed_id = SyncIdOfKey(key_);
  WireAgent primary(Target(kAgentIp));
  ASSERT_EQ(primary.Hello(org_id_, key_, invocation_).hello_result().role(),
            adsync::v1::ROLE_PRIMARY);
  WireAgent standby(Target(kOtherIp));
  ASSERT_EQ(
      standby.Hello(org_id_, standby_key, invocation_).hello_result().role(),
      adsync::v1::ROLE_STANDBY);

  adsync::v1::RemoveSyncRequest remove;
  remove.set_org_id(org_id_);
  remove.set_sync_id(removed_id);
  adsync::v1::RemoveSyncResponse removed;
  ASSERT_TRUE(admin_->RemoveSync(Ctx().get(), remove, &removed).ok());

  EXPECT_EQ(primary.Read().msg_case(),
            adsync::v1::CoordinatorMessage::MSG_NOT_SET);
  grpc::Status ended = primary.Close();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(ended.error_message(), HasSubstr("was removed"));

  adsync::v1::RoleChange promoted = AwaitRoleChange(&standby, absl::Seconds(5));
  ASSERT_EQ(promoted.role(), adsync::v1::ROLE_PRIMARY);
  // What the removed sync wrote is replaced by an authoritative full sync.
  EXPECT_TRUE(promoted.full_sync_required());
  adsync::v1::Batch full = MakeBatch(1, {{.guid = 7, .sam = "afterwards"}});
  full.set_full_sync_begin(true);
  full.set_full_sync_end(true);
  standby.Send(full);
  adsync::v1::CoordinatorMessage ack = standby.Read();
  while (ack.has_heartbeat()) ack = standby.Read();
  EXPECT_TRUE(ack.has_ack());
  EXPECT_TRUE(Resolve("DISTRICT\\afterwards").found());
  EXPECT_TRUE(standby.Close().ok());
}

// Audit finding 2: a rotated key ends the stream that authenticated with
// the old key; the old key is refused; the new one is accepted.
TEST_F(FencingTest, RotatingTheKeyEndsTheStreamThatUsedTheOldOne) {
  WireAgent agent(Target(kAgentIp));
  ASSERT_TRUE(agent.Hello(org_id_, key_, invocation_).has_hello_result());
  adsync::v1::RotateSyncKeyRequest rotate;
  rotate.set_org_id(org_id_);
  rotate.set_sync_id(SyncIdOfKey(key_));
  adsync::v1::AddSyncResponse rotated;
  ASSERT_TRUE(admin_->RotateSyncKey(Ctx().get(), rotate, &rotated).ok());
  // The batch sent after the rotation is never applied.
  agent.Send(MakeBatch(1, {{.guid = 9, .sam = "late"}}));
  adsync::v1::CoordinatorMessage m = agent.Read();
  EXPECT_FALSE(m.has_ack());
  grpc::Status ended = agent.Close();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(ended.error_message(), HasSubstr("key was rotated"));
  EXPECT_FALSE(Resolve("DISTRICT\\late").found());

  WireAgent old_key(Target(kAgentIp));
  EXPECT_FALSE(old_key.Hello(org_id_, key_, invocation_).has_hello_result());
  old_key.Close().IgnoreError();
  WireAgent new_key(Target(kAgentIp));
  EXPECT_EQ(new_key.Hello(org_id_, rotated.sync_key(), invocation_)
                .hello_result()
                .role(),
            adsync::v1::ROLE_PRIMARY);
  EXPECT_TRUE(new_key.Close().ok());
}

// Audit finding 9: a primary that hangs (connected, silent) loses its
// lease to the live standby within the TTL, and the lease monitor never
// hands the lapsed lease back to the hung agent. (Before the fix it
// re-promoted the hung agent's own sync at the same epoch every TTL and
// the standby waited for the stalled-stream cutoff, 30 s.)
TEST_F(FencingTest, AHungPrimaryIsReplacedWithinTheLeaseTtl) {
  const std::string standby_key = AddStandbySync();
  WireAgent hung(Target(kAgentIp));
  const adsync::v1::HelloResult hung_hello =
      hung.Hello(org_id_, key_, invocation_).hello_result();
  ASSERT_EQ(hung_hello.role(), adsync::v1::ROLE_PRIMARY);
  const uint64_t hung_epoch = hung_hello.lease_epoch();
  WireAgent standby(Target(kOtherIp));
  ASSERT_EQ(
      standby.Hello(org_id_, standby_key, invocation_).hello_result().role(),
      adsync::v1::ROLE_STANDBY);
  // `hung` now sends nothing and reads nothing.
  const absl::Time start = absl::Now();
  adsync::v1::RoleChange promoted = AwaitRoleChange(&standby, absl::Seconds(6));
  ASSERT_EQ(promoted.role(), adsync::v1::ROLE_PRIMARY)
      << "no takeover after " << absl::Now() - start;
  const std::string hung_id = SyncIdOfKey(key_);
  const std::string standby_id = SyncIdOfKey(standby_key);
  // The takeover is recorded from the hung sync to the standby, and no
  // grant came in between (each grant is a new epoch).
  const adsync::v1::OrgStatus status = Status();
  ASSERT_EQ(status.domains_size(), 1);
  ASSERT_GE(status.domains(0).recent_failovers_size(), 1);
  EXPECT_EQ(status.domains(0).recent_failovers(0).from_sync_id(), hung_id);
  EXPECT_EQ(status.domains(0).recent_failovers(0).to_sync_id(), standby_id);
  EXPECT_EQ(promoted.lease_epoch(), hung_epoch + 1);
  auto lease = server_->store()->GetLease(org_id_, "DISTRICT",
                                          absl::ToUnixMillis(absl::Now()));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->holder_sync_id, standby_id);
  // The hung primary's batch, should it wake up, is fenced.
  hung.Send(MakeBatch(1, {{.guid = 11, .sam = "zombie"}}));
  EXPECT_FALSE(hung.Read().has_ack());
  EXPECT_FALSE(Resolve("DISTRICT\\zombie").found());
  // Counted as fencing (the store's typed refusal), not as a bad batch.
  bool counted = false;
  for (int i = 0; i < 100 && !counted; ++i) {
    counted =
        absl::StrContains(Metrics::Global().Render(StoreGaugeSnapshot{}, false),
                          "adsync_rejections_total{reason=\"fenced\"}");
    if (!counted) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(counted);
  standby.Close().IgnoreError();
}

// Audit finding 9: a second stream of the same AD Sync replaces the first
// (which ends, and whose writes are fenced); the first one's disconnect
// does not release the new stream's lease.
TEST_F(FencingTest, ANewHelloOfTheSameSyncReplacesTheOldStream) {
  WireAgent first(Target(kAgentIp));
  auto first_hello = first.Hello(org_id_, key_, invocation_);
  ASSERT_EQ(first_hello.hello_result().role(), adsync::v1::ROLE_PRIMARY);
  WireAgent second(Target(kAgentIp));
  auto second_hello = second.Hello(org_id_, key_, invocation_);
  ASSERT_EQ(second_hello.hello_result().role(), adsync::v1::ROLE_PRIMARY);
  EXPECT_GT(second_hello.hello_result().lease_epoch(),
            first_hello.hello_result().lease_epoch());

  EXPECT_EQ(first.Read().msg_case(),
            adsync::v1::CoordinatorMessage::MSG_NOT_SET);
  grpc::Status replaced = first.Close();
  EXPECT_EQ(replaced.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(replaced.error_message(), HasSubstr("replaced this stream"));

  // Give the old stream's disconnect time to reach the store.
  absl::SleepFor(absl::Milliseconds(300));
  auto lease = server_->store()->GetLease(org_id_, "DISTRICT",
                                          absl::ToUnixMillis(absl::Now()));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->epoch, second_hello.hello_result().lease_epoch());
  EXPECT_FALSE(lease->holder_sync_id.empty()) << "the old stream released it";
  second.Send(MakeBatch(1, {{.guid = 12, .sam = "second"}}));
  EXPECT_TRUE(second.Read().has_ack());
  EXPECT_TRUE(Resolve("DISTRICT\\second").found());
  EXPECT_TRUE(second.Close().ok());
}

class DomainCheckTest : public FencingTest {
 protected:
  adsync::v1::Hello HelloFor(const std::string& key, const std::string& netbios,
                             const std::string& domain_sid_text) {
    adsync::v1::Hello hello;
    hello.set_org_id(org_id_);
    hello.set_sync_key(key);
    hello.set_controller("dc1.district.test");
    hello.set_invocation_id(invocation_);
    hello.set_domain_netbios_name(netbios);
    hello.set_domain_dns_name("district.test");
    if (!domain_sid_text.empty()) {
      hello.set_domain_sid(*SidStringToBinary(domain_sid_text));
    }
    return hello;
  }
};

// Audit finding 3: a key copied onto an agent of another domain is refused
// with a message naming both domains; nothing is written.
TEST_F(DomainCheckTest, AnAgentOfAnotherDomainIsRefusedNamingBoth) {
  WireAgent agent(Target(kAgentIp));
  EXPECT_FALSE(agent.SendHello(HelloFor(key_, "STAFF", "")).has_hello_result());
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("serves domain STAFF"));
  EXPECT_THAT(s.error_message(), HasSubstr("registered for domain DISTRICT"));
  adsync::v1::OrgStatus status = Status();
  ASSERT_EQ(status.recent_rejections_size(), 1);
  EXPECT_THAT(status.recent_rejections(0).reason(), HasSubstr("STAFF"));
  EXPECT_FALSE(status.syncs(0).connected());
}

// Audit finding 3: the domain SID is pinned by the first agent; accounts
// whose SID is not in it are refused; an agent reporting another domain
// SID under the same name is refused.
TEST_F(DomainCheckTest, AccountsOutsideThePinnedDomainSidAreRefused) {
  {
    WireAgent agent(Target(kAgentIp));
    ASSERT_TRUE(agent.SendHello(HelloFor(key_, "district", "S-1-5-21-1-2-3"))
                    .has_hello_result());
    agent.Send(MakeBatch(1, {{.guid = 1, .sam = "mine"}}));  // S-1-5-21-1-2-3-1
    ASSERT_TRUE(agent.Read().has_ack());
    adsync::v1::Batch foreign = MakeBatch(2, {{.guid = 2, .sam = "theirs"}});
    foreign.mutable_deltas(0)->set_object_sid(
        *SidStringToBinary("S-1-5-21-7-8-9-1105"));
    agent.Send(foreign);
    EXPECT_FALSE(agent.Read().has_ack());
    grpc::Status s = agent.Close();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(),
                HasSubstr("S-1-5-21-7-8-9-1105 is not in the agent's domain "
                          "S-1-5-21-1-2-3"));
  }
  EXPECT_TRUE(Resolve("DISTRICT\\mine").found());
  EXPECT_FALSE(Resolve("DISTRICT\\theirs").found());
  const std::string other_key = AddStandbySync();
  WireAgent impostor(Target(kOtherIp));
  EXPECT_FALSE(
      impostor.SendHello(HelloFor(other_key, "DISTRICT", "S-1-5-21-7-8-9"))
          .has_hello_result());
  grpc::Status s = impostor.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("has SID S-1-5-21-1-2-3"));
}

// Review finding: a batch must carry its own stream's epoch; a guessed
// later epoch is refused by the gateway before the store sees it.
TEST_F(FencingTest, ABatchWithAnotherStreamsEpochIsRefused) {
  WireAgent agent(Target(kAgentIp));
  const uint64_t epoch =
      agent.Hello(org_id_, key_, invocation_).hello_result().lease_epoch();
  adsync::v1::Batch batch = MakeBatch(1, {{.guid = 21, .sam = "guessed"}});
  batch.set_lease_epoch(epoch + 1);
  agent.Send(batch);
  EXPECT_FALSE(agent.Read().has_ack());
  grpc::Status s = agent.Close();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("carries lease epoch"));
  EXPECT_FALSE(Resolve("DISTRICT\\guessed").found());
}

}  // namespace
}  // namespace adsync
