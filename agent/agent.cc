#include "agent/agent.h"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/change_tracker.h"
#include "agent/coordinator_link.h"
#include "agent/dc_liveness.h"
#include "agent/ldap_errors.h"
#include "common/backoff.h"
#include "common/guid.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace adsync {

Agent::Agent(adsync::v1::AgentConfig config, AgentSecrets secrets,
             DirectoryFactory directories)
    : config_(std::move(config)),
      secrets_(std::move(secrets)),
      directories_(std::move(directories)),
      coordinators_(CoordinatorAddresses(config_)) {}

namespace {

// Forwards to the link, which is created after the tracker reads the DC.
class LinkSink : public BatchSink {
 public:
  absl::Status Send(adsync::v1::Batch batch) override {
    return link->Send(std::move(batch));
  }
  CoordinatorLink* link = nullptr;
};

adsync::v1::Heartbeat Position(const ControllerState& dc) {
  adsync::v1::Heartbeat hb;
  hb.set_highest_committed_usn(dc.highest_committed_usn);
  for (const UpToDateCursor& c : dc.replication) {
    adsync::v1::ReplicationCursor* cursor = hb.add_cursors();
    cursor->set_invocation_id(c.invocation_id);
    cursor->set_usn(c.usn);
  }
  return hb;
}

void LogCycle(const char* kind, const CycleStats& stats, absl::Time start) {
  Log(LogLevel::kInfo, kind,
      {{"deltas", absl::StrCat(stats.deltas)},
       {"skipped", absl::StrCat(stats.skipped)},
       {"usn", absl::StrCat(stats.watermark_usn)},
       {"seconds",
        absl::StrFormat("%.2f", absl::ToDoubleSeconds(absl::Now() - start))}});
}

TrackerOptions TrackerOptionsFor(const adsync::v1::AgentConfig& config) {
  TrackerOptions options;
  options.base_dns.assign(config.ldap().base_dn().begin(),
                          config.ldap().base_dn().end());
  options.filter = config.ldap().filter();
  options.page_size = config.ldap().page_size();
  return options;
}

adsync::v1::Hello HelloFor(const adsync::v1::AgentConfig& config,
                           const AgentSecrets& secrets,
                           const ControllerState& dc) {
  adsync::v1::Hello hello;
  hello.set_org_id(config.org_id());
  hello.set_sync_key(secrets.sync_key);
  hello.set_agent_version("adsync-agent 0.1");
  hello.set_controller(dc.host);
  hello.set_invocation_id(dc.invocation_id);
  // What the DC says, so the coordinator can refuse a key copied onto an
  // agent of another domain; the configured name when the DC has no
  // readable crossRef.
  hello.set_domain_netbios_name(dc.netbios_name.empty() ? config.domain()
                                                        : dc.netbios_name);
  hello.set_domain_dns_name(dc.domain_dns_name);
  hello.set_domain_sid(dc.domain_sid);
  *hello.mutable_position() = Position(dc);
  return hello;
}

}  // namespace

struct Agent::Connection {
  Connection(std::unique_ptr<Directory> dc_directory,
             const TrackerOptions& options)
      : directory(std::move(dc_directory)),
        tracker(directory.get(), &sink, options) {}
  // The tracker points at this connection's directory and sink.
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The sync cycles. Each returns once the coordinator has acknowledged
  // every batch, and only then moves the watermark.

  // Every account of `from`.
  absl::Status FullSync(const ControllerState& from);
  // What changed on `from` since the watermark. Catching up is logged even
  // when no account changed, so the operator sees the agent is current;
  // following changes logs only cycles that sent accounts, or every USN
  // bump from unrelated objects would log a line.
  absl::Status SendChanges(const ControllerState& from, const char* done,
                           bool log_if_none);
  // Sends the accounts among `objects`, what change notifications carried;
  // the watermark stays.
  absl::Status SendNotified(const std::vector<LdapEntry>& objects,
                            absl::Duration read_timeout);
  // Reads the DC and sends what changed: everything when its invocationId
  // changed (restored from backup), as the watermark is then meaningless.
  absl::Status CheckForChanges();

