#include "common/repl_metadata.h"

#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/guid.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

TEST(ReplMetadata, ParsesRealSambaTombstone) {
  auto entries = ParseReplPropertyMetaData(testing::SambaTombstoneBlob());
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 29u);
  std::map<uint32_t, ReplAttributeMeta> by_attid;
  for (const auto& e : *entries) by_attid[e.attid] = e;
  // The tombstone bumped isDeleted to 1, and mail/userPrincipalName (stripped
  // on delete) to 2; sAMAccountName was never rewritten.
  EXPECT_EQ(by_attid.at(kAttidIsDeleted).version, 1u);
  EXPECT_EQ(by_attid.at(kAttidMail).version, 2u);
  EXPECT_EQ(by_attid.at(kAttidUserPrincipalName).version, 2u);
  EXPECT_EQ(by_attid.at(kAttidSamAccountName).version, 1u);
  EXPECT_EQ(by_attid.at(kAttidUserAccountControl).version, 4u);
  EXPECT_EQ(by_attid.at(kAttidProxyAddresses).version, 2u);
  EXPECT_EQ(by_attid.at(kAttidDisplayName).version, 2u);
  EXPECT_EQ(by_attid.at(kAttidMail).originating_invocation_id.size(), 16u);
  // 2026 is ~13.4e9 seconds after 1601.
  EXPECT_GT(by_attid.at(kAttidMail).originating_time, 13'400'000'000);
  EXPECT_GT(by_attid.at(kAttidMail).originating_usn,
            by_attid.at(kAttidSamAccountName).originating_usn);
}

TEST(ReplMetadata, RoundTripsAndRejectsBadShapes) {
  std::vector<ReplAttributeMeta> in = {
      {kAttidMail, 3, 13'000'000'000, std::string(16, 'x'), 77, 78}};
  auto out = ParseReplPropertyMetaData(EncodeReplPropertyMetaData(in));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].version, 3u);
  EXPECT_EQ((*out)[0].originating_usn, 77u);
  const std::string blob = testing::SambaTombstoneBlob();
  EXPECT_FALSE(ParseReplPropertyMetaData(blob.substr(0, blob.size() - 1)).ok());
  EXPECT_FALSE(ParseReplPropertyMetaData("").ok());
  std::string v2 = blob;
  v2[0] = 2;
  EXPECT_FALSE(ParseReplPropertyMetaData(v2).ok());
  std::string huge = blob;
  huge[8] = '\xff';
  huge[9] = '\xff';
  huge[10] = '\xff';
  huge[11] = '\xff';
  EXPECT_FALSE(ParseReplPropertyMetaData(huge).ok());
}

TEST(ReplMetadata, ParsesARealUpToDateVector) {
  // DC a2's replUpToDateVector right after replicating from a1, whose
  // invocationId is eff04153-... and highestCommittedUSN was 4212.
  std::ifstream in(std::string(ADSYNC_TEST_DATA) +
                   "/samba_uptodate_vector.hex");
  std::string hex;
  in >> hex;
  const std::string blob = absl::HexStringToBytes(hex);
  auto cursors = ParseUpToDateVector(blob);
  ASSERT_TRUE(cursors.ok()) << cursors.status();
  ASSERT_EQ(cursors->size(), 1u);
  EXPECT_EQ(*GuidBinaryToString((*cursors)[0].invocation_id),
            "eff04153-40d1-46ed-8bac-9c1c78e51c79");
  EXPECT_EQ((*cursors)[0].usn, 4212);
  EXPECT_FALSE(ParseUpToDateVector(blob.substr(0, blob.size() - 1)).ok());
  std::string v1 = blob;
  v1[0] = 1;
  EXPECT_FALSE(ParseUpToDateVector(v1).ok());
}

}  // namespace
}  // namespace adsync
