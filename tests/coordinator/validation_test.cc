// ValidateDomainName: what an operator may type as an AD Sync's domain, and
// what they are told when it is not a NetBIOS domain name.
#include "coordinator/validation.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

// The error's message; fails the test when `name` is accepted.
std::string Rejection(absl::string_view name) {
  absl::StatusOr<std::string> result = ValidateDomainName(name);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << "\"" << name << "\"";
  return std::string(result.status().message());
}

TEST(ValidateDomainNameTest, ReturnsTheNameUpperCasedWithoutSurroundingSpace) {
  EXPECT_EQ(*ValidateDomainName("district"), "DISTRICT");
  EXPECT_EQ(*ValidateDomainName("  District\t\n"), "DISTRICT");
  EXPECT_EQ(*ValidateDomainName("k12-north_2"), "K12-NORTH_2");
}

TEST(ValidateDomainNameTest, TakesOneToFifteenCharacters) {
  EXPECT_EQ(*ValidateDomainName("a"), "A");
  EXPECT_EQ(*ValidateDomainName("abcdefghijklmno"), "ABCDEFGHIJKLMNO");
  const std::string sixteen = "abcdefghijklmnop";
  EXPECT_EQ(Rejection(sixteen),
            "domain \"abcdefghijklmnop\" is longer than 15 characters; a "
            "NetBIOS domain name has at most 15 (see `nbtstat -n` or the "
            "DOMAIN part of DOMAIN\\user)");
}

TEST(ValidateDomainNameTest, AnEmptyNameAsksForTheSimpleNameWithAnExample) {
  for (absl::string_view empty : {"", "   ", "\t\n"}) {
    EXPECT_EQ(Rejection(empty),
              "domain is required: the domain's simple (NetBIOS) name, e.g. "
              "\"DISTRICT\" for district.org");
  }
}

TEST(ValidateDomainNameTest, ADnsNameIsRefusedWithTheSimpleNameToUse) {
  EXPECT_EQ(Rejection("company.com"),
            "domain \"company.com\" has an extension; use the simple name "
            "without it (\"company\" for company.com)");
  // The extension is what is wrong, however long the whole name is.
  EXPECT_THAT(Rejection(" springfield-district.k12.org "),
              HasSubstr("use the simple name without it "
                        "(\"springfield-district\" for "
                        "springfield-district.k12.org)"));
}

TEST(ValidateDomainNameTest, OtherCharactersAreNamedWithWhatIsAllowed) {
  EXPECT_EQ(Rejection("dis trict"),
            "domain \"dis trict\" contains ' '; use letters, digits, '-' or "
            "'_'");
  // DOMAIN\user pasted whole.
  EXPECT_THAT(Rejection("DISTRICT\\jdoe"), HasSubstr("contains '\\'"));
  EXPECT_THAT(Rejection("district@"), HasSubstr("contains '@'"));
  // Letters outside ASCII are not NetBIOS letters.
  EXPECT_THAT(Rejection("d\xc3\xadstrict"),
              HasSubstr("use letters, digits, '-' or '_'"));
}

}  // namespace
}  // namespace adsync