  std::unique_ptr<Directory> directory;
  LinkSink sink;
  ChangeTracker tracker;
  std::unique_ptr<CoordinatorLink> link;
  absl::Duration heartbeat;         // the coordinator's interval
  absl::Duration lease_ttl;         // the coordinator's (0: not said)
  ControllerState dc;               // as last read
  CoordinatorLink::RoleState role;  // as last seen (Standby updates it)
  int64_t watermark = 0;            // the coordinator has `dc` up to this USN
  bool watching = false;            // StartWatching ran
  bool notified = false;            // ... and the DC notifies changes
  // When the DC last ended the notification registration (WaitForChange).
  absl::Time registration_ended = absl::InfinitePast();
  size_t coordinator = 0;  // the link's, in coordinators_
};

absl::Status Agent::Session(bool once, const std::atomic<bool>* stop) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connect());
  absl::Status s = RunPhases(c.get(), once, stop);
  // A coordinator that broke the stream (killed, its machine gone) is the
  // last one to try again.
  if (!s.ok()) next_coordinator_ = (c->coordinator + 1) % coordinators_.size();
  return s;
}

absl::Status Agent::RunPhases(Connection* c, bool once,
                              const std::atomic<bool>* stop) {
  while (!stop->load()) {
    c->role = c->link->role();
    if (c->role.role != adsync::v1::ROLE_PRIMARY) {
      if (once) {
        Log(LogLevel::kInfo,
            "standby: another agent is primary for this domain; nothing to do");
        return absl::OkStatus();
      }
      RETURN_IF_ERROR(Standby(c, stop));
      if (stop->load()) break;
    }
    RETURN_IF_ERROR(CatchUp(c));
    if (once) return absl::OkStatus();
    RETURN_IF_ERROR(FollowChanges(c, stop));
  }
  return absl::OkStatus();
}

// Reads the DC first: the Hello tells the coordinator which DC this is
// and where it stands.
absl::StatusOr<std::unique_ptr<Agent::Connection>> Agent::Connect() {
  auto c =
      std::make_unique<Connection>(directories_(), TrackerOptionsFor(config_));
  RETURN_IF_ERROR(c->directory->Connect());
  ASSIGN_OR_RETURN(c->dc, c->tracker.ReadController());
  // Every coordinator in turn, from the one after the last that failed:
  // with one database behind them, any of them will do.
  const adsync::v1::Hello hello = HelloFor(config_, secrets_, c->dc);
  LinkOptions link_options;
  link_options.credentials = secrets_.coordinator_credentials;
  absl::Status failed;
  for (size_t tried = 0; tried < coordinators_.size() && !c->link; ++tried) {
    const size_t i = (next_coordinator_ + tried) % coordinators_.size();
    link_options.target = coordinators_[i];
    absl::StatusOr<std::unique_ptr<CoordinatorLink>> link =
        CoordinatorLink::Open(link_options, hello);
    if (link.ok()) {
      c->link = *std::move(link);
      c->coordinator = i;
      break;
    }
    failed = link.status();
    if (coordinators_.size() > 1) {
      Log(LogLevel::kWarning, "coordinator unavailable, trying the next",
          {{"coordinator", coordinators_[i]},
           {"error", std::string(failed.message())}});
    }
  }
  if (!c->link) return failed;
  c->sink.link = c->link.get();
  const adsync::v1::HelloResult& hr = c->link->hello_result();
  Log(LogLevel::kInfo, "connected",
      {{"controller", c->dc.host},
       {"invocation_id", *GuidBinaryToString(c->dc.invocation_id)},
       {"sync", hr.sync_id()},
       {"full_sync", hr.full_sync_required() ? hr.full_sync_reason() : "no"},
       {"coordinator", coordinators_[c->coordinator]}});
  c->heartbeat = absl::Milliseconds(
      hr.heartbeat_interval_ms() ? hr.heartbeat_interval_ms() : 2000);
  c->lease_ttl = absl::Milliseconds(hr.lease_ttl_ms());
  return c;
}

// Stays connected and heartbeating until promoted, then reads the DC again:
// it moved on meanwhile.
absl::Status Agent::Standby(Connection* c, const std::atomic<bool>* stop) {
  Log(LogLevel::kInfo, "standby", {{"epoch", absl::StrCat(c->role.epoch)}});
  while (!stop->load() && c->role.role != adsync::v1::ROLE_PRIMARY) {
    RETURN_IF_ERROR(DropQueuedNotifications(c));
    // Read where our DC stands so status can show its replication lag.
    ASSIGN_OR_RETURN(c->dc, c->tracker.ReadController());
    RETURN_IF_ERROR(c->link->Heartbeat(Position(c->dc)));
    c->role = c->link->WaitForRoleChange(c->role.role, c->heartbeat);
    RETURN_IF_ERROR(c->link->Health());
  }
  if (stop->load()) return absl::OkStatus();
  Log(LogLevel::kWarning, "promoted to primary",
      {{"epoch", absl::StrCat(c->role.epoch)}, {"reason", c->role.reason}});
  ASSIGN_OR_RETURN(c->dc, c->tracker.ReadController());
  return absl::OkStatus();
}

