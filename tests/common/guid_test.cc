#include "common/guid.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

TEST(Guid, MatchesSambaBinaryLayout) {
  // objectGUID read from a Samba 4.17 DC and the GUID in its tombstone DN.
  std::string binary;
  ASSERT_TRUE(absl::Base64Unescape("8bCuldJ1JkG6XKh3/RONQg==", &binary));
  EXPECT_EQ(*GuidBinaryToString(binary),
            "95aeb0f1-75d2-4126-ba5c-a877fd138d42");
  EXPECT_EQ(*GuidStringToBinary("95AEB0F1-75D2-4126-BA5C-A877FD138D42"),
            binary);
  EXPECT_EQ(*GuidStringToBinary("{95aeb0f1-75d2-4126-ba5c-a877fd138d42}"),
            binary);
}

TEST(Guid, RejectsMalformed) {
  for (const char* bad :
       {"", "95aeb0f1", "95aeb0f1-75d2-4126-ba5c-a877fd138d4g",
        "95aeb0f1_75d2-4126-ba5c-a877fd138d42",
        "95aeb0f1-75d2-4126-ba5c-a877fd138d42aa"}) {
    EXPECT_FALSE(GuidStringToBinary(bad).ok()) << bad;
  }
  EXPECT_FALSE(GuidBinaryToString("short").ok());
  auto s = CanonicalGuid("nope", "Org ID");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("Org ID"));
}

TEST(Guid, RandomIsVersion4AndUnique) {
  const std::string a = NewRandomGuid(), b = NewRandomGuid();
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(GuidStringToBinary(a).ok());
}

}  // namespace
}  // namespace adsync
