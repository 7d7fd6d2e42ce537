// SessionPolicy without gRPC: a Hello against a fake Store that answers
// only what the policy asks (everything else is Unimplemented).
#include "coordinator/session_policy.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/net.h"
#include "common/sid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

constexpr char kOrgId[] = "5e1c3d4a-0000-4000-8000-0000000000aa";
constexpr char kKey[] = "5e1c3d4a-0000-4000-8000-0000000000bb";
constexpr char kSyncId[] = "5e1c3d4a-0000-4000-8000-0000000000cc";
constexpr char kAgentIp[] = "127.0.0.21";
constexpr int64_t kTtlMs = 6000;

absl::Status Unimplemented() {
  return absl::UnimplementedError("not used by SessionPolicy");
}

class FakeStore : public AgentStore {
 public:
  FakeStore() {
    sync_.sync_id = kSyncId;
    sync_.org_id = kOrgId;
    sync_.domain = "DISTRICT";
    sync_.dns_name = "district.test";
    sync_.allowed_ips.push_back(*ParseIpRange(kAgentIp));
  }

  struct Rejection {
    std::string org_id, sync_id, source_ip, reason;
  };
  struct Connection {
    std::string sync_id;
    bool connected;
    std::string source_ip, controller;
  };

  // What the fake answers.
  SyncRecord sync_;
  absl::Status authenticate_error_;  // instead of checking org and key
  std::string pinned_sid_;
  WatermarkState watermark_;
  absl::Status watermark_error_;
  std::string lease_holder_;  // "" = free
  uint64_t lease_epoch_ = 0;
  absl::Status lease_error_;

  // What the policy told it.
  int authenticate_calls_ = 0;
  std::vector<Rejection> rejections_;
  std::vector<Connection> connections_;
  std::vector<std::string> positions_;  // invocation ids
  std::string lease_reason_;
  uint64_t lease_last_sequence_ = 0;

  absl::StatusOr<SyncRecord> Authenticate(const std::string& org_id,
                                          const std::string& key) override {
    ++authenticate_calls_;
    if (!authenticate_error_.ok()) return authenticate_error_;
    // One message for both, as the store's contract says.
    if (org_id != kOrgId || key != kKey) {
      return absl::PermissionDeniedError(
          "the Org ID and AD Sync key do not match any AD Sync");
    }
    return sync_;
  }
  absl::Status RecordRejection(const std::string& org_id,
                               const std::string& sync_id,
                               const std::string& source_ip,
                               const std::string& reason) override {
    rejections_.push_back({org_id, sync_id, source_ip, reason});
    return absl::OkStatus();
  }
  absl::Status RecordConnection(const std::string& sync_id, bool connected,
                                const std::string& source_ip,
                                const std::string& controller) override {
    connections_.push_back({sync_id, connected, source_ip, controller});
    return absl::OkStatus();
  }
  absl::StatusOr<WatermarkState> GetWatermark(const std::string&) override {
    if (!watermark_error_.ok()) return watermark_error_;
    return watermark_;
  }
  absl::StatusOr<std::string> PinDomainSid(
      const SyncRecord&, const std::string& domain_sid) override {
    if (pinned_sid_.empty()) pinned_sid_ = domain_sid;
    if (!domain_sid.empty() && domain_sid != pinned_sid_) {
      return absl::FailedPreconditionError("domain DISTRICT has SID " +
                                           pinned_sid_ + ", not " + domain_sid);
    }
    return pinned_sid_;
  }
  absl::Status RecordControllerPosition(const std::string&,
                                        const std::string& invocation_id,
                                        const adsync::v1::Heartbeat&) override {
    positions_.push_back(invocation_id);
    return absl::OkStatus();
  }
  absl::StatusOr<LeaseGrant> AcquireLease(const SyncRecord& sync, int64_t,
                                          int64_t, const std::string& reason,
                                          uint64_t last_sequence) override {
    lease_reason_ = reason;
    lease_last_sequence_ = last_sequence;
    if (!lease_error_.ok()) return lease_error_;
    LeaseGrant grant;
    if (lease_holder_.empty() || lease_holder_ == sync.sync_id) {
      lease_holder_ = sync.sync_id;
      ++lease_epoch_;
      grant.primary = true;
    }
    grant.epoch = lease_epoch_;
    grant.holder_sync_id = lease_holder_;
    return grant;
  }

