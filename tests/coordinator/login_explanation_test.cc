#include "coordinator/login_explanation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseLogin, TellsTheThreeFormsApart) {
  auto sam = ParseLogin("  DISTRICT\\jdoe \n");
  ASSERT_TRUE(sam.ok()) << sam.status();
  EXPECT_EQ(sam->kind, LoginQuery::Kind::kSamAccountName);
  EXPECT_EQ(sam->name, "jdoe");
  EXPECT_FALSE(sam->domain.empty());

  auto upn = ParseLogin("jdoe@district.test");
  ASSERT_TRUE(upn.ok());
  EXPECT_EQ(upn->kind, LoginQuery::Kind::kUpn);
  EXPECT_EQ(upn->name, "jdoe@district.test");

  auto sid = ParseLogin("s-1-5-21-1-2-3-1104");
  ASSERT_TRUE(sid.ok()) << sid.status();
  EXPECT_EQ(sid->kind, LoginQuery::Kind::kSid);
  EXPECT_EQ(sid->name, "S-1-5-21-1-2-3-1104");  // canonical text
}

TEST(ParseLogin, RefusesWhatIsNotALoginAndSaysWhatWorks) {
  auto bare = ParseLogin("jdoe");
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bare.status().message()),
              AllOf(HasSubstr("\"jdoe\""), HasSubstr("DOMAIN\\user"),
                    HasSubstr("S-1-5-21")));
  EXPECT_FALSE(ParseLogin("S-1-5-x").ok());
  EXPECT_FALSE(ParseLogin("bad domain!\\jdoe").ok());
}

AccountFacts Facts(Outcome outcome) {
  AccountFacts f;
  f.domain = "DISTRICT";
  f.sam_account_name = "jdoe";
  f.object_guid = "95aeb0f1-75d2-4126-ba5c-a877fd138d42";
  f.state.user_account_control = 0x200;  // a normal, enabled account
  f.match.outcome = outcome;
  return f;
}

TEST(ExplainAccount, MatchedNamesThePersonAndTheEmail) {
  AccountFacts f = Facts(Outcome::kMatched);
  f.match.person_id = "p-17";
  f.match.matched_email = "jdoe@district.test";
  f.person_name = "Jane Doe";
  EXPECT_EQ(ExplainAccount(f),
            "DISTRICT\\jdoe (objectGUID 95aeb0f1-75d2-4126-ba5c-a877fd138d42) "
            "is Person p-17 (Jane Doe): the account's email "
            "jdoe@district.test is an email of that Person.");
}

TEST(ExplainAccount, UnmatchedListsTheEmailsTriedAndWhatToDo) {
  AccountFacts f = Facts(Outcome::kUnmatched);
  f.match.emails_tried = {"a@x.test", "b@x.test"};
  EXPECT_THAT(ExplainAccount(f),
              AllOf(HasSubstr("(a@x.test, b@x.test)"),
                    HasSubstr("Add the email to the Person in K12Panel")));
}

TEST(ExplainAccount, AmbiguousNamesTheCandidates) {
  AccountFacts f = Facts(Outcome::kAmbiguous);
  f.match.matched_email = "shared@x.test";
  f.candidate_person_ids = {"p-1", "p-2"};
  EXPECT_THAT(ExplainAccount(f),
              AllOf(HasSubstr("shared@x.test belongs to several People "
                              "(p-1, p-2)"),
                    HasSubstr("never guesses")));
}

TEST(ExplainAccount, NoEmailAdviceFollowsTheOrgsSettings) {
  AccountFacts f = Facts(Outcome::kNoEmail);
  EXPECT_THAT(ExplainAccount(f), HasSubstr("or enable UPN matching"));
  f.settings.match_upn = true;
  f.settings.match_proxy_addresses = true;
  EXPECT_THAT(ExplainAccount(f),
              AllOf(HasSubstr("no smtp: proxyAddresses and no usable UPN"),
                    Not(HasSubstr("enable UPN matching"))));
}

TEST(ExplainAccount, RemovedSaysDeletedOrMissing) {
  AccountFacts f = Facts(Outcome::kRemoved);
  f.state.deleted = true;
  EXPECT_THAT(ExplainAccount(f), HasSubstr("was deleted in AD"));
  f.state.deleted = false;
  f.state.absent = true;
  EXPECT_THAT(ExplainAccount(f), HasSubstr("missing from the last full sync"));
  EXPECT_THAT(ExplainAccount(f), Not(HasSubstr("disabled")));
}

TEST(ExplainAccount, FlagsADisabledAccountThatStaysMapped) {
  AccountFacts f = Facts(Outcome::kMatched);
  f.state.user_account_control = 0x200 | kUacAccountDisabled;
  EXPECT_THAT(ExplainAccount(f), HasSubstr("disabled in AD; it stays mapped"));
}

TEST(ExplainUnknownLogin, PointsAtTheSyncsAndTheirAgents) {
  EXPECT_THAT(ExplainUnknownLogin(" DISTRICT\\nobody ", "org-1"),
              AllOf(HasSubstr("login DISTRICT\\nobody has been reported for "
                              "org org-1"),
                    HasSubstr("adsyncctl sync list")));
}

}  // namespace
}  // namespace adsync
