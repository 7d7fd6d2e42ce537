// What an agent's stream is allowed to do, apart from the stream itself:
// from the agent's Hello and what the Store answers, whether the Hello is
// refused (and why), and otherwise whether its agent becomes its domain's
// primary (and where it starts: a full sync, or its watermark) or a
// standby. The gateway's Session does the stream handling (reads, writes,
// threads, metrics, the log, the HelloLimiter) and asks this class; nothing
// here knows gRPC, so every rule is tested against a fake AgentStore
// (tests/coordinator/session_policy_test.cc).
//
// A Hello passes, in order, with the gateway's own work between:
//
//   (the gateway's HelloLimiter: is its source address blocked?)
//   CheckHelloSizes  before any other work (no store involved); Admit
//                    checks again;
//   Admit            key, source address, client certificate, domain and
//                    domain SID; then the watermark is read and the
//                    connection recorded. A refusal is recorded with
//                    AgentStore::RecordRejection;
//   (the gateway ends the other streams of the same AD Sync)
//   TakeRole         the domain's lease: primary or standby.
//
// Promote is TakeRole for a standby the lease monitor chose.
//
// Messages are the coordinator's own text (what they quote of a Hello was
// checked first) and say what the operator or the agent should do: they go
// to the agent, the log and the org's status.
//
// Thread-safety: SessionPolicy keeps no state of its own and AgentStore is
// thread-safe, so one policy may be used from any number of threads.
#ifndef ADSYNC_COORDINATOR_SESSION_POLICY_H_
#define ADSYNC_COORDINATOR_SESSION_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adsync/v1/agent.pb.h"
#include "coordinator/store.h"

namespace adsync {

// Where a (newly) primary agent starts: from its own controller's
// watermark, or a full sync when there is none or it cannot be trusted.
struct ResumePoint {
  bool full_sync = false;
  std::string reason;               // why a full sync; "" when resuming
  adsync::v1::Watermark watermark;  // where to resume; unset for a full sync
};

// `invocation_id` is the agent's DC's, from its Hello: a watermark's USN
// means something only on the DC (invocationId) that wrote it.
ResumePoint DecideResume(const WatermarkState& w,
                         const std::string& invocation_id);

// Checks the size of the Hello and of every field in it before any other
// work: a Hello is unauthenticated input, and nothing of it may be stored,
// logged or hashed at a size the agent chose. InvalidArgument naming the
// field and the limit, never the value.
absl::Status CheckHelloSizes(const adsync::v1::Hello& hello);

class SessionPolicy {
 public:
  // A refused Hello. The stream ends with `status`; its message is the
  // reason AgentStore::RecordRejection recorded.
  struct Rejection {
    absl::Status status;
    std::string metric;  // the rejections metric's reason label
    // Who the Hello was from, for the log and the HelloLimiter: the AD
    // Sync its key authenticated as; before that, the Org ID it claimed
    // when it is one ("" otherwise: it is unauthenticated input).
    std::string org_id;
    std::string sync_id;
    // A failed Hello in hello_limiter.h's sense (unknown org, wrong key,
    // address not allowed) that counts against its source address; a
    // store that could not answer is not the agent's failure.
    bool failed_hello = false;
  };

  // An admitted Hello: its AD Sync and what its stream needs.
  struct Admission {
    SyncRecord sync;
    std::string domain_sid;  // text form; "" when none is pinned
    WatermarkState watermark;
  };

  struct HelloOutcome {
    // The admission, or the status the stream ends with.
    absl::StatusOr<Admission> admission;
    // Set when the Hello was refused (a store that could not authenticate
    // it included); unset when it was admitted, or passed every check but
    // the store then failed: nothing to count or record.
    std::optional<Rejection> rejection;
  };

  // From the domain's lease.
  struct Role {
    bool primary = false;
    uint64_t epoch = 0;  // of the lease; the stream's batches carry it
    ResumePoint resume;  // a primary's only
  };

  // REQUIRES: `store` outlives the policy.
  SessionPolicy(AgentStore* store, int64_t lease_ttl_ms);

  // `peer_ip` is the address the Hello came from; `certificate_names` the
  // names (subject CN, then subjectAltNames) of the agent's CA-verified
  // client certificate when certificates must name their AD Sync, nullopt
  // when they need not. A Hello that fails CheckHelloSizes is refused
  // before the store sees it (and not recorded: nothing of it is safe to
  // keep).
  HelloOutcome Admit(
      const adsync::v1::Hello& hello, const std::string& peer_ip,
      const std::optional<std::vector<std::string>>& certificate_names) const;

  // The role of an admitted Hello's stream: primary when the domain's lease
  // is free, lapsed or the sync's own (always at a new epoch, which fences
  // whatever an older stream of the sync still sends); standby otherwise.
  // `invocation_id` is the Hello's. Not OK: the stream ends with it.
  absl::StatusOr<Role> TakeRole(const Admission& admission,
                                const std::string& invocation_id,
                                int64_t now_ms) const;

  // Asks the store to make a standby the primary (`reason` is recorded
  // with the change of holder; `last_sequence` is the stream's last
  // batch). Not OK: the stream ends with it (the watermark could not be
  // read, or the sync was removed or its key rotated). A lease the store
  // did not grant, for whatever other reason, leaves it a standby: the
  // lease monitor asks again.
  absl::StatusOr<Role> Promote(const SyncRecord& sync,
                               const std::string& invocation_id,
                               const std::string& reason,
                               uint64_t last_sequence, int64_t now_ms) const;

 private:
  // Records `rejection` (as from `org_id`, which may be the claimed one)
  // and returns it as the outcome.
  HelloOutcome Reject(Rejection rejection, const std::string& org_id,
                      const std::string& peer_ip) const;

  AgentStore* const store_;
  const int64_t lease_ttl_ms_;
};

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_SESSION_POLICY_H_
