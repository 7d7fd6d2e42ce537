// The coordinator binary's storage under crashes and outages: kill -9 in
// the middle of ingest, and a full disk (a real tmpfs of a few MB mounted
// over its directory in a private mount namespace). Every acknowledged
// delta stays stored; a batch that does not fit is refused with a clear,
// retryable error and changes nothing; once space is freed the agent's
// retry goes through.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/e2e_harness.h"
#include "tests/support/wire_agent.h"

namespace adsync::testing {
namespace {

using ::testing::HasSubstr;

adsync::v1::Batch Accounts(int first, int n) {
  std::vector<DeltaSpec> specs;
  for (int i = first; i < first + n; ++i) {
    specs.push_back({.guid = static_cast<uint32_t>(i + 1),
                     .sam = absl::StrCat("u", i),
                     .mail = absl::StrCat("u", i, "@d.org"),
                     .display_name = std::string(200, 'x')});
  }
  return MakeBatch(1, specs);
}

TEST(StorageE2eTest, FullDiskRefusesTheBatchClearlyAndRecovers) {
  TempDir dir;
  Coordinator coordinator(dir.path());
  // Inside its own mount namespace: keep the config and token, mount a
  // 6 MiB tmpfs over the directory, leave ~2.5 MiB free, exec.
  const std::string d = dir.path();
  coordinator.set_launch_prefix(
      {"unshare", "--mount", "sh", "-c",
       absl::StrCat(
           "set -e; keep=$(mktemp -d); cp -a ", d, "/. $keep/; ",
           "mount -t tmpfs -o size=6m tmpfs ", d, "; cp -a $keep/. ", d,
           "/; dd if=/dev/zero of=", d,
           "/filler bs=512k count=7 2>/dev/null; exec \"$0\" \"$@\"")});
  coordinator.Start();
  const std::string org = coordinator.CreateOrg("Springfield USD");
  const std::string key = coordinator.AddSync(org, "DISTRICT", "127.0.0.1");

  uint64_t acked = 0;
  int failed_first = -1;
  grpc::Status refusal;
  {
    WireAgent agent(coordinator.agent_target(), absl::Seconds(60),
                    E2eAgentCredentials());
    ASSERT_TRUE(agent.Hello(org, key, TestGuid(900)).has_hello_result());
    for (int b = 0; b < 40 && failed_first < 0; ++b) {
      adsync::v1::Batch batch = Accounts(b * 500, 500);
      batch.set_sequence(b + 1);
      agent.Send(batch);
      adsync::v1::CoordinatorMessage reply = agent.Read();
      if (reply.has_ack()) {
        acked += reply.ack().applied();
      } else {
        failed_first = b * 500;
        refusal = agent.Close();
      }
    }
  }
  ASSERT_GE(failed_first, 0) << "the disk never filled up";
  ASSERT_GT(acked, 0u);
  EXPECT_EQ(refusal.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refusal.error_message(), HasSubstr("the disk is full"));
  EXPECT_THAT(refusal.error_message(), HasSubstr("the agent will retry"));
  // Reads still work, and exactly the acknowledged accounts are stored.
  EXPECT_EQ(coordinator.Status(org).counts().profiles(), acked);
  EXPECT_THAT(coordinator.Log(), HasSubstr("the disk is full"));

  // Free space (inside the coordinator's namespace), then retry.
  RunResult freed =
      RunCommand({"nsenter", "-t", absl::StrCat(coordinator.pid()), "-m", "rm",
                  d + "/filler"});
  ASSERT_EQ(freed.exit_code, 0) << freed.output;
  WireAgent retry(coordinator.agent_target(), absl::Seconds(60),
                  E2eAgentCredentials());
  ASSERT_TRUE(retry.Hello(org, key, TestGuid(900)).has_hello_result());
  retry.Send(Accounts(failed_first, 500));
  adsync::v1::CoordinatorMessage reply = retry.Read();
  ASSERT_TRUE(reply.has_ack()) << retry.Close().error_message();
  EXPECT_EQ(reply.ack().applied(), 500u);
  EXPECT_EQ(coordinator.Status(org).counts().profiles(), acked + 500);
  retry.Close();
}

TEST(StorageE2eTest, KillDuringIngestKeepsEveryAcknowledgedDelta) {
  TempDir dir;
  Coordinator coordinator(dir.path());
  coordinator.Start();
  const std::string org = coordinator.CreateOrg("Springfield USD");
  const std::string key = coordinator.AddSync(org, "DISTRICT", "127.0.0.1");
  // Stream batches of 500 with up to 4 unacknowledged; kill -9 the
  // coordinator once 10 batches are acknowledged, mid-stream.
  constexpr int kWindow = 4;
  constexpr int kBatch = 500;
  uint64_t acked = 0;
  int sent = 0;
  {
    WireAgent agent(coordinator.agent_target(), absl::Seconds(60),
                    E2eAgentCredentials());
    ASSERT_TRUE(agent.Hello(org, key, TestGuid(900)).has_hello_result());
    int in_flight = 0;
    while (true) {
      while (in_flight < kWindow && sent < 100) {
        adsync::v1::Batch batch = Accounts(sent * kBatch, kBatch);
        batch.set_sequence(sent + 1);
        agent.Send(batch);
        ++sent;
        ++in_flight;
      }
      adsync::v1::CoordinatorMessage reply = agent.Read();
      if (!reply.has_ack()) break;
      acked += reply.ack().applied();
      --in_flight;
      if (acked == 10 * kBatch) coordinator.Kill9();
    }
  }
  ASSERT_GE(acked, 10u * kBatch);
  ASSERT_LT(sent, 100) << "the kill came after the stream ended";
  coordinator.Start();  // same database
  const uint64_t stored = coordinator.Status(org).counts().profiles();
  // Every acknowledged delta is there; of the unacknowledged batches, each
  // is there entirely or not at all.
  EXPECT_GE(stored, acked);
  EXPECT_LE(stored, static_cast<uint64_t>(sent) * kBatch);
  EXPECT_EQ(stored % kBatch, 0u);
  for (uint64_t i = 0; i < acked; i += 97) {
    EXPECT_TRUE(
        coordinator.Resolve(org, absl::StrCat("DISTRICT\\u", i)).found())
        << i;
  }
}

}  // namespace
}  // namespace adsync::testing
