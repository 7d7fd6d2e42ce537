// Exponential backoff with jitter, for anything that retries a remote peer
// (the agent reconnecting to its coordinator, the coordinator pushing to
// K12Panel): the n-th consecutive failure (from 0) waits a random time in
// [d/2, d], d = min(initial * 2^n, max), so that many clients that failed
// together do not retry together.
//
//   std::mt19937_64 rng(std::random_device{}());
//   absl::SleepFor(JitteredBackoff(absl::Seconds(1), absl::Minutes(1),
//                                  failures++, rng));
#ifndef ADSYNC_COMMON_BACKOFF_H_
#define ADSYNC_COMMON_BACKOFF_H_

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/time/time.h"

namespace adsync {

inline absl::Duration JitteredBackoff(absl::Duration initial,
                                      absl::Duration max, int failures,
                                      std::mt19937_64& rng) {
  // 2^62 times any positive duration saturates absl::Duration anyway.
  const double factor = std::pow(2.0, std::clamp(failures, 0, 62));
  const absl::Duration ceiling = std::min(max, initial * factor);
  return ceiling * std::uniform_real_distribution<double>(0.5, 1.0)(rng);
}

}  // namespace adsync

#endif  // ADSYNC_COMMON_BACKOFF_H_
