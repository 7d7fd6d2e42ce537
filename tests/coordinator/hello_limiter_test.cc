// HelloLimiter: when an address is blocked, for how long, what it is told,
// and how little it remembers. Time is passed in, so the boundaries are
// exact.
#include "coordinator/hello_limiter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kIp[] = "192.0.2.7";
constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kT0 = 1'700'000'000'000;  // any time, in ms

TEST(HelloLimiterTest, BlocksAnAddressAtItsMaxFailuresAMinute) {
  HelloLimiter limiter(3);
  EXPECT_TRUE(limiter.Admit(kIp, kT0).ok());  // never seen
  limiter.RecordFailure(kIp, "org-1", kT0);
  limiter.RecordFailure(kIp, "org-1", kT0 + 1000);
  EXPECT_TRUE(limiter.Admit(kIp, kT0 + 2000).ok());  // one short
  limiter.RecordFailure(kIp, "org-1", kT0 + 2000);
  const absl::Status refused = limiter.Admit(kIp, kT0 + 2000);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  // Other addresses are not affected.
  EXPECT_TRUE(limiter.Admit("192.0.2.8", kT0 + 2000).ok());
}

TEST(HelloLimiterTest, TheRefusalNamesTheAddressHowLongAndWhatToFix) {
  HelloLimiter limiter(3);
  for (int i = 0; i < 3; ++i) limiter.RecordFailure(kIp, "org-1", kT0);
  const std::string message(limiter.Admit(kIp, kT0).message());
  EXPECT_THAT(message, HasSubstr("too many failed Hellos from 192.0.2.7 "
                                 "(3 a minute)"));
  EXPECT_THAT(message, HasSubstr("refused unchecked for another 60 s"));
  EXPECT_THAT(message,
              HasSubstr("Fix the agent's org_id, sync key file or address"));
  EXPECT_THAT(message, HasSubstr("`adsyncctl status`"));
  // What is left is rounded up: never "another 0 s" while still blocked.
  EXPECT_THAT(std::string(limiter.Admit(kIp, kT0 + 58'500).message()),
              HasSubstr("another 2 s"));
  EXPECT_THAT(std::string(limiter.Admit(kIp, kT0 + kMinute - 1).message()),
              HasSubstr("another 1 s"));
}

TEST(HelloLimiterTest, ABlockLastsExactlyAMinuteFromTheFailureThatTrippedIt) {
  HelloLimiter limiter(2);
  limiter.RecordFailure(kIp, "org-1", kT0);
  limiter.RecordFailure(kIp, "org-1", kT0 + 10'000);  // blocks until +70 s
  EXPECT_FALSE(limiter.Admit(kIp, kT0 + 10'000 + kMinute - 1).ok());
  EXPECT_TRUE(limiter.Admit(kIp, kT0 + 10'000 + kMinute).ok());
}

TEST(HelloLimiterTest, FailuresAMinuteOldNoLongerCount) {
  HelloLimiter limiter(3);
  limiter.RecordFailure(kIp, "org-1", kT0);
  limiter.RecordFailure(kIp, "org-1", kT0 + 30'000);
  // The first failure is exactly a minute old: two remain, no block.
  limiter.RecordFailure(kIp, "org-1", kT0 + kMinute);
  EXPECT_TRUE(limiter.Admit(kIp, kT0 + kMinute).ok());
  // One millisecond less and all three count.
  HelloLimiter strict(3);
  strict.RecordFailure(kIp, "org-1", kT0);
  strict.RecordFailure(kIp, "org-1", kT0 + 30'000);
  strict.RecordFailure(kIp, "org-1", kT0 + kMinute - 1);
  EXPECT_FALSE(strict.Admit(kIp, kT0 + kMinute - 1).ok());
}

TEST(HelloLimiterTest, OneFailureBlocksWhenTheLimitIsOne) {
  HelloLimiter limiter(1);
  limiter.RecordFailure(kIp, "org-1", kT0);
  EXPECT_FALSE(limiter.Admit(kIp, kT0).ok());
}

TEST(HelloLimiterTest, SourcesReportsFailuresRefusalsAndTheLastOrgNamed) {
  HelloLimiter limiter(2);
  limiter.RecordFailure(kIp, "org-1", kT0);
  limiter.RecordFailure(kIp, "org-2", kT0 + 1000);  // blocked
  EXPECT_FALSE(limiter.Admit(kIp, kT0 + 2000).ok());
  EXPECT_FALSE(limiter.Admit(kIp, kT0 + 3000).ok());
  limiter.RecordFailure("192.0.2.8", "org-3", kT0 + 3000);  // not blocked
  const std::vector<BlockedSource> sources = limiter.Sources(kT0 + 3000);
  ASSERT_EQ(sources.size(), 2u);
  const BlockedSource& blocked = sources[0].ip == kIp ? sources[0] : sources[1];
  const BlockedSource& failing = sources[0].ip == kIp ? sources[1] : sources[0];
  EXPECT_EQ(blocked.org_id, "org-2");
  EXPECT_EQ(blocked.failures, 2u);
  EXPECT_EQ(blocked.refused, 2u);
  EXPECT_EQ(blocked.blocked_until_ms, kT0 + 1000 + kMinute);
  EXPECT_EQ(failing.ip, "192.0.2.8");
  EXPECT_EQ(failing.org_id, "org-3");
  EXPECT_EQ(failing.failures, 1u);
  EXPECT_EQ(failing.blocked_until_ms, 0);
}

TEST(HelloLimiterTest, SourcesForgetsAddressesWithNothingInTheLastMinute) {
  HelloLimiter limiter(2);
  limiter.RecordFailure(kIp, "org-1", kT0);
  limiter.RecordFailure(kIp, "org-1", kT0);  // blocked until +60 s
  limiter.RecordFailure("192.0.2.8", "org-1", kT0 + 30'000);
  EXPECT_THAT(limiter.Sources(kT0 + kMinute - 1),
              UnorderedElementsAre(Field(&BlockedSource::ip, kIp),
                                   Field(&BlockedSource::ip, "192.0.2.8")));
  // The block and kIp's failures have expired; 192.0.2.8's failure has not.
  EXPECT_THAT(limiter.Sources(kT0 + kMinute),
              ElementsAre(Field(&BlockedSource::ip, "192.0.2.8")));
  EXPECT_THAT(limiter.Sources(kT0 + 30'000 + kMinute), IsEmpty());
}

TEST(HelloLimiterTest, RemembersAtMostMaxTrackedForgettingTheStalest) {
  HelloLimiter limiter(1, /*max_tracked=*/2);
  limiter.RecordFailure("192.0.2.1", "org-1", kT0);
  limiter.RecordFailure("192.0.2.2", "org-1", kT0 + 1);
  // A refused Hello counts as activity: .1 is now fresher than .2.
  EXPECT_FALSE(limiter.Admit("192.0.2.1", kT0 + 2).ok());
  limiter.RecordFailure("192.0.2.3", "org-1", kT0 + 3);
  EXPECT_THAT(limiter.Sources(kT0 + 3),
              UnorderedElementsAre(Field(&BlockedSource::ip, "192.0.2.1"),
                                   Field(&BlockedSource::ip, "192.0.2.3")));
  EXPECT_TRUE(limiter.Admit("192.0.2.2", kT0 + 3).ok());  // forgotten
  EXPECT_FALSE(limiter.Admit("192.0.2.1", kT0 + 3).ok());
  // A known address failing again does not push anyone out.
  limiter.RecordFailure("192.0.2.3", "org-1", kT0 + 4);
  EXPECT_EQ(limiter.Sources(kT0 + 4).size(), 2u);
}

}  // namespace
}  // namespace adsync
