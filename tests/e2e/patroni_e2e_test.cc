// PostgreSQL's production failover end to end: a real Patroni cluster (one
// etcd member, two PostgreSQL nodes in synchronous mode, scripts/patroni.sh)
// under the real coordinator, which connects with a multi-host connection
// string. The leader's machine dies (Patroni and PostgreSQL killed -9):
// Patroni promotes the replica, the coordinator reconnects by itself, an
// agent's next batch is stored, and nothing acknowledged before is lost.
#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"
#include "tests/support/wire_agent.h"

namespace adsync::testing {
namespace {

// etcd, PostgreSQL and Patroni's REST APIs: 23300-23321, below the kernel's
// ephemeral range (32768-60999), where the outgoing connections of tests
// running beside this one could hold a port it needs.
constexpr int kBasePort = 23300;

std::string Patroni(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SourcePath("scripts/patroni.sh")};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << ": " << r.output;
  return std::string(absl::StripAsciiWhitespace(r.output));
}

class PatroniE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Patroni({"start", cluster_.path(), absl::StrCat(kBasePort)});
    ASSERT_FALSE(HasFailure()) << "the Patroni cluster did not start";
    ASSERT_EQ(mkdir(dir_.File("c").c_str(), 0700), 0);
    coordinator_ = std::make_unique<Coordinator>(
        dir_.File("c"), "heartbeat_interval_ms: 500\nlease_ttl_ms: 2000\n",
        Patroni({"conninfo", cluster_.path()}));
    coordinator_->Start();
    org_ = coordinator_->CreateOrg("Springfield USD");
    key_ = coordinator_->AddSync(org_, "DISTRICT", "127.0.0.1");
  }
  void TearDown() override {
    // After a set-up that failed half way: what did start is stopped.
    if (coordinator_ != nullptr) coordinator_->Stop();
    Patroni({"stop", cluster_.path()});
  }

  // One session: Hello, then `batch`; true when it was acknowledged.
  bool SendOnce(adsync::v1::Batch batch) {
    WireAgent agent(coordinator_->agent_target("127.0.0.1"), absl::Seconds(10),
                    E2eAgentCredentials());
    adsync::v1::CoordinatorMessage hello = agent.Hello(org_, key_, TestGuid(9));
    if (!hello.has_hello_result() ||
        hello.hello_result().role() != adsync::v1::ROLE_PRIMARY) {
      return false;
    }
    agent.Send(std::move(batch));
    const bool acked = agent.Read().has_ack();
    agent.Close();
    return acked;
  }

  adsync::v1::Batch BatchOf(uint32_t guid, const std::string& sam,
                            int64_t usn) {
    adsync::v1::Batch batch = MakeBatch(1, {{.guid = guid, .sam = sam}});
    batch.set_full_sync_begin(usn == 100);
    batch.set_full_sync_end(usn == 100);
    batch.mutable_watermark()->set_invocation_id(TestGuid(9));
    batch.mutable_watermark()->set_usn(usn);
    return batch;
  }

  TempDir cluster_;
  TempDir dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string org_, key_;
};

TEST_F(PatroniE2eTest, TheCoordinatorFollowsAPatroniFailover) {
  ASSERT_TRUE(SendOnce(BatchOf(1, "before", 100))) << coordinator_->Log();
  const std::string old_leader = Patroni({"leader", cluster_.path()});
  const std::string new_leader = old_leader == "pg1" ? "pg2" : "pg1";

  const absl::Time killed = absl::Now();
  EXPECT_EQ(Patroni({"kill-leader", cluster_.path()}), old_leader);
  // The agent keeps retrying, as a real one does after a failed batch.
  bool stored = false;
  const absl::Time deadline = killed + absl::Seconds(60);
  while (!stored && absl::Now() < deadline) {
    stored = SendOnce(BatchOf(2, "after", 200));
    if (!stored) absl::SleepFor(absl::Milliseconds(250));
  }
  const absl::Time batch_stored = absl::Now();
  ASSERT_TRUE(stored) << coordinator_->Log();
  EXPECT_EQ(Patroni({"leader", cluster_.path()}), new_leader);
  std::printf(
      "[ measure  ] Patroni leader killed -> the next batch stored through "
      "the new leader: %.2f s\n",
      absl::ToDoubleSeconds(batch_stored - killed));

  // What was acknowledged before the failover is still there, and the
  // coordinator answers from the new leader.
  EXPECT_TRUE(coordinator_->Resolve(org_, "DISTRICT\\before").found());
  EXPECT_TRUE(coordinator_->Resolve(org_, "DISTRICT\\after").found());
  EXPECT_EQ(coordinator_->Status(org_).counts().profiles(), 2u);
}

}  // namespace
}  // namespace adsync::testing
