// adsyncctl's human output: what an admin reads must say the right things.
#include "ctl/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

adsync::v1::GetStatusResponse SampleStatus() {
  adsync::v1::GetStatusResponse r;
  auto* org = r.add_orgs();
  org->mutable_org()->set_org_id("5e1c3d4a-6f1b-4d7e-9a0c-1f2e3d4c5b6a");
  org->mutable_org()->set_name("Springfield");
  org->set_people(40);
  org->mutable_counts()->set_profiles(50);
  org->mutable_counts()->set_matched(45);
  org->mutable_counts()->set_ambiguous(1);
  org->mutable_push()->set_queue_depth(3);
  org->mutable_push()->set_oldest_undelivered_unix(1000 - 90);
  org->mutable_push()->set_quarantined(true);
  org->mutable_push()->set_quarantined_people(26);
  org->mutable_push()->set_quarantine_reason(
      "the full sync of domain DISTRICT would remove ...");
  auto* d = org->add_domains();
  d->set_domain("DISTRICT");
  d->set_primary_sync_id("f0baa47f-0000-4000-8000-000000000000");
  d->set_lease_epoch(2);
  d->add_standby_sync_ids("947c3b33-0000-4000-8000-000000000000");
  auto* f = d->add_recent_failovers();
  f->set_at_unix(0);
  f->set_from_sync_id("947c3b33-0000");
  f->set_to_sync_id("f0baa47f-0000");
  f->set_epoch(2);
  f->set_reason("the primary disconnected");
  auto* s = org->add_syncs();
  s->mutable_sync()->set_sync_id("f0baa47f-0000-4000-8000-000000000000");
  s->mutable_sync()->set_domain("DISTRICT");
  s->set_connected(true);
  s->set_role("primary");
  s->set_source_ip("127.0.0.82");
  s->set_last_contact_unix(1000 - 5);
  s->set_watermark_invocation_id("x");
  s->set_watermark_usn(3830);
  s->set_replication_lag_usn(0);
  auto* standby = org->add_syncs();
  standby->mutable_sync()->set_sync_id("947c3b33-0000-4000-8000-000000000000");
  standby->mutable_sync()->set_domain("DISTRICT");
  standby->set_connected(true);
  standby->set_role("standby");
  standby->set_replication_lag_usn(42);
  auto* rej = org->add_recent_rejections();
  rej->set_source_ip("127.0.0.23");
  rej->set_reason(
      "sync came from 127.0.0.23; registered external IP is 127.0.0.21");
  auto* failing = org->add_failing_sources();
  failing->set_ip("127.0.0.52");
  failing->set_failed_hellos_last_minute(10);
  failing->set_refused_while_blocked(240);
  failing->set_blocked_until_unix_ms(1060 * 1000);
  return r;
}

TEST(FormatStatus, ShowsEverythingAnAdminChecks) {
  const std::string out = FormatStatus(SampleStatus(), 1000);
  EXPECT_THAT(
      out, HasSubstr("ORG Springfield (5e1c3d4a-6f1b-4d7e-9a0c-1f2e3d4c5b6a)"));
  EXPECT_THAT(out, HasSubstr("40 People; 50 accounts: 45 matched"));
  EXPECT_THAT(out, HasSubstr("PUSH QUARANTINED (26 People held)"));
  EXPECT_THAT(out, HasSubstr("K12Panel push: 3 queued (oldest 90s ago)"));
  EXPECT_THAT(
      out, HasSubstr("primary f0baa47f (lease epoch 2), standbys: 947c3b33"));
  EXPECT_THAT(
      out,
      HasSubstr("947c3b33 -> f0baa47f (epoch 2): the primary disconnected"));
  EXPECT_THAT(out, HasSubstr("SYNC      DOMAIN    STATE"));  // aligned header
  EXPECT_THAT(out,
              HasSubstr("f0baa47f  DISTRICT  connected  primary  127.0.0.82"));
  EXPECT_THAT(out, HasSubstr("5s ago"));
  EXPECT_THAT(out, HasSubstr("usn 3830"));
  EXPECT_THAT(out, HasSubstr("REPL LAG"));
  EXPECT_THAT(out, HasSubstr("42 usn"));  // the standby's DC is behind
  EXPECT_THAT(out, HasSubstr("from 127.0.0.23: sync came from 127.0.0.23"));
  EXPECT_THAT(out, HasSubstr("127.0.0.52: 10 failed Hellos in the last minute; "
                             "BLOCKED until"));
  EXPECT_THAT(out, HasSubstr("(240 refused unchecked)"));
  EXPECT_EQ(FormatStatus({}, 0),
            "no orgs yet; create one with `adsyncctl org create`\n");
}