  // --- not asked by the policy ---
  absl::StatusOr<bool> RenewLease(const SyncRecord&, uint64_t, int64_t,
                                  int64_t) override {
    return Unimplemented();
  }
  absl::Status ReleaseLease(const SyncRecord&, uint64_t) override {
    return Unimplemented();
  }
  absl::StatusOr<LeaseGrant> GetLease(const std::string&, const std::string&,
                                      int64_t) override {
    return Unimplemented();
  }
  absl::StatusOr<BatchOutcome> ApplyBatch(const SyncRecord&, PreparedBatch,
                                          const SeenAccounts*,
                                          int64_t) override {
    return Unimplemented();
  }
};

std::string DomainSid(const std::string& text) {
  return *SidStringToBinary(text);
}

class SessionPolicyTest : public ::testing::Test {
 protected:
  SessionPolicyTest() {
    hello_.set_org_id(kOrgId);
    hello_.set_sync_key(kKey);
    hello_.set_controller("dc1.district.test");
    hello_.set_invocation_id(invocation_);
    hello_.set_domain_netbios_name("DISTRICT");
    hello_.set_domain_dns_name("district.test");
    hello_.set_domain_sid(DomainSid("S-1-5-21-1-2-3"));
  }

  SessionPolicy::HelloOutcome Admit(
      const std::string& ip = kAgentIp,
      const std::optional<std::vector<std::string>>& names = std::nullopt) {
    EXPECT_TRUE(CheckHelloSizes(hello_).ok());
    return policy_.Admit(hello_, ip, names);
  }

  // A refused Hello: the stream ends with the rejection's status, whose
  // message was recorded once, from `ip`.
  SessionPolicy::Rejection ExpectRejected(
      const SessionPolicy::HelloOutcome& outcome,
      const std::string& ip = kAgentIp) {
    EXPECT_FALSE(outcome.admission.ok());
    EXPECT_TRUE(outcome.rejection.has_value());
    if (!outcome.rejection.has_value()) return {};
    const SessionPolicy::Rejection& r = *outcome.rejection;
    EXPECT_EQ(outcome.admission.status(), r.status);
    EXPECT_EQ(store_.rejections_.size(), 1u);
    if (!store_.rejections_.empty()) {
      EXPECT_EQ(store_.rejections_[0].source_ip, ip);
      EXPECT_EQ(store_.rejections_[0].reason, r.status.message());
    }
    // Nothing of a refused Hello shows as a connection.
    EXPECT_TRUE(store_.connections_.empty());
    return r;
  }

  FakeStore store_;
  SessionPolicy policy_{&store_, kTtlMs};
  const std::string invocation_ = testing::TestGuid(500);
  adsync::v1::Hello hello_;
};

TEST_F(SessionPolicyTest, UnknownOrgIsRejectedAndRecorded) {
  hello_.set_org_id("5E1C3D4A-0000-4000-8000-0000000000FF");
  const SessionPolicy::Rejection r = ExpectRejected(Admit());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status.message(), HasSubstr("do not match any AD Sync"));
  EXPECT_EQ(r.metric, "bad_credentials");
  EXPECT_TRUE(r.failed_hello);
  // The claimed org, as a well-formed Org ID, for the log and the limiter;
  // the store is given what was claimed.
  EXPECT_EQ(r.org_id, "5e1c3d4a-0000-4000-8000-0000000000ff");
  EXPECT_EQ(r.sync_id, "");
  EXPECT_EQ(store_.rejections_[0].org_id,
            "5E1C3D4A-0000-4000-8000-0000000000FF");
  EXPECT_EQ(store_.rejections_[0].sync_id, "");
}

TEST_F(SessionPolicyTest, AnOversizedHelloNeverReachesTheStore) {
  hello_.set_domain_netbios_name(std::string(16, 'A'));
  const SessionPolicy::HelloOutcome outcome =
      policy_.Admit(hello_, kAgentIp, std::nullopt);
  ASSERT_FALSE(outcome.admission.ok());
  ASSERT_TRUE(outcome.rejection.has_value());
  const SessionPolicy::Rejection& r = *outcome.rejection;
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status.message(), HasSubstr("Hello.domain_netbios_name"));
  EXPECT_EQ(r.metric, "bad_hello");
  EXPECT_TRUE(r.failed_hello);
  EXPECT_EQ(r.org_id, "");  // nothing of it is trusted, not even the org
  // Not authenticated, recorded or connected: the store never saw it.
  EXPECT_EQ(store_.authenticate_calls_, 0);
  EXPECT_TRUE(store_.rejections_.empty());
  EXPECT_TRUE(store_.connections_.empty());
}

