// The status page's HTML: health at a glance, what waits for an operator,
// and nothing from AD ever rendered as markup.
#include "coordinator/status_page.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

adsync::v1::OrgStatus HealthyOrg() {
  adsync::v1::OrgStatus org;
  org.mutable_org()->set_org_id("5e1c3d4a-6f1b-4d7e-9a0c-1f2e3d4c5b6a");
  org.mutable_org()->set_name("Springfield");
  org.mutable_org()->set_live(true);
  org.add_domains()->set_domain("DISTRICT");
  auto* s = org.add_syncs();
  s->mutable_sync()->set_sync_id("aaaaaaaa-0000-0000-0000-000000000001");
  s->mutable_sync()->set_domain("DISTRICT");
  s->set_connected(true);
  s->set_role("primary");
  s->set_controller("dc1.district.test");
  return org;
}

TEST(AssessOrg, HealthyWhenEveryDomainHasAConnectedPrimary) {
  const OrgHealth h = AssessOrg(HealthyOrg(), kNow);
  EXPECT_EQ(h.level, OrgHealth::kOk);
  EXPECT_THAT(h.reasons, IsEmpty());
}

TEST(AssessOrg, AKilledPrimaryIsAnErrorAndAStandbyDownAWarning) {
  adsync::v1::OrgStatus org = HealthyOrg();
  auto* standby = org.add_syncs();
  *standby = org.syncs(0);
  standby->set_role("-");
  standby->set_connected(false);
  standby->set_last_contact_unix(absl::ToUnixSeconds(kNow) - 300);
  EXPECT_EQ(AssessOrg(org, kNow).level, OrgHealth::kWarning);
  org.mutable_syncs(0)->set_connected(false);
  org.mutable_syncs(0)->set_role("-");
  const OrgHealth h = AssessOrg(org, kNow);
  EXPECT_EQ(h.level, OrgHealth::kError);
  EXPECT_THAT(h.reasons[0], HasSubstr("DISTRICT: no connected primary"));
}

TEST(AssessOrg, WhatWaitsForAnOperatorIsAnError) {
  adsync::v1::OrgStatus org = HealthyOrg();
  org.mutable_push()->set_quarantined(true);
  org.mutable_push()->set_quarantine_reason("40% would lose");
  org.mutable_domains(0)->mutable_held_sweep()->set_would_remove(9);
  const OrgHealth h = AssessOrg(org, kNow);
  EXPECT_EQ(h.level, OrgHealth::kError);
  EXPECT_THAT(h.reasons, ElementsAre(HasSubstr("quarantined: 40% would lose"),
                                     HasSubstr("removals are held")));
}

TEST(AssessOrg, OnlyRejectionsOfTheLastHourWarn) {
  adsync::v1::OrgStatus org = HealthyOrg();
  org.add_recent_rejections()->set_at_unix(absl::ToUnixSeconds(kNow) - 7200);
  EXPECT_EQ(AssessOrg(org, kNow).level, OrgHealth::kOk);
  org.add_recent_rejections()->set_at_unix(absl::ToUnixSeconds(kNow) - 60);
  EXPECT_EQ(AssessOrg(org, kNow).level, OrgHealth::kWarning);
}

TEST(RenderOrgPage, EscapesEverythingFromAdAndShowsTheTimeline) {
  adsync::v1::OrgStatus org = HealthyOrg();
  org.mutable_org()->set_name("<b>Spring</b>field");
  auto* f = org.mutable_domains(0)->add_recent_failovers();
  f->set_at_unix(absl::ToUnixSeconds(kNow) - 10);
  f->set_from_sync_id("bbbbbbbb-0000-0000-0000-000000000002");
  f->set_to_sync_id("aaaaaaaa-0000-0000-0000-000000000001");
  f->set_reason("disconnected");
  auto* r = org.add_recent_rejections();
  r->set_at_unix(absl::ToUnixSeconds(kNow) - 20);
  r->set_source_ip("203.0.113.9");
  r->set_reason("\"><script>alert(1)</script>");
  adsync::v1::ListAccountsResponse accounts;
  auto* a = accounts.add_accounts();
  a->set_outcome("unmatched");
  a->set_domain("DISTRICT");
  a->set_sam_account_name("x' onmouseover='alert(1)");
  a->set_display_name("<img src=x onerror=alert(1)>");
  const std::string html = RenderOrgPage(org, accounts, 250, kNow, 10);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, Not(HasSubstr("<b>Spring")));
  EXPECT_THAT(html, HasSubstr("&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_THAT(html, HasSubstr("x&#39; onmouseover=&#39;alert(1)"));
  EXPECT_THAT(html, HasSubstr("<meta http-equiv=\"refresh\" content=\"10\">"));
  // Newest first: the failover (10 s ago) before the rejection (20 s ago).
  const size_t failover = html.find("<td>failover</td>");
  const size_t rejection = html.find("<td>rejection</td>");
  ASSERT_NE(failover, std::string::npos);
  ASSERT_NE(rejection, std::string::npos);
  EXPECT_LT(failover, rejection);
  EXPECT_THAT(html, HasSubstr("dc1.district.test (aaaaaaaa)"));
  EXPECT_THAT(html, HasSubstr("250 accounts"));
  EXPECT_THAT(html, HasSubstr("the CSV has them all"));
  EXPECT_THAT(html, Not(HasSubstr("http://")))
      << "nothing loaded from elsewhere";
}

TEST(RenderOrgListPage, OneRowPerOrgWithHealthAndMode) {
  adsync::v1::GetStatusResponse status;
  *status.add_orgs() = HealthyOrg();
  adsync::v1::OrgStatus preview = HealthyOrg();
  preview.mutable_org()->set_live(false);
  preview.mutable_org()->set_name("Shelbyville");
  preview.mutable_syncs(0)->set_connected(false);
  *status.add_orgs() = preview;
  const std::string html =
      RenderOrgListPage(status, kNow - absl::Seconds(3), kNow, 10);
  EXPECT_THAT(html, HasSubstr("read 3s ago"));
  EXPECT_THAT(html, HasSubstr("<span class=\"badge ok\">ok</span>"));
  EXPECT_THAT(html, HasSubstr("<span class=\"badge error\">error</span>"));
  EXPECT_THAT(html, HasSubstr("<td>preview</td>"));
  EXPECT_THAT(html, HasSubstr("0 of 1 connected"));
  EXPECT_THAT(RenderOrgListPage({}, absl::InfinitePast(), kNow, 10),
              HasSubstr("could not be read yet"));
}

}  // namespace
}  // namespace adsync
