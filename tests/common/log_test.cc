#include "common/log.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

using ::testing::HasSubstr;

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
