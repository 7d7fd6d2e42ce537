#include "ctl/format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "coordinator/preview.h"

namespace adsync {

std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string Ago(int64_t then_unix, int64_t now_unix) {
  if (then_unix <= 0) return "never";
  const int64_t d = std::max<int64_t>(0, now_unix - then_unix);
  if (d < 120) return absl::StrCat(d, "s ago");
  if (d < 7200) return absl::StrCat(d / 60, "m ago");
  if (d < 172800) return absl::StrCat(d / 3600, "h ago");
  return absl::StrCat(d / 86400, "d ago");
}

namespace {

std::string CountsSummary(const adsync::v1::Counts& c) {
  return absl::StrCat(c.profiles(), " accounts: ", c.matched(), " matched, ",
                      c.unmatched(), " unmatched, ", c.ambiguous(),
                      " ambiguous, ", c.no_email(), " without email, ",
                      c.disabled(), " disabled, ", c.deleted(), " removed");
}

std::string FormatTime(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

}  // namespace

std::string FormatStatus(const adsync::v1::GetStatusResponse& status,
                         int64_t now_unix) {
  std::string out;
  for (const auto& org : status.orgs()) {
    absl::StrAppend(&out, "ORG ", org.org().name(), " (", org.org().org_id(),
                    ")\n  ", org.people(), " People; ",
                    CountsSummary(org.counts()), "\n");
    const auto& push = org.push();
    if (push.quarantined()) {
      absl::StrAppend(&out, "  PUSH QUARANTINED (", push.quarantined_people(),
                      " People held): ", push.quarantine_reason(), "\n");
    }
    absl::StrAppend(
        &out, "  K12Panel push: ", push.queue_depth(), " queued",
        push.queue_depth()
            ? absl::StrCat(" (oldest ",
                           Ago(push.oldest_undelivered_unix(), now_unix), ")")
            : "",
        ", ", push.delivered(), " delivered, last success ",
        Ago(push.last_success_unix(), now_unix));
    if (push.parked()) absl::StrAppend(&out, ", ", push.parked(), " PARKED");
    if (!push.last_error().empty() &&
        push.last_error_unix() >= push.last_success_unix()) {
      absl::StrAppend(&out, "\n    last error ",
                      Ago(push.last_error_unix(), now_unix), ": ",
                      push.last_error());
    }
    out += "\n";
    for (const auto& d : org.domains()) {
      absl::StrAppend(
          &out, "  domain ", d.domain(), ": ", CountsSummary(d.counts()), "\n",
          "    primary ",
          d.primary_sync_id().empty() ? "NONE"
                                      : d.primary_sync_id().substr(0, 8),
          " (lease epoch ", d.lease_epoch(),
          "), standbys: ", d.standby_sync_ids().empty() ? "none" : "");
      for (int i = 0; i < d.standby_sync_ids_size(); ++i) {
        absl::StrAppend(&out, i ? ", " : "",
                        d.standby_sync_ids(i).substr(0, 8));
      }
      out += "\n";
      for (const auto& f : d.recent_failovers()) {
        if (f.from_sync_id().empty())
          continue;  // the first primary is no failover
        absl::StrAppend(&out, "    failover ", FormatTime(f.at_unix()), ": ",
                        f.from_sync_id().substr(0, 8), " -> ",
                        f.to_sync_id().substr(0, 8), " (epoch ", f.epoch(),
                        "): ", f.reason(), "\n");
      }
    }
    std::vector<std::vector<std::string>> rows = {
        {"  SYNC", "DOMAIN", "STATE", "ROLE", "SOURCE IP", "CONTROLLER",
         "LAST CONTACT", "WATERMARK", "REPL LAG", "BATCHES", "DELTAS"}};
    for (const auto& s : org.syncs()) {
      std::string state = s.connected() ? "connected" : "disconnected";
      if (s.full_sync_in_progress()) state += ",full-sync";
      rows.push_back({absl::StrCat("  ", s.sync().sync_id().substr(0, 8)),
                      s.sync().domain(), state, s.role(),
                      s.source_ip().empty() ? "-" : s.source_ip(),
                      s.controller().empty() ? "-" : s.controller(),
                      Ago(s.last_contact_unix(), now_unix),
                      s.watermark_invocation_id().empty()
                          ? "-"
                          : absl::StrCat("usn ", s.watermark_usn()),
                      s.replication_lag_usn() < 0
                          ? "-"
                          : absl::StrCat(s.replication_lag_usn(), " usn"),
                      absl::StrCat(s.batches()), absl::StrCat(s.deltas())});
    }
    if (org.syncs().empty()) {
      out += "  no AD Syncs registered; add one with `adsyncctl sync add`\n";
    } else {
      out += RenderTable(rows);
    }
    if (!org.recent_rejections().empty()) {
      out += "  recent rejections:\n";
      for (const auto& r : org.recent_rejections()) {
        absl::StrAppend(&out, "    ", FormatTime(r.at_unix()), "  from ",
                        r.source_ip(), ": ", r.reason(), "\n");
      }
    }
    for (const auto& d : org.domains()) {
      if (!d.has_held_sweep()) continue;
      absl::StrAppend(&out, "  HELD SWEEP of ", d.domain(), " (",
                      d.held_sweep().would_remove(),
                      " accounts): ", d.held_sweep().reason(), "\n");
    }
    if (!org.skipped_accounts().empty()) {
      out += "  accounts not stored (fix them in AD):\n";
      for (const auto& a : org.skipped_accounts()) {
        absl::StrAppend(&out, "    ", a.domain(), "\\",
                        a.sam_account_name().empty() ? a.object_guid()
                                                     : a.sam_account_name(),
                        ": ", a.reason(), "\n");
      }
    }
    for (const auto& f : org.failing_sources()) {
      absl::StrAppend(
          &out, "  ", f.ip(), ": ", f.failed_hellos_last_minute(),
          " failed Hellos in the last minute",
          f.blocked_until_unix_ms() > 0
              ? absl::StrCat("; BLOCKED until ",
                             FormatTime(f.blocked_until_unix_ms() / 1000), " (",
                             f.refused_while_blocked(), " refused unchecked)")
              : "",
          "\n");
    }
    out += "\n";
  }
  if (status.orgs().empty())
    out = "no orgs yet; create one with `adsyncctl org create`\n";
  return out;
}

namespace {

std::string DescribeIdentity(const adsync::v1::PanelIdentity& id) {
  return absl::StrCat(id.domain(), "\\", id.sam_account_name(),
                      id.enabled() ? "" : " (disabled)");
}

}  // namespace

std::string FormatPreview(const adsync::v1::PreviewOrgResponse& p,
                          int64_t now_unix) {
  const adsync::v1::Org& org = p.org();
  std::string out =
      absl::StrCat("org ", org.org_id(), " (", org.name(), "): ",
                   org.live() ? "live (pushing to K12Panel)"
                              : "in preview (nothing is "
                                "written to K12Panel)",
                   " since ", Ago(org.live_changed_unix(), now_unix), "\n");
  absl::StrAppend(&out, "compared with what K12Panel holds, read ",
                  Ago(p.panel_read_unix(), now_unix), "\n\n");
  absl::StrAppend(&out, "People:     ", p.people_added(), " added, ",
                  p.people_changed(), " changed, ", p.people_removed(),
                  " removed, ", p.people_unchanged(), " unchanged\n");
  absl::StrAppend(&out, "identities: ", p.identities_added(), " added, ",
                  p.identities_changed(), " changed, ", p.identities_removed(),
                  " removed\n");
  if (p.changes_size() > 0) {
    std::vector<std::vector<std::string>> rows = {{"PERSON", "NAME", "IDENTITY",
                                                   "CHANGE", "K12PANEL NOW",
                                                   "AFTER GOING LIVE"}};
    for (const auto& change : p.changes()) {
      for (const IdentityDiff& d : DiffIdentities(change)) {
        const char* what = d.kind == IdentityDiff::kAdded     ? "added"
                           : d.kind == IdentityDiff::kRemoved ? "removed"
                           : d.kind == IdentityDiff::kChanged ? "changed"
                                                              : "same";
        const adsync::v1::PanelIdentity& shown =
            d.proposed != nullptr ? *d.proposed : *d.current;
        rows.push_back({change.person_id(), change.person_name(),
                        shown.object_guid(), what,
                        d.current ? DescribeIdentity(*d.current) : "-",
                        d.proposed ? DescribeIdentity(*d.proposed) : "-"});
      }
    }
    absl::StrAppend(&out, "\n", RenderTable(rows));
  }
  if (!org.live()) {
    absl::StrAppend(&out,
                    "\nto push exactly these changes: adsyncctl org "
                    "go-live --org ",
                    org.org_id(), " --preview ", p.digest(), "\n");
  }
  return out;
}

std::string FormatResolve(const adsync::v1::ResolveLoginResponse& r) {
  std::string out;
  if (r.found()) {
    const auto& a = r.account();
    absl::StrAppend(
        &out, "account:  ", a.domain(), "\\", a.sam_account_name(), "  upn ",
        a.user_principal_name().empty() ? "-" : a.user_principal_name(),
        "  sid ", a.sid(), "\n", "guid:     ", a.object_guid(), "\n",
        "outcome:  ", a.outcome(), a.enabled() ? "" : " (disabled)", "\n");
    if (!r.person_id().empty()) {
      absl::StrAppend(&out, "person:   ", r.person_id(), "  ", r.person_name(),
                      "\n");
    }
  } else {
    out += "outcome:  not found\n";
  }
  absl::StrAppend(&out, "why:      ", r.explanation(), "\n");
  return out;
}

}  // namespace adsync
