#include "common/text.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

TEST(Text, NormalizesEmails) {
  EXPECT_EQ(NormalizeEmail("  Jane.Doe@District.ORG \t"),
            "jane.doe@district.org");
  EXPECT_EQ(NormalizeEmail("no-at-sign"), "");
  EXPECT_EQ(NormalizeEmail("@district.org"), "");
  EXPECT_EQ(NormalizeEmail("a@b@c"), "");
  EXPECT_EQ(NormalizeEmail("jane doe@x.org"), "");
  EXPECT_EQ(NormalizeEmail(""), "");
}

TEST(Text, PicksSmtpProxyAddressesOnly) {
  EXPECT_EQ(
      SmtpProxyAddresses({"SMTP:Jane@District.org", "smtp:j.doe@district.org",
                          "X500:/o=Org/cn=jane", "sip:jane@district.org"}),
      (std::vector<std::string>{"jane@district.org", "j.doe@district.org"}));
}

TEST(Text, ValidatesUtf8) {
  EXPECT_TRUE(IsValidUtf8("Zoë Ångström 日本"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

}  // namespace
}  // namespace adsync
