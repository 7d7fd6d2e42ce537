// The sync report of one AD Sync, built from its org's status.
#include "coordinator/sync_report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kSync[] = "11111111-2222-3333-4444-555555555555";
constexpr char kOther[] = "99999999-2222-3333-4444-555555555555";
const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
const absl::Time kEnd = kStart + absl::Hours(1);

adsync::v1::OrgStatus Status() {
  adsync::v1::OrgStatus s;
  s.mutable_org()->set_org_id("org-1");
  auto* sync = s.add_syncs();
  sync->mutable_sync()->set_sync_id(kSync);
  sync->mutable_sync()->set_domain("DISTRICT");
  sync->set_connected(true);
  sync->set_controller("dc1.district.test");
  sync->set_source_ip("127.0.0.21");
  sync->set_last_contact_unix(absl::ToUnixSeconds(kEnd));
  auto* d = s.add_domains();
  d->set_domain("DISTRICT");
  d->mutable_counts()->set_profiles(10);
  d->mutable_counts()->set_matched(6);
  d->mutable_counts()->set_unmatched(2);
  d->mutable_counts()->set_ambiguous(1);
  d->mutable_counts()->set_no_email(1);
  d->mutable_counts()->set_disabled(3);
  d->mutable_counts()->set_deleted(4);
  auto* other = s.add_domains();
  other->set_domain("STAFF");
  other->mutable_counts()->set_profiles(99);
  return s;
}

TEST(BuildSyncReport, CountsTheSyncsDomainAndItsOwnRejectionsInThePeriod) {
  adsync::v1::OrgStatus s = Status();
  auto add_rejection = [&](int64_t at, const std::string& sync) {
    auto* r = s.add_recent_rejections();
    r->set_at_unix(at);
    r->set_sync_id(sync);
    r->set_source_ip("203.0.113.9");
    r->set_reason("source address not allowed");
  };
  const int64_t start = absl::ToUnixSeconds(kStart);
  add_rejection(start + 60, kSync);
  add_rejection(start + 30, kOther);  // another AD Sync's
  add_rejection(start - 60, kSync);   // before the period
  auto r = BuildSyncReport(s, kSync, kStart, kEnd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->started_at(), "2027-01-15T08:00:00Z");
  EXPECT_EQ(r->finished_at(), "2027-01-15T09:00:00Z");
  EXPECT_EQ(r->controller(), "dc1.district.test");
  EXPECT_EQ(r->source_ip(), "127.0.0.21");
  EXPECT_EQ(r->profiles(), 10u);
  EXPECT_EQ(r->matched(), 6u);
  EXPECT_EQ(r->unmatched(), 2u);
  EXPECT_EQ(r->ambiguous(), 1u);
  EXPECT_EQ(r->no_email(), 1u);
  EXPECT_EQ(r->disabled(), 3u);
  EXPECT_EQ(r->removed(), 4u);
  EXPECT_TRUE(r->errors().empty());
  EXPECT_THAT(r->rejections(),
              ElementsAre("2027-01-15T08:01:00Z from 203.0.113.9: source "
                          "address not allowed"));
}

TEST(BuildSyncReport, ReportsSilenceHeldSweepsAndQuarantineAsErrors) {
  adsync::v1::OrgStatus s = Status();
  auto* sync = s.mutable_syncs(0);
  sync->set_connected(false);
  sync->set_last_contact_unix(absl::ToUnixSeconds(kStart) - 600);
  sync->set_last_error("LDAP bind failed");
  s.mutable_domains(0)->mutable_held_sweep()->set_would_remove(500);
  s.mutable_domains(0)->mutable_held_sweep()->set_reason("wrong base DN?");
  s.mutable_push()->set_quarantined(true);
  s.mutable_push()->set_quarantine_reason("40% of People would lose");
  auto r = BuildSyncReport(s, kSync, kStart, kEnd);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->errors_size(), 4);
  EXPECT_THAT(r->errors(0), HasSubstr("removals of 500 accounts are held"));
  EXPECT_THAT(r->errors(1), HasSubstr("LDAP bind failed"));
  EXPECT_THAT(r->errors(2), HasSubstr("no contact from the agent since "
                                      "2027-01-15T07:50:00Z; check that "
                                      "adsync-agent runs on dc1"));
  EXPECT_THAT(r->errors(3), HasSubstr("quarantined: 40% of People"));
  sync->set_last_contact_unix(0);
  EXPECT_THAT(BuildSyncReport(s, kSync, kStart, kEnd)->errors(2),
              HasSubstr("has not connected yet"));
}

TEST(BuildSyncReport, ARemovedSyncHasNoReport) {
  EXPECT_EQ(BuildSyncReport(Status(), kOther, kStart, kEnd).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ReportIdempotencyKey, OnePeriodOneKey) {
  EXPECT_EQ(ReportIdempotencyKey("o", kSync, 5),
            ReportIdempotencyKey("o", kSync, 5));
  EXPECT_NE(ReportIdempotencyKey("o", kSync, 5),
            ReportIdempotencyKey("o", kSync, 6));
  EXPECT_NE(ReportIdempotencyKey("o", kSync, 5),
            ReportIdempotencyKey("o", kOther, 5));
  EXPECT_EQ(ReportIdempotencyKey("o", kSync, 5).size(), 64u);
}

}  // namespace
}  // namespace adsync
