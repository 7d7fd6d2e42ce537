// panel-sim's bearer-token check, called the way its HTTP server calls it.
#include "panel/panel_sim.h"

#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace adsync {
namespace {

TEST(PanelSim, OnlyTheExactBearerTokenIsAccepted) {
  testing::TempDir dir;
  auto sim = PanelSim::Open(dir.File("panel.db"), "s3cret-token", 1);
  ASSERT_TRUE(sim.ok()) << sim.status();
  auto status = [&](const char* authorization) {
    HttpServerRequest r;
    r.method = "GET";
    r.path = "/api/v1/orgs/org-1/people";
    if (authorization != nullptr) r.headers["authorization"] = authorization;
    return (*sim)->Handle(r).status;
  };
  EXPECT_EQ(status("Bearer s3cret-token"), 200);
  EXPECT_EQ(status(nullptr), 401);
  EXPECT_EQ(status(""), 401);
  EXPECT_EQ(status("Bearer s3cret-toke"), 401);    // a prefix
  EXPECT_EQ(status("Bearer s3cret-tokenX"), 401);  // longer
  EXPECT_EQ(status("Bearer s3cret-tokeN"), 401);   // last byte differs
  EXPECT_EQ(status("bearer s3cret-token"), 401);
  EXPECT_EQ(status("s3cret-token"), 401);
}

}  // namespace
}  // namespace adsync
