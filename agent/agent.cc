#include "agent/agent.h"

#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/change_tracker.h"
#include "agent/coordinator_link.h"
#include "common/backoff.h"
#include "common/guid.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace adsync {

Agent::Agent(adsync::v1::AgentConfig config, AgentSecrets secrets,
             DirectoryFactory directories)
    : config_(std::move(config)),
      secrets_(std::move(secrets)),
      directories_(std::move(directories)) {}

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

}  // namespace

absl::Status Agent::Session(bool once, const std::atomic<bool>* stop) {
  std::unique_ptr<Directory> directory = directories_();
  RETURN_IF_ERROR(directory->Connect());
  LinkSink sink;
  TrackerOptions tracker_options;
  tracker_options.base_dns.assign(config_.ldap().base_dn().begin(),
                                  config_.ldap().base_dn().end());
  tracker_options.filter = config_.ldap().filter();
  tracker_options.page_size = config_.ldap().page_size();
  ChangeTracker tracker(directory.get(), &sink, tracker_options);
  ASSIGN_OR_RETURN(ControllerState dc, tracker.ReadController());

  adsync::v1::Hello hello;
  hello.set_org_id(config_.org_id());
  hello.set_sync_key(secrets_.sync_key);
  hello.set_agent_version("adsync-agent 0.1");
  hello.set_controller(dc.host);
  hello.set_invocation_id(dc.invocation_id);
  // What the DC says, so the coordinator can refuse a key copied onto an
  // agent of another domain; the configured name when the DC has no
  // readable crossRef.
  hello.set_domain_netbios_name(dc.netbios_name.empty() ? config_.domain()
                                                        : dc.netbios_name);
  hello.set_domain_dns_name(dc.domain_dns_name);
  hello.set_domain_sid(dc.domain_sid);
  *hello.mutable_position() = Position(dc);
  LinkOptions link_options;
  link_options.target = config_.coordinator();
  link_options.credentials = secrets_.coordinator_credentials;
  ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorLink> link,
                   CoordinatorLink::Open(link_options, hello));
  sink.link = link.get();
  const adsync::v1::HelloResult& hr = link->hello_result();
  Log(LogLevel::kInfo, "connected",
      {{"controller", dc.host},
       {"invocation_id", *GuidBinaryToString(dc.invocation_id)},
       {"sync", hr.sync_id()},
       {"full_sync", hr.full_sync_required() ? hr.full_sync_reason() : "no"}});

  const absl::Duration poll = absl::Seconds(config_.poll_interval_seconds());
  const absl::Duration heartbeat = absl::Milliseconds(
      hr.heartbeat_interval_ms() ? hr.heartbeat_interval_ms() : 2000);
  bool watching = false;
  while (!stop->load()) {
    // Standby: stay connected and heartbeating until promoted.
    CoordinatorLink::RoleState role = link->role();
    if (role.role != adsync::v1::ROLE_PRIMARY) {
      if (once) {
        Log(LogLevel::kInfo,
            "standby: another agent is primary for this domain; nothing to do");
        return absl::OkStatus();
      }
      Log(LogLevel::kInfo, "standby", {{"epoch", absl::StrCat(role.epoch)}});
      while (!stop->load() && role.role != adsync::v1::ROLE_PRIMARY) {
        // Read where our DC stands so status can show its replication lag.
        ASSIGN_OR_RETURN(dc, tracker.ReadController());
        RETURN_IF_ERROR(link->Heartbeat(Position(dc)));
        role = link->WaitForRoleChange(role.role, heartbeat);
        RETURN_IF_ERROR(link->Health());
      }
      if (stop->load()) break;
      Log(LogLevel::kWarning, "promoted to primary",
          {{"epoch", absl::StrCat(role.epoch)}, {"reason", role.reason}});
      ASSIGN_OR_RETURN(dc, tracker.ReadController());
    }

    // Primary: catch up from our own watermark, or full sync.
    int64_t watermark = 0;
    const absl::Time start = absl::Now();
    if (role.full_sync_required ||
        role.resume_from.invocation_id() != dc.invocation_id) {
      ASSIGN_OR_RETURN(CycleStats stats, tracker.FullSync(dc));
      RETURN_IF_ERROR(link->Flush());
      LogCycle("full sync done", stats, start);
      watermark = stats.watermark_usn;
    } else {
      watermark = role.resume_from.usn();
      if (dc.highest_committed_usn > watermark) {
        ASSIGN_OR_RETURN(CycleStats stats, tracker.Incremental(dc, watermark));
        RETURN_IF_ERROR(link->Flush());
        LogCycle("caught up", stats, start);
        watermark = stats.watermark_usn;
      }
    }
    if (once) return absl::OkStatus();

    if (!watching) {
      std::string mode =
          absl::StrCat("polling every ", config_.poll_interval_seconds(), "s");
      if (config_.change_notification() && dc.offers_change_notification) {
        absl::Status watch = directory->WatchForChanges(dc.naming_context);
        if (watch.ok()) {
          mode = absl::StrCat("change notification, and ", mode);
        } else {
          Log(LogLevel::kWarning, "change notification unavailable",
              {{"reason", std::string(watch.message())}});
        }
      }
      Log(LogLevel::kInfo, "following changes", {{"mode", mode}});
      watching = true;
    }
    absl::Time last_heartbeat = absl::Now();
    absl::Time last_check = absl::Now();
    // A change made after the sync above read the DC but before the
    // notification registration is announced by nothing: look once now
    // instead of at the next poll.
    bool check_now = true;
    while (!stop->load() && link->role().role == adsync::v1::ROLE_PRIMARY) {
      bool changed = check_now;
      if (!check_now) {
        ASSIGN_OR_RETURN(changed,
                         directory->WaitForChange(std::min(poll, heartbeat)));
      }
      check_now = false;
      RETURN_IF_ERROR(link->Health());
      if (absl::Now() - last_heartbeat >= heartbeat) {
        RETURN_IF_ERROR(link->Heartbeat(Position(dc)));
        last_heartbeat = absl::Now();
      }
      if (!changed && absl::Now() - last_check < poll) continue;
      last_check = absl::Now();
      ASSIGN_OR_RETURN(ControllerState now, tracker.ReadController());
      const absl::Time cycle_start = absl::Now();
      dc.highest_committed_usn = now.highest_committed_usn;
      dc.replication = now.replication;
      if (now.invocation_id != dc.invocation_id) {
        Log(LogLevel::kWarning,
            "the DC's invocationId changed (restored from backup?); full sync");
        ASSIGN_OR_RETURN(CycleStats stats, tracker.FullSync(now));
        RETURN_IF_ERROR(link->Flush());
        LogCycle("full sync done", stats, cycle_start);
        watermark = stats.watermark_usn;
        dc = now;
      } else if (now.highest_committed_usn > watermark) {
        ASSIGN_OR_RETURN(CycleStats stats, tracker.Incremental(now, watermark));
        RETURN_IF_ERROR(link->Flush());
        if (stats.deltas > 0) LogCycle("changes sent", stats, cycle_start);
        watermark = stats.watermark_usn;
      }
    }
    if (!stop->load()) {
      Log(LogLevel::kWarning, "demoted to standby",
          {{"reason", link->role().reason}});
    }
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
