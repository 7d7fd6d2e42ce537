#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "adsync/v1/config.pb.h"
#include "common/backoff.h"
#include "common/files.h"
#include "common/guid.h"
#include "common/log.h"
#include "common/net.h"
#include "common/repl_metadata.h"
#include "common/sid.h"
#include "common/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

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

TEST(Net, MatchesAddressesAndCidrs) {
  std::vector<IpRange> ranges = {*ParseIpRange("127.0.0.21"),
                                 *ParseIpRange("10.1.0.0/16"),
                                 *ParseIpRange("fd00::/8")};
  EXPECT_TRUE(AddressInRanges("127.0.0.21", ranges));
  EXPECT_FALSE(AddressInRanges("127.0.0.23", ranges));
  EXPECT_TRUE(AddressInRanges("10.1.200.3", ranges));
  EXPECT_FALSE(AddressInRanges("10.2.0.1", ranges));
  EXPECT_TRUE(AddressInRanges("fd12::1", ranges));
  EXPECT_TRUE(AddressInRanges("::ffff:127.0.0.21", ranges));
  EXPECT_FALSE(ParseIpRange("300.1.1.1").ok());
  EXPECT_FALSE(ParseIpRange("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseIpRange("10.0.0.0/x").ok());
  EXPECT_EQ(ParseIpRange("10.1.2.3/16")->text, "10.1.2.3/16");
}

TEST(Net, ParsesGrpcPeers) {
  EXPECT_EQ(*PeerAddress("ipv4:127.0.0.52:40000"), "127.0.0.52");
  EXPECT_EQ(*PeerAddress("ipv6:[::1]:40000"), "::1");
  EXPECT_EQ(*PeerAddress("ipv6:[::ffff:127.0.0.1]:1"), "127.0.0.1");
  EXPECT_FALSE(PeerAddress("unix:/tmp/sock").ok());
}

TEST(Files, SecretFileMustBePrivate) {
  testing::TempDir dir;
  const std::string key = dir.File("key");
  testing::WriteFile(key, "  5e1c3d4a-0000-4000-8000-000000000001\n", 0644);
  auto refused = ReadSecretFile(key, "AD Sync key file");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("chmod 600 " + key));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("0644"));
  chmod(key.c_str(), 0600);
  EXPECT_EQ(*ReadSecretFile(key, "AD Sync key file"),
            "5e1c3d4a-0000-4000-8000-000000000001");
  EXPECT_EQ(ReadSecretFile(dir.File("missing"), "x").status().code(),
            absl::StatusCode::kNotFound);
  testing::WriteFile(dir.File("empty"), "\n", 0600);
  EXPECT_FALSE(ReadSecretFile(dir.File("empty"), "x").ok());
}

TEST(Files, SecretsEqualComparesWholeSecrets) {
  EXPECT_TRUE(SecretsEqual("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(SecretsEqual("Bearer ab", "Bearer abc"));
  EXPECT_FALSE(SecretsEqual("Bearer abcd", "Bearer abc"));
  EXPECT_FALSE(SecretsEqual("Bearer abC", "Bearer abc"));
  EXPECT_FALSE(SecretsEqual("", "Bearer abc"));
  EXPECT_TRUE(SecretsEqual("", ""));
}

// A comparison that stops at the first difference answers a wrong first
// byte thousands of times faster than a wrong last byte over 1 MiB; this
// one takes as long either way.
TEST(Backoff, DoublesPerFailureWithJitterInTheUpperHalfUpToTheCap) {
  std::mt19937_64 rng(42);
  const absl::Duration initial = absl::Milliseconds(200);
  const absl::Duration max = absl::Seconds(5);
  for (int failures = 0; failures < 8; ++failures) {
    const absl::Duration ceiling =
        std::min(max, initial * static_cast<int64_t>(1 << failures));
    absl::Duration lowest = absl::InfiniteDuration(), highest;
    for (int i = 0; i < 200; ++i) {
      const absl::Duration d = JitteredBackoff(initial, max, failures, rng);
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
    }
    EXPECT_GE(lowest, ceiling / 2) << failures;
    EXPECT_LE(highest, ceiling) << failures;
    // Jitter: 200 draws are not all the same.
    EXPECT_LT(lowest, highest) << failures;
  }
  // Far past the cap (and past 2^62) it stays within [max/2, max].
  const absl::Duration late = JitteredBackoff(initial, max, 1000, rng);
  EXPECT_GE(late, max / 2);
  EXPECT_LE(late, max);
}

TEST(Files, SecretsEqualTakesAsLongWhereverTheSecretsDiffer) {
  const std::string expected(1 << 20, 'k');
  std::string early = expected, late = expected;
  early.front() = 'x';
  late.back() = 'x';
  std::vector<absl::Duration> early_times, late_times;
  for (int i = 0; i < 31; ++i) {
    for (auto [guess, times] :
         {std::pair{&early, &early_times}, std::pair{&late, &late_times}}) {
      const absl::Time start = absl::Now();
      EXPECT_FALSE(SecretsEqual(*guess, expected));
      times->push_back(absl::Now() - start);
    }
  }
  std::sort(early_times.begin(), early_times.end());
  std::sort(late_times.begin(), late_times.end());
  const double ratio = absl::FDivDuration(early_times[15], late_times[15]);
  EXPECT_GT(ratio, 0.5) << "median " << early_times[15] << " vs "
                        << late_times[15];
}

TEST(Files, ConfigErrorsNameLineAndField) {
  adsync::v1::AgentConfig config;
  absl::Status s = ParseTextProto("coordinator: \"a:1\"\nbogus_field: 3\n",
                                  "agent.textproto", &config);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("agent.textproto:2:"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("bogus_field"));
  EXPECT_TRUE(ParseTextProto("coordinator: \"a:1\" ldap { uri: \"ldaps://x\" }",
                             "ok", &config)
                  .ok());
  EXPECT_EQ(config.ldap().uri(), "ldaps://x");
}

TEST(Log, JsonLinesAreOneEscapedObjectPerEvent) {
  SetLogFormat("json");
  ::testing::internal::CaptureStderr();
  Log(LogLevel::kWarning, "agent \"rejected\"",
      {{"ip", "127.0.0.23"}, {"reason", "a\nb"}});
  const std::string line = ::testing::internal::GetCapturedStderr();
  SetLogFormat("text");
  EXPECT_THAT(line, ::testing::StartsWith("{\"time\":\""));
  EXPECT_THAT(
      line,
      HasSubstr("\"level\":\"warning\",\"msg\":\"agent \\\"rejected\\\"\""));
  EXPECT_THAT(line, HasSubstr("\"ip\":\"127.0.0.23\",\"reason\":\"a\\nb\"}\n"));
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  ::testing::internal::CaptureStderr();
  Log(LogLevel::kInfo, "connected", {{"sync", "s1"}});
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr(" info connected sync=s1\n"));
}

}  // namespace
}  // namespace adsync
