// The agent's life: connect to the DC and the coordinator, sync (full or
// from the coordinator's watermark), then follow changes (change
// notification, or polling) until stopped; reconnect with exponential
// backoff and jitter on any failure.
//
// Thread-safety: Run* from one thread; `stop` may be set from any thread.
#ifndef ADSYNC_AGENT_AGENT_H_
#define ADSYNC_AGENT_AGENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adsync/v1/config.pb.h"
#include "agent/agent_config.h"
#include "agent/directory.h"
#include "agent/ldap_options.h"

namespace adsync {

class DcLiveness;  // dc_liveness.h

class Agent {
 public:
  // REQUIRES: `config` was resolved by ResolveAgentConfig.
  Agent(adsync::v1::AgentConfig config, AgentSecrets secrets,
        DirectoryFactory directories);

  // One sync cycle, then return (for scheduled tasks).
  absl::Status RunOnce();
  // Until *stop becomes true.
  void RunForever(const std::atomic<bool>* stop);

 private:
  // One session's DC connection, tracker and coordinator link, and where
  // its sync stands (agent.cc).
  struct Connection;

  // Connects, then alternates standby and primary (catch up, follow
  // changes) until stopped or something fails; with `once`, returns after
  // catching up (at once when the coordinator makes it a standby).
  absl::Status Session(bool once, const std::atomic<bool>* stop);

  // The phases of a session, in the order it goes through them: Connect
  // (the DC, then the first coordinator that answers), then RunPhases
  // alternates Standby and CatchUp + FollowChanges.
  absl::StatusOr<std::unique_ptr<Connection>> Connect();
  absl::Status RunPhases(Connection* c, bool once,
                         const std::atomic<bool>* stop);
  absl::Status Standby(Connection* c, const std::atomic<bool>* stop);
  absl::Status CatchUp(Connection* c);
  absl::Status FollowChanges(Connection* c, const std::atomic<bool>* stop);
  // Asks the DC whether it still answers (dc_liveness.h): true when it
  // did, false when not this time, an error once it has been silent for
  // the bound (the session then ends, which gives the lease up).
  absl::StatusOr<bool> ProbeDc(Connection* c, DcLiveness* dc_alive);
  void StartWatching(Connection* c);
  // The directory's WaitForChange, except that a registration the DC ended
  // (an admin limit, its notification service restarting) is made again on
  // the same connection, at most once a minute: the notice then says that
  // something changed that it does not name, so a primary searches for
  // what the gap hid. The error ends the session only when registering
  // again fails (the connection is gone) or the DC keeps ending it.
  absl::StatusOr<ChangeNotice> WaitForChange(Connection* c,
                                             absl::Duration timeout);
  // Drops the notifications queued while this agent sent nothing (a
  // standby, or before a catch-up): the catch-up's search covers what they
  // carry, and left queued they would hold memory without bound and send
  // old states after it.
  absl::Status DropQueuedNotifications(Connection* c);

  const adsync::v1::AgentConfig config_;
  const AgentSecrets secrets_;
  DirectoryFactory directories_;
  const std::vector<std::string> coordinators_;  // at least one
  // Where the next Connect starts in coordinators_: the one after the
  // coordinator of the last session that failed. Only the thread running
  // the agent touches it.
  size_t next_coordinator_ = 0;
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_AGENT_H_
