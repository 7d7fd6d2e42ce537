#include "common/backoff.h"

#include <algorithm>
#include <random>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

TEST(Backoff, DoublesPerFailureWithJitterInTheUpperHalfUpToTheCap) {
  std::mt19937_64 rng(42);
  const absl::Duration initial = absl::Milliseconds(200);
  const absl::Duration max = absl::Seconds(5);
  for (int failures = 0; failures < 8; ++failures) {
    const absl::Duration ceiling =
        std::min(max, initial * static_cast<int64_t>(1 << failures));
    absl::Duration lowest = absl::InfiniteDuration(), highest;
    for (int i = 0; i < 200; ++i) {
      const absl::Duration d = JitteredBackoff(initial, max, failures, rng);
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
    }
    EXPECT_GE(lowest, ceiling / 2) << failures;
    EXPECT_LE(highest, ceiling) << failures;
    // Jitter: 200 draws are not all the same.
    EXPECT_LT(lowest, highest) << failures;
  }
  // Far past the cap (and past 2^62) it stays within [max/2, max].
  const absl::Duration late = JitteredBackoff(initial, max, 1000, rng);
  EXPECT_GE(late, max / 2);
  EXPECT_LE(late, max);
}

}  // namespace
}  // namespace adsync
