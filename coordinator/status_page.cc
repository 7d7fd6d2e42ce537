#include "coordinator/status_page.h"

#include <algorithm>
#include <cstdint>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/text.h"

namespace adsync {
namespace {

constexpr char kStyle[] = R"css(
body{font:14px/1.4 "DejaVu Sans",sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
header{background:#1d2733;color:#fff;padding:10px 20px}
header a{color:#cfe3ff}
main{padding:12px 20px}
h1{font-size:20px;margin:0}
h2{font-size:16px;margin:18px 0 6px}
table{border-collapse:collapse;background:#fff;margin-bottom:8px}
th,td{border:1px solid #d5dbe1;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#e9edf1}
.ok{color:#fff;background:#2e7d32}
.warning{color:#1d2733;background:#f9c74f}
.error{color:#fff;background:#c62828}
.badge{padding:1px 8px;border-radius:8px;font-weight:bold}
.muted{color:#5f6b77}
.box{background:#fff;border-left:6px solid #c62828;padding:6px 10px;margin:8px 0}
code{font-family:"DejaVu Sans Mono",monospace}
)css";

std::string Page(absl::string_view title, absl::string_view body,
                 int refresh_seconds) {
  std::string refresh;
  if (refresh_seconds > 0) {
    refresh = absl::StrCat("<meta http-equiv=\"refresh\" content=\"",
                           refresh_seconds, "\">");
  }
  return absl::StrCat(
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
      refresh, "<title>", HtmlEscape(title), "</title><style>", kStyle,
      "</style></head><body><header><h1>adsync status</h1>",
      "<a href=\"/status\">all orgs</a> &middot; ",
      "<a href=\"/status/logout\">sign out</a></header><main>", body,
      "</main></body></html>\n");
}

std::string Time(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "never";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string Ago(int64_t unix_seconds, absl::Time now) {
  if (unix_seconds <= 0) return "never";
  const int64_t s =
      std::max<int64_t>(0, absl::ToUnixSeconds(now) - unix_seconds);
  if (s < 120) return absl::StrCat(s, "s ago");
  if (s < 7200) return absl::StrCat(s / 60, "m ago");
  if (s < 172800) return absl::StrCat(s / 3600, "h ago");
  return absl::StrCat(s / 86400, "d ago");
}

// "<td>..</td>" per cell, each escaped.
std::string Row(std::initializer_list<std::string> cells) {
  std::string out = "<tr>";
  for (const std::string& c : cells)
    absl::StrAppend(&out, "<td>", HtmlEscape(c), "</td>");
  return out + "</tr>";
}

std::string HeaderRow(std::initializer_list<const char*> cells) {
  std::string out = "<tr>";
  for (const char* c : cells) absl::StrAppend(&out, "<th>", c, "</th>");
  return out + "</tr>";
}

const char* LevelName(OrgHealth::Level level) {
  switch (level) {
    case OrgHealth::kError:
      return "error";
    case OrgHealth::kWarning:
      return "warning";
    case OrgHealth::kOk:
      break;
  }
  return "ok";
}

std::string Badge(OrgHealth::Level level) {
  return absl::StrCat("<span class=\"badge ", LevelName(level), "\">",
                      LevelName(level), "</span>");
}

std::string SyncName(const adsync::v1::OrgStatus& org,
                     const std::string& sync_id) {
  for (const auto& s : org.syncs()) {
    if (s.sync().sync_id() != sync_id) continue;
    return s.controller().empty()
               ? sync_id
               : absl::StrCat(s.controller(), " (", sync_id.substr(0, 8), ")");
  }
  return sync_id.empty() ? "-" : sync_id;
}

std::string CountsTable(const adsync::v1::Counts& c,
                        const std::string& first_header,
                        const std::string& first_cell, std::string* rows) {
  *rows += Row({first_cell, absl::StrCat(c.profiles()),
                absl::StrCat(c.matched()), absl::StrCat(c.unmatched()),
                absl::StrCat(c.ambiguous()), absl::StrCat(c.no_email()),
                absl::StrCat(c.disabled()), absl::StrCat(c.deleted())});
  return absl::StrCat("<tr><th>", HtmlEscape(first_header),
                      "</th><th>profiles</th><th>matched</th>"
                      "<th>unmatched</th><th>ambiguous</th><th>no email</th>"
                      "<th>disabled</th><th>deleted</th></tr>");
}

}  // namespace

OrgHealth AssessOrg(const adsync::v1::OrgStatus& org, absl::Time now) {
  OrgHealth h;
  auto flag = [&h](OrgHealth::Level level, std::string reason) {
    h.level = std::max(h.level, level);
    h.reasons.push_back(std::move(reason));
  };
  if (org.push().quarantined()) {
    flag(OrgHealth::kError,
         absl::StrCat("push quarantined: ", org.push().quarantine_reason()));
  }
  if (org.push().parked() > 0) {
    flag(OrgHealth::kError,
         absl::StrCat(org.push().parked(), " updates refused by K12Panel"));
  }
  for (const auto& d : org.domains()) {
    if (d.has_held_sweep()) {
      flag(OrgHealth::kError,
           absl::StrCat(d.domain(), ": a full sync's removals are held"));
    }
    bool has_syncs = false;
    bool primary_connected = false;
    for (const auto& s : org.syncs()) {
      if (s.sync().domain() != d.domain()) continue;
      has_syncs = true;
      if (s.connected() && s.role() == "primary") primary_connected = true;
    }
    if (has_syncs && !primary_connected) {
      flag(OrgHealth::kError,
           absl::StrCat(d.domain(), ": no connected primary agent"));
    }
  }
  for (const auto& s : org.syncs()) {
    if (!s.connected()) {
      flag(OrgHealth::kWarning,
           absl::StrCat(s.sync().domain(), ": agent ",
                        SyncName(org, s.sync().sync_id()),
                        " not connected (last contact ",
                        Ago(s.last_contact_unix(), now), ")"));
    }
    if (!s.report_error().empty()) {
      flag(OrgHealth::kWarning,
           absl::StrCat("sync report not delivered: ", s.report_error()));
    }
  }
  if (!org.push().last_error().empty() &&
      org.push().last_error_unix() > org.push().last_success_unix()) {
    flag(OrgHealth::kWarning,
         absl::StrCat("push to K12Panel failing: ", org.push().last_error()));
  }
  const int64_t hour_ago = absl::ToUnixSeconds(now - absl::Hours(1));
  int recent = 0;
  for (const auto& r : org.recent_rejections()) {
    if (r.at_unix() >= hour_ago) ++recent;
  }
  if (recent > 0) {
    flag(OrgHealth::kWarning,
         absl::StrCat(recent, " agent connections rejected in the last hour"));
  }
  return h;
}

std::string RenderOrgListPage(const adsync::v1::GetStatusResponse& status,
                              absl::Time taken, absl::Time now,
                              int refresh_seconds) {
  std::string body =
      absl::StrCat("<h2>Organizations</h2><p class=\"muted\">read ",
                   taken == absl::InfinitePast()
                       ? std::string("never: the store could not be read yet")
                       : Ago(absl::ToUnixSeconds(taken), now),
                   "; refreshes every ", refresh_seconds, "s</p>");
  if (status.orgs().empty()) {
    absl::StrAppend(&body,
                    "<p>No organizations yet: create one with "
                    "<code>adsyncctl org create</code>.</p>");
  } else {
    absl::StrAppend(&body, "<table>",
                    HeaderRow({"health", "organization", "mode", "agents",
                               "profiles", "matched", "push queue", "why"}));
    for (const auto& org : status.orgs()) {
      const OrgHealth h = AssessOrg(org, now);
      int connected = 0;
      for (const auto& s : org.syncs()) connected += s.connected() ? 1 : 0;
      absl::StrAppend(
          &body, "<tr><td>", Badge(h.level), "</td><td><a href=\"/status/orgs/",
          HtmlEscape(org.org().org_id()), "\">", HtmlEscape(org.org().name()),
          "</a><br><span class=\"muted\">", HtmlEscape(org.org().org_id()),
          "</span></td><td>", org.org().live() ? "live" : "preview",
          "</td><td>", connected, " of ", org.syncs_size(),
          " connected</td><td>", org.counts().profiles(), "</td><td>",
          org.counts().matched(), "</td><td>", org.push().queue_depth(),
          "</td><td>", HtmlEscape(absl::StrJoin(h.reasons, "; ")),
          "</td></tr>");
    }
    body += "</table>";
  }
  return Page("adsync: organizations", body, refresh_seconds);
}

std::string RenderOrgPage(const adsync::v1::OrgStatus& org,
                          const adsync::v1::ListAccountsResponse& accounts,
                          size_t accounts_total, absl::Time now,
                          int refresh_seconds) {
  const std::string& id = org.org().org_id();
  const OrgHealth h = AssessOrg(org, now);
  std::string body = absl::StrCat(
      "<h2>", HtmlEscape(org.org().name()), " ", Badge(h.level), "</h2>",
      "<p class=\"muted\">Org ID ", HtmlEscape(id), " &middot; ",
      org.org().live()
          ? "live: mappings are pushed to K12Panel"
          : "in preview: nothing is written to K12Panel (<code>adsyncctl "
            "preview</code>, then <code>adsyncctl org go-live</code>)",
      " &middot; ", org.people(), " People &middot; read ",
      HtmlEscape(Time(absl::ToUnixSeconds(now))), "</p>");
  if (!h.reasons.empty()) {
    body += "<ul>";
    for (const std::string& r : h.reasons)
      absl::StrAppend(&body, "<li>", HtmlEscape(r), "</li>");
    body += "</ul>";
  }

  // What waits for an operator.
  if (org.push().quarantined()) {
    absl::StrAppend(
        &body, "<div class=\"box\"><b>Quarantine waiting for approval</b>: ",
        HtmlEscape(org.push().quarantine_reason()), " (",
        org.push().quarantined_people(),
        " People held). Decide with <code>adsyncctl push approve|reject "
        "--org ",
        HtmlEscape(id), "</code>.</div>");
  }
  for (const auto& d : org.domains()) {
    if (!d.has_held_sweep()) continue;
    absl::StrAppend(
        &body, "<div class=\"box\"><b>", HtmlEscape(d.domain()),
        ": full-sync removals held</b> since ",
        HtmlEscape(Time(d.held_sweep().at_unix())), ": would remove ",
        d.held_sweep().would_remove(), " of ", d.held_sweep().domain_accounts(),
        " accounts; ", HtmlEscape(d.held_sweep().reason()),
        ". Decide with <code>adsyncctl sweep approve|reject --org ",
        HtmlEscape(id), " --domain ", HtmlEscape(d.domain()), "</code>.</div>");
  }

  // Counts by outcome.
  std::string count_rows;
  std::string count_header;
  for (const auto& d : org.domains())
    count_header = CountsTable(d.counts(), "domain", d.domain(), &count_rows);
  count_header = CountsTable(org.counts(), "domain", "all", &count_rows);
  absl::StrAppend(&body, "<h2>Accounts by outcome</h2><table>", count_header,
                  count_rows, "</table>");

  // Domains and their agents.
  absl::StrAppend(
      &body, "<h2>Domain controllers' agents</h2><table>",
      HeaderRow({"domain", "role", "controller", "source address", "connected",
                 "last contact", "watermark (USN)", "replication lag",
                 "last full sync", "last report", "last error"}));
  for (const auto& s : org.syncs()) {
    std::string lag = "-";
    if (s.role() == "standby") {
      lag = s.replication_lag_usn() < 0
                ? "unknown"
                : absl::StrCat(s.replication_lag_usn(), " USNs");
    }
    std::string error = s.last_error();
    if (!s.report_error().empty()) {
      absl::StrAppend(&error, error.empty() ? "" : "; ",
                      "report: ", s.report_error());
    }
    body += Row({s.sync().domain(), s.role(), SyncName(org, s.sync().sync_id()),
                 s.source_ip(), s.connected() ? "yes" : "no",
                 Ago(s.last_contact_unix(), now),
                 s.watermark_usn() > 0 ? absl::StrCat(s.watermark_usn()) : "-",
                 lag, Ago(s.last_full_sync_unix(), now),
                 Ago(s.last_report_unix(), now), error});
  }
  body += "</table>";

  // Timeline: failovers and rejections, newest first.
  std::vector<std::tuple<int64_t, std::string, std::string>> events;
  for (const auto& d : org.domains()) {
    for (const auto& f : d.recent_failovers()) {
      events.emplace_back(
          f.at_unix(), "failover",
          absl::StrCat(d.domain(), ": ", SyncName(org, f.from_sync_id()), " → ",
                       SyncName(org, f.to_sync_id()), " (epoch ", f.epoch(),
                       "): ", f.reason()));
    }
  }
  for (const auto& r : org.recent_rejections()) {
    events.emplace_back(
        r.at_unix(), "rejection",
        absl::StrCat(r.sync_id().empty() ? std::string("unknown key")
                                         : SyncName(org, r.sync_id()),
                     " from ", r.source_ip(), ": ", r.reason()));
  }
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a > b; });
  absl::StrAppend(&body, "<h2>Timeline: failovers and rejections</h2>");
  if (events.empty()) {
    body += "<p class=\"muted\">none recorded</p>";
  } else {
    absl::StrAppend(&body, "<table>", HeaderRow({"when", "event", "what"}));
    for (const auto& [at, kind, what] : events)
      body += Row({Time(at), kind, what});
    body += "</table>";
  }

  // Skipped accounts.
  if (org.skipped_accounts_size() > 0) {
    absl::StrAppend(&body, "<h2>Accounts not stored (over the limits)</h2>",
                    "<table>",
                    HeaderRow({"domain", "account", "reason", "when"}));
    for (const auto& a : org.skipped_accounts()) {
      body += Row({a.domain(),
                   a.sam_account_name().empty() ? a.object_guid()
                                                : a.sam_account_name(),
                   a.reason(), Time(a.at_unix())});
    }
    body += "</table>";
  }

  // Unmatched and ambiguous accounts.
  absl::StrAppend(&body, "<h2>Unmatched and ambiguous accounts</h2><p>",
                  accounts_total, " accounts &middot; <a href=\"/status/orgs/",
                  HtmlEscape(id),
                  "/accounts.csv\" download>download CSV</a></p>");
  if (accounts.accounts_size() > 0) {
    absl::StrAppend(&body, "<table>",
                    HeaderRow({"outcome", "account", "UPN", "mail",
                               "display name", "candidates"}));
    for (const auto& a : accounts.accounts()) {
      body += Row({a.outcome(),
                   absl::StrCat(a.domain(), "\\", a.sam_account_name()),
                   a.user_principal_name(), a.mail(), a.display_name(),
                   absl::StrJoin(a.candidate_person_ids(), " ")});
    }
    body += "</table>";
    if (static_cast<size_t>(accounts.accounts_size()) < accounts_total) {
      body += "<p class=\"muted\">the CSV has them all</p>";
    }
  }
  return Page(absl::StrCat("adsync: ", org.org().name()), body,
              refresh_seconds);
}

std::string RenderMessagePage(absl::string_view message) {
  return Page(
      "adsync status",
      absl::StrCat("<div class=\"box\">", HtmlEscape(message), "</div>"), 0);
}

std::string RenderLoginPage(absl::string_view message, absl::string_view next) {
  std::string body;
  if (!message.empty()) {
    absl::StrAppend(&body, "<div class=\"box\">", HtmlEscape(message),
                    "</div>");
  }
  absl::StrAppend(
      &body,
      "<h2>Sign in</h2><form method=\"post\" action=\"/status/login\">"
      "<p>Status token (the content of the coordinator's "
      "<code>status_token_file</code>):</p>"
      "<input type=\"password\" name=\"token\" autocomplete=\"off\" "
      "size=\"48\"><input type=\"hidden\" name=\"next\" value=\"",
      HtmlEscape(next), "\"> <button type=\"submit\">Sign in</button></form>");
  return Page("adsync: sign in", body, 0);
}

}  // namespace adsync