// From the coordinator's watermark when this DC issued it, else in full.
absl::Status Agent::CatchUp(Connection* c) {
  RETURN_IF_ERROR(DropQueuedNotifications(c));
  if (c->role.full_sync_required ||
      c->role.resume_from.invocation_id() != c->dc.invocation_id) {
    return c->FullSync(c->dc);
  }
  c->watermark = c->role.resume_from.usn();
  if (c->dc.highest_committed_usn <= c->watermark) return absl::OkStatus();
  return c->SendChanges(c->dc, "caught up", /*log_if_none=*/true);
}

// Until demoted or stopped: sends what change notifications carry, and
// searches for all changes since the watermark every poll interval (the
// backstop interval with notifications), heartbeating meanwhile. A DC that
// stops answering ends the session once it has been silent for DcSilenceBound:
// the stream closes, the coordinator releases the lease at once and promotes a
// standby whose DC answers (see dc_liveness.h).
absl::Status Agent::FollowChanges(Connection* c,
                                  const std::atomic<bool>* stop) {
  if (!c->watching) StartWatching(c);
  // How often to search for every change since the watermark.
  const absl::Duration search_interval =
      absl::Seconds(c->notified ? config_.backstop_interval_seconds()
                                : config_.poll_interval_seconds());
  DcLiveness dc_alive(c->heartbeat, DcSilenceBound(c->heartbeat, c->lease_ttl),
                      absl::Now());  // the catch-up just read it
  // A read right after another answer is as good as a probe.
  const absl::Duration fresh =
      std::min(c->heartbeat / 4, absl::Milliseconds(250));
  absl::Time last_heartbeat = absl::Now();
  absl::Time last_search = absl::Now();
  // A change made after the catch-up read the DC but before the
  // notification registration is announced by nothing: search once now.
  bool first_turn = true;
  bool search_owed = true;
  // What notifications carried that a DC not answering a probe kept from
  // being sent: sent on a later turn.
  ChangeNotice unsent;
  while (!stop->load() && c->link->role().role == adsync::v1::ROLE_PRIMARY) {
    ChangeNotice notice = std::exchange(unsent, ChangeNotice());
    if (!first_turn) {
      // Until the next heartbeat, search or probe is due, whichever comes
      // first: heartbeats keep their interval however notifications arrive.
      const absl::Time until =
          std::min({last_heartbeat + c->heartbeat,
                    last_search + search_interval, dc_alive.NextProbe()});
      // `until` may already be past (a search overdue while probes
      // missed): lateness counts from when the wait was asked for.
      const absl::Time wake_at = std::max(until, absl::Now());
      ASSIGN_OR_RETURN(ChangeNotice arrived,
                       WaitForChange(c, wake_at - absl::Now()));
      // Woken far later than asked: this process did not run (stopped,
      // suspended), so the DC's silence meanwhile was not the DC's.
      if (absl::Now() - wake_at > c->heartbeat) dc_alive.Resumed(absl::Now());
      if (arrived.changed) dc_alive.Answered(absl::Now());
      notice.Append(std::move(arrived));
    }
    first_turn = false;
    // What the notifications carried is sent at once; anything else they
    // announced needs the search for all changes.
    const bool search = search_owed || (notice.changed && !notice.complete);
    search_owed = false;
    RETURN_IF_ERROR(c->link->Health());
    if (absl::Now() - last_heartbeat >= c->heartbeat) {
      RETURN_IF_ERROR(c->link->Heartbeat(Position(c->dc)));
      last_heartbeat = absl::Now();
    }
    // After the heartbeat, and at most one probe a turn, so that a slow
    // answer delays the next heartbeat by half an interval at most.
    if (absl::Now() >= dc_alive.NextProbe()) {
      ASSIGN_OR_RETURN(bool answers, ProbeDc(c, &dc_alive));
      if (!answers) {
        unsent = std::move(notice);
        search_owed = search;
        continue;
      }
    }
    if (!search && !notice.objects.empty()) {
      // The search for all changes since the watermark scans every account
      // on a DC that does not index uSNChanged (Samba): the notified
      // objects go at once. The backstop still runs that search, and moves
      // the watermark.
      // A read by DN that waits out what a probe may wait ends the session,
      // which gives the lease up: the DC answered a moment ago, so that is
      // nearly the whole bound.
      RETURN_IF_ERROR(
          c->SendNotified(notice.objects, dc_alive.ProbeTimeout(absl::Now())));
      dc_alive.Answered(absl::Now());
    }
    if (!search && absl::Now() - last_search < search_interval) continue;
    last_search = absl::Now();
    // A DC quiet for a moment is asked first with a short timeout: the
    // sync cycle's own reads wait up to the LDAP timeout (30 s), and a
    // primary stuck in one sends no heartbeats, so its lease would only
    // lapse after the TTL.
    if (dc_alive.QuietFor(fresh, absl::Now())) {
      ASSIGN_OR_RETURN(bool answers, ProbeDc(c, &dc_alive));
      if (!answers) {
        search_owed = true;
        continue;
      }
    }
    RETURN_IF_ERROR(c->CheckForChanges());
    dc_alive.Answered(absl::Now());
  }
  if (!stop->load()) {
    Log(LogLevel::kWarning, "demoted to standby",
        {{"reason", c->link->role().reason}});
  }
  return absl::OkStatus();
}