TEST(FormatResolve, ExplainsFoundAndMissing) {
  adsync::v1::ResolveLoginResponse r;
  r.set_found(true);
  r.mutable_account()->set_domain("DISTRICT");
  r.mutable_account()->set_sam_account_name("jdoe");
  r.mutable_account()->set_outcome("matched");
  r.mutable_account()->set_enabled(false);
  r.set_person_id("p-jane");
  r.set_person_name("Jane Doe");
  r.set_explanation("because");
  const std::string out = FormatResolve(r);
  EXPECT_THAT(out, HasSubstr("account:  DISTRICT\\jdoe"));
  EXPECT_THAT(out, HasSubstr("outcome:  matched (disabled)"));
  EXPECT_THAT(out, HasSubstr("person:   p-jane  Jane Doe"));
  EXPECT_THAT(out, HasSubstr("why:      because"));
  adsync::v1::ResolveLoginResponse missing;
  missing.set_explanation("no account");
  EXPECT_THAT(FormatResolve(missing), HasSubstr("outcome:  not found"));
  EXPECT_THAT(FormatResolve(missing), Not(HasSubstr("person:")));
}

TEST(FormatPreview, ShowsCountsEachIdentityAndTheNextStep) {
  adsync::v1::PreviewOrgResponse p;
  p.mutable_org()->set_org_id("5e1c3d4a-6f1b-4d7e-9a0c-1f2e3d4c5b6a");
  p.mutable_org()->set_name("Springfield");
  p.set_people_added(1);
  p.set_people_unchanged(4);
  p.set_identities_added(1);
  auto* c = p.add_changes();
  c->set_kind(adsync::v1::PreviewChange::ADDED);
  c->set_person_id("p-jane");
  c->set_person_name("Jane Doe");
  auto* id = c->add_proposed();
  id->set_domain("DISTRICT");
  id->set_sam_account_name("jdoe");
  id->set_object_guid("0a0b");
  const std::string out = FormatPreview(p, 1000);
  EXPECT_THAT(out, HasSubstr("in preview (nothing is written to K12Panel)"));
  EXPECT_THAT(out, HasSubstr("People:     1 added, 0 changed, 0 removed, 4 "
                             "unchanged"));
  EXPECT_THAT(out, HasSubstr("p-jane  Jane Doe  0a0b      added   -"));
  EXPECT_THAT(out, HasSubstr("DISTRICT\\jdoe (disabled)"));
  p.set_digest("d1d2");
  EXPECT_THAT(FormatPreview(p, 1000),
              HasSubstr("adsyncctl org go-live --org 5e1c3d4a-6f1b-4d7e-9a0c-"
                        "1f2e3d4c5b6a --preview d1d2"));
  p.mutable_org()->set_live(true);
  EXPECT_THAT(FormatPreview(p, 1000), Not(HasSubstr("go-live")));
}

TEST(Ago, ReadsLikeAnOpsTool) {
  EXPECT_EQ(Ago(0, 100), "never");
  EXPECT_EQ(Ago(95, 100), "5s ago");
  EXPECT_EQ(Ago(100000 - 600, 100000), "10m ago");
  EXPECT_EQ(Ago(100000 - 7200 * 3, 100000), "6h ago");
}

}  // namespace
}  // namespace adsync