TEST_F(SessionPolicyTest, WrongKeyIsRejectedAndRecordedLikeAnUnknownOrg) {
  hello_.set_sync_key("5e1c3d4a-0000-4000-8000-000000000001");
  const SessionPolicy::Rejection r = ExpectRejected(Admit());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status.message(), HasSubstr("do not match any AD Sync"));
  EXPECT_EQ(r.metric, "bad_credentials");
  EXPECT_TRUE(r.failed_hello);
  EXPECT_EQ(r.org_id, kOrgId);
  EXPECT_EQ(store_.rejections_[0].org_id, kOrgId);
}

TEST_F(SessionPolicyTest, AClaimedOrgIdThatIsNoneIsNotPassedOn) {
  hello_.set_org_id("not an org id");
  const SessionPolicy::Rejection r = ExpectRejected(Admit());
  EXPECT_EQ(r.org_id, "");
  EXPECT_TRUE(r.failed_hello);
}

TEST_F(SessionPolicyTest, AStoreThatCannotAnswerIsNotTheAgentsFailure) {
  for (const absl::Status& error :
       {absl::UnavailableError("database is locked"),
        absl::InternalError("disk I/O error")}) {
    store_.rejections_.clear();
    store_.authenticate_error_ = error;
    const SessionPolicy::Rejection r = ExpectRejected(Admit());
    EXPECT_EQ(r.status.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(r.status.message(), error.message());
    EXPECT_EQ(r.metric, "bad_hello");
    EXPECT_FALSE(r.failed_hello) << error;
  }
}

TEST_F(SessionPolicyTest, SourceIpOutsideAllowedIpsIsRejected) {
  const SessionPolicy::Rejection& r =
      ExpectRejected(Admit("10.0.0.9"), "10.0.0.9");
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status.message(),
              HasSubstr("sync came from 10.0.0.9; registered external IP is "
                        "127.0.0.21. If the agent's address changed"));
  EXPECT_THAT(r.status.message(), HasSubstr("--ip 10.0.0.9"));
  EXPECT_EQ(r.metric, "wrong_source_ip");
  EXPECT_TRUE(r.failed_hello);
  EXPECT_EQ(r.org_id, kOrgId);
  EXPECT_EQ(r.sync_id, kSyncId);
  EXPECT_EQ(store_.rejections_[0].org_id, kOrgId);
  EXPECT_EQ(store_.rejections_[0].sync_id, kSyncId);
}

TEST_F(SessionPolicyTest, SeveralAllowedIpsAreAllNamed) {
  store_.sync_.allowed_ips.push_back(*ParseIpRange("10.1.0.0/16"));
  const SessionPolicy::Rejection& r =
      ExpectRejected(Admit("10.2.0.1"), "10.2.0.1");
  EXPECT_THAT(r.status.message(),
              HasSubstr("registered external IPs are 127.0.0.21, 10.1.0.0/16"));
  EXPECT_TRUE(Admit("10.1.2.3").admission.ok());
}

TEST_F(SessionPolicyTest, TheCertificateMustNameTheSync) {
  const SessionPolicy::Rejection r = ExpectRejected(
      Admit(kAgentIp, std::vector<std::string>{"", "adsync agent"}));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status.message(),
              HasSubstr("certificate names \"adsync agent\", not AD Sync"));
  EXPECT_THAT(r.status.message(), HasSubstr("make_certs.sh"));
  EXPECT_EQ(r.metric, "wrong_certificate");
  EXPECT_FALSE(r.failed_hello);
  EXPECT_EQ(r.sync_id, kSyncId);

  // A subjectAltName will do, in any case; without the check none is needed.
  std::string upper = kSyncId;
  for (char& c : upper) c = absl::ascii_toupper(c);
  EXPECT_TRUE(Admit(kAgentIp, std::vector<std::string>{"adsync agent", upper})
                  .admission.ok());
  EXPECT_TRUE(Admit(kAgentIp, std::nullopt).admission.ok());
}

TEST_F(SessionPolicyTest, DomainSidMismatchIsRejected) {
  store_.pinned_sid_ = "S-1-5-21-1-2-3";
  hello_.set_domain_sid(DomainSid("S-1-5-21-7-8-9"));
  const SessionPolicy::Rejection r = ExpectRejected(Admit());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status.message(), HasSubstr("has SID S-1-5-21-1-2-3"));
  EXPECT_EQ(r.metric, "wrong_domain");
  EXPECT_FALSE(r.failed_hello);
  EXPECT_EQ(r.sync_id, kSyncId);
}

