#include "common/files.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "adsync/v1/config.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace adsync
