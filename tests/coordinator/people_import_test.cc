#include "coordinator/people_import.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;
using Format = adsync::v1::ImportPeopleRequest;

TEST(Csv, HandlesQuotesCrlfAndEmbeddedNewlines) {
  auto rows =
      ParseCsv("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",x\n\nlast,1");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].fields,
            (std::vector<std::string>{"a", "b,c", "say \"hi\""}));
  EXPECT_EQ((*rows)[1].fields[0], "multi\nline");
  EXPECT_EQ((*rows)[1].line, 2);
  EXPECT_EQ((*rows)[2].line, 5);
  EXPECT_THAT(std::string(ParseCsv("a,\"open\nb").status().message()),
              HasSubstr("line 1"));
  EXPECT_FALSE(ParseCsv("a,b\xff\n").ok());
}

constexpr char kOneRoster[] =
    "\xEF\xBB\xBFsourcedId,status,dateLastModified,enabledUser,orgSourcedIds,"
    "role,"
    "username,userIds,givenName,familyName,middleName,identifier,email,sms,"
    "phone,agentSourcedIds,grades,password\n"
    "t-1,active,2026-01-01,true,s1,teacher,jdoe,\"{Google:Jane.Doe@District."
    "org},"
    "{LDAP:jdoe}\",Jane,Doe,,,jdoe@district.org,,,,,\n"
    "s-1,active,2026-01-01,true,s1,student,kim,,Kim,Lee,,,,,,,05,\n"
    "s-2,tobedeleted,2026-01-01,true,s1,student,gone,,Gone,Away,,,gone@"
    "district.org,,,,05,\n";

TEST(PeopleCsv, ParsesOneRosterUsers) {
  auto people = ParsePeopleCsv(kOneRoster, Format::FORMAT_UNSPECIFIED);
  ASSERT_TRUE(people.ok()) << people.status();
  ASSERT_EQ(people->size(), 2u);
  EXPECT_EQ((*people)[0].id, "t-1");
  EXPECT_EQ((*people)[0].name, "Jane Doe");
  EXPECT_EQ(
      (*people)[0].emails,
      (std::vector<std::string>{"jdoe@district.org", "jane.doe@district.org"}));
  EXPECT_TRUE((*people)[1].emails.empty());  // a student without email
}

TEST(PeopleCsv, ParsesPlainWithOptionalHeader) {
  auto people = ParsePeopleCsv("id,email\np1, A@x.org ,b@x.org\np2,c@x.org\n",
                               Format::FORMAT_UNSPECIFIED);
  ASSERT_TRUE(people.ok()) << people.status();
  ASSERT_EQ(people->size(), 2u);
  EXPECT_EQ((*people)[0].emails,
            (std::vector<std::string>{"a@x.org", "b@x.org"}));
}

TEST(PeopleCsv, ReportsEveryBadRowWithLineNumbers) {
  auto people =
      ParsePeopleCsv("p1,a@x.org\n,b@x.org\np1,c@x.org\np3,not-an-email\np4\n",
                     Format::FORMAT_PLAIN);
  ASSERT_FALSE(people.ok());
  const std::string msg(people.status().message());
  EXPECT_THAT(msg, HasSubstr("4 bad row(s); nothing was imported"));
  EXPECT_THAT(msg, HasSubstr("line 2: the person id"));
  EXPECT_THAT(msg, HasSubstr("line 3: person id p1 appears twice"));
  EXPECT_THAT(msg, HasSubstr("line 4: column 2 \"not-an-email\""));
  EXPECT_THAT(msg, HasSubstr("line 5: person p4 has no email"));
}

TEST(PeopleCsv, OneRosterColumnCountAndMissingColumns) {
  auto short_row =
      ParsePeopleCsv("sourcedId,email\nt-1\n", Format::FORMAT_UNSPECIFIED);
  EXPECT_THAT(std::string(short_row.status().message()),
              HasSubstr("line 2: has 1 columns"));
  auto no_email =
      ParsePeopleCsv("sourcedId,username\nt-1,x\n", Format::FORMAT_ONEROSTER);
  EXPECT_THAT(std::string(no_email.status().message()),
              HasSubstr("\"email\" column"));
  EXPECT_FALSE(ParsePeopleCsv("", Format::FORMAT_PLAIN).ok());
}

}  // namespace
}  // namespace adsync