absl::Status Agent::DropQueuedNotifications(Connection* c) {
  if (!c->notified) return absl::OkStatus();
  // Each wait takes up to ChangeNotice::kMaxTakenPerWait; a DC that keeps
  // notifying faster than that must not hold the standby's heartbeats.
  constexpr int kMaxWaits = 64;
  for (int waits = 0; waits < kMaxWaits; ++waits) {
    ASSIGN_OR_RETURN(ChangeNotice queued,
                     WaitForChange(c, absl::ZeroDuration()));
    if (!queued.changed) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Agent::ProbeDc(Connection* c, DcLiveness* dc_alive) {
  const bool was_slow = dc_alive->slow();
  const absl::Time sent = absl::Now();
  const absl::Duration timeout = dc_alive->ProbeTimeout(sent);
  absl::StatusOr<int64_t> usn = c->directory->ProbeLiveness(timeout);
  const absl::Time now = absl::Now();
  if (!usn.ok() && now - sent > timeout + c->heartbeat) {
    // Not answered, but this process was stopped while it waited: ask
    // again rather than blame the DC.
    dc_alive->Resumed(now);
    return false;
  }
  const std::string silent = absl::FormatDuration(
      absl::Trunc(dc_alive->Silence(now), absl::Milliseconds(1)));
  if (usn.ok()) {
    // Heartbeats report it: between searches it is the freshest there is.
    c->dc.highest_committed_usn = std::max(c->dc.highest_committed_usn, *usn);
    if (was_slow) {
      Log(LogLevel::kInfo, "the DC answers again", {{"after", silent}});
    }
    dc_alive->Answered(now);
    return true;
  }
  dc_alive->Missed(now);
  if (dc_alive->Lost(now)) {
    return absl::UnavailableError(absl::StrCat(
        "the DC at ", config_.ldap().uri(), " has not answered for ", silent,
        " (", usn.status().message(),
        "); gave up the lease so that a standby whose DC answers takes over "
        "(the limit is the coordinator's lease TTL less one heartbeat "
        "interval, ",
        absl::FormatDuration(dc_alive->bound()),
        "); check that the DC is running and that the network between it "
        "and this agent carries its traffic"));
  }
  if (!was_slow) {
    // Once per slow spell: one late answer is no reason to give up.
    Log(LogLevel::kWarning, "the DC is slow to answer",
        {{"silent_for", silent},
         {"gives_up_after", absl::FormatDuration(dc_alive->bound())},
         {"error", std::string(usn.status().message())}});
  }
  return false;
}

absl::StatusOr<ChangeNotice> Agent::WaitForChange(Connection* c,
                                                  absl::Duration timeout) {
  absl::StatusOr<ChangeNotice> notice = c->directory->WaitForChange(timeout);
  if (notice.ok() || !c->notified || !IsRegistrationEnded(notice.status())) {
    return notice;
  }
  // A DC that ends every registration at once would otherwise cost it a
  // search for all changes per turn: the session ends, and reconnecting
  // backs off.
  const absl::Time now = absl::Now();
  if (now - c->registration_ended < absl::Minutes(1)) return notice;
  c->registration_ended = now;
  absl::Status again = c->directory->WatchForChanges(c->dc.naming_context,
                                                     NotificationAttributes());
  if (!again.ok()) return notice;
  Log(LogLevel::kWarning, "change notification ended; registered again",
      {{"error", std::string(notice.status().message())}});
  ChangeNotice unnamed;
  unnamed.changed = true;
  unnamed.complete = false;
  return unnamed;
}

// Change notification when the DC offers it and the config allows it,
// with the backstop search; polling otherwise. Once a session: the registration
// lasts as long as the DC connection, through demotions and promotions.
void Agent::StartWatching(Connection* c) {
  std::string mode =
      absl::StrCat("polling every ", config_.poll_interval_seconds(), "s");
  if (config_.change_notification() && c->dc.offers_change_notification) {
    absl::Status watch = c->directory->WatchForChanges(
        c->dc.naming_context, NotificationAttributes());
    if (watch.ok()) {
      c->notified = true;
      mode = absl::StrCat(
          "change notification, and a search for all changes "
          "every ",
          config_.backstop_interval_seconds(), "s");
    } else {
      Log(LogLevel::kWarning, "change notification unavailable",
          {{"reason", std::string(watch.message())}});
    }
  }
  Log(LogLevel::kInfo, "following changes", {{"mode", mode}});
  c->watching = true;
}

absl::Status Agent::Connection::FullSync(const ControllerState& from) {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(CycleStats stats, tracker.FullSync(from));
  RETURN_IF_ERROR(link->Flush());
  LogCycle("full sync done", stats, start);
  watermark = stats.watermark_usn;
  return absl::OkStatus();
}

absl::Status Agent::Connection::SendChanges(const ControllerState& from,
                                            const char* done,
                                            bool log_if_none) {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(CycleStats stats, tracker.Incremental(from, watermark));
  RETURN_IF_ERROR(link->Flush());
  if (log_if_none || stats.deltas > 0) LogCycle(done, stats, start);
  watermark = stats.watermark_usn;
  return absl::OkStatus();
}

absl::Status Agent::Connection::SendNotified(
    const std::vector<LdapEntry>& objects, absl::Duration read_timeout) {
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(CycleStats stats,
                   tracker.SendNotified(dc, objects, read_timeout));
  // The DC has committed at least the USNs it notified. Heartbeats report
  // them: status compares each standby's replication with them.
  dc.highest_committed_usn =
      std::max(dc.highest_committed_usn, stats.highest_usn_seen);
  RETURN_IF_ERROR(link->Flush());
  if (stats.deltas > 0 || stats.skipped > 0) {
    Log(LogLevel::kInfo, "notified changes sent",
        {{"deltas", absl::StrCat(stats.deltas)},
         {"skipped", absl::StrCat(stats.skipped)},
         {"seconds", absl::StrFormat(
                         "%.3f", absl::ToDoubleSeconds(absl::Now() - start))}});
  }
  return absl::OkStatus();
}

absl::Status Agent::Connection::CheckForChanges() {
  ASSIGN_OR_RETURN(ControllerState now, tracker.ReadController());
  dc.highest_committed_usn = now.highest_committed_usn;
  dc.replication = now.replication;
  if (now.invocation_id != dc.invocation_id) {
    Log(LogLevel::kWarning,
        "the DC's invocationId changed (restored from backup?); full sync");
    RETURN_IF_ERROR(FullSync(now));
    dc = std::move(now);
  } else if (now.highest_committed_usn > watermark) {
    return SendChanges(now, "changes sent", /*log_if_none=*/false);
  }
  return absl::OkStatus();
}

absl::Status Agent::RunOnce() {
  std::atomic<bool> stop{false};
  return Session(/*once=*/true, &stop);
}

void Agent::RunForever(const std::atomic<bool>* stop) {
  std::mt19937_64 rng(std::random_device{}());
  int failures = 0;  // in a row: a session that lasted a minute resets it
  while (!stop->load()) {
    const absl::Time started = absl::Now();
    absl::Status s = Session(/*once=*/false, stop);
    if (stop->load()) break;
    if (absl::Now() - started > absl::Minutes(1)) failures = 0;
    const absl::Duration sleep = JitteredBackoff(
        absl::Milliseconds(config_.backoff_initial_ms()),
        absl::Milliseconds(config_.backoff_max_ms()), failures++, rng);
    Log(LogLevel::kError, "sync interrupted",
        {{"error", std::string(s.message())},
         {"retry_in",
          absl::FormatDuration(absl::Trunc(sleep, absl::Milliseconds(1)))}});
    const absl::Time until = absl::Now() + sleep;
    while (!stop->load() && absl::Now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace adsync
