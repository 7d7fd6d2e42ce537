#include "common/sid.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

TEST(Sid, RoundTripsDomainSid) {
  const std::string text = "S-1-5-21-3399111571-1881169791-2407282559-1104";
  auto binary = SidStringToBinary(text);
  ASSERT_TRUE(binary.ok());
  EXPECT_EQ(binary->size(), 8u + 4 * 5);
  EXPECT_EQ(*SidBinaryToString(*binary), text);
  EXPECT_EQ(*SidBinaryToString(*SidStringToBinary("S-1-5-32-544")),
            "S-1-5-32-544");
}

TEST(Sid, RejectsBadBytes) {
  std::string b = *SidStringToBinary("S-1-5-21-1-2-3-500");
  EXPECT_FALSE(SidBinaryToString(b.substr(0, b.size() - 1)).ok());  // truncated
  std::string rev = b;
  rev[0] = 2;
  EXPECT_FALSE(SidBinaryToString(rev).ok());
  std::string count = b;
  count[1] = 16;
  EXPECT_FALSE(SidBinaryToString(count).ok());
  EXPECT_FALSE(SidBinaryToString("").ok());
  EXPECT_FALSE(SidStringToBinary("S-2-5").ok());
  EXPECT_FALSE(SidStringToBinary("S-1-5-x").ok());
  EXPECT_FALSE(SidStringToBinary("S-1-5-4294967296").ok());
}

}  // namespace
}  // namespace adsync
