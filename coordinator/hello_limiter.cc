#include "coordinator/hello_limiter.h"

#include "absl/strings/str_cat.h"

namespace adsync {
namespace {
constexpr int64_t kWindowMs = 60 * 1000;
}  // namespace

HelloLimiter::HelloLimiter(uint32_t max_failures, size_t max_tracked)
    : max_failures_(max_failures), max_tracked_(max_tracked) {}

void HelloLimiter::Expire(Entry* e, int64_t now_ms) {
  while (!e->failures_ms.empty() &&
         e->failures_ms.front() <= now_ms - kWindowMs)
    e->failures_ms.pop_front();
  if (e->blocked_until_ms != 0 && e->blocked_until_ms <= now_ms)
    e->blocked_until_ms = 0;
}

absl::Status HelloLimiter::Admit(const std::string& ip, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return absl::OkStatus();
  Entry& e = it->second;
  Expire(&e, now_ms);
  if (e.blocked_until_ms == 0) return absl::OkStatus();
  ++e.refused;
  e.last_seen_ms = now_ms;
  return absl::ResourceExhaustedError(absl::StrCat(
      "too many failed Hellos from ", ip, " (", max_failures_,
      " a minute); Hellos from it are refused unchecked for another ",
      (e.blocked_until_ms - now_ms + 999) / 1000,
      " s. Fix the agent's org_id, sync key file or address (see the "
      "org's recent rejections in `adsyncctl status`), then wait"));
}

void HelloLimiter::RecordFailure(const std::string& ip,
                                 const std::string& org_id, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (!entries_.contains(ip) && entries_.size() >= max_tracked_)
    ForgetStalestLocked();
  Entry& e = entries_[ip];
  Expire(&e, now_ms);
  e.failures_ms.push_back(now_ms);
  e.org_id = org_id;
  e.last_seen_ms = now_ms;
  if (e.failures_ms.size() >= max_failures_) {
    e.blocked_until_ms = now_ms + kWindowMs;
  }
}

void HelloLimiter::ForgetStalestLocked() {
  auto stalest = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second.last_seen_ms < stalest->second.last_seen_ms) stalest = it;
  }
  if (stalest != entries_.end()) entries_.erase(stalest);
}

std::vector<BlockedSource> HelloLimiter::Sources(int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  std::vector<BlockedSource> out;
  for (auto& [ip, e] : entries_) {
    Expire(&e, now_ms);
    if (e.failures_ms.empty() && e.blocked_until_ms == 0) continue;
    out.push_back({ip, e.org_id, static_cast<uint32_t>(e.failures_ms.size()),
                   e.refused, e.blocked_until_ms});
  }
  return out;
}

}  // namespace adsync