TEST_F(SessionPolicyTest, AnAgentOfAnotherDomainIsRejectedNamingBoth) {
  hello_.set_domain_netbios_name("staff");
  const SessionPolicy::Rejection r = ExpectRejected(Admit());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status.message(), HasSubstr("serves domain STAFF"));
  EXPECT_THAT(r.status.message(), HasSubstr("registered for domain DISTRICT"));
  EXPECT_EQ(r.metric, "wrong_domain");
}

TEST_F(SessionPolicyTest, AdmittedHelloIsRecordedAsConnected) {
  SessionPolicy::HelloOutcome outcome = Admit();
  ASSERT_TRUE(outcome.admission.ok()) << outcome.admission.status();
  EXPECT_FALSE(outcome.rejection.has_value());
  EXPECT_EQ(outcome.admission->sync.sync_id, kSyncId);
  EXPECT_EQ(outcome.admission->domain_sid, "S-1-5-21-1-2-3");
  EXPECT_EQ(store_.pinned_sid_, "S-1-5-21-1-2-3");
  EXPECT_TRUE(store_.rejections_.empty());
  ASSERT_EQ(store_.connections_.size(), 1u);
  EXPECT_TRUE(store_.connections_[0].connected);
  EXPECT_EQ(store_.connections_[0].source_ip, kAgentIp);
  EXPECT_EQ(store_.connections_[0].controller, "dc1.district.test");
  EXPECT_EQ(store_.positions_, std::vector<std::string>{invocation_});
}

TEST_F(SessionPolicyTest, AnAgentWithoutADomainSidIsHeldToThePinnedOne) {
  store_.pinned_sid_ = "S-1-5-21-1-2-3";
  hello_.clear_domain_sid();
  SessionPolicy::HelloOutcome outcome = Admit();
  ASSERT_TRUE(outcome.admission.ok());
  EXPECT_EQ(outcome.admission->domain_sid, "S-1-5-21-1-2-3");
}

TEST_F(SessionPolicyTest, AStoreFailureAfterTheChecksIsNoRejection) {
  store_.watermark_error_ = absl::UnavailableError("database is locked");
  SessionPolicy::HelloOutcome outcome = Admit();
  EXPECT_EQ(outcome.admission.status(), store_.watermark_error_);
  EXPECT_FALSE(outcome.rejection.has_value());
  EXPECT_TRUE(store_.rejections_.empty());
  EXPECT_TRUE(store_.connections_.empty());
}

TEST(DecideResume, NoWatermarkMeansAFullSync) {
  ResumePoint r = DecideResume(WatermarkState{}, testing::TestGuid(500));
  EXPECT_TRUE(r.full_sync);
  EXPECT_EQ(r.reason, "no watermark yet");
}

TEST(DecideResume, AFullSyncInProgressIsStartedAgain) {
  WatermarkState w;
  w.full_sync_in_progress = true;
  ResumePoint r = DecideResume(w, testing::TestGuid(500));
  EXPECT_TRUE(r.full_sync);
  EXPECT_EQ(r.reason, "the previous full sync did not finish");
}

TEST(DecideResume, AnotherInvocationIdMeansAFullSync) {
  WatermarkState w;
  w.has_watermark = true;
  w.invocation_id = testing::TestGuid(500);
  w.usn = 100;
  ResumePoint r = DecideResume(w, testing::TestGuid(501));
  EXPECT_TRUE(r.full_sync);
  EXPECT_THAT(r.reason, HasSubstr("invocationId changed"));
  EXPECT_EQ(r.watermark.usn(), 0);
}

TEST(DecideResume, TheSameInvocationIdResumesAtTheUsn) {
  WatermarkState w;
  w.has_watermark = true;
  w.invocation_id = testing::TestGuid(500);
  w.usn = 100;
  ResumePoint r = DecideResume(w, testing::TestGuid(500));
  EXPECT_FALSE(r.full_sync);
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(r.watermark.invocation_id(), testing::TestGuid(500));
  EXPECT_EQ(r.watermark.usn(), 100);
}

TEST_F(SessionPolicyTest, AFreeLeaseMakesThePrimary) {
  store_.watermark_.has_watermark = true;
  store_.watermark_.invocation_id = invocation_;
  store_.watermark_.usn = 100;
  SessionPolicy::HelloOutcome outcome = Admit();
  ASSERT_TRUE(outcome.admission.ok());
  absl::StatusOr<SessionPolicy::Role> role =
      policy_.TakeRole(*outcome.admission, invocation_, /*now_ms=*/1000);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->primary);
  EXPECT_EQ(role->epoch, 1u);
  EXPECT_FALSE(role->resume.full_sync);
  EXPECT_EQ(role->resume.watermark.usn(), 100);
  EXPECT_EQ(store_.lease_reason_,
            "connected while the domain had no live primary");
  EXPECT_EQ(store_.lease_last_sequence_, 0u);
}

