// Whether the primary's DC still answers. A DC whose packets are dropped
// (no RST, no FIN) leaves the agent waiting on its change notification
// forever while the agent keeps heartbeating: the coordinator would see a
// healthy primary that delivers nothing. So the primary asks its DC a cheap
// question (ProbeLiveness: the rootDSE's highestCommittedUSN) whenever the
// DC has been quiet for a heartbeat interval, before a search for all
// changes when the DC has been quiet for a moment, and half an interval
// after a missed answer; it gives its lease up once the DC has
// not answered for DcSilenceBound. A probe may wait for most of what is
// left of that bound (ProbeTimeout), so a DC that is slow but answers
// keeps its primary.
//
// Thread-compatible: one agent thread uses it.
#ifndef ADSYNC_AGENT_DC_LIVENESS_H_
#define ADSYNC_AGENT_DC_LIVENESS_H_

#include "absl/time/time.h"

namespace adsync {

// How long the DC may stay silent before its primary gives the lease up:
// the coordinator's lease TTL less one heartbeat interval. A DC that does
// not answer makes the agent as useless as an agent that stopped
// heartbeating, so it must not keep the lease longer than the coordinator
// would keep a silent agent's (the TTL); the interval taken off leaves the
// handover (lease released, standby promoted, its catch-up) room to end
// within the TTL plus a second. The coordinator refuses a TTL below two
// intervals, so the bound is at least one interval: at least two probes,
// and one slow answer is not enough to give up. `lease_ttl` zero (an older
// coordinator that does not send it): the default ratio, 3 intervals.
absl::Duration DcSilenceBound(absl::Duration heartbeat,
                              absl::Duration lease_ttl);

class DcLiveness {
 public:
  // The DC answered at `now` (the session just read it).
  DcLiveness(absl::Duration heartbeat, absl::Duration bound, absl::Time now);

  // Any successful read of the DC: a change notification, a sync cycle, a
  // probe.
  void Answered(absl::Time now);
  // A probe that ended at `now` got no answer (timed out or failed).
  void Missed(absl::Time now);
  // A probe was missed since the last answer.
  bool slow() const { return slow_; }
  // The agent itself did not run for a while (SIGSTOP, a suspended VM):
  // it was not asking, so the time since the last answer says nothing
  // about the DC. The count starts again at `now`, with a probe due now.
  void Resumed(absl::Time now);

  // When the next probe is due: a heartbeat interval after the last
  // answer; once one was missed, half an interval after it, and when the
  // bound runs out at the latest.
  absl::Time NextProbe() const;
  // True when the DC has not answered for `quiet`.
  bool QuietFor(absl::Duration quiet, absl::Time now) const;

  // How long a probe sent at `now` may wait for its answer: whatever the
  // bound has left (at least 1 ms), but never more than the bound less half
  // an interval (the lease TTL less 1.5 intervals), so that the heartbeats
  // sent on either side of a probe stay less than the TTL apart. A slow DC
  // that answers within the bound is never given up: an answer that comes
  // late but within it counts (with the defaults, a probe sent after two
  // quiet seconds waits up to two more).
  absl::Duration ProbeTimeout(absl::Time now) const;

  // True once the DC has not answered for the bound: give the lease up.
  bool Lost(absl::Time now) const;

  absl::Duration Silence(absl::Time now) const { return now - last_answer_; }
  absl::Duration bound() const { return bound_; }

 private:
  const absl::Duration heartbeat_;
  const absl::Duration bound_;
  absl::Time last_answer_;
  absl::Time last_miss_ = absl::InfinitePast();
  bool slow_ = false;
  bool probe_now_ = false;  // Resumed
};

}  // namespace adsync

#endif  // ADSYNC_AGENT_DC_LIVENESS_H_
