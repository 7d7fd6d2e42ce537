#include "coordinator/account_filter.h"

#include <gtest/gtest.h>

#include "tests/support/test_util.h"

namespace adsync {
namespace {

TEST(AccountFilter, NeverForgetsAnAddedGuidAndRarelyClaimsOthers) {
  AccountFilter filter(10000);
  for (uint32_t i = 0; i < 10000; ++i) filter.Add(testing::TestGuid(i));
  for (uint32_t i = 0; i < 10000; ++i)
    ASSERT_TRUE(filter.MayContain(testing::TestGuid(i))) << i;
  int false_positives = 0;
  for (uint32_t i = 10000; i < 110000; ++i)
    false_positives += filter.MayContain(testing::TestGuid(i));
  // Sized for ~1%; sequential test GUIDs must not defeat the hashing.
  EXPECT_LT(false_positives, 3000);
  EXPECT_FALSE(filter.full());
  filter.Add(testing::TestGuid(99999999));
  EXPECT_TRUE(filter.full());
}

}  // namespace
}  // namespace adsync
