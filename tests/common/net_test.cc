#include "common/net.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace adsync {
namespace {

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

}  // namespace
}  // namespace adsync
