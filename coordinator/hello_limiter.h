// Rate limit on failed Hellos (unknown org, wrong key, address not allowed)
// per source address: a host guessing keys, or a misconfigured agent
// retrying in a tight loop, must not cost a key hash and a store write
// per attempt, nor fill the org's rejection list.
//
// After `max_failures` failures within a minute an address is refused for
// a minute without its Hello being checked. Memory is bounded: at most
// `max_tracked` addresses are remembered (the stalest are forgotten).
// Thread-safe.
#ifndef ADSYNC_COORDINATOR_HELLO_LIMITER_H_
#define ADSYNC_COORDINATOR_HELLO_LIMITER_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace adsync {

struct BlockedSource {
  std::string ip;
  std::string org_id;            // the org its last failed Hello named
  uint32_t failures = 0;         // failed Hellos in the last minute
  uint64_t refused = 0;          // Hellos refused unchecked while blocked
  int64_t blocked_until_ms = 0;  // 0 = not blocked
};

class HelloLimiter {
 public:
  HelloLimiter(uint32_t max_failures, size_t max_tracked = 10000);

  // OK, or ResourceExhausted (naming the address, how long, and what to
  // fix) while `ip` is blocked; counts the refusal.
  absl::Status Admit(const std::string& ip, int64_t now_ms);
  // A Hello from `ip` naming `org_id` failed authentication.
  void RecordFailure(const std::string& ip, const std::string& org_id,
                     int64_t now_ms);
  // Addresses blocked now, or with failures in the last minute.
  std::vector<BlockedSource> Sources(int64_t now_ms);

 private:
  struct Entry {
    std::deque<int64_t> failures_ms;  // within the last minute
    std::string org_id;
    uint64_t refused = 0;
    int64_t blocked_until_ms = 0;
    int64_t last_seen_ms = 0;
  };
  static void Expire(Entry* e, int64_t now_ms);
  void ForgetStalestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t max_failures_;
  const size_t max_tracked_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_HELLO_LIMITER_H_
