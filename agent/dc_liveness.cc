#include "agent/dc_liveness.h"

#include <algorithm>

namespace adsync {

absl::Duration DcSilenceBound(absl::Duration heartbeat,
                              absl::Duration lease_ttl) {
  if (lease_ttl <= absl::ZeroDuration()) lease_ttl = 3 * heartbeat;
  // Never below one interval, whatever an old or misconfigured coordinator
  // says: a single probe must not decide.
  return std::max(lease_ttl - heartbeat, heartbeat);
}

DcLiveness::DcLiveness(absl::Duration heartbeat, absl::Duration bound,
                       absl::Time now)
    : heartbeat_(heartbeat), bound_(bound), last_answer_(now) {}

void DcLiveness::Answered(absl::Time now) {
  if (now < last_answer_) return;  // an older read than the last answer
  last_answer_ = now;
  slow_ = false;
  probe_now_ = false;
}

void DcLiveness::Missed(absl::Time now) {
  last_miss_ = now;
  slow_ = true;
  probe_now_ = false;
}

void DcLiveness::Resumed(absl::Time now) {
  last_answer_ = std::max(last_answer_, now);
  slow_ = false;
  probe_now_ = true;
}

absl::Time DcLiveness::NextProbe() const {
  if (probe_now_) return last_answer_;
  if (!slow_) return last_answer_ + heartbeat_;
  return std::min(last_miss_ + heartbeat_ / 2, last_answer_ + bound_);
}

bool DcLiveness::QuietFor(absl::Duration quiet, absl::Time now) const {
  return now - last_answer_ >= quiet;
}

absl::Duration DcLiveness::ProbeTimeout(absl::Time now) const {
  const absl::Duration left = bound_ - (now - last_answer_);
  // bound - interval/2 = TTL - 1.5 intervals: a heartbeat sent just before
  // the probe and the next one right after it stay less than the TTL
  // apart.
  const absl::Duration longest =
      std::max(heartbeat_ / 2, bound_ - heartbeat_ / 2);
  return std::max(std::min(longest, left), absl::Milliseconds(1));
}

bool DcLiveness::Lost(absl::Time now) const {
  return now - last_answer_ >= bound_;
}

}  // namespace adsync