TEST_F(SessionPolicyTest, ALeaseHeldByAnotherMakesAStandby) {
  store_.lease_holder_ = "5e1c3d4a-0000-4000-8000-0000000000dd";
  store_.lease_epoch_ = 4;
  SessionPolicy::HelloOutcome outcome = Admit();
  ASSERT_TRUE(outcome.admission.ok());
  absl::StatusOr<SessionPolicy::Role> role =
      policy_.TakeRole(*outcome.admission, invocation_, /*now_ms=*/1000);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_FALSE(role->primary);
  EXPECT_EQ(role->epoch, 4u);
  // A standby is told nothing about where to start.
  EXPECT_FALSE(role->resume.full_sync);
  EXPECT_EQ(role->resume.reason, "");
}

TEST_F(SessionPolicyTest, ALeaseTheStoreCannotGrantEndsTheHello) {
  store_.lease_error_ = absl::UnavailableError("database is locked");
  SessionPolicy::HelloOutcome outcome = Admit();
  ASSERT_TRUE(outcome.admission.ok());
  EXPECT_EQ(policy_.TakeRole(*outcome.admission, invocation_, 1000).status(),
            store_.lease_error_);
}

TEST_F(SessionPolicyTest, APromotedStandbyStartsWhereTheWatermarkSays) {
  store_.lease_epoch_ = 3;  // the lapsed primary's
  absl::StatusOr<SessionPolicy::Role> role = policy_.Promote(
      store_.sync_, invocation_, "the primary stopped heartbeating",
      /*last_sequence=*/7, /*now_ms=*/1000);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->primary);
  EXPECT_EQ(role->epoch, 4u);
  EXPECT_TRUE(role->resume.full_sync);
  EXPECT_EQ(role->resume.reason, "no watermark yet");
  EXPECT_EQ(store_.lease_reason_, "the primary stopped heartbeating");
  EXPECT_EQ(store_.lease_last_sequence_, 7u);
}

TEST_F(SessionPolicyTest, APromotionRefusedStaysAStandbyUnlessTheSyncIsGone) {
  store_.lease_holder_ = "5e1c3d4a-0000-4000-8000-0000000000dd";
  absl::StatusOr<SessionPolicy::Role> role =
      policy_.Promote(store_.sync_, invocation_, "why", 0, 1000);
  ASSERT_TRUE(role.ok());
  EXPECT_FALSE(role->primary);

  // The monitor asks again after a store that could not answer...
  store_.lease_error_ = absl::UnavailableError("database is locked");
  role = policy_.Promote(store_.sync_, invocation_, "why", 0, 1000);
  ASSERT_TRUE(role.ok());
  EXPECT_FALSE(role->primary);

  // ...but a removed sync, or a rotated key, ends the stream.
  store_.lease_error_ = absl::PermissionDeniedError("the AD Sync was removed");
  EXPECT_EQ(policy_.Promote(store_.sync_, invocation_, "why", 0, 1000).status(),
            store_.lease_error_);

  store_.watermark_error_ = absl::UnavailableError("database is locked");
  EXPECT_EQ(policy_.Promote(store_.sync_, invocation_, "why", 0, 1000).status(),
            store_.watermark_error_);
}

TEST(CheckHelloSizes, EachFieldAndTheWholeHelloHaveACap) {
  adsync::v1::Hello hello;
  hello.set_invocation_id(testing::TestGuid(500));
  EXPECT_TRUE(CheckHelloSizes(hello).ok());

  adsync::v1::Hello long_name = hello;
  long_name.set_domain_netbios_name(std::string(16, 'A'));
  absl::Status s = CheckHelloSizes(long_name);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("Hello.domain_netbios_name is 16 bytes, "
                                     "more than 15 allowed"));

  adsync::v1::Hello no_invocation = hello;
  no_invocation.clear_invocation_id();
  EXPECT_THAT(CheckHelloSizes(no_invocation).message(),
              HasSubstr("16-byte invocationId"));

  adsync::v1::Hello huge = hello;
  // Cursors are not capped one by one: only the whole Hello is.
  for (int i = 0; i < 4000; ++i) {
    adsync::v1::ReplicationCursor* c = huge.mutable_position()->add_cursors();
    c->set_invocation_id(testing::TestGuid(i));
    c->set_usn(i);
  }
  s = CheckHelloSizes(huge);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("more than 65536 allowed"));
}

}  // namespace
}  // namespace adsync
